"""Bodies at and just above AWS's limits (kms-spec.md 3.4), and bodies far too large.

Just above a member's limit: the AWS validation error of that member. Above the request size
limit (api/views.py MAX_BODY_BYTES, 1 MiB): SerializationException as AWS JSON, decided from
Content-Length before the body is read (never Django's HTML "400 Bad Request" of
DATA_UPLOAD_MAX_MEMORY_SIZE). Each request is audited once, with its error code.
"""

import base64
import io
import json
import tracemalloc
from xml.etree import ElementTree

import pytest
from django.test import Client

from api.views import MAX_BODY_BYTES
from audit.models import AuditEvent
from grants.policy import api_default_policy
from keys import services
from keys.models import Key
from tests.conftest import ACCOUNT_ID, caller_for

from .conftest import create_access_key
from .helpers import CONTENT_TYPE, HOST, sign, signed_post

pytestmark = pytest.mark.django_db

STS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


@pytest.fixture
def credentials(admin):
    return create_access_key(admin)


@pytest.fixture
def key(admin):
    return services.key_create(caller=caller_for(admin))


@pytest.fixture
def hmac_key(admin):
    return services.key_create(caller=caller_for(admin), key_spec="HMAC_256",
                               key_usage="GENERATE_VERIFY_MAC")


def b64(size: int) -> str:
    return base64.b64encode(b"p" * size).decode()


def answer(response, operation: str) -> tuple[int, str, str]:
    """(status, error type, message) of a JSON 1.1 answer, after checking its audit event."""
    assert response["Content-Type"] == CONTENT_TYPE, response.content[:200]
    body = json.loads(response.content) if response.content else {}
    error = body.get("__type", "") if response.status_code != 200 else ""
    [event] = AuditEvent.objects.filter(request_id=response["x-amzn-RequestId"])
    assert (event.event_name, event.error_code) == (operation, error)
    return response.status_code, error, body.get("message", "")


def policy_of_size(size: int) -> str:
    """The API default policy padded (inside its Id) to exactly `size` bytes."""
    policy = json.loads(api_default_policy(ACCOUNT_ID))
    policy["Id"] = ""
    base = len(json.dumps(policy).encode())
    policy["Id"] = "p" * (size - base)
    text = json.dumps(policy)
    assert len(text.encode()) == size
    return text


@pytest.mark.parametrize("size, expected", [(4096, ""), (4097, "ValidationException")])
def test_plaintext_limit_is_4096_bytes(client, credentials, key, size, expected):
    response = signed_post(client, "Encrypt", {"KeyId": str(key.id), "Plaintext": b64(size)},
                           credentials)
    status, error, message = answer(response, "Encrypt")
    assert error == expected
    if expected:
        assert message == ("1 validation error detected: Value at 'plaintext' failed to satisfy "
                           "constraint: Member must have length less than or equal to 4096")


@pytest.mark.parametrize("size, expected", [(4096, ""), (4097, "ValidationException")])
def test_message_limit_is_4096_bytes(client, credentials, hmac_key, size, expected):
    response = signed_post(client, "GenerateMac", {
        "KeyId": str(hmac_key.id), "Message": b64(size), "MacAlgorithm": "HMAC_SHA_256"},
        credentials)
    _status, error, message = answer(response, "GenerateMac")
    assert error == expected
    if expected:
        assert "'message'" in message and "less than or equal to 4096" in message


@pytest.mark.parametrize("size, expected", [(32768, ""), (32769, "LimitExceededException")])
def test_key_policy_quota_is_32_kb(client, credentials, key, size, expected):
    policy = policy_of_size(size)
    response = signed_post(client, "PutKeyPolicy", {
        "KeyId": str(key.id), "PolicyName": "default", "Policy": policy}, credentials)
    _status, error, _message = answer(response, "PutKeyPolicy")
    assert error == expected
    key.refresh_from_db()
    assert (key.policy == policy) is (not expected)


def test_a_policy_over_the_models_131072_characters_is_a_validation_error(client, credentials,
                                                                          key):
    policy = policy_of_size(131073)
    response = signed_post(client, "CreateKey", {"Policy": policy}, credentials)
    _status, error, _message = answer(response, "CreateKey")
    assert error == "ValidationException"
    assert Key.objects.count() == 1


@pytest.mark.parametrize("count, expected", [(50, ""), (51, "TagException")])
def test_at_most_50_tags_per_key(client, credentials, key, count, expected):
    tags = [{"TagKey": f"k{i}", "TagValue": "v"} for i in range(count)]
    response = signed_post(client, "TagResource", {"KeyId": str(key.id), "Tags": tags},
                           credentials)
    _status, error, _message = answer(response, "TagResource")
    assert error == expected
    assert key.tags.count() == (0 if expected else count)


def test_create_key_with_51_tags_creates_nothing(client, credentials, key):
    tags = [{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)]
    response = signed_post(client, "CreateKey", {"Tags": tags}, credentials)
    assert answer(response, "CreateKey")[1] == "TagException"
    assert Key.objects.count() == 1


def test_a_body_just_over_the_request_limit_is_refused_as_aws_json(client, credentials, key):
    body = json.dumps({"KeyId": str(key.id), "Description": "d" * MAX_BODY_BYTES}).encode()
    response = signed_post(client, "UpdateKeyDescription", body, credentials)
    status, error, message = answer(response, "UpdateKeyDescription")
    assert (status, error, message) == (400, "SerializationException",
                                        "The request body is too large.")
    key.refresh_from_db()
    assert key.description == ""


class CountingStream(io.BytesIO):
    """wsgi.input that counts what the server reads from it."""

    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size=-1):
        data = super().readline(size)
        self.bytes_read += len(data)
        return data


def test_a_multi_megabyte_body_is_refused_unread(credentials, key):
    """Eight megabytes, over Django's own DATA_UPLOAD_MAX_MEMORY_SIZE too: the answer is AWS
    JSON, and not a byte of the body is read (memory stays bounded whatever the size)."""
    body = b'{"KeyId": "' + b"x" * (8 * 1024 * 1024) + b'"}'
    meta = sign("DescribeKey", body, credentials)
    stream = CountingStream(body)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_TYPE": CONTENT_TYPE,
               "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": HOST, "wsgi.input": stream,
               **meta}
    tracemalloc.start()
    try:
        response = Client(raise_request_exception=False).request(**environ)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer(response, "DescribeKey")[:2] == (400, "SerializationException")
    assert stream.bytes_read == 0
    assert peak < 4 * 1024 * 1024, peak


@pytest.mark.parametrize("length", ["not-a-number", "-5", ""])
def test_a_content_length_that_is_no_size_reads_nothing_and_fails_the_signature(
        credentials, key, length):
    body = json.dumps({"KeyId": str(key.id)}).encode()
    meta = sign("DisableKey", body, credentials)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_TYPE": CONTENT_TYPE,
               "CONTENT_LENGTH": length, "HTTP_HOST": HOST, "wsgi.input": io.BytesIO(body),
               **meta}
    response = Client(raise_request_exception=False).request(**environ)
    assert answer(response, "DisableKey")[:2] == (400, "InvalidSignatureException")
    key.refresh_from_db()
    assert key.key_state == "Enabled"


def test_a_number_with_a_million_digits_is_a_serialization_error(client, credentials):
    body = b'{"NumberOfBytes": ' + b"9" * 1_000_000 + b"}"
    response = signed_post(client, "GenerateRandom", body, credentials)
    assert answer(response, "GenerateRandom")[:2] == (400, "SerializationException")


def test_a_multi_megabyte_sts_form_is_refused_unread_as_an_sts_error(credentials):
    """The STS Query endpoint shares POST /: same limit, answered in its XML error form
    (Django's own limit answered it with an HTML 400 before)."""
    body = b"Action=GetCallerIdentity&Version=2011-06-15&Pad=" + b"x" * (8 * 1024 * 1024)
    stream = CountingStream(body)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/",
               "CONTENT_TYPE": "application/x-www-form-urlencoded",
               "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": HOST, "wsgi.input": stream}
    response = Client(raise_request_exception=False).request(**environ)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/xml")
    error = ElementTree.fromstring(response.content).find(f"{STS}Error")
    assert error.find(f"{STS}Message").text == "The request body is too large."
    assert error.find(f"{STS}Type").text == "Sender"
    assert stream.bytes_read == 0
    [event] = AuditEvent.objects.filter(request_id=response["x-amzn-RequestId"])
    assert event.event_name == "Unknown" and event.error_code
