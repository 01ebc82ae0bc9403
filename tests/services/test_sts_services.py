"""grants.sts: AssumeRole decided by the role's trust policy, the credentials it issues, and
GetCallerIdentity; the assumed-role principal's CloudTrail identity.

AssumeRole is shown allowed (with its audit event, which holds neither secret nor token),
denied (trust policy not naming the caller, a missing role, no identity policy where the trust
policy delegates to the account) and unauthenticated, plus its parameter rules.
"""

import datetime
import hashlib
import json

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from grants import services, sts
from grants.models import SessionCredential
from grants.principals import Caller, Principal
from kmsconsole.errors import AccessDeniedError, ValidationError
from tests.conftest import ACCOUNT_ID, REGION, caller_for, make_user

from .conftest import raises_kms

pytestmark = pytest.mark.django_db

ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"


def trust(principal) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})


def allow_assume(role_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]})


def anonymous_caller() -> Caller:
    return Caller(principal=Principal.unauthenticated(account_id=ACCOUNT_ID), region=REGION,
                  source="api", source_ip="192.0.2.99", user_agent="pytest")


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).latest("id")


@pytest.fixture
def alice(account):
    return make_user(account, "alice")


@pytest.fixture
def alice_caller(alice):
    return caller_for(alice)


@pytest.fixture
def role(caller, alice):
    return services.role_create(caller=caller, name="app", trust_policy=trust(alice.arn),
                                max_session_duration=7200)


def denied_message(principal_arn: str, role_arn: str) -> str:
    return (f"User: {principal_arn} is not authorized to perform: sts:AssumeRole on resource: "
            f"{role_arn}")


def test_assume_role_named_in_the_trust_policy_issues_temporary_credentials(alice_caller,
                                                                            role):
    before = timezone.now()
    issued = sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="build-42")
    session = issued.session
    assert session.access_key_id.startswith("ASIA") and len(session.access_key_id) == 20
    assert session.secret() == issued.secret_access_key
    assert len(issued.session_token) >= 100
    assert session.session_token_sha256 == hashlib.sha256(
        issued.session_token.encode()).hexdigest()
    assert session.arn == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/app/build-42"
    assert session.assumed_role_id == f"{role.unique_id}:build-42"
    assert session.assumed_by_arn == alice_caller.principal.arn
    lifetime = session.expires_at - before
    assert datetime.timedelta(seconds=3595) < lifetime <= datetime.timedelta(seconds=3605)


def test_assume_role_is_audited_without_secret_or_token(alice_caller, role):
    issued = sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="s1",
                             duration_seconds=900)
    event = last_event("AssumeRole")
    assert event.error_code == "" and event.event_source == "sts.amazonaws.com"
    assert event.read_only is True
    assert event.request_parameters == {"roleArn": role.arn, "roleSessionName": "s1",
                                        "durationSeconds": 900}
    assert event.resources == [{"accountId": ACCOUNT_ID, "type": "AWS::IAM::Role",
                                "ARN": role.arn}]
    assert event.response_elements["credentials"]["accessKeyId"] == \
        issued.session.access_key_id
    assert event.response_elements["assumedRoleUser"]["arn"] == issued.session.arn
    record = json.dumps(event.as_record())
    assert issued.secret_access_key not in record and issued.session_token not in record


def test_no_table_holds_the_session_token_or_the_secret_in_the_clear(alice_caller, role):
    from tests.services.test_no_secret_in_database import dump_all_tables
    issued = sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="s1")
    dump = dump_all_tables()
    assert issued.session.access_key_id.encode() in dump  # the dump really holds the session
    assert issued.session_token.encode() not in dump
    assert issued.secret_access_key.encode() not in dump


def test_a_large_role_inline_policy_is_evaluated(caller, alice, alice_caller):
    # A session's identity policies are its role's: here one inline policy over 6,144
    # characters (allowed for roles), which must be parsed and evaluated, not refused.
    role = services.role_create(caller=caller, name="chain", trust_policy=trust(alice.arn))
    actions = [f"kms:Describe{i:04d}" for i in range(330)] + ["sts:AssumeRole"]
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": "*"}]})
    assert len(big) > 6144
    target = services.role_create(caller=caller, name="target", trust_policy=trust(ROOT))
    services.role_put_inline_policy(caller=caller, role=role, policy_name="big", document=big)
    session = sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="s1").session
    session_caller = Caller(principal=Principal.for_session(session), region=REGION)
    assert sts.role_assume(caller=session_caller, role_arn=target.arn,
                           session_name="s2").session.role == target


def test_assume_role_not_named_in_the_trust_policy_is_denied(caller, role):
    with raises_kms(AccessDeniedError, message=denied_message(caller.principal.arn, role.arn)):
        sts.role_assume(caller=caller, role_arn=role.arn, session_name="s1")
    assert not SessionCredential.objects.exists()
    assert last_event("AssumeRole").error_code == "AccessDenied"


def test_a_missing_role_is_refused_exactly_like_a_denied_one(alice_caller):
    arn = f"arn:aws:iam::{ACCOUNT_ID}:role/nope"
    with raises_kms(AccessDeniedError, message=denied_message(alice_caller.principal.arn, arn)):
        sts.role_assume(caller=alice_caller, role_arn=arn, session_name="s1")


def test_a_trust_policy_naming_the_account_delegates_to_identity_policies(caller, alice,
                                                                          alice_caller):
    role = services.role_create(caller=caller, name="delegated", trust_policy=trust(ROOT))
    with raises_kms(AccessDeniedError):
        sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="s1")
    services.user_put_inline_policy(caller=caller, user=alice, policy_name="assume",
                                    document=allow_assume(role.arn))
    issued = sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="s1")
    assert issued.session.role == role


def test_an_identity_policy_for_another_role_does_not_help(caller, alice, alice_caller):
    role = services.role_create(caller=caller, name="delegated", trust_policy=trust(ROOT))
    services.user_put_inline_policy(caller=caller, user=alice, policy_name="assume",
                                    document=allow_assume(f"{role.arn}-other"))
    with raises_kms(AccessDeniedError):
        sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="s1")


def test_assume_role_unauthenticated_is_denied(role):
    with raises_kms(AccessDeniedError):
        sts.role_assume(caller=anonymous_caller(), role_arn=role.arn, session_name="s1")
    assert not SessionCredential.objects.exists()
    assert last_event("AssumeRole").error_code == "AccessDenied"


@pytest.mark.parametrize("arguments,says", [
    ({"duration_seconds": 899}, "greater than or equal to 900"),
    ({"duration_seconds": 43201}, "less than or equal to 43200"),
    ({"session_name": "x"}, "'roleSessionName'"),
    ({"session_name": "has space"}, "regular expression pattern"),
    ({"session_name": None}, "Value null at 'roleSessionName'"),
    ({"role_arn": None}, "Value null at 'roleArn'"),
    ({"external_id": "x"}, "'externalId'"),
])
def test_assume_role_parameters_outside_the_model_are_validation_errors(alice_caller, role,
                                                                        arguments, says):
    arguments = {"role_arn": role.arn, "session_name": "s1", **arguments}
    with raises_kms(ValidationError, contains=("validation error detected", says)):
        sts.role_assume(caller=alice_caller, **arguments)
    assert not SessionCredential.objects.exists()
    assert last_event("AssumeRole").error_code == "ValidationError"


def test_two_validation_errors_are_counted(alice_caller, role):
    with raises_kms(ValidationError, contains=("2 validation errors detected",)):
        sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="x",
                        duration_seconds=1)


def test_duration_up_to_the_roles_maximum_session_duration(alice_caller, role):
    issued = sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="s1",
                             duration_seconds=7200)
    assert issued.session.expires_at - issued.session.created_at > datetime.timedelta(
        seconds=7190)
    with raises_kms(ValidationError, message="The requested DurationSeconds exceeds the "
                                             "MaxSessionDuration set for this role."):
        sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="s2",
                        duration_seconds=7201)


def test_a_denied_caller_does_not_learn_the_roles_maximum_duration(caller, role):
    with raises_kms(AccessDeniedError):
        sts.role_assume(caller=caller, role_arn=role.arn, session_name="s1",
                        duration_seconds=43200)


def test_role_chaining_is_limited_to_one_hour(caller, alice_caller, role):
    first = sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="first")
    session_caller = Caller(principal=Principal.for_session(first.session), region=REGION)
    second_role = services.role_create(caller=caller, name="second",
                                       trust_policy=trust(first.session.arn),
                                       max_session_duration=43200)
    with raises_kms(ValidationError, contains=("1 hour session limit", "role chaining")):
        sts.role_assume(caller=session_caller, role_arn=second_role.arn, session_name="s2",
                        duration_seconds=3601)
    chained = sts.role_assume(caller=session_caller, role_arn=second_role.arn,
                              session_name="s2")
    assert chained.session.assumed_by_arn == first.session.arn


def test_the_assumed_role_principal_and_its_cloudtrail_identity(alice_caller, role):
    session = sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="s1").session
    principal = Principal.for_session(session)
    assert principal.type == "AssumedRole" and principal.role_arn == role.arn
    assert principal.arn == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/app/s1"
    assert principal.principal_id == f"{role.unique_id}:s1"
    assert principal.user_identity() == {
        "type": "AssumedRole",
        "principalId": f"{role.unique_id}:s1",
        "arn": principal.arn,
        "accountId": ACCOUNT_ID,
        "accessKeyId": session.access_key_id,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": role.unique_id, "arn": role.arn,
                              "accountId": ACCOUNT_ID, "userName": "app"},
            "attributes": {
                "creationDate": session.created_at.astimezone(datetime.UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"),
                "mfaAuthenticated": "false"},
        },
    }


def test_get_caller_identity_of_a_user_and_of_a_session(alice, alice_caller, role):
    identity = sts.caller_identity(caller=alice_caller)
    assert identity == sts.CallerIdentity(user_id=alice.unique_id, account=ACCOUNT_ID,
                                          arn=alice.arn)
    event = last_event("GetCallerIdentity")
    assert event.error_code == "" and event.read_only and event.event_source == \
        "sts.amazonaws.com"
    session = sts.role_assume(caller=alice_caller, role_arn=role.arn, session_name="s1").session
    identity = sts.caller_identity(caller=Caller(principal=Principal.for_session(session),
                                                 region=REGION))
    assert identity == sts.CallerIdentity(user_id=f"{role.unique_id}:s1", account=ACCOUNT_ID,
                                          arn=session.arn)


def test_get_caller_identity_needs_no_permission(outsider_caller, outsider):
    # The outsider has no identity policy at all and still learns who it is.
    assert sts.caller_identity(caller=outsider_caller).arn == outsider.arn


def test_get_caller_identity_unauthenticated_is_denied(account):
    with raises_kms(AccessDeniedError):
        sts.caller_identity(caller=anonymous_caller())
    assert last_event("GetCallerIdentity").error_code == "AccessDenied"
