"""The AWS JSON 1.1 protocol (kms-spec.md 1.1-1.4): operation lookup, body reading, validation
messages, and the shape of success responses. Raw requests, signed with botocore."""

import base64
import json
import uuid

import pytest

from audit.models import AuditEvent
from keys import services
from keys.models import Key
from tests.conftest import caller_for

from .conftest import create_access_key
from .helpers import assert_json_matches_output_shape, signed_post

CONTENT_TYPE = "application/x-amz-json-1.1"


@pytest.fixture
def credentials(admin):
    return create_access_key(admin)


@pytest.fixture
def key(admin):
    return services.key_create(caller=caller_for(admin))


def refused(response, error_type: str) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == CONTENT_TYPE
    body = json.loads(response.content)
    assert body["__type"] == error_type, body
    request_id = response["x-amzn-RequestId"]
    [event] = AuditEvent.objects.filter(request_id=request_id)
    assert event.error_code == error_type
    return body


def message(response) -> str:
    return json.loads(response.content)["message"]


# --- operation lookup ------------------------------------------------------------------------

@pytest.mark.parametrize("operation", ["NoSuchOperation", "", "ListKeysX"])
def test_unknown_operation(client, credentials, operation):
    response = signed_post(client, operation, {}, credentials)
    refused(response, "UnknownOperationException")


@pytest.mark.parametrize("target", ["ListKeys", "KMS.ListKeys", "TrentService.listKeys",
                                    "trentservice.ListKeys", "TrentService.ListKeys ",
                                    "TrentService."])
def test_target_must_name_the_service_and_operation_exactly(client, credentials, target):
    # AWS routes on the whole X-Amz-Target `TrentService.<Operation>`; anything else is unknown.
    response = signed_post(client, "ListKeys", {}, credentials,
                           extra_headers={"X-Amz-Target": target})
    refused(response, "UnknownOperationException")


def test_missing_target_is_unknown(client, credentials):
    response = signed_post(client, None, {}, credentials)
    refused(response, "UnknownOperationException")


def test_unimplemented_model_operation_is_unknown(client, credentials):
    # In the model but not served here (custom key stores are optional).
    response = signed_post(client, "DescribeCustomKeyStores", {}, credentials)
    assert json.loads(response.content)["__type"] in {"UnknownOperationException",
                                                      "UnsupportedOperationException"}


# --- reading the body --------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"not json", b"{", b"[]", b'"a string"', b"42", b"null",
                                  b"\xff\xfe"])
def test_body_that_is_not_a_json_object(client, credentials, key, body):
    response = signed_post(client, "DisableKey", body, credentials)
    refused(response, "SerializationException")
    key.refresh_from_db()
    assert key.key_state == "Enabled"


@pytest.mark.parametrize("operation,body", [
    ("GenerateRandom", {"NumberOfBytes": "32"}),
    ("GenerateRandom", {"NumberOfBytes": True}),
    ("GenerateRandom", {"NumberOfBytes": 1.5}),
    ("ListKeys", {"Limit": [1]}),
    ("DescribeKey", {"KeyId": 123}),
    ("DescribeKey", {"KeyId": {"a": 1}}),
    ("Encrypt", {"KeyId": "alias/x", "Plaintext": "!!!not base64!!!"}),
    ("Encrypt", {"KeyId": "alias/x", "Plaintext": "YWJj"[:3]}),  # missing padding
    ("Encrypt", {"KeyId": "alias/x", "Plaintext": 12}),
    ("Encrypt", {"KeyId": "alias/x", "Plaintext": "YQ==", "EncryptionContext": ["a"]}),
    ("Encrypt", {"KeyId": "alias/x", "Plaintext": "YQ==", "EncryptionContext": {"a": 1}}),
    ("Encrypt", {"KeyId": "alias/x", "Plaintext": "YQ==", "DryRun": "true"}),
    ("CreateKey", {"Tags": {"TagKey": "a"}}),
])
def test_member_of_the_wrong_type_is_a_serialization_error(client, credentials, operation,
                                                           body):
    response = signed_post(client, operation, body, credentials)
    refused(response, "SerializationException")


@pytest.mark.parametrize("body", [b"[" * 5000 + b"]" * 5000,
                                  b'{"KeyId":' * 5000 + b'"x"' + b"}" * 5000],
                         ids=["array-5000-deep", "object-5000-deep"])
def test_deeply_nested_json_is_a_serialization_error(client, credentials, key, body):
    # json.loads raises RecursionError (not ValueError) on deep nesting.
    client.raise_request_exception = False
    response = signed_post(client, "DisableKey", body, credentials)
    assert response.status_code == 400, (response.status_code, response.content[:200])
    refused(response, "SerializationException")
    key.refresh_from_db()
    assert key.key_state == "Enabled"


def test_empty_body_is_an_empty_object(client, credentials):
    response = signed_post(client, "ListKeys", b"", credentials)
    assert response.status_code == 200, response.content


# --- validation messages --------------------------------------------------------------------

def test_one_validation_error(client, credentials):
    response = signed_post(client, "GenerateRandom", {"NumberOfBytes": 0}, credentials)
    refused(response, "ValidationException")
    assert message(response) == (
        "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1")


def test_two_validation_errors(client, credentials):
    response = signed_post(client, "CreateKey",
                           {"KeySpec": "AES_512", "KeyUsage": "WRAP"}, credentials)
    refused(response, "ValidationException")
    text = message(response)
    assert text.startswith("2 validation errors detected: ")
    parts = text.removeprefix("2 validation errors detected: ").split("; ")
    assert len(parts) == 2
    assert parts[0].startswith("Value 'WRAP' at 'keyUsage' failed to satisfy constraint: "
                               "Member must satisfy enum value set: [") or \
        parts[1].startswith("Value 'WRAP' at 'keyUsage'")
    assert any(p.startswith("Value 'AES_512' at 'keySpec' failed to satisfy constraint: "
                            "Member must satisfy enum value set: [") for p in parts)
    assert Key.objects.count() == 0


def test_missing_required_member(client, credentials):
    for body in ({}, {"KeyId": None}):
        response = signed_post(client, "DescribeKey", body, credentials)
        assert message(response) == (
            "1 validation error detected: Value null at 'keyId' failed to satisfy "
            "constraint: Member must not be null")


def test_sensitive_member_value_is_not_shown(client, credentials, key):
    plaintext = b"TOPSECRET" * 500  # 4500 bytes
    response = signed_post(client, "Encrypt", {
        "KeyId": str(key.id), "Plaintext": base64.b64encode(plaintext).decode()}, credentials)
    refused(response, "ValidationException")
    assert message(response) == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096")
    assert "TOPSECRET" not in response.content.decode()
    response = signed_post(client, "Encrypt", {"KeyId": str(key.id), "Plaintext": ""},
                           credentials)
    assert message(response) == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1")


def test_nested_member_path(client, credentials):
    response = signed_post(client, "CreateKey", {
        "Tags": [{"TagKey": "ok", "TagValue": "v"}, {"TagKey": "", "TagValue": "v"}]},
        credentials)
    refused(response, "ValidationException")
    assert "at 'tags.2.member.tagKey' failed to satisfy constraint" in message(response)
    assert Key.objects.count() == 0


def test_unknown_members_are_ignored(client, credentials):
    response = signed_post(client, "GenerateRandom", {"NumberOfBytes": 8, "Colour": "blue"},
                           credentials)
    assert response.status_code == 200



@pytest.mark.parametrize("operation,body", [
    ("CreateKey", '{"Description": "a\\u0000b"}'),
    ("TagResource", '{"KeyId": "KEY", "Tags": [{"TagKey": "t", "TagValue": "a\\u0000b"}]}'),
    ("UntagResource", '{"KeyId": "KEY", "TagKeys": ["\\u0000"]}'),
    ("DescribeKey", '{"KeyId": "\\u0000"}'),
    ("ListAliases", '{"KeyId": "KEY\\u0000"}'),
    ("GenerateRandom", '{"NumberOfBytes": 8, "CustomKeyStoreId": "\\u0000"}'),
], ids=["CreateKey-Description", "TagResource-TagValue", "UntagResource-TagKeys",
        "DescribeKey-KeyId", "ListAliases-KeyId", "GenerateRandom-CustomKeyStoreId"])
def test_string_with_a_nul_character_is_never_a_server_error(client, credentials, key,
                                                             operation, body):
    # U+0000 is valid JSON and valid Unicode, but PostgreSQL text cannot hold it: the request
    # must still be answered (stored faithfully, or refused as a client error) and audited.
    response = signed_post(client, operation, body.replace("KEY", str(key.id)).encode(),
                           credentials)
    assert response.status_code in (200, 400), (response.status_code, response.content[:300])
    error_type = "" if response.status_code == 200 else json.loads(response.content)["__type"]
    events = list(AuditEvent.objects.filter(request_id=response["x-amzn-RequestId"]))
    assert [e.error_code for e in events] == [error_type]
    if operation == "CreateKey" and response.status_code == 200:
        created = json.loads(response.content)["KeyMetadata"]
        assert created["Description"] == "a\x00b"
        assert Key.objects.get(id=created["KeyId"]).description == "a\x00b"

# --- success responses ------------------------------------------------------------------------

def test_success_response_headers_and_audit_request_id(client, credentials, key):
    response = signed_post(client, "DescribeKey", {"KeyId": str(key.id)}, credentials)
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPE
    request_id = response["x-amzn-RequestId"]
    assert uuid.UUID(request_id)
    body = json.loads(response.content)
    assert_json_matches_output_shape("DescribeKey", body)
    assert body["KeyMetadata"]["KeyId"] == str(key.id)
    assert isinstance(body["KeyMetadata"]["CreationDate"], (int, float))
    event = AuditEvent.objects.get(request_id=request_id)
    assert event.event_name == "DescribeKey" and event.error_code == ""
    assert event.key_id == str(key.id)


def test_request_ids_differ(client, credentials):
    ids = {signed_post(client, "ListKeys", {}, credentials)["x-amzn-RequestId"]
           for _ in range(3)}
    assert len(ids) == 3


def test_operation_without_output_returns_an_empty_body(client, credentials, key):
    key.key_state = "Disabled"
    key.save(update_fields=["key_state"])
    response = signed_post(client, "EnableKey", {"KeyId": str(key.id)}, credentials)
    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Type"] == CONTENT_TYPE
    event = AuditEvent.objects.get(request_id=response["x-amzn-RequestId"])
    assert event.event_name == "EnableKey"
    key.refresh_from_db()
    assert key.key_state == "Enabled"


def test_error_without_message_has_only_the_type(client, credentials, key):
    # AWS sends InvalidCiphertextException (and KMSInvalidSignature/Mac) with no message.
    response = signed_post(client, "Decrypt", {
        "CiphertextBlob": base64.b64encode(b"\x01" * 200).decode()}, credentials)
    assert refused(response, "InvalidCiphertextException") == {
        "__type": "InvalidCiphertextException"}
    blob = signed_post(client, "Encrypt", {"KeyId": str(key.id), "Plaintext": "YQ=="},
                       credentials)
    ciphertext = json.loads(blob.content)["CiphertextBlob"]
    response = signed_post(client, "Decrypt", {"CiphertextBlob": ciphertext,
                                               "EncryptionContext": {"wrong": "context"}},
                           credentials)
    assert refused(response, "InvalidCiphertextException") == {
        "__type": "InvalidCiphertextException"}


@pytest.mark.parametrize("operation,body", [
    ("CreateKey", '{"Description": "bad \\ud800 text"}'),
    ("CreateKey", '{"Tags": [{"TagKey": "\\udc00", "TagValue": "v"}]}'),
    ("DescribeKey", '{"KeyId": "\\ud800"}'),
    ("TagResource", '{"KeyId": "KEY", "Tags": [{"TagKey": "t", "TagValue": "\\ud800"}]}'),
    ("UpdateKeyDescription", '{"KeyId": "KEY", "Description": "\\udfff"}'),
], ids=["CreateKey-Description", "CreateKey-TagKey", "DescribeKey-KeyId", "TagResource-TagValue",
        "UpdateKeyDescription-Description"])
def test_string_with_a_lone_surrogate_is_refused(client, credentials, key, operation, body):
    # JSON may escape a lone UTF-16 surrogate ("\ud800"); the result is not Unicode text and
    # cannot be stored, logged or audited as UTF-8. It must be a client error, audited.
    response = signed_post(client, operation, body.replace("KEY", str(key.id)).encode(),
                           credentials)
    # (Which client error is a matter of taste: Serialization, Validation, or NotFound for a
    # key id; a 500, or a request missing from the audit trail, is not.)
    assert response.status_code == 400, (response.status_code, response.content[:300])
    error_type = json.loads(response.content)["__type"]
    assert error_type.endswith("Exception")
    events = list(AuditEvent.objects.filter(request_id=response["x-amzn-RequestId"]))
    assert [e.error_code for e in events] == [error_type]
    assert Key.objects.count() == 1
    key.refresh_from_db()
    assert key.description == "" and not key.tags.exists()


def test_optional_members_are_omitted_never_null(client, credentials, key):
    response = signed_post(client, "DescribeKey", {"KeyId": str(key.id)}, credentials)
    text = response.content.decode()
    assert "null" not in text
    assert "DeletionDate" not in text
