"""SigV4 authentication (kms-spec.md 1.5), through raw requests signed with botocore.

Every refused request: HTTP 400, the AWS error `__type`, an x-amzn-RequestId header, no change
of state, and exactly one audit event carrying the error code and the same request id.
"""

import datetime
import hashlib
import json

import pytest

from audit.models import AuditEvent
from keys import services
from keys.models import Key
from tests.conftest import caller_for

from .conftest import create_access_key
from .helpers import post, sign, signed_post

NOW = lambda: datetime.datetime.now(datetime.UTC)  # noqa: E731


@pytest.fixture
def credentials(admin):
    return create_access_key(admin)


@pytest.fixture
def key(admin):
    return services.key_create(caller=caller_for(admin))


def disable_body(key) -> bytes:
    return json.dumps({"KeyId": str(key.id)}).encode()


def assert_refused(response, error_type: str, key, *, message: str | None = None,
                   operation: str = "DisableKey"):
    assert response.status_code == 400, response.content
    body = json.loads(response.content)
    assert body["__type"] == error_type, body
    if message is not None:
        assert message in body.get("message", ""), body
    assert response["Content-Type"] == "application/x-amz-json-1.1"
    request_id = response["x-amzn-RequestId"]
    assert request_id
    key.refresh_from_db()
    assert key.key_state == "Enabled"
    assert Key.objects.count() == 1
    events = list(AuditEvent.objects.filter(error_code=error_type))
    assert len(events) == 1, events
    assert events[0].request_id == request_id
    assert events[0].event_name == operation
    assert AuditEvent.objects.filter(request_id=request_id).count() == 1
    assert not AuditEvent.objects.filter(event_name="DisableKey", error_code="").exists()
    return body


def test_a_correct_signature_is_accepted(client, credentials, key):
    response = signed_post(client, "DisableKey", disable_body(key), credentials)
    assert response.status_code == 200, response.content
    key.refresh_from_db()
    assert key.key_state == "Disabled"
    event = AuditEvent.objects.get(event_name="DisableKey")
    assert event.error_code == "" and event.request_id == response["x-amzn-RequestId"]


def test_wrong_secret(client, credentials, key):
    response = signed_post(client, "DisableKey", disable_body(key), credentials,
                           secret="x" * 40)
    body = assert_refused(response, "InvalidSignatureException", key,
                          message="signature we calculated does not match")
    assert "x" * 40 not in json.dumps(body)


def test_unknown_access_key(client, credentials, key):
    response = signed_post(client, "DisableKey", disable_body(key),
                           ("AKIAUNKNOWNUNKNOWN00", credentials[1]))
    assert_refused(response, "UnrecognizedClientException", key)


def test_body_changed_after_signing(client, credentials, key):
    meta = sign("DisableKey", b'{"KeyId": "00000000-0000-4000-8000-000000000000"}', credentials)
    response = post(client, "DisableKey", disable_body(key), meta)
    assert_refused(response, "InvalidSignatureException", key)


def test_signature_six_minutes_old_is_expired(client, credentials, key):
    response = signed_post(client, "DisableKey", disable_body(key), credentials,
                           when=NOW() - datetime.timedelta(minutes=6))
    body = assert_refused(response, "InvalidSignatureException", key)
    assert body["message"].startswith("Signature expired: ")


def test_signature_six_minutes_ahead_is_not_yet_current(client, credentials, key):
    response = signed_post(client, "DisableKey", disable_body(key), credentials,
                           when=NOW() + datetime.timedelta(minutes=6))
    body = assert_refused(response, "InvalidSignatureException", key)
    assert body["message"].startswith("Signature not yet current: ")


def test_signature_four_minutes_old_is_accepted(client, credentials, key):
    response = signed_post(client, "DisableKey", disable_body(key), credentials,
                           when=NOW() - datetime.timedelta(minutes=4))
    assert response.status_code == 200, response.content
    key.refresh_from_db()
    assert key.key_state == "Disabled"


def test_missing_authorization(client, credentials, key):
    meta = sign("DisableKey", disable_body(key), credentials)
    del meta["HTTP_AUTHORIZATION"]
    response = post(client, "DisableKey", disable_body(key), meta)
    assert_refused(response, "MissingAuthenticationTokenException", key)


def test_authorization_without_signature(client, credentials, key):
    meta = sign("DisableKey", disable_body(key), credentials)
    meta["HTTP_AUTHORIZATION"] = meta["HTTP_AUTHORIZATION"].rsplit(", Signature=", 1)[0]
    response = post(client, "DisableKey", disable_body(key), meta)
    assert_refused(response, "IncompleteSignatureException", key, message="Signature")


def test_authorization_garbage(client, credentials, key):
    meta = sign("DisableKey", disable_body(key), credentials)
    meta["HTTP_AUTHORIZATION"] = "AWS4-HMAC-SHA256 nonsense"
    response = post(client, "DisableKey", disable_body(key), meta)
    assert_refused(response, "IncompleteSignatureException", key)


def test_missing_date(client, credentials, key):
    meta = sign("DisableKey", disable_body(key), credentials)
    del meta["HTTP_X_AMZ_DATE"]
    response = post(client, "DisableKey", disable_body(key), meta)
    assert_refused(response, "IncompleteSignatureException", key)


@pytest.mark.parametrize("service,region", [("sts", "us-east-1"), ("kms", "mars-north-1")])
def test_scope_for_another_service_or_an_unserved_region(client, credentials, key, service,
                                                         region):
    response = signed_post(client, "DisableKey", disable_body(key), credentials,
                           service=service, region=region)
    assert_refused(response, "InvalidSignatureException", key, message="Credential should be")


def test_content_sha256_not_matching_the_body(client, credentials, key):
    forged = hashlib.sha256(b'{"KeyId": "something else"}').hexdigest()
    response = signed_post(client, "DisableKey", disable_body(key), credentials,
                           extra_headers={"X-Amz-Content-SHA256": forged})
    assert_refused(response, "InvalidSignatureException", key)


def test_content_sha256_matching_the_body_is_accepted(client, credentials, key):
    body = disable_body(key)
    response = signed_post(client, "DisableKey", body, credentials,
                           extra_headers={"X-Amz-Content-SHA256":
                                          hashlib.sha256(body).hexdigest()})
    assert response.status_code == 200, response.content


def test_host_not_signed(client, credentials, key):
    response = signed_post(client, "DisableKey", disable_body(key), credentials,
                           sign_host=False)
    assert_refused(response, "InvalidSignatureException", key, message="host")


def test_host_changed_after_signing(client, credentials, key):
    meta = sign("DisableKey", disable_body(key), credentials)
    meta["HTTP_HOST"] = "evil.example"
    response = post(client, "DisableKey", disable_body(key), meta)
    # Django refuses hosts not in ALLOWED_HOSTS before the view; either way nothing happens.
    assert response.status_code == 400
    key.refresh_from_db()
    assert key.key_state == "Enabled"


def test_target_changed_after_signing(client, credentials, key):
    meta = sign("DescribeKey", disable_body(key), credentials)
    meta["HTTP_X_AMZ_TARGET"] = "TrentService.DisableKey"
    response = post(client, "DisableKey", disable_body(key), meta)
    assert_refused(response, "InvalidSignatureException", key)


def test_inactive_access_key_is_unrecognized(client, credentials, key):
    from grants.models import AccessKey
    AccessKey.objects.filter(access_key_id=credentials[0]).update(status="Inactive")
    assert AccessKey.objects.get(access_key_id=credentials[0]).status != AccessKey.ACTIVE
    response = signed_post(client, "DisableKey", disable_body(key), credentials)
    assert_refused(response, "UnrecognizedClientException", key)


def test_refused_create_key_creates_nothing(client, credentials, key):
    response = signed_post(client, "CreateKey", b"{}", credentials, secret="y" * 40)
    assert_refused(response, "InvalidSignatureException", key, operation="CreateKey")
    assert Key.objects.count() == 1


def test_refused_create_key_with_an_expired_signature_creates_nothing(client, credentials, key):
    response = signed_post(client, "CreateKey", b"{}", credentials,
                           when=NOW() - datetime.timedelta(minutes=6))
    assert_refused(response, "InvalidSignatureException", key, operation="CreateKey",
                   message="Signature expired")


def test_signature_that_is_not_hex(client, credentials, key):
    meta = sign("DisableKey", disable_body(key), credentials)
    head, _, signature = meta["HTTP_AUTHORIZATION"].rpartition("Signature=")
    meta["HTTP_AUTHORIZATION"] = head + "Signature=" + signature.upper()
    response = post(client, "DisableKey", disable_body(key), meta)
    assert_refused(response, "InvalidSignatureException", key)


def test_credential_scope_date_not_matching_x_amz_date(client, credentials, key):
    meta = sign("DisableKey", disable_body(key), credentials)
    yesterday = (NOW() - datetime.timedelta(days=1)).strftime("%Y%m%d")
    today = meta["HTTP_X_AMZ_DATE"][:8]
    meta["HTTP_AUTHORIZATION"] = meta["HTTP_AUTHORIZATION"].replace(f"/{today}/", f"/{yesterday}/")
    response = post(client, "DisableKey", disable_body(key), meta)
    assert_refused(response, "InvalidSignatureException", key, message="Credential should be")


def test_credential_scope_with_a_wrong_terminator(client, credentials, key):
    meta = sign("DisableKey", disable_body(key), credentials)
    meta["HTTP_AUTHORIZATION"] = meta["HTTP_AUTHORIZATION"].replace("/aws4_request", "/aws5")
    response = post(client, "DisableKey", disable_body(key), meta)
    assert_refused(response, "InvalidSignatureException", key)


def test_unsigned_security_token(client, credentials, key):
    meta = sign("DisableKey", disable_body(key), credentials)
    meta["HTTP_X_AMZ_SECURITY_TOKEN"] = "token-added-after-signing"
    response = post(client, "DisableKey", disable_body(key), meta)
    assert_refused(response, "InvalidSignatureException", key,
                   message="x-amz-security-token")


def test_unparsable_x_amz_date(client, credentials, key):
    meta = sign("DisableKey", disable_body(key), credentials)
    meta["HTTP_X_AMZ_DATE"] = "yesterday"
    response = post(client, "DisableKey", disable_body(key), meta)
    assert_refused(response, "IncompleteSignatureException", key)


def test_another_served_region_is_accepted_and_scopes_the_request(client, credentials, key):
    # The key lives in us-east-1; a correct eu-west-1 signature authenticates, but the key is
    # not there.
    response = signed_post(client, "DisableKey", disable_body(key), credentials,
                           region="eu-west-1")
    assert response.status_code == 400
    assert json.loads(response.content)["__type"] == "NotFoundException"
    key.refresh_from_db()
    assert key.key_state == "Enabled"
