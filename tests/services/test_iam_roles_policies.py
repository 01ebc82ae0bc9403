"""grants.services: roles, inline and managed identity policies, attachments, and the selector
that hands a principal's identity policies to authorization.

Each mutating service is shown allowed (with its audit event), refused for another account's
principal and for an unauthenticated caller, and refusing bad input with an AWS error type
(IAM's quotas, malformed documents with the policy parser's own message, delete conflicts).
"""

import json

import pytest

from audit.models import AuditEvent
from grants import services
from grants.builtin_policies import BUILTIN_POLICIES, builtin_policy_arn
from grants.models import InlinePolicy, ManagedPolicy, Role, SessionCredential
from grants.policy.document import PolicyError, parse_policy
from grants.principals import Caller, Principal
from grants.selectors import identity_policies_for, role_get, user_get
from kmsconsole.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    DeleteConflictError,
    LimitExceededError,
    MalformedPolicyDocumentError,
    NoSuchEntityError,
    ValidationError,
)
from tests.conftest import ACCOUNT_ID, OTHER_ACCOUNT_ID, REGION, make_user

from .conftest import raises_kms

pytestmark = pytest.mark.django_db

ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"
ADMIN_ACCESS = builtin_policy_arn("AdministratorAccess")
READ_ONLY = builtin_policy_arn("KMSReadOnly")


def document(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def customer_policies():
    """Customer managed policies (the fixtures' administrators hold a built-in one)."""
    return ManagedPolicy.objects.filter(account__isnull=False)


def allow(action="kms:DescribeKey", resource="*") -> str:
    return document({"Effect": "Allow", "Action": action, "Resource": resource})


def trust(principal=ROOT) -> str:
    return document({"Effect": "Allow", "Principal": {"AWS": principal},
                     "Action": "sts:AssumeRole"})


MALFORMED = [
    pytest.param("{not json", id="not-json"),
    pytest.param(json.dumps({"Version": "2012-10-17"}), id="no-statement"),
    pytest.param(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Maybe", "Action": "kms:*", "Resource": "*"}]}), id="bad-effect"),
]


def parser_message(text: str, kind: str) -> str:
    """What grants.policy says about a document (the service must pass it on unchanged)."""
    with pytest.raises(PolicyError) as excinfo:
        parse_policy(text, kind=kind)
    return str(excinfo.value)


def anonymous_caller(account_id: str = ACCOUNT_ID) -> Caller:
    return Caller(principal=Principal.unauthenticated(account_id=account_id), region=REGION,
                  source="api", source_ip="192.0.2.99", user_agent="pytest")


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).latest("id")


def assert_succeeded(name: str) -> AuditEvent:
    event = last_event(name)
    assert event.error_code == "", (event.error_code, event.error_message)
    assert event.event_source == "iam.amazonaws.com"
    assert event.read_only is False
    return event


def assert_failed(name: str, code: str) -> AuditEvent:
    event = last_event(name)
    assert event.error_code == code, (event.error_code, event.error_message)
    return event


@pytest.fixture
def role(caller) -> Role:
    return services.role_create(caller=caller, name="app", trust_policy=trust())


@pytest.fixture
def alice(account):
    return make_user(account, "alice")


@pytest.fixture
def policy(caller) -> ManagedPolicy:
    return services.managed_policy_create(caller=caller, name="kms-describe",
                                          document=allow())


# --- roles ----------------------------------------------------------------------------------

def test_create_role_makes_the_role_and_audits_it(caller, account):
    text = trust()
    role = services.role_create(caller=caller, name="app", trust_policy=text,
                                description="the app")
    assert role.arn == f"arn:aws:iam::{ACCOUNT_ID}:role/app"
    assert role.unique_id.startswith("AROA") and len(role.unique_id) == 21
    assert role.trust_policy == text and role.max_session_duration == 3600
    event = assert_succeeded("CreateRole")
    assert event.request_parameters["roleName"] == "app"
    assert event.request_parameters["assumeRolePolicyDocument"] == text
    assert event.response_elements["role"]["roleId"] == role.unique_id
    assert event.response_elements["role"]["arn"] == role.arn


def test_create_role_with_a_path_puts_the_path_in_the_arn(caller):
    role = services.role_create(caller=caller, name="ci", trust_policy=trust(),
                                path="/service/", max_session_duration=43200)
    assert role.arn == f"arn:aws:iam::{ACCOUNT_ID}:role/service/ci"
    assert role.max_session_duration == 43200


@pytest.mark.parametrize("text", MALFORMED)
def test_create_role_with_a_malformed_trust_policy_says_what_the_parser_says(caller, text):
    with raises_kms(MalformedPolicyDocumentError, message=parser_message(text, "trust")):
        services.role_create(caller=caller, name="app", trust_policy=text)
    assert not Role.objects.exists()
    assert_failed("CreateRole", "MalformedPolicyDocument")


def test_a_trust_policy_without_a_principal_is_malformed(caller):
    text = allow("sts:AssumeRole")
    with raises_kms(MalformedPolicyDocumentError, message=parser_message(text, "trust")):
        services.role_create(caller=caller, name="app", trust_policy=text)
    assert not Role.objects.exists()


def test_a_trust_policy_naming_a_user_that_does_not_exist_is_malformed(caller, alice):
    nobody = f"arn:aws:iam::{ACCOUNT_ID}:user/nobody"
    with raises_kms(MalformedPolicyDocumentError,
                    message=f'Invalid principal in policy: "AWS":"{nobody}"'):
        services.role_create(caller=caller, name="app", trust_policy=trust([alice.arn, nobody]))
    assert not Role.objects.exists()


def test_a_trust_policy_may_name_accounts_roles_and_role_sessions(caller, role):
    services.role_create(caller=caller, name="next", trust_policy=trust([
        ACCOUNT_ID, f"arn:aws:iam::{OTHER_ACCOUNT_ID}:root", role.arn,
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/app/some-session"]))
    assert_succeeded("CreateRole")


def test_a_trust_policy_over_2048_characters_exceeds_the_quota(caller):
    principals = [f"arn:aws:iam::{ACCOUNT_ID}:user/user-{i:04d}" for i in range(60)]
    with raises_kms(LimitExceededError, contains=("ACLSizePerRole: 2048",)):
        services.role_create(caller=caller, name="app", trust_policy=trust(principals))
    assert not Role.objects.exists()


@pytest.mark.parametrize("changes,says", [
    ({"name": "has space"}, "name: "),
    ({"name": "x" * 65}, "name: "),
    ({"path": "no-slashes"}, "path: "),
    ({"max_session_duration": 3599}, "max_session_duration: "),
    ({"max_session_duration": 43201}, "max_session_duration: "),
    ({"description": "d" * 1001}, "description: "),
])
def test_create_role_with_invalid_fields_is_a_validation_error(caller, changes, says):
    arguments = {"name": "app", "trust_policy": trust(), **changes}
    with raises_kms(ValidationError, contains=(says,)):
        services.role_create(caller=caller, **arguments)
    assert not Role.objects.exists()
    assert_failed("CreateRole", "ValidationError")


def test_role_names_are_unique_per_account_regardless_of_case(caller, role, outsider_caller):
    with raises_kms(AlreadyExistsError, contains=("APP",)):
        services.role_create(caller=caller, name="APP", trust_policy=trust())
    assert_failed("CreateRole", "EntityAlreadyExists")
    # Another account has its own namespace.
    other = services.role_create(caller=outsider_caller, name="app", trust_policy=trust(
        f"arn:aws:iam::{OTHER_ACCOUNT_ID}:root"))
    assert other.arn == f"arn:aws:iam::{OTHER_ACCOUNT_ID}:role/app"


def test_create_role_unauthenticated_is_denied(account):
    with raises_kms(AccessDeniedError):
        services.role_create(caller=anonymous_caller(), name="app", trust_policy=trust())
    assert not Role.objects.exists()
    assert_failed("CreateRole", "AccessDenied")


def test_update_trust_policy_replaces_it_and_audits_it(caller, role, alice):
    text = trust(alice.arn)
    services.role_update_trust_policy(caller=caller, role=role, trust_policy=text)
    role.refresh_from_db()
    assert role.trust_policy == text
    event = assert_succeeded("UpdateAssumeRolePolicy")
    assert event.request_parameters == {"roleName": "app", "policyDocument": text}


@pytest.mark.parametrize("text", MALFORMED)
def test_update_trust_policy_with_a_malformed_document_changes_nothing(caller, role, text):
    before = role.trust_policy
    with raises_kms(MalformedPolicyDocumentError, message=parser_message(text, "trust")):
        services.role_update_trust_policy(caller=caller, role=role, trust_policy=text)
    role.refresh_from_db()
    assert role.trust_policy == before
    assert_failed("UpdateAssumeRolePolicy", "MalformedPolicyDocument")


def test_update_trust_policy_of_another_accounts_role_is_denied(outsider_caller, role):
    before = role.trust_policy
    with raises_kms(AccessDeniedError, contains=(role.arn,)):
        services.role_update_trust_policy(caller=outsider_caller, role=role,
                                          trust_policy=trust("*"))
    role.refresh_from_db()
    assert role.trust_policy == before
    assert_failed("UpdateAssumeRolePolicy", "AccessDenied")


def test_update_trust_policy_unauthenticated_is_denied(role):
    with raises_kms(AccessDeniedError):
        services.role_update_trust_policy(caller=anonymous_caller(), role=role,
                                          trust_policy=trust("*"))
    assert_failed("UpdateAssumeRolePolicy", "AccessDenied")


def test_delete_role_deletes_it_with_its_sessions_and_audits_it(caller, role):
    SessionCredential.objects.create(
        access_key_id="ASIAAAAAAAAAAAAAAAAA", secret_wrapped=b"x", session_token_sha256="0" * 64,
        role=role, session_name="s1", assumed_by_arn=caller.principal.arn,
        assumed_role_id=f"{role.unique_id}:s1", expires_at="2099-01-01T00:00:00Z")
    services.role_delete(caller=caller, role=role)
    assert not Role.objects.exists() and not SessionCredential.objects.exists()
    assert assert_succeeded("DeleteRole").request_parameters == {"roleName": "app"}


def test_delete_role_with_an_attached_policy_is_a_delete_conflict(caller, role):
    services.policy_attach_role(caller=caller, role=role, policy_arn=READ_ONLY)
    with raises_kms(DeleteConflictError, contains=("detach",)):
        services.role_delete(caller=caller, role=role)
    assert Role.objects.filter(pk=role.pk).exists()
    assert_failed("DeleteRole", "DeleteConflict")


def test_delete_role_with_an_inline_policy_is_a_delete_conflict(caller, role):
    services.role_put_inline_policy(caller=caller, role=role, policy_name="p", document=allow())
    with raises_kms(DeleteConflictError, contains=("delete policies",)):
        services.role_delete(caller=caller, role=role)
    assert Role.objects.filter(pk=role.pk).exists()


def test_delete_role_of_another_account_is_denied(outsider_caller, role):
    with raises_kms(AccessDeniedError):
        services.role_delete(caller=outsider_caller, role=role)
    assert Role.objects.filter(pk=role.pk).exists()
    assert_failed("DeleteRole", "AccessDenied")


def test_delete_role_unauthenticated_is_denied(role):
    with raises_kms(AccessDeniedError):
        services.role_delete(caller=anonymous_caller(), role=role)
    assert Role.objects.filter(pk=role.pk).exists()


def test_role_get_finds_a_role_by_name_or_says_no_such_entity(role):
    assert role_get(account_id=ACCOUNT_ID, name="app") == role
    with raises_kms(NoSuchEntityError, message="The role with name nope cannot be found."):
        role_get(account_id=ACCOUNT_ID, name="nope")
    with raises_kms(NoSuchEntityError):
        role_get(account_id=OTHER_ACCOUNT_ID, name="app")


def test_user_get_finds_a_user_by_name_or_says_no_such_entity(alice):
    assert user_get(account_id=ACCOUNT_ID, name="alice") == alice
    with raises_kms(NoSuchEntityError, message="The user with name bob cannot be found."):
        user_get(account_id=ACCOUNT_ID, name="bob")


# --- inline policies ------------------------------------------------------------------------

def test_put_user_policy_embeds_the_document_and_audits_it(caller, alice):
    text = allow()
    inline = services.user_put_inline_policy(caller=caller, user=alice, policy_name="describe",
                                             document=text)
    assert inline.user == alice and inline.role is None and inline.document == text
    event = assert_succeeded("PutUserPolicy")
    assert event.request_parameters == {"userName": "alice", "policyName": "describe",
                                        "policyDocument": text}


def test_put_user_policy_again_replaces_the_document(caller, alice):
    services.user_put_inline_policy(caller=caller, user=alice, policy_name="p", document=allow())
    services.user_put_inline_policy(caller=caller, user=alice, policy_name="p",
                                    document=allow("kms:Encrypt"))
    assert [p.document for p in alice.inline_policies.all()] == [allow("kms:Encrypt")]


@pytest.mark.parametrize("text", MALFORMED)
def test_put_user_policy_with_a_malformed_document_says_what_the_parser_says(caller, alice,
                                                                              text):
    with raises_kms(MalformedPolicyDocumentError, message=parser_message(text, "identity")):
        services.user_put_inline_policy(caller=caller, user=alice, policy_name="p",
                                        document=text)
    assert not InlinePolicy.objects.exists()
    assert_failed("PutUserPolicy", "MalformedPolicyDocument")


def test_put_user_policy_with_an_invalid_name_is_a_validation_error(caller, alice):
    with raises_kms(ValidationError, contains=("name: ",)):
        services.user_put_inline_policy(caller=caller, user=alice, policy_name="no spaces",
                                        document=allow())
    assert not InlinePolicy.objects.exists()


def padded_policy(characters: int) -> str:
    """An identity policy of about `characters` non-white-space characters."""
    actions = []
    while len(allow(actions or "kms:X").replace(" ", "")) < characters:
        actions.append(f"kms:Describe{len(actions):04d}")
    return allow(actions)


def test_a_users_inline_policies_together_stay_within_2048_characters(caller, alice):
    services.user_put_inline_policy(caller=caller, user=alice, policy_name="one",
                                    document=padded_policy(1100))
    with raises_kms(LimitExceededError,
                    message="Maximum policy size of 2048 bytes exceeded for user alice"):
        services.user_put_inline_policy(caller=caller, user=alice, policy_name="two",
                                        document=padded_policy(1100))
    assert alice.inline_policies.count() == 1
    assert_failed("PutUserPolicy", "LimitExceeded")
    # Replacing the one policy with a document of the same size is within the quota.
    services.user_put_inline_policy(caller=caller, user=alice, policy_name="one",
                                    document=padded_policy(1200))


def test_white_space_does_not_count_towards_the_policy_size(caller, alice):
    roomy = json.dumps(json.loads(padded_policy(1900)), indent=20)
    assert len(roomy) > 2048
    services.user_put_inline_policy(caller=caller, user=alice, policy_name="roomy",
                                    document=roomy)


def test_a_role_inline_policy_may_exceed_the_managed_policy_size(caller, role):
    big = padded_policy(7000)
    services.role_put_inline_policy(caller=caller, role=role, policy_name="big", document=big)
    with raises_kms(LimitExceededError, message="Cannot exceed quota for PolicySize: 6144"):
        services.managed_policy_create(caller=caller, name="big", document=big)


def test_a_roles_inline_policies_may_be_larger_than_a_users(caller, role, alice):
    big = padded_policy(3000)
    services.role_put_inline_policy(caller=caller, role=role, policy_name="big", document=big)
    assert_succeeded("PutRolePolicy")
    with raises_kms(LimitExceededError):
        services.user_put_inline_policy(caller=caller, user=alice, policy_name="big",
                                        document=big)
    with raises_kms(LimitExceededError, contains=("10240", "role app")):
        services.role_put_inline_policy(caller=caller, role=role, policy_name="bigger",
                                        document=padded_policy(7500))


def test_delete_inline_policies_of_users_and_roles(caller, alice, role):
    services.user_put_inline_policy(caller=caller, user=alice, policy_name="p", document=allow())
    services.role_put_inline_policy(caller=caller, role=role, policy_name="p", document=allow())
    services.user_delete_inline_policy(caller=caller, user=alice, policy_name="p")
    assert assert_succeeded("DeleteUserPolicy").request_parameters == {
        "userName": "alice", "policyName": "p"}
    services.role_delete_inline_policy(caller=caller, role=role, policy_name="p")
    assert_succeeded("DeleteRolePolicy")
    assert not InlinePolicy.objects.exists()


def test_delete_a_missing_inline_policy_is_no_such_entity(caller, alice, role):
    with raises_kms(NoSuchEntityError, message="The user policy with name p cannot be found."):
        services.user_delete_inline_policy(caller=caller, user=alice, policy_name="p")
    assert_failed("DeleteUserPolicy", "NoSuchEntity")
    with raises_kms(NoSuchEntityError, message="The role policy with name p cannot be found."):
        services.role_delete_inline_policy(caller=caller, role=role, policy_name="p")


def test_inline_policies_of_another_accounts_principals_are_denied(outsider_caller, alice,
                                                                   role, caller):
    services.role_put_inline_policy(caller=caller, role=role, policy_name="p", document=allow())
    with raises_kms(AccessDeniedError):
        services.user_put_inline_policy(caller=outsider_caller, user=alice, policy_name="p",
                                        document=allow("*"))
    with raises_kms(AccessDeniedError):
        services.role_put_inline_policy(caller=outsider_caller, role=role, policy_name="q",
                                        document=allow("*"))
    with raises_kms(AccessDeniedError):
        services.role_delete_inline_policy(caller=outsider_caller, role=role, policy_name="p")
    assert_failed("DeleteRolePolicy", "AccessDenied")
    assert list(InlinePolicy.objects.values_list("name", flat=True)) == ["p"]


def test_inline_policies_unauthenticated_are_denied(alice, role):
    anonymous = anonymous_caller()
    with raises_kms(AccessDeniedError):
        services.user_put_inline_policy(caller=anonymous, user=alice, policy_name="p",
                                        document=allow())
    with raises_kms(AccessDeniedError):
        services.role_put_inline_policy(caller=anonymous, role=role, policy_name="p",
                                        document=allow())
    with raises_kms(AccessDeniedError):
        services.user_delete_inline_policy(caller=anonymous, user=alice, policy_name="p")
    assert not InlinePolicy.objects.exists()
    assert_failed("PutRolePolicy", "AccessDenied")


# --- managed policies -----------------------------------------------------------------------

def test_create_policy_makes_version_v1_the_default_and_audits_it(caller):
    text = allow()
    policy = services.managed_policy_create(caller=caller, name="kms-describe", document=text,
                                            description="describe keys")
    assert policy.arn == f"arn:aws:iam::{ACCOUNT_ID}:policy/kms-describe"
    assert policy.policy_id.startswith("ANPA") and policy.default_version_id == "v1"
    [version] = policy.versions.all()
    assert (version.version_id, version.document, version.is_default) == ("v1", text, True)
    event = assert_succeeded("CreatePolicy")
    assert event.response_elements["policy"]["arn"] == policy.arn
    assert event.response_elements["policy"]["defaultVersionId"] == "v1"


def test_create_policy_twice_is_already_exists(caller, policy):
    with raises_kms(AlreadyExistsError, contains=("KMS-Describe",)):
        services.managed_policy_create(caller=caller, name="KMS-Describe", document=allow())
    assert customer_policies().count() == 1


@pytest.mark.parametrize("text", MALFORMED)
def test_create_policy_with_a_malformed_document_says_what_the_parser_says(caller, text):
    with raises_kms(MalformedPolicyDocumentError, message=parser_message(text, "identity")):
        services.managed_policy_create(caller=caller, name="p", document=text)
    assert not customer_policies().exists()
    assert_failed("CreatePolicy", "MalformedPolicyDocument")


def test_a_managed_policy_over_6144_characters_exceeds_the_quota(caller):
    with raises_kms(LimitExceededError, message="Cannot exceed quota for PolicySize: 6144"):
        services.managed_policy_create(caller=caller, name="p", document=padded_policy(6200))
    assert not customer_policies().exists()


def test_create_policy_unauthenticated_is_denied(account):
    with raises_kms(AccessDeniedError):
        services.managed_policy_create(caller=anonymous_caller(), name="p", document=allow())
    assert not customer_policies().exists()
    assert_failed("CreatePolicy", "AccessDenied")


def test_create_policy_version_keeps_the_default_unless_asked(caller, policy):
    v2 = services.managed_policy_create_version(caller=caller, policy_arn=policy.arn,
                                                document=allow("kms:Encrypt"))
    assert (v2.version_id, v2.is_default) == ("v2", False)
    policy.refresh_from_db()
    assert policy.default_version_id == "v1"
    event = assert_succeeded("CreatePolicyVersion")
    assert event.response_elements["policyVersion"] == {
        "versionId": "v2", "isDefaultVersion": False, "createDate": v2.created_at.isoformat()}
    v3 = services.managed_policy_create_version(caller=caller, policy_arn=policy.arn,
                                                document=allow("kms:Decrypt"),
                                                set_as_default=True)
    policy.refresh_from_db()
    assert policy.default_version_id == "v3" and v3.is_default
    assert list(policy.versions.filter(is_default=True)) == [v3]


def test_a_sixth_policy_version_exceeds_the_quota_and_ids_are_never_reused(caller, policy):
    for _ in range(4):
        services.managed_policy_create_version(caller=caller, policy_arn=policy.arn,
                                               document=allow())
    with raises_kms(LimitExceededError, contains=("up to 5 versions",)):
        services.managed_policy_create_version(caller=caller, policy_arn=policy.arn,
                                               document=allow())
    assert_failed("CreatePolicyVersion", "LimitExceeded")
    services.managed_policy_delete_version(caller=caller, policy_arn=policy.arn,
                                           version_id="v2")
    assert_succeeded("DeletePolicyVersion")
    v6 = services.managed_policy_create_version(caller=caller, policy_arn=policy.arn,
                                                document=allow())
    assert v6.version_id == "v6"
    assert sorted(policy.versions.values_list("version_id", flat=True)) == [
        "v1", "v3", "v4", "v5", "v6"]


def test_set_default_policy_version_puts_another_version_in_force(caller, policy):
    services.managed_policy_create_version(caller=caller, policy_arn=policy.arn,
                                           document=allow("kms:Encrypt"))
    services.managed_policy_set_default_version(caller=caller, policy_arn=policy.arn,
                                                version_id="v2")
    policy.refresh_from_db()
    assert policy.default_version_id == "v2"
    assert list(policy.versions.filter(is_default=True).values_list("version_id", flat=True)) \
        == ["v2"]
    assert assert_succeeded("SetDefaultPolicyVersion").request_parameters == {
        "policyArn": policy.arn, "versionId": "v2"}


@pytest.mark.parametrize("version_id,error", [("v9", NoSuchEntityError),
                                              ("version-2", ValidationError)])
def test_set_default_to_a_missing_or_invalid_version_is_refused(caller, policy, version_id,
                                                                 error):
    with raises_kms(error):
        services.managed_policy_set_default_version(caller=caller, policy_arn=policy.arn,
                                                    version_id=version_id)
    policy.refresh_from_db()
    assert policy.default_version_id == "v1"


def test_the_default_version_cannot_be_deleted(caller, policy):
    with raises_kms(DeleteConflictError, message="Cannot delete the default version of a "
                                                 "policy."):
        services.managed_policy_delete_version(caller=caller, policy_arn=policy.arn,
                                               version_id="v1")
    assert policy.versions.count() == 1
    assert_failed("DeletePolicyVersion", "DeleteConflict")


def test_delete_policy_deletes_it_and_audits_it(caller, policy):
    services.managed_policy_delete(caller=caller, policy_arn=policy.arn)
    assert not customer_policies().exists()
    assert assert_succeeded("DeletePolicy").request_parameters == {"policyArn": policy.arn}


def test_delete_an_attached_policy_is_a_delete_conflict(caller, policy, alice):
    services.policy_attach_user(caller=caller, user=alice, policy_arn=policy.arn)
    with raises_kms(DeleteConflictError, message="Cannot delete a policy attached to "
                                                 "entities."):
        services.managed_policy_delete(caller=caller, policy_arn=policy.arn)
    assert ManagedPolicy.objects.filter(pk=policy.pk).exists()
    assert_failed("DeletePolicy", "DeleteConflict")


def test_delete_a_policy_with_other_versions_is_a_delete_conflict(caller, policy):
    services.managed_policy_create_version(caller=caller, policy_arn=policy.arn,
                                           document=allow())
    with raises_kms(DeleteConflictError, contains=("delete the policy's versions",)):
        services.managed_policy_delete(caller=caller, policy_arn=policy.arn)
    assert ManagedPolicy.objects.filter(pk=policy.pk).exists()


@pytest.mark.parametrize("arn,error", [
    (f"arn:aws:iam::{ACCOUNT_ID}:policy/missing", NoSuchEntityError),
    ("not-an-arn", ValidationError),
])
def test_delete_a_missing_policy_or_a_bad_arn_is_refused(caller, arn, error):
    with raises_kms(error):
        services.managed_policy_delete(caller=caller, policy_arn=arn)


def test_managed_policies_of_another_account_are_denied(outsider_caller, policy):
    with raises_kms(AccessDeniedError):
        services.managed_policy_create_version(caller=outsider_caller, policy_arn=policy.arn,
                                               document=allow("*"), set_as_default=True)
    with raises_kms(AccessDeniedError):
        services.managed_policy_delete(caller=outsider_caller, policy_arn=policy.arn)
    assert_failed("DeletePolicy", "AccessDenied")
    assert policy.versions.count() == 1


@pytest.mark.parametrize("name", sorted(BUILTIN_POLICIES))
def test_built_in_policies_cannot_be_changed_or_deleted(caller, name):
    arn = builtin_policy_arn(name)
    with raises_kms(AccessDeniedError, contains=(arn,)):
        services.managed_policy_create_version(caller=caller, policy_arn=arn,
                                               document=allow("*"), set_as_default=True)
    with raises_kms(AccessDeniedError):
        services.managed_policy_delete(caller=caller, policy_arn=arn)
    assert_failed("DeletePolicy", "AccessDenied")


def test_managed_policy_services_unauthenticated_are_denied(policy):
    anonymous = anonymous_caller()
    with raises_kms(AccessDeniedError):
        services.managed_policy_create_version(caller=anonymous, policy_arn=policy.arn,
                                               document=allow())
    with raises_kms(AccessDeniedError):
        services.managed_policy_set_default_version(caller=anonymous, policy_arn=policy.arn,
                                                    version_id="v1")
    with raises_kms(AccessDeniedError):
        services.managed_policy_delete_version(caller=anonymous, policy_arn=policy.arn,
                                               version_id="v1")
    with raises_kms(AccessDeniedError):
        services.managed_policy_delete(caller=anonymous, policy_arn=policy.arn)
    assert policy.versions.count() == 1


# --- attachments ----------------------------------------------------------------------------

def test_attach_a_built_in_policy_to_a_user_by_its_aws_arn(caller, alice):
    services.policy_attach_user(caller=caller, user=alice, policy_arn=ADMIN_ACCESS)
    assert list(alice.attached_policies.values_list("arn", flat=True)) == [ADMIN_ACCESS]
    assert ManagedPolicy.objects.get(arn=ADMIN_ACCESS).account is None
    assert assert_succeeded("AttachUserPolicy").request_parameters == {
        "userName": "alice", "policyArn": ADMIN_ACCESS}


def test_a_built_in_policy_is_one_row_shared_by_every_account(caller, alice, outsider_caller,
                                                              outsider):
    services.policy_attach_user(caller=caller, user=alice, policy_arn=READ_ONLY)
    services.policy_attach_user(caller=outsider_caller, user=outsider, policy_arn=READ_ONLY)
    assert ManagedPolicy.objects.filter(arn=READ_ONLY).count() == 1


def test_attaching_twice_changes_nothing(caller, alice, policy):
    services.policy_attach_user(caller=caller, user=alice, policy_arn=policy.arn)
    services.policy_attach_user(caller=caller, user=alice, policy_arn=policy.arn)
    assert alice.attached_policies.count() == 1


def test_an_eleventh_attached_policy_exceeds_the_quota(caller, alice, role):
    arns = [services.managed_policy_create(caller=caller, name=f"p{i}", document=allow()).arn
            for i in range(11)]
    for arn in arns[:10]:
        services.policy_attach_user(caller=caller, user=alice, policy_arn=arn)
        services.policy_attach_role(caller=caller, role=role, policy_arn=arn)
    with raises_kms(LimitExceededError, message="Cannot exceed quota for PoliciesPerUser: 10"):
        services.policy_attach_user(caller=caller, user=alice, policy_arn=arns[10])
    assert_failed("AttachUserPolicy", "LimitExceeded")
    with raises_kms(LimitExceededError, message="Cannot exceed quota for PoliciesPerRole: 10"):
        services.policy_attach_role(caller=caller, role=role, policy_arn=arns[10])
    assert alice.attached_policies.count() == 10 and role.attached_policies.count() == 10


@pytest.mark.parametrize("arn", [
    f"arn:aws:iam::{ACCOUNT_ID}:policy/missing",
    "arn:aws:iam::aws:policy/NoSuchBuiltIn",
])
def test_attaching_a_policy_that_does_not_exist_is_no_such_entity(caller, alice, arn):
    with raises_kms(NoSuchEntityError, contains=(arn, "not attachable")):
        services.policy_attach_user(caller=caller, user=alice, policy_arn=arn)
    assert_failed("AttachUserPolicy", "NoSuchEntity")
    assert not alice.attached_policies.exists()


def test_a_policy_of_another_account_cannot_be_attached(outsider_caller, outsider, policy):
    with raises_kms(NoSuchEntityError):
        services.policy_attach_user(caller=outsider_caller, user=outsider,
                                    policy_arn=policy.arn)
    assert not outsider.attached_policies.filter(pk=policy.pk).exists()


def test_attach_and_detach_on_a_role(caller, role, policy):
    services.policy_attach_role(caller=caller, role=role, policy_arn=policy.arn)
    assert assert_succeeded("AttachRolePolicy").request_parameters == {
        "roleName": "app", "policyArn": policy.arn}
    services.policy_detach_role(caller=caller, role=role, policy_arn=policy.arn)
    assert_succeeded("DetachRolePolicy")
    assert not role.attached_policies.exists()


def test_detach_from_a_user_and_detaching_what_is_not_attached(caller, alice):
    services.policy_attach_user(caller=caller, user=alice, policy_arn=READ_ONLY)
    services.policy_detach_user(caller=caller, user=alice, policy_arn=READ_ONLY)
    assert_succeeded("DetachUserPolicy")
    assert not alice.attached_policies.exists()
    with raises_kms(NoSuchEntityError, contains=(READ_ONLY,)):
        services.policy_detach_user(caller=caller, user=alice, policy_arn=READ_ONLY)
    assert_failed("DetachUserPolicy", "NoSuchEntity")


def test_attachments_on_another_accounts_principals_are_denied(outsider_caller, caller, alice,
                                                               role):
    services.policy_attach_role(caller=caller, role=role, policy_arn=READ_ONLY)
    with raises_kms(AccessDeniedError):
        services.policy_attach_user(caller=outsider_caller, user=alice, policy_arn=ADMIN_ACCESS)
    with raises_kms(AccessDeniedError):
        services.policy_attach_role(caller=outsider_caller, role=role, policy_arn=ADMIN_ACCESS)
    with raises_kms(AccessDeniedError):
        services.policy_detach_role(caller=outsider_caller, role=role, policy_arn=READ_ONLY)
    assert_failed("DetachRolePolicy", "AccessDenied")
    assert not alice.attached_policies.exists()
    assert list(role.attached_policies.values_list("arn", flat=True)) == [READ_ONLY]


def test_attachments_unauthenticated_are_denied(alice, role):
    anonymous = anonymous_caller()
    for attach in (lambda: services.policy_attach_user(caller=anonymous, user=alice,
                                                       policy_arn=ADMIN_ACCESS),
                   lambda: services.policy_attach_role(caller=anonymous, role=role,
                                                       policy_arn=ADMIN_ACCESS),
                   lambda: services.policy_detach_user(caller=anonymous, user=alice,
                                                       policy_arn=ADMIN_ACCESS)):
        with raises_kms(AccessDeniedError):
            attach()
    assert not alice.attached_policies.exists() and not role.attached_policies.exists()
    assert_failed("AttachRolePolicy", "AccessDenied")


# --- identity_policies_for ------------------------------------------------------------------

def test_a_users_identity_policies_are_its_inline_then_attached_policies(caller, alice, policy):
    services.user_put_inline_policy(caller=caller, user=alice, policy_name="zeta",
                                    document=allow("kms:Encrypt"))
    services.user_put_inline_policy(caller=caller, user=alice, policy_name="alpha",
                                    document=allow("kms:Decrypt"))
    services.policy_attach_user(caller=caller, user=alice, policy_arn=policy.arn)
    services.policy_attach_user(caller=caller, user=alice, policy_arn=READ_ONLY)
    assert identity_policies_for(Principal.for_user(alice)) == [
        (f"{alice.arn} inline policy alpha", allow("kms:Decrypt")),
        (f"{alice.arn} inline policy zeta", allow("kms:Encrypt")),
        (READ_ONLY, BUILTIN_POLICIES["KMSReadOnly"][1]),
        (policy.arn, allow()),
    ]


def test_identity_policies_follow_the_default_version(caller, alice, policy):
    services.policy_attach_user(caller=caller, user=alice, policy_arn=policy.arn)
    services.managed_policy_create_version(caller=caller, policy_arn=policy.arn,
                                           document=allow("kms:Sign"), set_as_default=True)
    assert identity_policies_for(Principal.for_user(alice)) == [(policy.arn, allow("kms:Sign"))]
    services.policy_detach_user(caller=caller, user=alice, policy_arn=policy.arn)
    assert identity_policies_for(Principal.for_user(alice)) == []


def test_a_sessions_identity_policies_are_its_roles(caller, role, alice):
    services.role_put_inline_policy(caller=caller, role=role, policy_name="p", document=allow())
    services.policy_attach_role(caller=caller, role=role, policy_arn=ADMIN_ACCESS)
    services.user_put_inline_policy(caller=caller, user=alice, policy_name="mine",
                                    document=allow("kms:Encrypt"))
    session = Principal(account_id=ACCOUNT_ID, type="AssumedRole",
                        arn=f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/app/s1",
                        principal_id=f"{role.unique_id}:s1", role_arn=role.arn)
    assert identity_policies_for(session) == [
        (f"{role.arn} inline policy p", allow()),
        (ADMIN_ACCESS, BUILTIN_POLICIES["AdministratorAccess"][1]),
    ]


def test_principals_without_identity_policies(caller, alice):
    services.user_put_inline_policy(caller=caller, user=alice, policy_name="p", document=allow())
    assert identity_policies_for(Principal.service(ACCOUNT_ID)) == []
    assert identity_policies_for(Principal.unauthenticated(account_id=ACCOUNT_ID)) == []
    alice.is_active = False
    alice.save()
    assert identity_policies_for(Principal.for_user(alice)) == []
