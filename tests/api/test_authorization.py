"""Policies enforced on every API request, with real boto3 clients (kms-spec.md 5).

Four principals meet one key created with the console's default policy:
- `key_admin`, named in "Allow access for Key Administrators" (and nothing else);
- `key_user`, named in "Allow use of the key" (and nothing else);
- `outsider`, the administrator of another account, named nowhere;
- the account's `admin`, whose AdministratorAccess works through "Enable IAM User
  Permissions" (the key policy delegates to the account).
Neither key_admin nor key_user has any IAM policy: whatever they may do, the key policy says so.
Every refusal is an AccessDeniedException in AWS's words and a failed audit event.
"""

import json

import pytest
from botocore.exceptions import ClientError

from audit.models import AuditEvent
from grants import services as iam
from grants.builtin_policies import builtin_policy_arn
from grants.policy import console_default_policy
from keys import services
from tests.conftest import ACCOUNT_ID, OTHER_ACCOUNT_ID, caller_for, make_user

from .conftest import create_access_key
from .helpers import make_client, responses_must_fit

pytestmark = pytest.mark.django_db(transaction=True)

TENANT_A = {"tenant": "a"}
TENANT_B = {"tenant": "b"}


@pytest.fixture(autouse=True)
def _every_response_fits_its_shape(request):
    yield from responses_must_fit(request)


@pytest.fixture
def key_admin(account):
    return make_user(account, "key-admin")


@pytest.fixture
def key_user(account):
    return make_user(account, "key-user")


@pytest.fixture
def key(admin, key_admin, key_user):
    """A symmetric key with the console's default policy for key_admin and key_user."""
    policy = console_default_policy(ACCOUNT_ID, admins=[key_admin.arn], users=[key_user.arn],
                                    other_accounts=[], key_type="SYMMETRIC_ENCRYPT")
    return services.key_create(caller=caller_for(admin), description="shared",
                               policy=policy)


def client_of(live_server, user):
    return make_client(live_server, create_access_key(user))


def denied(call) -> str:
    """Run `call`, expect AccessDeniedException; its message, after checking the audit trail
    recorded the refusal under the response's request id."""
    with pytest.raises(ClientError) as excinfo:
        call()
    error = excinfo.value.response
    assert error["Error"]["Code"] == "AccessDeniedException", error
    request_id = error["ResponseMetadata"]["RequestId"]
    event = AuditEvent.objects.get(request_id=request_id)
    assert event.error_code == "AccessDeniedException"
    return error["Error"]["Message"]


def test_a_key_administrator_manages_the_key_but_cannot_use_it(live_server, key, key_admin):
    kms = client_of(live_server, key_admin)
    key_id = str(key.id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id
    kms.disable_key(KeyId=key_id)
    kms.enable_key(KeyId=key_id)
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "owner", "TagValue": "security"}])
    assert "Statement" in kms.get_key_policy(KeyId=key_id)["Policy"]
    message = denied(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"secret"))
    # The key policy's only statement that covers Encrypt for them delegates to the account,
    # so it is their (absent) IAM policy that would have to allow it.
    assert message == (f"User: {key_admin.arn} is not authorized to perform: kms:Encrypt on "
                       f"resource: {key.arn} because no identity-based policy allows the "
                       "kms:Encrypt action")
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key_id)


def test_a_key_user_encrypts_and_decrypts_but_cannot_delete_the_key(live_server, key,
                                                                     key_user):
    kms = client_of(live_server, key_user)
    blob = kms.encrypt(KeyId=key.arn, Plaintext=b"secret",
                       EncryptionContext=TENANT_A)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=TENANT_A)["Plaintext"] == b"secret"
    data_key = kms.generate_data_key(KeyId=key.arn, KeySpec="AES_256")
    assert len(data_key["Plaintext"]) == 32
    denied(lambda: kms.schedule_key_deletion(KeyId=key.arn))
    denied(lambda: kms.put_key_policy(KeyId=key.arn, PolicyName="default", Policy=key.policy))
    key.refresh_from_db()
    assert key.key_state == "Enabled"


def test_an_outsider_is_denied_everything(live_server, key, key_user, outsider):
    kms = client_of(live_server, outsider)
    ciphertext = client_of(live_server, key_user).encrypt(
        KeyId=key.arn, Plaintext=b"secret")["CiphertextBlob"]
    for call in (lambda: kms.describe_key(KeyId=key.arn),
                 lambda: kms.encrypt(KeyId=key.arn, Plaintext=b"x"),
                 lambda: kms.decrypt(CiphertextBlob=ciphertext),
                 lambda: kms.generate_data_key(KeyId=key.arn, KeySpec="AES_256"),
                 lambda: kms.disable_key(KeyId=key.arn),
                 lambda: kms.get_key_policy(KeyId=key.arn, PolicyName="default")):
        message = denied(call)
        assert message.startswith(f"User: arn:aws:iam::{OTHER_ACCOUNT_ID}:user/outsider is not "
                                  "authorized to perform: kms:")


def test_the_account_administrator_works_through_the_delegation_to_the_account(
        live_server, key, admin):
    kms = make_client(live_server, create_access_key(admin))
    blob = kms.encrypt(KeyId=key.arn, Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_a_policy_that_would_lock_the_caller_out_needs_the_bypass_flag(live_server, key,
                                                                       key_admin, key_user):
    kms = client_of(live_server, key_admin)
    users_only = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "Key users only", "Effect": "Allow", "Principal": {"AWS": key_user.arn},
        "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]})
    with pytest.raises(ClientError) as excinfo:
        kms.put_key_policy(KeyId=str(key.id), PolicyName="default", Policy=users_only)
    error = excinfo.value.response["Error"]
    assert error["Code"] == "MalformedPolicyDocumentException"
    assert error["Message"] == ("The new key policy will not allow you to update the key "
                                "policy in the future.")
    key.refresh_from_db()
    assert key_admin.arn in key.policy
    kms.put_key_policy(KeyId=str(key.id), PolicyName="default", Policy=users_only,
                       BypassPolicyLockoutSafetyCheck=True)
    key.refresh_from_db()
    assert key.policy == users_only
    denied(lambda: kms.describe_key(KeyId=str(key.id)))  # as the check warned


def test_an_explicit_deny_on_the_encryption_context_holds_against_a_key_user(
        live_server, key, key_admin, key_user):
    policy = json.loads(key.policy)
    policy["Statement"].append({
        "Sid": "Tenant a only", "Effect": "Deny", "Principal": {"AWS": key_user.arn},
        "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"StringNotEquals": {"kms:EncryptionContext:tenant": "a"}}})
    client_of(live_server, key_admin).put_key_policy(
        KeyId=str(key.id), PolicyName="default", Policy=json.dumps(policy))
    kms = client_of(live_server, key_user)
    blob_a = kms.encrypt(KeyId=key.arn, Plaintext=b"a", EncryptionContext=TENANT_A)
    blob_b = kms.encrypt(KeyId=key.arn, Plaintext=b"b", EncryptionContext=TENANT_B)
    assert kms.decrypt(CiphertextBlob=blob_a["CiphertextBlob"],
                       EncryptionContext=TENANT_A)["Plaintext"] == b"a"
    message = denied(lambda: kms.decrypt(CiphertextBlob=blob_b["CiphertextBlob"],
                                         EncryptionContext=TENANT_B))
    assert message.endswith("with an explicit deny in a resource-based policy")


def test_get_key_policy_returns_the_policy_as_stored_and_list_names_default(live_server, key,
                                                                            key_admin):
    kms = client_of(live_server, key_admin)
    got = kms.get_key_policy(KeyId=str(key.id))  # PolicyName defaults to "default"
    assert got["Policy"] == key.policy and got["PolicyName"] == "default"
    assert kms.list_key_policies(KeyId=key.arn)["PolicyNames"] == ["default"]


def test_a_key_policy_naming_a_principal_that_does_not_exist_is_malformed(live_server, key,
                                                                          key_admin):
    policy = json.loads(key.policy)
    policy["Statement"][0]["Principal"] = {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:user/nobody"}
    with pytest.raises(ClientError) as excinfo:
        client_of(live_server, key_admin).put_key_policy(
            KeyId=str(key.id), PolicyName="default", Policy=json.dumps(policy))
    assert excinfo.value.response["Error"] == {
        "Code": "MalformedPolicyDocumentException",
        "Message": "Policy contains a statement with one or more invalid principals."}


def test_iam_policy_changes_apply_to_the_next_request(live_server, account, admin):
    # Identity policies are cached per process by version; every change must show at once.
    alice = make_user(account, "alice")
    kms = client_of(live_server, alice)
    denied(lambda: kms.list_keys())
    iam.policy_attach_user(caller=caller_for(admin), user=alice,
                           policy_arn=builtin_policy_arn("KMSReadOnly"))
    assert kms.list_keys()["Keys"] == []
    iam.policy_detach_user(caller=caller_for(admin), user=alice,
                           policy_arn=builtin_policy_arn("KMSReadOnly"))
    denied(lambda: kms.list_keys())


def test_an_alias_needs_iam_permission_on_the_alias_as_well_as_the_key_policy(
        live_server, key, key_admin):
    # The key policy lets the key administrator kms:Create* on the key; the alias half of
    # CreateAlias is an IAM permission on the alias ARN, which they do not have.
    kms = client_of(live_server, key_admin)
    message = denied(lambda: kms.create_alias(AliasName="alias/shared", TargetKeyId=str(key.id)))
    assert "kms:CreateAlias on resource: arn:aws:kms:us-east-1:111122223333:alias/shared" in message
    assert not key.aliases.exists()


def test_a_grant_lets_the_outsider_decrypt_only_matching_contexts_until_revoked(
        live_server, key, key_admin, key_user, outsider):
    owner = client_of(live_server, key_user)
    blob_a = owner.encrypt(KeyId=key.arn, Plaintext=b"for a",
                           EncryptionContext=TENANT_A)["CiphertextBlob"]
    blob_b = owner.encrypt(KeyId=key.arn, Plaintext=b"for b",
                           EncryptionContext=TENANT_B)["CiphertextBlob"]
    kms = client_of(live_server, outsider)
    denied(lambda: kms.decrypt(CiphertextBlob=blob_a, EncryptionContext=TENANT_A))

    grant = client_of(live_server, key_admin).create_grant(
        KeyId=str(key.id), GranteePrincipal=outsider.arn, Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": TENANT_A})
    assert kms.decrypt(CiphertextBlob=blob_a, EncryptionContext=TENANT_A,
                       GrantTokens=[grant["GrantToken"]])["Plaintext"] == b"for a"
    assert kms.decrypt(CiphertextBlob=blob_a, EncryptionContext=TENANT_A)["Plaintext"] == b"for a"
    denied(lambda: kms.decrypt(CiphertextBlob=blob_b, EncryptionContext=TENANT_B))
    denied(lambda: kms.encrypt(KeyId=key.arn, Plaintext=b"x", EncryptionContext=TENANT_A))

    client_of(live_server, key_admin).revoke_grant(KeyId=str(key.id), GrantId=grant["GrantId"])
    denied(lambda: kms.decrypt(CiphertextBlob=blob_a, EncryptionContext=TENANT_A))
