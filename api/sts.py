"""POST / with a form body: AWS STS (AssumeRole, GetCallerIdentity) on the same server.

SDKs send STS calls in the Query protocol: a form-encoded body (Action=AssumeRole&Version=
2011-06-15&RoleArn=...) signed with SigV4 for service "sts"; responses and errors are XML in
STS's namespace (botocore's sts model is the reference for the shapes). Like api.views for KMS,
this module only translates: authenticate, read the form, call the service in grants.sts (which
authorizes, acts and audits), write the XML. Requests refused before a service runs are audited
here, with eventSource sts.amazonaws.com.
"""

import logging
import re
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from django.db import Error as DatabaseDriverError
from django.db import transaction
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from audit.recording import Operation, record
from grants import sts
from grants.principals import Caller
from kmsconsole.errors import (
    QUERY_PROTOCOL_ERRORS,
    KmsError,
    SerializationError,
    UnknownOperationError,
    ValidationError,
    fault_for,
)
from kmsconsole.logs import request_id_of

from . import sigv4
from .views import (
    MAX_BODY_BYTES,
    read_body,
    request_caller,
    unauthenticated_caller,
)

log = logging.getLogger(__name__)

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
API_VERSION = "2011-06-15"
CONTENT_TYPE = "text/xml"
MAX_FORM_FIELDS = 100


# The members each operation takes. Anything else is refused, never ignored: a session policy
# or session tags that were silently dropped would give the session more than was asked for.
MEMBERS = {
    "AssumeRole": {"RoleArn", "RoleSessionName", "DurationSeconds", "ExternalId"},
    "GetCallerIdentity": set(),
}


# Characters XML 1.0 cannot carry at all; a message echoing client input must stay well-formed.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _element(parent, tag: str, text: str | None = None):
    child = ElementTree.SubElement(parent, tag)
    if text is not None:
        child.text = _NOT_XML.sub("\ufffd", text)
    return child


def _xml(root) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root)


def respond(request_id: str, status: int, root) -> HttpResponse:
    response = HttpResponse(_xml(root), status=status, content_type=CONTENT_TYPE)
    response["x-amzn-RequestId"] = request_id
    return response


def error_response(request_id: str, error: KmsError) -> HttpResponse:
    code, status = QUERY_PROTOCOL_ERRORS.get(error.code, (error.code, error.status))
    root = ElementTree.Element("ErrorResponse", xmlns=NAMESPACE)
    detail = _element(root, "Error")
    _element(detail, "Type", "Sender" if status < 500 else "Receiver")
    _element(detail, "Code", code)
    _element(detail, "Message", error.message)
    _element(root, "RequestId", request_id)
    return respond(request_id, status, root)


def success_response(request_id: str, action: str, fill) -> HttpResponse:
    root = ElementTree.Element(f"{action}Response", xmlns=NAMESPACE)
    fill(_element(root, f"{action}Result"))
    metadata = _element(root, "ResponseMetadata")
    _element(metadata, "RequestId", request_id)
    return respond(request_id, 200, root)


def record_rejected(caller: Caller, event_name: str, error: KmsError) -> None:
    """Audit a request refused before any service ran, as an STS event (audit.recording's
    record_rejected would file it under kms.amazonaws.com)."""
    op = Operation(caller, event_name, read_only=False, request_parameters=None,
                   event_source=sts.STS)
    try:
        with transaction.atomic():
            record(op, error=error)
    except Exception:
        log.exception("could not record the refused %s request", event_name)


def is_query_request(request) -> bool:
    """A Query-protocol call: a form body and no X-Amz-Target (which only JSON calls carry)."""
    return (request.content_type == "application/x-www-form-urlencoded"
            and "X-Amz-Target" not in request.headers)


def read_form(body: bytes) -> dict[str, str]:
    if len(body) > MAX_BODY_BYTES:
        raise SerializationError("The request body is too large.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                          max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise SerializationError("The request body is not a valid form.") from None
    form = dict(pairs)
    if any("\x00" in text for pair in form.items() for text in pair):
        raise SerializationError("The request body contains the NUL character (U+0000).")
    return form


def operation_name(form: dict[str, str]) -> str:
    action = form.get("Action", "")
    version = form.get("Version", API_VERSION)
    if action not in MEMBERS or version != API_VERSION:
        raise UnknownOperationError(
            f"Could not find operation {action[:64]} for version {version[:32]}")
    return action


@csrf_exempt
def sts_api(request) -> HttpResponse:
    request_id = request_id_of(request)  # the request's one id (kmsconsole/logs.py)
    try:
        return _answer(request, request_id)
    except DatabaseDriverError as error:
        # The database failed while authenticating or auditing a refusal: an STS error
        # document, never Django's HTML 500 page (as kms_api, api/views.py).
        log.exception("request %s failed", request_id)
        return error_response(request_id, fault_for(error))


def _answer(request, request_id: str) -> HttpResponse:
    try:
        body = read_body(request)
    except KmsError as error:  # too large: refused unread, as the KMS endpoint does
        record_rejected(unauthenticated_caller(request, request_id), "Unknown", error)
        return error_response(request_id, error)
    form, form_error = _form_or_error(body)
    event_name = form.get("Action", "")[:64] or "Unknown"
    try:
        signed = sigv4.authenticate(method=request.method, path=request.path,
                                    query=request.META.get("QUERY_STRING", ""),
                                    headers=request.headers, body=body, service="sts")
    except KmsError as error:
        record_rejected(unauthenticated_caller(request, request_id), event_name, error)
        return error_response(request_id, error)

    caller = request_caller(request, request_id, signed.principal(), signed.region)
    try:
        if form_error is not None:
            raise form_error
        action = operation_name(form)
        params = _members(action, form)
    except KmsError as error:
        record_rejected(caller, event_name, error)
        return error_response(request_id, error)
    try:
        return HANDLERS[action](caller, params, request_id)
    except KmsError as error:
        return error_response(request_id, error)
    except Exception as error:
        # Audited by the service's operation(); the client sees no internals.
        log.exception("request %s (%s) failed", request_id, action)
        return error_response(request_id, fault_for(error))


def _form_or_error(body: bytes) -> tuple[dict[str, str], KmsError | None]:
    """The form, or {} and the error to answer once the signature is checked (AWS
    authenticates first: an unsigned request with a broken body is told it is unsigned)."""
    try:
        return read_form(body), None
    except KmsError as error:
        return {}, error


def _members(action: str, form: dict[str, str]) -> dict[str, str]:
    params = {name: value for name, value in form.items() if name not in ("Action", "Version")}
    unknown = sorted(set(params) - MEMBERS[action])
    if unknown:
        raise ValidationError(f"The parameter {unknown[0][:64]} is not supported by this "
                              f"server's {action}.")
    return params


def _duration(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValidationError(
            f"1 validation error detected: Value '{value[:32]}' at 'durationSeconds' failed to "
            "satisfy constraint: Member must be an integer") from None


def assume_role(caller: Caller, params: dict[str, str], request_id: str) -> HttpResponse:
    issued = sts.role_assume(caller=caller, role_arn=params.get("RoleArn"),
                             session_name=params.get("RoleSessionName"),
                             duration_seconds=_duration(params.get("DurationSeconds")),
                             external_id=params.get("ExternalId"))
    session = issued.session

    def fill(result):
        credentials = _element(result, "Credentials")
        _element(credentials, "AccessKeyId", session.access_key_id)
        _element(credentials, "SecretAccessKey", issued.secret_access_key)
        _element(credentials, "SessionToken", issued.session_token)
        _element(credentials, "Expiration", sts.iso8601(session.expires_at))
        user = _element(result, "AssumedRoleUser")
        _element(user, "AssumedRoleId", session.assumed_role_id)
        _element(user, "Arn", session.arn)
    return success_response(request_id, "AssumeRole", fill)


def get_caller_identity(caller: Caller, params: dict[str, str],
                        request_id: str) -> HttpResponse:
    identity = sts.caller_identity(caller=caller)

    def fill(result):
        _element(result, "UserId", identity.user_id)
        _element(result, "Account", identity.account)
        _element(result, "Arn", identity.arn)
    return success_response(request_id, "GetCallerIdentity", fill)


HANDLERS = {"AssumeRole": assume_role, "GetCallerIdentity": get_caller_identity}
