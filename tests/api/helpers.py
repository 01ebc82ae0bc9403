"""Checks of API responses against botocore's KMS output shapes, checked boto3 clients, and raw
SigV4-signed requests through the Django test client.

- `shape_problems(shape, value)`: what in a *parsed* (Python) value does not fit a botocore shape
  (blob -> bytes, timestamp -> datetime, enums, lengths, ranges, required and unknown members).
- `wire_problems(shape, value)`: the same for the *raw JSON* of a response (blob -> base64 text,
  timestamp -> epoch number). botocore's parser silently drops members it does not know, so an
  unknown member can only be seen on the wire.
- `assert_matches_output_shape(operation_name, response)`: a boto3 response (ResponseMetadata
  left out) fits the operation's output shape.
- `assert_json_matches_output_shape(operation_name, body)`: a raw response body does.
- `checked(client)`: every response of the client is checked by an `after-call.kms` handler: a
  success against its output shape (raw JSON and parsed), an error against the AWS JSON error
  form. Failures raise `ShapeMismatch` at once and are also collected (on
  `client.shape_failures` and for the whole test), so a test that swallows the exception still
  fails: `responses_must_fit()` is the body of an autouse fixture of the boto3 test modules.
- `sign(...)`, `post(...)`, `signed_post(...)`: requests signed exactly like botocore signs
  them (optionally at another time, with another secret, scope or header set).
"""

import base64
import binascii
import datetime
import json

import boto3
import botocore.session
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tests.conftest import REGION

CONTENT_TYPE = "application/x-amz-json-1.1"
HOST = "testserver"
ERROR_MEMBERS = {"__type", "message"}

_SERVICE_MODEL = None


def service_model():
    global _SERVICE_MODEL
    if _SERVICE_MODEL is None:
        _SERVICE_MODEL = botocore.session.get_session().get_service_model("kms")
    return _SERVICE_MODEL


def output_shape(operation_name: str):
    return service_model().operation_model(operation_name).output_shape


# --- shape checks -----------------------------------------------------------------------------

def _length_problems(shape, length: int, path: str) -> list[str]:
    problems = []
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        problems.append(f"{path}: length {length} < min {low}")
    if high is not None and length > high:
        problems.append(f"{path}: length {length} > max {high}")
    return problems


def _structure_problems(shape, value, path: str, wire: bool) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected structure {shape.name}, got {type(value).__name__}"]
    problems = [f"{path}.{name}: unknown member of {shape.name}"
                for name in sorted(set(value) - set(shape.members))]
    problems += [f"{path}.{name}: required member of {shape.name} missing"
                 for name in shape.required_members if value.get(name) is None]
    for name, item in value.items():
        if name not in shape.members:
            continue
        if item is None:
            problems.append(f"{path}.{name}: null (optional members are omitted)")
        else:
            problems += _check(shape.members[name], item, f"{path}.{name}", wire)
    return problems


def _list_problems(shape, value, path: str, wire: bool) -> list[str]:
    if not isinstance(value, list):
        return [f"{path}: expected list, got {type(value).__name__}"]
    problems = _length_problems(shape, len(value), path)
    for index, item in enumerate(value):
        problems += _check(shape.member, item, f"{path}[{index}]", wire)
    return problems


def _map_problems(shape, value, path: str, wire: bool) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected map, got {type(value).__name__}"]
    problems = _length_problems(shape, len(value), path)
    for key, item in value.items():
        problems += _check(shape.key, key, f"{path}.<key>", wire)
        problems += _check(shape.value, item, f"{path}[{key!r}]", wire)
    return problems


def _string_problems(shape, value, path: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: expected string, got {type(value).__name__}"]
    problems = _length_problems(shape, len(value), path)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        problems.append(f"{path}: {value!r} not in enum {shape.name}")
    return problems


def _blob_problems(shape, value, path: str, wire: bool) -> list[str]:
    if wire:
        if not isinstance(value, str):
            return [f"{path}: expected base64 string, got {type(value).__name__}"]
        try:
            value = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return [f"{path}: not valid base64"]
    if not isinstance(value, bytes):
        return [f"{path}: expected bytes, got {type(value).__name__}"]
    return _length_problems(shape, len(value), path)


def _integer_problems(shape, value, path: str) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [f"{path}: expected integer, got {type(value).__name__}"]
    problems = []
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        problems.append(f"{path}: {value} < min {low}")
    if high is not None and value > high:
        problems.append(f"{path}: {value} > max {high}")
    return problems


def _timestamp_problems(value, path: str, wire: bool) -> list[str]:
    if wire:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected epoch seconds, got {type(value).__name__}"]
    return [] if isinstance(value, datetime.datetime) else [
        f"{path}: expected datetime, got {type(value).__name__}"]


def _check(shape, value, path: str, wire: bool) -> list[str]:
    kind = shape.type_name
    if kind == "structure":
        return _structure_problems(shape, value, path, wire)
    if kind == "list":
        return _list_problems(shape, value, path, wire)
    if kind == "map":
        return _map_problems(shape, value, path, wire)
    if kind == "string":
        return _string_problems(shape, value, path)
    if kind == "blob":
        return _blob_problems(shape, value, path, wire)
    if kind in ("integer", "long"):
        return _integer_problems(shape, value, path)
    if kind == "boolean":
        return [] if isinstance(value, bool) else [
            f"{path}: expected boolean, got {type(value).__name__}"]
    if kind == "timestamp":
        return _timestamp_problems(value, path, wire)
    if kind in ("double", "float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected number, got {type(value).__name__}"]
    return [f"{path}: unhandled shape type {kind}"]


def shape_problems(shape, value, path: str = "$") -> list[str]:
    """Problems of a parsed (boto3) value against a shape."""
    return _check(shape, value, path, wire=False)


def wire_problems(shape, value, path: str = "$") -> list[str]:
    """Problems of a raw JSON value against a shape."""
    return _check(shape, value, path, wire=True)


def assert_matches_output_shape(operation_name: str, response: dict) -> None:
    """A boto3 response (ResponseMetadata is left out) fits the operation's output shape."""
    response = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    shape = output_shape(operation_name)
    if shape is None:
        assert response == {}, f"{operation_name} has no output, got {response}"
        return
    problems = shape_problems(shape, response)
    assert not problems, f"{operation_name} response does not fit its shape: {problems}"


def assert_json_matches_output_shape(operation_name: str, body) -> None:
    """A raw (decoded JSON) response body fits the operation's output shape."""
    shape = output_shape(operation_name)
    if shape is None:
        assert body in (None, {}), f"{operation_name} has no output, got {body!r}"
        return
    problems = wire_problems(shape, body)
    assert not problems, f"{operation_name} response body does not fit its shape: {problems}"


def error_body_problems(raw: bytes) -> list[str]:
    """Problems of an error response body against AWS's JSON error form."""
    try:
        body = json.loads(raw)
    except ValueError:
        return [f"error body is not JSON: {raw[:200]!r}"]
    if not isinstance(body, dict):
        return [f"error body is not an object: {body!r}"]
    problems = []
    error_type = body.get("__type")
    if not isinstance(error_type, str) or not error_type.endswith("Exception"):
        problems.append(f"__type {error_type!r} is not an AWS error name")
    if not isinstance(body.get("message", ""), str):
        problems.append(f"message is not a string: {body['message']!r}")
    if set(body) - ERROR_MEMBERS:
        problems.append(f"unexpected error members {sorted(set(body) - ERROR_MEMBERS)}")
    return problems


# --- checked boto3 clients ----------------------------------------------------------------------

class ShapeMismatch(AssertionError):
    pass


_TEST_FAILURES: list[str] = []
_HOOK_ID = "kmsconsole-tests-output-shape-check"


def response_problems(http_response, parsed, model) -> list[str]:
    """Everything wrong with one response botocore received for `model`."""
    failures = []
    if not http_response.headers.get("x-amzn-RequestId"):
        failures.append("no x-amzn-RequestId header")
    if http_response.headers.get("Content-Type") != CONTENT_TYPE:
        failures.append(f"Content-Type {http_response.headers.get('Content-Type')!r}")
    raw = http_response.content
    if http_response.status_code >= 300:
        return failures + error_body_problems(raw)
    try:
        body = json.loads(raw) if raw else {}
    except ValueError as error:
        return failures + [f"body is not JSON: {error}"]
    if model.output_shape is None:
        if body != {}:
            failures.append(f"no output shape, body {raw[:200]!r}")
        return failures
    failures += wire_problems(model.output_shape, body)
    parsed_body = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
    failures += shape_problems(model.output_shape, parsed_body)
    return failures


def _after_call(client_failures: list[str]):
    def handler(http_response, parsed, model, **kwargs):
        failures = [f"{model.name}: {f}" for f in response_problems(http_response, parsed, model)]
        if failures:
            client_failures.extend(failures)
            _TEST_FAILURES.extend(failures)
            raise ShapeMismatch(f"response does not fit its shape: {failures}")
    return handler


def checked(client):
    """Check every response of `client` (idempotent)."""
    if not hasattr(client, "shape_failures"):
        client.shape_failures = []
        client.meta.events.register("after-call.kms", _after_call(client.shape_failures),
                                    unique_id=_HOOK_ID)
    return client


def forget_failures(client=None) -> None:
    """For tests that provoke a mismatch on purpose."""
    _TEST_FAILURES.clear()
    if client is not None:
        client.shape_failures.clear()


def responses_must_fit(request):
    """Generator body of an autouse fixture: no checked client of the test saw a bad response,
    even one whose ShapeMismatch the test caught. (When the test itself already failed, its own
    report says why; a second error at teardown would only repeat it.)"""
    _TEST_FAILURES.clear()
    failed_before = request.session.testsfailed
    yield
    failures = list(_TEST_FAILURES)
    _TEST_FAILURES.clear()
    if request.session.testsfailed == failed_before:
        assert failures == [], failures


def _close_connections(request, **kwargs):
    # boto3 keep-alive against live_server leaves a thread behind at exit; close each time.
    request.headers["Connection"] = "close"


def make_client(live_server, credentials, *, region: str = REGION,
                parameter_validation: bool = True):
    """A checked boto3 KMS client (no retries) on live_server."""
    access_key_id, secret = credentials
    client = boto3.client(
        "kms", endpoint_url=live_server.url, region_name=region,
        aws_access_key_id=access_key_id, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                      parameter_validation=parameter_validation),
    )
    client.meta.events.register("before-send.kms.*", _close_connections)
    return checked(client)


# --- raw signed requests through the Django test client ------------------------------------

class _UnsignedHostSigV4(SigV4Auth):
    """A signer that leaves `host` out of SignedHeaders (an attacker's request)."""

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        del headers["host"]
        return headers


def sign(operation: str | None, body: bytes, credentials, *, region: str = REGION,
         service: str = "kms", when: datetime.datetime | None = None, secret: str | None = None,
         extra_headers: dict | None = None, sign_host: bool = True) -> dict:
    """The headers (Django test client META form) of a request signed like botocore does, at
    `when` (default now). `add_auth()` would stamp the current time, so the signer's steps are
    run with the timestamp set in the request context. Operation None: no X-Amz-Target."""
    access_key_id, real_secret = credentials
    when = when or datetime.datetime.now(datetime.UTC)
    target = {} if operation is None else {"X-Amz-Target": f"TrentService.{operation}"}
    headers = {"Content-Type": CONTENT_TYPE, **target, "Host": HOST, **(extra_headers or {})}
    request = AWSRequest(method="POST", url=f"http://{HOST}/", data=body, headers=headers)
    request.context["timestamp"] = when.strftime(SIGV4_TIMESTAMP)
    signer_class = SigV4Auth if sign_host else _UnsignedHostSigV4
    signer = signer_class(Credentials(access_key_id, secret or real_secret), service, region)
    signer._modify_request_before_signing(request)  # sets X-Amz-Date from the timestamp
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signer._inject_signature_to_request(request, signature)
    return {"HTTP_" + name.upper().replace("-", "_"): value
            for name, value in request.headers.items()
            if name.lower() not in ("content-type", "host")}


def _as_bytes(body) -> bytes:
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return body.encode() if isinstance(body, str) else body


def post(client, operation: str | None, body, meta: dict):
    """POST / through the Django test client with the given META headers."""
    # The test client drops Content-Type for an empty body; a real client sends it.
    extra = {"HTTP_HOST": HOST, "CONTENT_TYPE": CONTENT_TYPE, **meta}
    return client.generic("POST", "/", data=_as_bytes(body), content_type=CONTENT_TYPE,
                          **extra)


def signed_post(client, operation: str | None, body, credentials, **kwargs):
    """A correctly signed KMS call through the Django test client."""
    body = _as_bytes(body)
    return post(client, operation, body, sign(operation, body, credentials, **kwargs))
