"""POST /: the AWS KMS JSON 1.1 endpoint (kms-spec.md section 1).

Order of checks, as AWS: authenticate the SigV4 signature, then find the operation, then read and
validate the body, then hand over to the service (which authorizes, acts and audits). Requests
refused before a service runs are audited here; every response carries x-amzn-RequestId.
"""

import json
import logging

from django.db import Error as DatabaseDriverError
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from audit.recording import record_rejected
from grants.models import AccessKey, SessionCredential
from grants.principals import SOURCE_API, Caller, Principal
from kmsconsole.errors import (
    InternalError,
    KmsError,
    SerializationError,
    UnknownOperationError,
    fault_for,
)
from kmsconsole.logs import request_id_of

from . import model, sigv4
from .handlers import HANDLERS

log = logging.getLogger(__name__)

TARGET_PREFIX = "TrentService."
CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_BODY_BYTES = 1024 * 1024  # the largest valid request (a 128 KiB policy) fits many times


def respond(request_id: str, status: int, body: dict | None) -> HttpResponse:
    content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    response = HttpResponse(content, status=status, content_type=CONTENT_TYPE)
    response["x-amzn-RequestId"] = request_id
    return response


def error_response(request_id: str, error: KmsError) -> HttpResponse:
    body = {"__type": error.code}
    if error.message:
        body["message"] = error.message
    response = respond(request_id, error.status, body)
    response.kms_error_code = error.code  # for the metrics and the access log (kmsconsole/)
    return response


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def request_caller(request, request_id: str, principal: Principal, region: str) -> Caller:
    return Caller(principal=principal, region=region, source=SOURCE_API,
                  source_ip=client_ip(request),
                  # U+0000 dropped: PostgreSQL text cannot hold it, and the audit record must.
                  user_agent=request.headers.get("User-Agent", "").replace("\x00", "")[:1024],
                  request_id=request_id, secure_transport=request.is_secure())


def unauthenticated_caller(request, request_id: str) -> Caller:
    """Who a request claimed to be, for the audit record of its failed authentication."""
    access_key_id, region = None, ""
    try:
        auth = sigv4.parse_authorization(request.headers.get("Authorization", ""))
        access_key_id, region = auth.access_key_id[:128], auth.region[:32]
    except KmsError:
        pass
    principal = Principal.unauthenticated(account_id=claimed_account_id(access_key_id),
                                          access_key_id=access_key_id)
    return request_caller(request, request_id, principal, region)


def claimed_account_id(access_key_id: str | None) -> str:
    """The account of the access key a request names (a user's key or a session's), so a
    refused request lands in that account's trail; "" when the key is unknown."""
    if not access_key_id:
        return ""
    if access_key_id.startswith(sigv4.SESSION_KEY_PREFIX):
        session = (SessionCredential.objects.filter(access_key_id=access_key_id)
                   .select_related("role").first())
        return session.role.account_id if session else ""
    key = AccessKey.objects.filter(access_key_id=access_key_id).select_related("user").first()
    return key.user.account_id if key else ""


def operation_name(request) -> str:
    """The operation of `TrentService.<Operation>`; AWS routes on the whole target, so a target
    without the service prefix names no operation ("" is unknown)."""
    target = request.headers.get("X-Amz-Target", "")
    name = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
    # Threat: a target carrying CR/LF, markup or other text into the audit trail's eventName
    # and the error message; no operation name has anything but letters and digits.
    return name if name.isascii() and name.isalnum() else ""


@csrf_exempt
def kms_api(request) -> HttpResponse:
    # One id for the request's log lines, audit event and response (kmsconsole/logs.py).
    request_id = request_id_of(request)
    name = operation_name(request)[:64]
    # Its metrics and access log line (kmsconsole/metrics.py); a name that is no operation
    # counts as "Unknown", so callers cannot add label values at will.
    request.kms_operation = name if name in HANDLERS else "Unknown"
    try:
        return _answer(request, request_id, name)
    except DatabaseDriverError as error:
        # The database failed outside a service: while authenticating (access key lookup) or
        # auditing a refused request. Said in AWS's words, never Django's HTML 500 page, which
        # an SDK cannot parse (found by bench/faults.py, PostgreSQL restarted under load).
        log.exception("request %s (%s) failed", request_id, name)
        return error_response(request_id, fault_for(error))


def _answer(request, request_id: str, name: str) -> HttpResponse:
    try:
        body = read_body(request)
        signed = sigv4.authenticate(method=request.method, path=request.path,
                                    query=request.META.get("QUERY_STRING", ""),
                                    headers=request.headers, body=body, service="kms")
    except KmsError as error:
        record_rejected(unauthenticated_caller(request, request_id), name or "Unknown", error)
        return error_response(request_id, error)

    caller = request_caller(request, request_id, signed.principal(), signed.region)
    try:
        if name not in HANDLERS:
            raise UnknownOperationError(f"Operation {name or '(none)'} is not supported.")
        params = model.parse_request(name, _json(body))
    except KmsError as error:
        record_rejected(caller, name or "Unknown", error)
        return error_response(request_id, error)

    try:
        result = HANDLERS[name](caller, params)
    except KmsError as error:
        return error_response(request_id, error)
    except Exception as error:
        # Audited by the service's operation() (unless the database itself is down); the client
        # sees no internals.
        log.exception("request %s (%s) failed", request_id, name)
        return error_response(request_id, fault_for(error))
    try:
        return respond(request_id, 200,
                       None if result is None else model.serialize_response(name, result))
    except Exception:
        # The operation is done and audited; a response we cannot write is our fault, said in
        # AWS's words rather than as an HTML error page.
        log.exception("request %s (%s): response could not be serialized", request_id, name)
        return error_response(request_id, InternalError("An internal error occurred."))


def read_body(request) -> bytes:
    """The request body, refused unread when its Content-Length is over MAX_BODY_BYTES.

    Threat: memory exhaustion by huge bodies, and Django's own limit (RequestDataTooBig) which
    answers with an HTML 400 an SDK cannot parse. Without a Content-Length (chunked), Django
    reads nothing, so the body is bounded either way.
    """
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise SerializationError("The request body is too large.")
    return request.body


def _json(body: bytes):
    if len(body) > MAX_BODY_BYTES:
        raise SerializationError("The request body is too large.")
    try:
        document = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: nesting deeper than the parser's stack, which no KMS shape has.
        raise SerializationError("The request body is not valid JSON.") from None
    if b"\\u" in body:  # only an escape can smuggle in U+0000 or a lone surrogate
        _require_storable_text(document)
    return document


def _require_storable_text(document) -> None:
    """Refuse strings that no KMS member can hold and that could not be stored or audited.

    JSON can escape a lone UTF-16 surrogate ("\\ud800"), which is not Unicode text at all, and
    U+0000, which PostgreSQL text and jsonb cannot hold. AWS's own handling of them is not
    documented; a clear client error before anything runs loses nothing and is audited.
    """
    pending = [document]
    while pending:  # iterative: the parser allows deeper nesting than Python's call stack
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise SerializationError("The request body contains the NUL character (U+0000).")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise SerializationError(
                    "The request body contains a string that is not valid Unicode.") from None
