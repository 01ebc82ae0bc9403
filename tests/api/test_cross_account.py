"""Cross-account access by ARN (kms-spec.md 1.6, 2.11 and 5.3.4), every key operation.

Account A (111122223333) owns the fuzz world of tests/api/test_fuzz.py: a symmetric, an RSA, an
HMAC key, a key pending deletion, imported and pending-import keys, aliases, a grant. A
principal of account B (444455556666) names A's keys by key ARN or alias ARN in the body that
makes each operation succeed for A's own administrator (test_fuzz.valid_body). AWS:
- a key id or alias *name* always means the caller's own account: NotFoundException;
- cross-account use needs A's key policy to allow B (or B's root) AND B's IAM policy to allow;
- even then only these operations work across accounts: the cryptographic ones, DescribeKey,
  GetPublicKey, GetKeyRotationStatus, CreateGrant, ListGrants, RetireGrant and RevokeGrant. The
  others (PutKeyPolicy, ScheduleKeyDeletion, rotation, import, tags...) are refused even when
  A's policy says kms:* to B: AccessDeniedException (AWS documents "cross-account use: No"
  without the error; AccessDenied is what an outsider already gets for them here).
Every request is audited once under its request id, in B's trail (recipientAccountId B).
"""

import json
import re

import pytest
from django.test import Client

from audit.models import AuditEvent
from grants import kms_grants
from grants import services as iam
from grants.builtin_policies import builtin_policy_arn
from grants.models import Grant
from grants.principals import Caller
from keys import services
from keys.models import Alias, Key, Tag
from tests.conftest import ACCOUNT_ID, OTHER_ACCOUNT_ID, REGION, caller_for, make_user

from .conftest import create_access_key
from .helpers import signed_post
from .test_fuzz import World, build_world, valid_body

pytestmark = pytest.mark.django_db

# Operations that act in the caller's own account only (no key of another account to name).
OWN_ACCOUNT_ONLY = {"CreateKey", "ListKeys", "GenerateRandom", "ListRetirableGrants"}
# AWS: "Cross-account use: Yes" (kms-spec.md 2.11).
CROSS_ACCOUNT = {
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "Sign", "Verify",
    "GenerateMac", "VerifyMac", "DescribeKey", "GetPublicKey", "GetKeyRotationStatus",
    "CreateGrant", "ListGrants", "RetireGrant", "RevokeGrant",
}
# Alias operations name an alias of the caller's own account: A's aliases are not found.
ALIAS_NAMED = {"DeleteAlias", "UpdateAlias"}
KEY_MEMBERS = ("KeyId", "TargetKeyId", "DestinationKeyId")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
OPERATIONS = sorted({
    "CancelKeyDeletion", "CreateAlias", "CreateGrant", "Decrypt", "DeleteAlias",
    "DeleteImportedKeyMaterial", "DescribeKey", "DisableKey", "DisableKeyRotation",
    "EnableKey", "EnableKeyRotation", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
    "GetKeyLastUsage", "GetKeyPolicy", "GetKeyRotationStatus", "GetParametersForImport",
    "GetPublicKey", "ImportKeyMaterial", "ListAliases", "ListGrants", "ListKeyPolicies",
    "ListKeyRotations", "ListResourceTags", "PutKeyPolicy", "ReEncrypt", "RetireGrant",
    "RevokeGrant", "RotateKeyOnDemand", "ScheduleKeyDeletion", "Sign", "TagResource",
    "UntagResource", "UpdateAlias", "UpdateKeyDescription", "Verify", "VerifyMac",
})


def arn_of(value: str) -> str:
    """A's key id or alias name as the ARN another account must use."""
    if UUID.match(value):
        return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{value}"
    if value.startswith("alias/"):
        return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{value}"
    return value


def by_arn(body: dict, world: World, grantee: str) -> dict:
    body = {name: (arn_of(value) if name in KEY_MEMBERS else value)
            for name, value in body.items()}
    if "GranteePrincipal" in body:
        body["GranteePrincipal"] = grantee
    if "Policy" in body:
        body["Policy"] = policy_for_b(world.symmetric.account_id)
    return body


def body_for(operation: str, world: World, grantee: str) -> dict:
    if operation == "ListAliases":  # with a KeyId, it names that key
        return {"KeyId": world.symmetric.arn}
    if operation == "RetireGrant":  # by key ARN and grant id (the token works anywhere)
        return {"KeyId": world.symmetric.arn, "GrantId": world.grant_id}
    return by_arn(valid_body(operation, world), world, grantee)


def policy_for_b(account_id: str) -> str:
    """A's default key policy plus a statement giving account B's root kms:* on the key."""
    return json.dumps({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "Allow account B", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT_ID}:root"}, "Action": "kms:*",
         "Resource": "*"}]})


@pytest.fixture
def world(admin) -> World:
    return build_world(admin)


@pytest.fixture
def shared_world(world, admin, outsider) -> World:
    """The world with every key's policy also naming account B's root."""
    caller = caller_for(admin)
    for key in Key.objects.filter(account_id=ACCOUNT_ID):
        services.key_put_policy(caller=caller, key_id=str(key.id),
                                policy=policy_for_b(ACCOUNT_ID))
    return world


def snapshot() -> tuple:
    """A's keys, aliases, tags, grants: what a refused request must leave alone."""
    return (
        list(Key.objects.order_by("id").values_list(
            "id", "key_state", "description", "policy", "rotation_enabled", "current_version")),
        list(Alias.objects.order_by("name").values_list("name", "target_key_id")),
        list(Tag.objects.order_by("key_id", "tag_key").values_list("key_id", "tag_key")),
        list(Grant.objects.order_by("grant_id").values_list("grant_id", "key_id")),
    )


def call(operation: str, body: dict, credentials):
    """The signed request; (status, error type or "", the single audit event)."""
    response = signed_post(Client(raise_request_exception=False), operation, body, credentials)
    assert response.status_code < 500, response.content
    payload = json.loads(response.content) if response.content else {}
    error = payload.get("__type", "") if response.status_code != 200 else ""
    [event] = AuditEvent.objects.filter(request_id=response["x-amzn-RequestId"])
    assert (event.event_name, event.error_code) == (operation, error)
    return response.status_code, error, event, payload


def expected_refusal(operation: str) -> str:
    return "NotFoundException" if operation in ALIAS_NAMED else "AccessDeniedException"


def assert_all_refused(operations, world: World, user, *, expected=expected_refusal) -> None:
    """Each operation by `user` on A's keys: refused as `expected` says, audited once in the
    user's own account, and nothing of A's changed."""
    credentials = create_access_key(user)
    before = snapshot()
    for operation in operations:
        status, error, event, payload = call(operation, body_for(operation, world, user.arn),
                                             credentials)
        assert (operation, status, error) == (operation, 400, expected(operation)), payload
        assert event.recipient_account_id == OTHER_ACCOUNT_ID
        assert event.principal_arn == user.arn
        if error == "AccessDeniedException":
            assert payload["message"].startswith(
                f"User: {user.arn} is not authorized to perform: kms:"), payload
    assert snapshot() == before


def test_another_accounts_key_is_refused_when_its_policy_does_not_name_the_account(
        world, outsider):
    assert_all_refused(OPERATIONS, world, outsider)


def test_a_key_policy_naming_the_account_lets_its_administrator_use_the_key_across_accounts(
        shared_world, outsider):
    """A's key policy gives B's root kms:*, and B's administrator's IAM allows everything: each
    cross-account operation succeeds (RevokeGrant last: it revokes the world's grant)."""
    credentials = create_access_key(outsider)
    operations = sorted(CROSS_ACCOUNT - {"RetireGrant", "RevokeGrant"}) + ["RevokeGrant"]
    for operation in operations:
        status, error, event, payload = call(
            operation, body_for(operation, shared_world, outsider.arn), credentials)
        assert (operation, status, error) == (operation, 200, ""), payload
        assert event.recipient_account_id == OTHER_ACCOUNT_ID


def test_operations_without_cross_account_use_are_refused_even_when_the_policy_allows(
        shared_world, outsider):
    """AWS performs only some operations on another account's key: PutKeyPolicy,
    ScheduleKeyDeletion, rotation, import, tags... are refused even under kms:* for B. (Retiring
    A's grant is refused too: B is neither its grantee nor its retiring principal.)"""
    assert_all_refused(sorted(set(OPERATIONS) - CROSS_ACCOUNT | {"RetireGrant"}),
                       shared_world, outsider)


def test_a_grant_naming_the_other_account_as_retiring_principal_is_retired_by_arn(
        world, admin, outsider):
    grant, _token = kms_grants.grant_create(
        caller=caller_for(admin), key_id=str(world.symmetric.id), grantee_principal=outsider.arn,
        retiring_principal=outsider.arn, operations=["Decrypt"])
    status, error, _event, payload = call(
        "RetireGrant", {"KeyId": world.symmetric.arn, "GrantId": grant.grant_id},
        create_access_key(outsider))
    assert (status, error) == (200, ""), payload
    assert not Grant.objects.filter(grant_id=grant.grant_id).exists()


def test_the_other_accounts_iam_policy_must_allow_as_well(shared_world, other_account):
    """The key policy names B's root, but this user of B has no IAM policy: refused."""
    assert_all_refused(sorted(CROSS_ACCOUNT), shared_world, make_user(other_account, "nobody"))


def test_an_iam_policy_of_the_other_account_alone_is_not_enough(world, other_account):
    """B's user may do anything by its IAM policy, but A's key policy does not name B:
    refused (key policies are mandatory)."""
    user = make_user(other_account, "wide-iam")
    iam.policy_attach_user(caller=Caller.scheduler(account_id=OTHER_ACCOUNT_ID, region=REGION),
                           user=user, policy_arn=builtin_policy_arn("AdministratorAccess"))
    assert_all_refused(sorted(CROSS_ACCOUNT), world, user)


def test_a_key_id_or_alias_name_without_arn_means_the_callers_own_account(shared_world,
                                                                         outsider):
    credentials = create_access_key(outsider)
    for key_id in (str(shared_world.symmetric.id), "alias/fuzz-sym"):
        for operation in ("DescribeKey", "Encrypt", "DisableKey"):
            body = {"KeyId": key_id}
            if operation == "Encrypt":
                body["Plaintext"] = "ZnV6eg=="
            status, error, _event, payload = call(operation, body, credentials)
            assert (operation, status, error) == (operation, 400, "NotFoundException"), payload
    shared_world.symmetric.refresh_from_db()
    assert shared_world.symmetric.key_state == "Enabled"


def test_decrypt_of_another_accounts_ciphertext_says_nothing_about_the_key(world, outsider):
    credentials = create_access_key(outsider)
    _status, error, _event, payload = call(
        "Decrypt", body_for("Decrypt", world, outsider.arn), credentials)
    assert error == "AccessDeniedException"
    assert payload["message"].startswith(f"User: {outsider.arn} is not authorized")


def test_console_of_the_other_account_cannot_open_the_keys_pages_by_id(client, world,
                                                                       outsider):
    client.force_login(outsider)
    key = world.symmetric
    for path in (f"/kms/keys/{key.id}", f"/kms/keys/{key.id}/policy",
                 f"/kms/keys/{key.id}/crypto", f"/kms/keys/{key.id}/rotation"):
        response = client.get(path)
        assert response.status_code == 404, (path, response.status_code)
    # The action flashes its error and leads back to the key's page, which is not found.
    response = client.post(f"/kms/keys/{key.id}/disable", follow=True)
    assert response.status_code == 404
    assert "NotFoundException" in response.content.decode()
    key.refresh_from_db()
    assert key.key_state == "Enabled"
