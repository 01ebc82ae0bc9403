"""SigV4 under attack (issue 10): replays, scopes for other regions and services, header
injection and smuggling, session tokens that are expired or another session's, and two
signatures on one request. The plain checks (wrong secret, skew, missing parts) are in
test_sigv4.py; this module reuses its conventions.

Every refused request: HTTP 400 with the AWS error type as JSON, never a 500, nothing done, and
exactly one audit event under the response's request id carrying that error code.
"""

import datetime
import json

import pytest
import time_machine
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.utils import timezone

from audit.models import AuditEvent
from grants import services as iam
from grants import sts
from grants.builtin_policies import builtin_policy_arn
from grants.models import SessionCredential
from keys import services
from keys.models import Key
from tests.conftest import ACCOUNT_ID, REGION, caller_for

from .conftest import create_access_key
from .helpers import CONTENT_TYPE, HOST, post, sign, signed_post

NOW = lambda: datetime.datetime.now(datetime.UTC)  # noqa: E731


@pytest.fixture
def credentials(admin):
    return create_access_key(admin)


@pytest.fixture
def key(admin):
    return services.key_create(caller=caller_for(admin))


def disable_body(key) -> bytes:
    return json.dumps({"KeyId": str(key.id)}).encode()


def audited_once(response, error_type: str, operation: str = "DisableKey") -> dict:
    """The response is the AWS error, recorded by exactly one audit event."""
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == CONTENT_TYPE
    body = json.loads(response.content)
    assert body["__type"] == error_type, body
    [event] = AuditEvent.objects.filter(request_id=response["x-amzn-RequestId"])
    assert (event.event_name, event.error_code) == (operation, error_type)
    return body


def refused(response, error_type: str, key, *, operation: str = "DisableKey") -> dict:
    body = audited_once(response, error_type, operation)
    key.refresh_from_db()
    assert key.key_state == "Enabled"
    assert not AuditEvent.objects.filter(event_name="DisableKey", error_code="").exists()
    return body


class _PartialSigV4(SigV4Auth):
    """A signer that leaves some headers out of SignedHeaders (what a careless or hostile
    client may send)."""

    unsigned: frozenset = frozenset()

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        for name in self.unsigned:
            del headers[name]
        return headers


def sign_without(operation: str, body: bytes, credentials, *unsigned: str) -> dict:
    """META headers of a request signed like botocore, with `unsigned` left out of
    SignedHeaders."""
    access_key_id, secret = credentials
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"TrentService.{operation}",
               "Host": HOST}
    request = AWSRequest(method="POST", url=f"http://{HOST}/", data=body, headers=headers)
    request.context["timestamp"] = NOW().strftime(SIGV4_TIMESTAMP)
    signer = type("Signer", (_PartialSigV4,), {"unsigned": frozenset(unsigned)})(
        Credentials(access_key_id, secret), "kms", REGION)
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    signer._inject_signature_to_request(
        request, signer.signature(signer.string_to_sign(request, canonical), request))
    return {"HTTP_" + name.upper().replace("-", "_"): value
            for name, value in request.headers.items()
            if name.lower() not in ("content-type", "host")}


# --- replay ------------------------------------------------------------------------------------

def test_a_captured_request_replayed_after_the_skew_window_is_refused(client, credentials, key):
    """A signed request can be replayed within its five minutes (AWS has no nonce either; it
    is why the window is short), but not after: InvalidSignatureException, nothing done."""
    body = json.dumps({"KeyId": str(key.id)}).encode()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        meta = sign("DescribeKey", body, credentials)
        first = post(client, "DescribeKey", body, meta)
        assert first.status_code == 200, first.content
        traveller.shift(datetime.timedelta(minutes=4, seconds=59))
        assert post(client, "DescribeKey", body, meta).status_code == 200
        traveller.shift(datetime.timedelta(seconds=2))
        replay = post(client, "DescribeKey", body, meta)
    message = refused(replay, "InvalidSignatureException", key, operation="DescribeKey")
    assert message["message"].startswith(f"Signature expired: {meta['HTTP_X_AMZ_DATE']}")


def test_a_disable_replayed_after_the_window_leaves_the_key_as_it_is(client, credentials, key):
    body = disable_body(key)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        meta = sign("DisableKey", body, credentials)
        traveller.shift(datetime.timedelta(minutes=6))
        response = post(client, "DisableKey", body, meta)
    refused(response, "InvalidSignatureException", key)


# --- scopes for another region or service ------------------------------------------------------

@pytest.mark.parametrize("served", ["eu-west-1", "ap-south-1"])
def test_a_scope_edited_to_another_served_region_breaks_the_signature(client, credentials, key,
                                                                      served):
    """The region is part of what is signed: moving a us-east-1 request to another region this
    server serves (where the same key id could mean another key) is refused."""
    meta = sign("DisableKey", disable_body(key), credentials)
    meta["HTTP_AUTHORIZATION"] = meta["HTTP_AUTHORIZATION"].replace(
        f"/{REGION}/kms/", f"/{served}/kms/")
    refused(post(client, "DisableKey", disable_body(key), meta), "InvalidSignatureException",
            key)


def test_a_request_signed_for_another_region_does_not_reach_the_key_of_this_one(
        client, credentials, key):
    """Correctly signed for eu-west-1 and naming the us-east-1 key by ARN: not found there."""
    body = json.dumps({"KeyId": key.arn}).encode()
    response = signed_post(client, "DisableKey", body, credentials, region="eu-west-1")
    body = refused(response, "NotFoundException", key)
    assert body["message"] == f"Invalid arn {REGION}"


@pytest.mark.parametrize("service", ["s3", "sts", "execute-api", "KMS", "kms "])
def test_a_signature_for_another_service_is_refused(client, credentials, key, service):
    response = signed_post(client, "DisableKey", disable_body(key), credentials,
                           service=service)
    body = refused(response, "InvalidSignatureException", key)
    assert "Credential should be scoped to correct service: 'kms'" in body["message"]


def test_a_scope_edited_from_another_service_to_kms_breaks_the_signature(client, credentials,
                                                                         key):
    meta = sign("DisableKey", disable_body(key), credentials, service="s3")
    meta["HTTP_AUTHORIZATION"] = meta["HTTP_AUTHORIZATION"].replace("/s3/", "/kms/")
    body = refused(post(client, "DisableKey", disable_body(key), meta),
                   "InvalidSignatureException", key)
    assert "signature we calculated does not match" in body["message"]


# --- header injection and smuggling ------------------------------------------------------------

def test_crlf_in_a_signed_target_names_no_operation_and_stays_out_of_the_trail(
        client, credentials, key):
    """A target that smuggles a second header line, correctly signed by a key holder: no
    operation runs, and the audit trail records "Unknown", not the injected text."""
    target = "TrentService.DescribeKey\r\nX-Amz-Target: TrentService.DisableKey"
    response = signed_post(client, "DisableKey", disable_body(key), credentials,
                           extra_headers={"X-Amz-Target": target})
    body = refused(response, "UnknownOperationException", key, operation="Unknown")
    assert "\r" not in body["message"] and "\n" not in body["message"]


@pytest.mark.parametrize("target", ["TrentService.<script>alert(1)</script>",
                                    "TrentService.Disable Key", "TrentService.DisableKey\x00",
                                    "TrentService.Dis\u0430bleKey"])
def test_an_odd_target_is_audited_as_unknown(client, credentials, key, target):
    response = signed_post(client, "DisableKey", disable_body(key), credentials,
                           extra_headers={"X-Amz-Target": target})
    body = refused(response, "UnknownOperationException", key, operation="Unknown")
    assert body["message"] == "Operation (none) is not supported."


def test_crlf_added_to_a_signed_header_after_signing_breaks_the_signature(client, credentials,
                                                                          key):
    meta = sign("DisableKey", disable_body(key), credentials)
    meta["HTTP_X_AMZ_DATE"] += "\r\nX-Amz-Target: TrentService.ScheduleKeyDeletion"
    response = post(client, "DisableKey", disable_body(key), meta)
    refused(response, "IncompleteSignatureException", key)


@pytest.mark.parametrize("header", ["HTTP_X_AMZ_DATE", "HTTP_X_AMZ_TARGET"])
def test_a_duplicated_header_is_refused(client, credentials, key, header):
    """A server joins repeated header lines with a comma (RFC 9110); a value repeated after
    signing is another value: refused, nothing done."""
    meta = sign("DisableKey", disable_body(key), credentials)
    meta[header] = f"{meta[header]},{meta[header]}"
    response = post(client, "DisableKey", disable_body(key), meta)
    if header == "HTTP_X_AMZ_DATE":
        refused(response, "IncompleteSignatureException", key)
    else:  # the signature covers the target; the joined value names no operation
        refused(response, "InvalidSignatureException", key, operation="Unknown")


def test_two_authorization_headers_are_refused(client, credentials, key):
    meta = sign("DisableKey", disable_body(key), credentials)
    meta["HTTP_AUTHORIZATION"] = f"{meta['HTTP_AUTHORIZATION']},{meta['HTTP_AUTHORIZATION']}"
    response = post(client, "DisableKey", disable_body(key), meta)
    refused(response, "IncompleteSignatureException", key)


def test_duplicate_credential_parts_are_refused(client, admin, credentials, key):
    """Two Credential= parts: one a stranger's key, one the signer's. Which one a reader takes
    must never matter: the header is refused."""
    other = create_access_key(admin)
    meta = sign("DisableKey", disable_body(key), credentials)
    head, rest = meta["HTTP_AUTHORIZATION"].split(" ", 1)
    decoy = rest.split(",", 1)[0].replace(credentials[0], other[0])
    for authorization in (f"{head} {decoy}, {rest}", f"{head} {rest}, {decoy}"):
        meta["HTTP_AUTHORIZATION"] = authorization
        body = refused(post(client, "DisableKey", disable_body(key), meta),
                       "IncompleteSignatureException", key)
        assert body["message"] == ("Authorization header has more than one 'Credential' "
                                   "parameter.")
        AuditEvent.objects.filter(error_code="IncompleteSignatureException").delete()


def test_a_signed_header_missing_from_the_request_breaks_the_signature(client, credentials,
                                                                       key):
    meta = sign("DisableKey", disable_body(key), credentials,
                extra_headers={"X-Amz-Meta-Note": "signed, then dropped"})
    assert "x-amz-meta-note" in meta["HTTP_AUTHORIZATION"]
    del meta["HTTP_X_AMZ_META_NOTE"]
    refused(post(client, "DisableKey", disable_body(key), meta), "InvalidSignatureException",
            key)


@pytest.mark.parametrize("signed_headers, error", [
    ("Content-Type;Host;X-Amz-Date;X-Amz-Target", "InvalidSignatureException"),
    ("content-type; host; x-amz-date; x-amz-target", "InvalidSignatureException"),
    ("host;host;x-amz-date;x-amz-target", "InvalidSignatureException"),
    ("content-type;host;x-amz-date;x-amz-target;", "InvalidSignatureException"),
])
def test_signed_headers_in_another_spelling_are_refused(client, credentials, key,
                                                        signed_headers, error):
    meta = sign("DisableKey", disable_body(key), credentials)
    meta["HTTP_AUTHORIZATION"] = meta["HTTP_AUTHORIZATION"].replace(
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target",
        f"SignedHeaders={signed_headers}")
    assert signed_headers in meta["HTTP_AUTHORIZATION"]
    refused(post(client, "DisableKey", disable_body(key), meta), error, key)


def test_odd_spacing_around_the_authorization_parts_is_refused(client, credentials, key):
    meta = sign("DisableKey", disable_body(key), credentials)
    meta["HTTP_AUTHORIZATION"] = meta["HTTP_AUTHORIZATION"].replace("Signature=",
                                                                    "Signature = ")
    response = post(client, "DisableKey", disable_body(key), meta)
    refused(response, "IncompleteSignatureException", key)


# --- headers left unsigned ---------------------------------------------------------------------

@pytest.mark.parametrize("unsigned, message", [
    ("host", "'host' must be a signed header."),
    ("x-amz-date", "'x-amz-date' must be a signed header."),
    ("x-amz-target", "'x-amz-target' must be a signed header."),
])
def test_a_request_that_leaves_a_required_header_unsigned_is_refused(client, credentials, key,
                                                                     unsigned, message):
    """Unsigned, the host, the date or the operation could be changed on the way; the
    operation most of all: a captured DescribeKey would replay as DisableKey."""
    meta = sign_without("DescribeKey", disable_body(key), credentials, unsigned)
    meta["HTTP_X_AMZ_TARGET"] = "TrentService.DisableKey"
    body = refused(post(client, "DisableKey", disable_body(key), meta),
                   "InvalidSignatureException", key)
    assert body["message"] == message


def test_content_type_may_be_left_unsigned_as_with_aws(client, credentials, key):
    meta = sign_without("DisableKey", disable_body(key), credentials, "content-type")
    assert "content-type" not in meta["HTTP_AUTHORIZATION"]
    response = post(client, "DisableKey", disable_body(key), meta)
    assert response.status_code == 200, response.content
    key.refresh_from_db()
    assert key.key_state == "Disabled"


# --- two signatures ----------------------------------------------------------------------------

def test_a_query_string_signature_beside_the_header_signature_is_refused(client, credentials,
                                                                        key):
    meta = sign("DisableKey", disable_body(key), credentials)
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAOTHER%2F20260101%2F"
             "us-east-1%2Fkms%2Faws4_request&X-Amz-Signature=" + "0" * 64)
    response = client.generic("POST", f"/?{query}", data=disable_body(key),
                              content_type=CONTENT_TYPE, HTTP_HOST=HOST, **meta)
    body = refused(response, "InvalidSignatureException", key)
    assert body["message"] == ("Found both 'X-Amz-Algorithm' as a query-string param and "
                               "'Authorization' as HTTP header.")


def test_a_query_string_signature_alone_is_not_accepted(client, credentials, key):
    """Presigned URLs are no way to call KMS here: without the header, no authentication."""
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
             f"{credentials[0]}%2F20260101%2Fus-east-1%2Fkms%2Faws4_request"
             "&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "0" * 64)
    response = client.generic("POST", f"/?{query}", data=disable_body(key),
                              content_type=CONTENT_TYPE, HTTP_HOST=HOST,
                              HTTP_X_AMZ_TARGET="TrentService.DisableKey")
    refused(response, "MissingAuthenticationTokenException", key)


# --- session tokens ----------------------------------------------------------------------------

@pytest.fixture
def role(admin):
    caller = caller_for(admin)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
        "Action": "sts:AssumeRole"}]})
    role = iam.role_create(caller=caller, name="deployer", trust_policy=trust)
    iam.policy_attach_role(caller=caller, role=role,
                           policy_arn=builtin_policy_arn("AdministratorAccess"))
    return role


def assume(admin, role, name: str) -> sts.IssuedCredentials:
    return sts.role_assume(caller=caller_for(admin), role_arn=role.arn, session_name=name)


def session_post(client, key, issued, token: str):
    return signed_post(client, "DisableKey", disable_body(key),
                       (issued.session.access_key_id, issued.secret_access_key),
                       extra_headers={"X-Amz-Security-Token": token})


def test_a_role_session_signs_requests_with_its_token(client, admin, role, key):
    issued = assume(admin, role, "works")
    response = session_post(client, key, issued, issued.session_token)
    assert response.status_code == 200, response.content


def test_the_token_of_an_expired_role_session_is_refused(client, admin, role, key):
    issued = assume(admin, role, "expired")
    with time_machine.travel(issued.session.expires_at + datetime.timedelta(seconds=1)):
        response = session_post(client, key, issued, issued.session_token)
    body = refused(response, "ExpiredTokenException", key)
    assert body["message"] == "The security token included in the request is expired"


def test_an_expired_session_is_refused_even_inside_its_last_signature_window(
        client, admin, role, key):
    """Signed a second before the session ended and sent a second after: the session decides,
    not the five-minute window of the signature."""
    issued = assume(admin, role, "edge")
    ends = issued.session.expires_at
    with time_machine.travel(ends - datetime.timedelta(seconds=1), tick=False) as traveller:
        meta = sign("DisableKey", disable_body(key),
                    (issued.session.access_key_id, issued.secret_access_key),
                    extra_headers={"X-Amz-Security-Token": issued.session_token})
        traveller.shift(datetime.timedelta(seconds=2))
        response = post(client, "DisableKey", disable_body(key), meta)
    refused(response, "ExpiredTokenException", key)


def test_the_token_of_another_session_is_refused(client, admin, role, key):
    mine, theirs = assume(admin, role, "mine"), assume(admin, role, "theirs")
    response = session_post(client, key, mine, theirs.session_token)
    body = refused(response, "UnrecognizedClientException", key)
    assert body["message"] == "The security token included in the request is invalid."
    assert SessionCredential.objects.count() == 2


def test_a_session_token_with_a_users_long_term_key_is_refused(client, admin, role, key,
                                                               credentials):
    issued = assume(admin, role, "borrowed")
    response = signed_post(client, "DisableKey", disable_body(key), credentials,
                           extra_headers={"X-Amz-Security-Token": issued.session_token})
    refused(response, "UnrecognizedClientException", key)


def test_a_refused_request_never_creates_keys(client, credentials, key):
    meta = sign("CreateKey", b"{}", credentials)
    meta["HTTP_AUTHORIZATION"] = meta["HTTP_AUTHORIZATION"].replace(
        "Credential=", "Credential=x, Credential=")
    response = post(client, "CreateKey", b"{}", meta)
    audited_once(response, "IncompleteSignatureException", "CreateKey")
    assert Key.objects.count() == 1


# --- text no database can store ----------------------------------------------------------------

@pytest.mark.parametrize("header, value", [
    ("HTTP_AUTHORIZATION", "AWS4-HMAC-SHA256 Credential=AKIA\x00EVIL/20260101/us-east-1/kms/"
                           "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64),
    ("HTTP_X_AMZ_SECURITY_TOKEN", "token\x00"),
])
def test_a_nul_character_in_a_header_is_refused_and_audited(client, credentials, key, header,
                                                            value):
    """Regression (PostgreSQL text cannot hold U+0000): a NUL in the Authorization header
    reached the access key lookup and the audit record: a 500."""
    meta = sign("DisableKey", disable_body(key), credentials)
    meta[header] = value
    response = post(client, "DisableKey", disable_body(key), meta)
    assert response.status_code == 400, response.content
    body = json.loads(response.content)
    [event] = AuditEvent.objects.filter(request_id=response["x-amzn-RequestId"])
    assert event.error_code == body["__type"]
    assert "\x00" not in event.access_key_id
    key.refresh_from_db()
    assert key.key_state == "Enabled"


def test_a_nul_character_in_the_user_agent_is_dropped_from_the_trail(client, credentials, key):
    """Regression: the User-Agent (not signed) went into the audit record as sent: a 500 on
    PostgreSQL. It is informational, so the request is served and the NUL dropped."""
    meta = sign("DisableKey", disable_body(key), credentials)
    meta["HTTP_USER_AGENT"] = "agent\x00with-nul"
    response = post(client, "DisableKey", disable_body(key), meta)
    assert response.status_code == 200, response.content
    [event] = AuditEvent.objects.filter(request_id=response["x-amzn-RequestId"])
    assert event.user_agent == "agentwith-nul"
