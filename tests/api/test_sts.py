"""Real boto3 STS against live_server: AssumeRole, the temporary credentials it issues used with
KMS, GetCallerIdentity, session expiry and tokens, and the audit trail of every STS call.

STS speaks the Query protocol (form body, XML answers) on the same endpoint as KMS, so one
endpoint_url serves both clients, as with AWS_ENDPOINT_URL.
"""

import datetime
import json
import urllib.error
import urllib.request
from xml.etree import ElementTree

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from grants import services
from grants.builtin_policies import builtin_policy_arn
from grants.models import SessionCredential
from tests.conftest import ACCOUNT_ID, REGION, make_user

from .conftest import create_access_key
from .helpers import checked, responses_must_fit

pytestmark = pytest.mark.django_db(transaction=True)

NAMESPACE = "{https://sts.amazonaws.com/doc/2011-06-15/}"


@pytest.fixture(autouse=True)
def _every_kms_response_fits_its_shape(request):
    yield from responses_must_fit(request)


def _close_connections(request, **kwargs):
    # boto3 keep-alive against live_server leaves a thread behind at exit; close each time.
    request.headers["Connection"] = "close"


def client(service, live_server, access_key_id, secret, token=None, *, validate=True):
    made = boto3.client(
        service, endpoint_url=live_server.url, region_name=REGION,
        aws_access_key_id=access_key_id, aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                      parameter_validation=validate))
    made.meta.events.register(f"before-send.{service}.*", _close_connections)
    return checked(made) if service == "kms" else made


def session_client(service, live_server, credentials):
    return client(service, live_server, credentials["AccessKeyId"],
                  credentials["SecretAccessKey"], credentials["SessionToken"])


def trust(principal) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})


def error_of(excinfo) -> tuple[str, int, str]:
    response = excinfo.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"].get("Message", ""))


@pytest.fixture
def alice(account):
    return make_user(account, "alice")


@pytest.fixture
def alice_keys(alice):
    return create_access_key(alice)


@pytest.fixture
def alice_sts(live_server, alice_keys):
    return client("sts", live_server, *alice_keys)


@pytest.fixture
def role(caller, alice):
    """A role alice may assume, allowed to administer KMS (so its sessions can use keys)."""
    role = services.role_create(caller=caller, name="deployer", trust_policy=trust(alice.arn))
    services.policy_attach_role(caller=caller, role=role,
                                policy_arn=builtin_policy_arn("AdministratorAccess"))
    return role


@pytest.fixture
def credentials(alice_sts, role):
    return alice_sts.assume_role(RoleArn=role.arn, RoleSessionName="ci-run")["Credentials"]


def test_assume_role_issues_credentials_that_work_with_kms(alice_sts, role, live_server):
    response = alice_sts.assume_role(RoleArn=role.arn, RoleSessionName="ci-run",
                                     DurationSeconds=1800)
    credentials = response["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert credentials["SecretAccessKey"] and len(credentials["SessionToken"]) >= 100
    lifetime = credentials["Expiration"] - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(minutes=29) < lifetime <= datetime.timedelta(minutes=30)
    assert response["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role.unique_id}:ci-run",
        "Arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/deployer/ci-run"}

    kms = session_client("kms", live_server, credentials)
    key_id = kms.create_key(Description="made by a role session")["KeyMetadata"]["KeyId"]
    assert key_id in [key["KeyId"] for key in kms.list_keys()["Keys"]]
    event = AuditEvent.objects.filter(event_name="CreateKey").latest("id")
    assert event.error_code == "" and event.access_key_id == credentials["AccessKeyId"]
    assert event.principal_arn == response["AssumedRoleUser"]["Arn"]
    identity = event.user_identity
    assert identity["type"] == "AssumedRole"
    assert identity["sessionContext"]["sessionIssuer"]["arn"] == role.arn


def test_get_caller_identity_for_a_user_and_for_a_session(alice_sts, alice, credentials,
                                                         live_server):
    identity = alice_sts.get_caller_identity()
    assert (identity["UserId"], identity["Account"], identity["Arn"]) == (
        alice.unique_id, ACCOUNT_ID, alice.arn)
    session_identity = session_client("sts", live_server, credentials).get_caller_identity()
    assert session_identity["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/deployer/ci-run"
    assert session_identity["UserId"].endswith(":ci-run")
    assert session_identity["UserId"].startswith("AROA")
    assert session_identity["Account"] == ACCOUNT_ID


def test_a_trust_policy_not_naming_the_caller_is_access_denied(live_server, admin, role):
    admin_sts = client("sts", live_server, *create_access_key(admin))
    with pytest.raises(ClientError) as excinfo:
        admin_sts.assume_role(RoleArn=role.arn, RoleSessionName="sneaky")
    assert error_of(excinfo) == (
        "AccessDenied", 403,
        (f"User: {admin.arn} is not authorized to perform: sts:AssumeRole on resource: "
         f"{role.arn}"))
    assert not SessionCredential.objects.exists()
    event = AuditEvent.objects.get(event_name="AssumeRole")
    assert event.error_code == "AccessDenied"
    assert event.event_source == "sts.amazonaws.com"
    assert event.request_id == excinfo.value.response["ResponseMetadata"]["RequestId"]


def test_session_credentials_work_until_they_expire(credentials, live_server):
    kms = session_client("kms", live_server, credentials)
    kms.list_keys()
    SessionCredential.objects.filter(access_key_id=credentials["AccessKeyId"]).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1))
    with pytest.raises(ClientError) as excinfo:
        kms.list_keys()
    assert error_of(excinfo) == ("ExpiredTokenException", 400,
                                 "The security token included in the request is expired")
    event = AuditEvent.objects.filter(event_name="ListKeys").latest("id")
    assert event.error_code == "ExpiredTokenException"
    assert event.access_key_id == credentials["AccessKeyId"]
    with pytest.raises(ClientError) as excinfo:
        session_client("sts", live_server, credentials).get_caller_identity()
    assert error_of(excinfo)[:2] == ("ExpiredToken", 400)


def test_a_wrong_or_missing_session_token_is_unrecognized(credentials, live_server):
    wrong = dict(credentials, SessionToken=credentials["SessionToken"][:-4] + "AAAA")
    with pytest.raises(ClientError) as excinfo:
        session_client("kms", live_server, wrong).list_keys()
    assert error_of(excinfo) == ("UnrecognizedClientException", 400,
                                 "The security token included in the request is invalid.")
    without = client("kms", live_server, credentials["AccessKeyId"],
                     credentials["SecretAccessKey"])
    with pytest.raises(ClientError) as excinfo:
        without.list_keys()
    assert error_of(excinfo)[0] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as excinfo:
        session_client("sts", live_server, wrong).get_caller_identity()
    assert error_of(excinfo)[:2] == ("InvalidClientTokenId", 403)
    # Each refusal is recorded with the code its service answered (KMS's JSON, STS's Query).
    assert AuditEvent.objects.filter(event_source="kms.amazonaws.com",
                                     error_code="UnrecognizedClientException").count() == 2
    assert AuditEvent.objects.filter(event_source="sts.amazonaws.com",
                                     error_code="InvalidClientTokenId").count() == 1


def test_a_users_access_key_with_a_session_token_is_unrecognized(live_server, alice_keys):
    kms = client("kms", live_server, *alice_keys, token="not-a-session-of-this-key")
    with pytest.raises(ClientError) as excinfo:
        kms.list_keys()
    assert error_of(excinfo)[0] == "UnrecognizedClientException"


def test_a_session_can_assume_a_role_that_trusts_it(caller, credentials, live_server):
    target = services.role_create(
        caller=caller, name="next",
        trust_policy=trust(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/deployer/ci-run"))
    chained = session_client("sts", live_server, credentials).assume_role(
        RoleArn=target.arn, RoleSessionName="chained")
    assert chained["AssumedRoleUser"]["Arn"].endswith(":assumed-role/next/chained")


def test_assume_role_with_invalid_parameters_is_a_validation_error(live_server, alice_keys,
                                                                   role):
    sts = client("sts", live_server, *alice_keys, validate=False)
    with pytest.raises(ClientError) as excinfo:
        sts.assume_role(RoleArn=role.arn, RoleSessionName="ci", DurationSeconds=60)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationError", 400)
    assert "durationSeconds" in message and "900" in message
    # A session policy that was silently dropped would grant more than asked for: refused.
    with pytest.raises(ClientError) as excinfo:
        sts.assume_role(RoleArn=role.arn, RoleSessionName="ci",
                        Policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    assert error_of(excinfo)[:2] == ("ValidationError", 400)
    assert "Policy" in error_of(excinfo)[2]
    assert not SessionCredential.objects.exists()


def test_every_sts_call_is_audited_without_secrets(live_server, alice_sts, role, admin):
    issued = alice_sts.assume_role(RoleArn=role.arn, RoleSessionName="audited")["Credentials"]
    alice_sts.get_caller_identity()
    session_client("sts", live_server, issued).get_caller_identity()
    with pytest.raises(ClientError):
        client("sts", live_server, *create_access_key(admin)).assume_role(
            RoleArn=role.arn, RoleSessionName="denied")
    events = list(AuditEvent.objects.filter(event_source="sts.amazonaws.com").order_by("id"))
    assert [(event.event_name, event.error_code) for event in events] == [
        ("AssumeRole", ""), ("GetCallerIdentity", ""), ("GetCallerIdentity", ""),
        ("AssumeRole", "AccessDenied")]
    assert events[2].user_identity["type"] == "AssumedRole"
    assert events[2].access_key_id == issued["AccessKeyId"]
    assert events[0].response_elements["credentials"]["accessKeyId"] == issued["AccessKeyId"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_auditevent")
        dump = repr(cursor.fetchall())
    assert issued["SecretAccessKey"] not in dump
    assert issued["SessionToken"] not in dump


# --- the Query protocol on the wire --------------------------------------------------------

def signed_form(live_server, body: str | bytes, credentials=None, *, unsigned=False):
    """A raw STS request as botocore would send it: (status, headers, body)."""
    data = body.encode() if isinstance(body, str) else body
    request = AWSRequest(method="POST", url=live_server.url + "/", data=data,
                         headers={"Content-Type":
                                  "application/x-www-form-urlencoded; charset=utf-8"})
    if not unsigned:
        SigV4Auth(Credentials(*credentials), "sts", REGION).add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(prepared.url, data=prepared.body, method="POST",
                                 headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(raw) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def xml_error(content: bytes) -> dict:
    root = ElementTree.fromstring(content)
    assert root.tag == f"{NAMESPACE}ErrorResponse"
    error = root.find(f"{NAMESPACE}Error")
    return {"Type": error.findtext(f"{NAMESPACE}Type"),
            "Code": error.findtext(f"{NAMESPACE}Code"),
            "Message": error.findtext(f"{NAMESPACE}Message"),
            "RequestId": root.findtext(f"{NAMESPACE}RequestId")}


def test_an_unknown_action_is_an_xml_invalid_action_error(live_server, alice_keys):
    status, headers, content = signed_form(live_server, "Action=GetSessionToken&Version="
                                           "2011-06-15", alice_keys)
    error = xml_error(content)
    assert status == 400 and headers["Content-Type"].startswith("text/xml")
    assert (error["Type"], error["Code"]) == ("Sender", "InvalidAction")
    assert error["RequestId"] == headers["x-amzn-RequestId"]
    event = AuditEvent.objects.get(request_id=error["RequestId"])
    assert (event.event_name, event.event_source, event.error_code) == (
        "GetSessionToken", "sts.amazonaws.com", "InvalidAction")


def test_a_body_that_is_not_a_form_is_a_client_error(live_server, alice_keys):
    status, _, content = signed_form(live_server, b"Action=GetCallerIdentity&\xff\xfe",
                                     alice_keys)
    error = xml_error(content)
    assert (status, error["Type"], error["Code"]) == (400, "Sender", "MalformedQueryString")
    event = AuditEvent.objects.get(request_id=error["RequestId"])
    assert event.event_source == "sts.amazonaws.com"
    assert event.user_identity["type"] == "IAMUser"


def test_an_unsigned_sts_request_is_refused_and_audited_as_sts(live_server, alice_keys):
    status, _, content = signed_form(live_server, "Action=GetCallerIdentity&Version="
                                     "2011-06-15", unsigned=True)
    error = xml_error(content)
    assert (status, error["Code"]) == (403, "MissingAuthenticationToken")
    event = AuditEvent.objects.get(request_id=error["RequestId"])
    assert (event.event_name, event.event_source) == ("GetCallerIdentity",
                                                      "sts.amazonaws.com")


def test_a_kms_signature_is_not_accepted_for_sts(live_server, alice_keys):
    request = AWSRequest(method="POST", url=live_server.url + "/",
                         data=b"Action=GetCallerIdentity&Version=2011-06-15",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(*alice_keys), "kms", REGION).add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(prepared.url, data=prepared.body, method="POST",
                                 headers=dict(prepared.headers))
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(raw)
    assert excinfo.value.code == 403
    assert xml_error(excinfo.value.read())["Code"] == "SignatureDoesNotMatch"


def test_kms_json_requests_still_reach_kms(live_server, admin_credentials):
    # The same endpoint: a JSON call with X-Amz-Target is KMS, a form without it is STS.
    assert "Keys" in client("kms", live_server, *admin_credentials).list_keys()
