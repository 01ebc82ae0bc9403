"""KMS grants (grants.kms_grants, kms-spec.md 6): CreateGrant, ListGrants, ListRetirableGrants,
RetireGrant and RevokeGrant through their one door, and what a grant lets its grantee do.

Principals: the account's `admin` (AdministratorAccess; the default key policy delegates to the
account), `bob` and `carol`, users without any policy (whatever they may do, a grant says so),
and `outsider`, the administrator of another account. Every mutating call is checked against its
audit event; every refusal is an AWS error type and a failed audit event.
"""

import json
import re

import pytest

from audit.models import AuditEvent
from grants import kms_grants, services, sts
from grants.grant_tokens import grant_id_of_token, grant_token_for
from grants.models import Grant
from grants.principals import Caller, Principal
from keys import operations
from keys import services as key_services
from kmsconsole import errors as E
from tests.conftest import ACCOUNT_ID, OTHER_ACCOUNT_ID, REGION, caller_for, make_user

from .conftest import create_key, raises_kms

pytestmark = pytest.mark.django_db

HEX64 = re.compile(r"[0-9a-f]{64}")
SECRET = b"grant-protected-plaintext-31337"
TENANT_A = {"tenant": "a"}
TENANT_B = {"tenant": "b"}
ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"


# --- the small world ------------------------------------------------------------------------

@pytest.fixture
def bob(account):
    return make_user(account, "bob")


@pytest.fixture
def carol(account):
    return make_user(account, "carol")


@pytest.fixture
def key(caller):
    return create_key(caller, description="granted")


def anonymous_caller() -> Caller:
    return Caller(principal=Principal.unauthenticated(account_id=ACCOUNT_ID), region=REGION,
                  source="api", source_ip="192.0.2.99", user_agent="pytest")


def grant(caller, key, grantee, operations=("Decrypt",), **kwargs):
    """A grant through the service; (grant, token)."""
    return kms_grants.grant_create(caller=caller, key_id=key.arn, grantee_principal=grantee,
                                   operations=list(operations), **kwargs)


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).latest("id")


def assert_failed_event(name: str, error_class) -> AuditEvent:
    event = last_event(name)
    assert event.error_code == error_class.code, (event.error_code, event.error_message)
    assert event.response_elements is None
    return event


def assert_no_token(event: AuditEvent, token: str) -> None:
    text = json.dumps(event.as_record(), default=str) + event.error_message
    assert token not in text
    assert token[:40] not in text


def encrypt_as(caller, key, context=None, plaintext=SECRET):
    return operations.encrypt(caller=caller, key_id=key.arn, plaintext=plaintext,
                              encryption_context=context).blob


# --- CreateGrant ----------------------------------------------------------------------------

def test_create_grant_returns_an_id_and_a_token_and_is_audited(caller, key, bob, carol):
    created, token = grant(caller, key, bob.arn, ["Decrypt", "Encrypt"],
                           retiring_principal=carol.arn, name="app-1",
                           constraints={"EncryptionContextSubset": TENANT_A})
    assert HEX64.fullmatch(created.grant_id)
    assert grant_id_of_token(token) == created.grant_id
    assert created.operations == ["Decrypt", "Encrypt"]
    assert created.issuing_account == ROOT
    event = last_event("CreateGrant")
    assert event.error_code == "" and event.read_only is False
    assert event.request_parameters == {
        "keyId": key.arn, "granteePrincipal": bob.arn, "retiringPrincipal": carol.arn,
        "operations": ["Decrypt", "Encrypt"], "name": "app-1",
        "constraints": {"encryptionContextSubset": TENANT_A}}
    assert event.response_elements == {"grantId": created.grant_id}
    assert [r["ARN"] for r in event.resources] == [key.arn]
    assert event.user_identity["arn"] == caller.principal.arn
    assert_no_token(event, token)


def test_create_grant_accepts_the_key_id_and_collapses_duplicate_operations(caller, key, bob):
    created, _ = kms_grants.grant_create(caller=caller, key_id=str(key.id),
                                         grantee_principal=bob.arn,
                                         operations=["Decrypt", "Decrypt", "DescribeKey"])
    assert created.operations == ["Decrypt", "DescribeKey"]


def test_a_named_identical_retry_returns_the_existing_grant_with_a_new_token(caller, key, bob):
    first, first_token = grant(caller, key, bob.arn, ["Decrypt", "Encrypt"], name="retry")
    again, again_token = grant(caller, key, bob.arn, ["Encrypt", "Decrypt"], name="retry")
    assert again.pk == first.pk
    assert again_token != first_token
    assert grant_id_of_token(again_token) == first.grant_id
    assert last_event("CreateGrant").response_elements == {"grantId": first.grant_id}
    other, _ = grant(caller, key, bob.arn, ["Decrypt"], name="retry")  # not identical
    assert other.pk != first.pk
    assert key.grants.count() == 2


def test_without_a_name_every_create_grant_makes_a_new_grant(caller, key, bob):
    one, _ = grant(caller, key, bob.arn)
    two, _ = grant(caller, key, bob.arn)
    assert one.grant_id != two.grant_id
    assert key.grants.count() == 2


def test_the_same_name_on_two_keys_makes_two_grants(caller, key, bob):
    other = create_key(caller)
    grant(caller, key, bob.arn, name="shared")
    grant(caller, other, bob.arn, name="shared")
    assert key.grants.count() == other.grants.count() == 1


@pytest.mark.parametrize("principal", [
    f"arn:aws:iam::{ACCOUNT_ID}:root",
    f"arn:aws:iam::{OTHER_ACCOUNT_ID}:root",
    f"arn:aws:iam::{ACCOUNT_ID}:role/app",
    f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/app/session-1",
])
def test_grantees_may_be_accounts_roles_and_sessions(caller, key, other_account, principal):
    services.role_create(caller=caller, name="app", trust_policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ROOT},
                                                "Action": "sts:AssumeRole"}]}))
    created, _ = grant(caller, key, principal)
    assert created.grantee_principal == principal


BAD_REQUESTS = [
    ("no operations", dict(operations=[])),
    ("unknown operation", dict(operations=["Fly"])),
    ("operation the key type lacks", dict(operations=["Sign"])),
    ("name with a space", dict(name="my grant")),
    ("name too long", dict(name="n" * 257)),
    ("grantee not an ARN", dict(grantee_principal="bob")),
    ("grantee a key ARN", dict(grantee_principal=f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/x")),
    ("grantee with bad characters", dict(grantee_principal="arn:aws:iam::1:user/a b")),
    ("grantee missing", dict(grantee_principal=None)),
    ("retiring principal garbage", dict(retiring_principal="nobody")),
    ("both constraints", dict(constraints={"EncryptionContextEquals": TENANT_A,
                                           "EncryptionContextSubset": TENANT_A})),
    ("nine constraint pairs", dict(constraints={"EncryptionContextSubset": {
        f"k{i}": "v" for i in range(9)}})),
    ("constraint value too long", dict(constraints={"EncryptionContextEquals": {
        "k": "v" * 385}})),
    ("constraint not a map", dict(constraints={"EncryptionContextEquals": "tenant=a"})),
    ("eleven grant tokens", dict(grant_tokens=["t"] * 11)),
]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[name for name, _ in BAD_REQUESTS])
def test_create_grant_refuses_bad_input_with_a_validation_exception(caller, key, bob, case):
    _, changes = case
    arguments = {"grantee_principal": bob.arn, "operations": ["Decrypt"], **changes}
    with raises_kms(E.ValidationError):
        kms_grants.grant_create(caller=caller, key_id=key.arn, **arguments)
    assert_failed_event("CreateGrant", E.ValidationError)
    assert not Grant.objects.exists()


def test_at_most_eight_constraint_pairs_of_384_characters_are_accepted(caller, key, bob):
    context = {f"k{i}": "v" * 384 for i in range(8)}
    created, _ = grant(caller, key, bob.arn,
                       constraints={"EncryptionContextEquals": context})
    assert created.constraints == {"EncryptionContextEquals": context}


def test_a_grantee_that_does_not_exist_is_an_invalid_arn(caller, key):
    with raises_kms(E.InvalidArnError):
        grant(caller, key, f"arn:aws:iam::{ACCOUNT_ID}:user/ghost")
    with raises_kms(E.InvalidArnError):
        grant(caller, key, ROOT, retiring_principal=f"arn:aws:iam::{ACCOUNT_ID}:role/ghost")
    assert_failed_event("CreateGrant", E.InvalidArnError)


def test_service_principals_and_source_arn_constraints_are_unsupported(caller, key, bob):
    with raises_kms(E.UnsupportedOperationError):
        kms_grants.grant_create(caller=caller, key_id=key.arn, grantee_principal=None,
                                grantee_service_principal="logs.us-east-1.amazonaws.com",
                                operations=["Decrypt"])
    with raises_kms(E.UnsupportedOperationError):
        grant(caller, key, bob.arn, constraints={
            "SourceArn": f"arn:aws:s3:{REGION}:{ACCOUNT_ID}:bucket"})


@pytest.mark.parametrize("spec, allowed, refused", [
    ("SYMMETRIC_DEFAULT", ["GenerateDataKeyPair", "ReEncryptTo", "DescribeKey"],
     "GetPublicKey"),
    ("RSA_2048", ["Encrypt", "GetPublicKey", "RetireGrant"], "GenerateDataKey"),
    ("ECC_NIST_P256", ["Sign", "Verify", "CreateGrant"], "Decrypt"),
    ("HMAC_256", ["GenerateMac", "VerifyMac"], "Encrypt"),
])
def test_grant_operations_must_suit_the_key_type(caller, bob, spec, allowed, refused):
    typed_key = create_key(caller, spec)
    created, _ = grant(caller, typed_key, bob.arn, allowed)
    assert created.operations == allowed
    with raises_kms(E.ValidationError, contains=(refused, spec)):
        grant(caller, typed_key, bob.arn, [refused])


def test_create_grant_needs_an_enabled_key(caller, bob):
    disabled = create_key(caller)
    key_services.key_disable(caller=caller, key_id=disabled.arn)
    with raises_kms(E.DisabledError, f"{disabled.arn} is disabled."):
        grant(caller, disabled, bob.arn)
    doomed = create_key(caller)
    key_services.key_schedule_deletion(caller=caller, key_id=doomed.arn, pending_window_days=7)
    with raises_kms(E.InvalidStateError, f"{doomed.arn} is pending deletion."):
        grant(caller, doomed, bob.arn)
    waiting = create_key(caller, origin="EXTERNAL")
    with raises_kms(E.InvalidStateError, f"{waiting.arn} is pending import."):
        grant(caller, waiting, bob.arn)
    assert_failed_event("CreateGrant", E.InvalidStateError)
    assert not Grant.objects.exists()


def test_create_grant_takes_a_key_id_or_arn_but_not_an_alias(caller, key, bob):
    key_services.alias_create(caller=caller, alias_name="alias/granted", target_key_id=key.arn)
    with raises_kms(E.NotFoundError):
        kms_grants.grant_create(caller=caller, key_id="alias/granted",
                                grantee_principal=bob.arn, operations=["Decrypt"])
    with raises_kms(E.NotFoundError):
        kms_grants.grant_create(caller=caller, key_id="00000000-0000-4000-8000-000000000000",
                                grantee_principal=bob.arn, operations=["Decrypt"])


def test_a_dry_run_passes_every_check_and_creates_nothing(caller, key, bob):
    with raises_kms(E.DryRunOperationError, contains=("DryRun",)):
        grant(caller, key, bob.arn, dry_run=True)
    assert not Grant.objects.exists()
    assert_failed_event("CreateGrant", E.DryRunOperationError)
    with raises_kms(E.ValidationError):  # a dry run fails where the real request would
        grant(caller, key, bob.arn, ["Sign"], dry_run=True)


def test_an_invalid_grant_token_is_refused(caller, key, bob):
    with raises_kms(E.InvalidGrantTokenError):
        grant(caller, key, bob.arn, grant_tokens=["not-a-token"])
    assert_failed_event("CreateGrant", E.InvalidGrantTokenError)


def test_create_grant_is_denied_to_a_user_without_permission_and_to_anonymous(key, bob, carol):
    with raises_kms(E.AccessDeniedError, contains=(bob.arn, "kms:CreateGrant", key.arn)):
        grant(caller_for(bob), key, carol.arn)
    assert_failed_event("CreateGrant", E.AccessDeniedError)
    with raises_kms(E.AccessDeniedError):
        grant(anonymous_caller(), key, carol.arn)
    assert_failed_event("CreateGrant", E.AccessDeniedError)
    assert not Grant.objects.exists()


def test_create_grant_condition_keys_reach_the_key_policy(caller, bob):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "no re-granting", "Effect": "Deny", "Principal": {"AWS": "*"},
         "Action": "kms:CreateGrant", "Resource": "*",
         "Condition": {"ForAnyValue:StringEquals": {"kms:GrantOperations": "CreateGrant"}}},
        {"Sid": "constrained only", "Effect": "Deny", "Principal": {"AWS": "*"},
         "Action": "kms:CreateGrant", "Resource": "*",
         "Condition": {"Null": {"kms:GrantConstraintType": "true"}}},
    ]})
    guarded = create_key(caller, policy=policy)
    grant(caller, guarded, bob.arn, ["Decrypt"],
          constraints={"EncryptionContextEquals": TENANT_A})
    with raises_kms(E.AccessDeniedError, contains=("explicit deny",)):
        grant(caller, guarded, bob.arn, ["Decrypt", "CreateGrant"],
              constraints={"EncryptionContextEquals": TENANT_A})
    with raises_kms(E.AccessDeniedError, contains=("explicit deny",)):
        grant(caller, guarded, bob.arn, ["Decrypt"])


def test_a_key_holds_at_most_its_quota_of_grants(caller, key, bob, monkeypatch):
    monkeypatch.setattr(kms_grants, "MAX_GRANTS_PER_KEY", 2)
    grant(caller, key, bob.arn, name="a")
    grant(caller, key, bob.arn, name="b")
    with raises_kms(E.LimitExceededError):
        grant(caller, key, bob.arn, name="c")
    assert_failed_event("CreateGrant", E.LimitExceededError)
    again, _ = grant(caller, key, bob.arn, name="a")  # an identical retry creates nothing
    assert key.grants.count() == 2 and again.name == "a"


# --- what a grant allows --------------------------------------------------------------------

def test_a_grant_lets_a_user_without_policy_do_exactly_the_granted_operations(caller, key, bob):
    bob_caller = caller_for(bob)
    context = {**TENANT_A, "request": "42"}
    blob = encrypt_as(caller, key, context)
    other_blob = encrypt_as(caller, key, TENANT_B)
    with raises_kms(E.AccessDeniedError):
        operations.decrypt(caller=bob_caller, ciphertext_blob=blob, encryption_context=context)

    grant(caller, key, bob.arn, ["Decrypt"],
          constraints={"EncryptionContextSubset": TENANT_A})
    opened = operations.decrypt(caller=bob_caller, ciphertext_blob=blob,
                                encryption_context=context)
    assert opened.plaintext == SECRET
    with raises_kms(E.AccessDeniedError, contains=(bob.arn, "kms:Decrypt")):
        operations.decrypt(caller=bob_caller, ciphertext_blob=other_blob,
                           encryption_context=TENANT_B)
    assert_failed_event("Decrypt", E.AccessDeniedError)
    with raises_kms(E.AccessDeniedError, contains=("kms:Encrypt",)):
        encrypt_as(bob_caller, key, TENANT_A)
    assert_failed_event("Encrypt", E.AccessDeniedError)
    with raises_kms(E.AccessDeniedError, contains=("kms:DescribeKey",)):
        key_services.key_describe(caller=bob_caller, key_id=key.arn)


def test_revoking_a_grant_stops_it_at_once(caller, key, bob):
    bob_caller = caller_for(bob)
    created, _ = grant(caller, key, bob.arn, ["Encrypt", "Decrypt"])
    blob = encrypt_as(bob_caller, key)
    kms_grants.grant_revoke(caller=caller, key_id=key.arn, grant_id=created.grant_id)
    with raises_kms(E.AccessDeniedError):
        operations.decrypt(caller=bob_caller, ciphertext_blob=blob)
    with raises_kms(E.AccessDeniedError):
        encrypt_as(bob_caller, key)
    assert_failed_event("Encrypt", E.AccessDeniedError)


def test_an_equals_constraint_needs_exactly_that_context(caller, key, bob):
    grant(caller, key, bob.arn, ["Encrypt"], constraints={"EncryptionContextEquals": TENANT_A})
    bob_caller = caller_for(bob)
    encrypt_as(bob_caller, key, {"TENANT": "a"})  # keys are not case-sensitive, values are
    for context in ({**TENANT_A, "more": "x"}, {"tenant": "A"}, None):
        with raises_kms(E.AccessDeniedError):
            encrypt_as(bob_caller, key, context)


def test_grant_tokens_are_accepted_by_every_operation_and_invalid_ones_refused(caller, key,
                                                                              bob):
    created, token = grant(caller, key, bob.arn, ["Encrypt", "DescribeKey"])
    bob_caller = caller_for(bob)
    blob = operations.encrypt(caller=bob_caller, key_id=key.arn, plaintext=SECRET,
                              grant_tokens=[token]).blob
    assert blob
    assert key_services.key_describe(caller=bob_caller, key_id=key.arn,
                                     grant_tokens=[token]).pk == key.pk
    with raises_kms(E.InvalidGrantTokenError):
        operations.encrypt(caller=bob_caller, key_id=key.arn, plaintext=SECRET,
                           grant_tokens=[token + "x"])
    assert_failed_event("Encrypt", E.InvalidGrantTokenError)
    with raises_kms(E.InvalidGrantTokenError):
        key_services.key_describe(caller=bob_caller, key_id=key.arn, grant_tokens=["bogus"])
    event = last_event("Encrypt")
    assert_no_token(event, token)


def test_a_grant_to_a_role_serves_its_sessions(caller, key, bob):
    role = services.role_create(caller=caller, name="worker", trust_policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                                "Principal": {"AWS": bob.arn},
                                                "Action": "sts:AssumeRole"}]}))
    issued = sts.role_assume(caller=caller_for(bob), role_arn=role.arn, session_name="job-1")
    session = Caller(principal=Principal.for_session(issued.session), region=REGION,
                     source="api", source_ip="192.0.2.10", user_agent="pytest")
    with raises_kms(E.AccessDeniedError):
        encrypt_as(session, key)
    grant(caller, key, role.arn, ["Encrypt"])
    assert encrypt_as(session, key)


def test_the_administrator_of_another_account_uses_a_grant_by_key_arn(caller, key, outsider):
    outsider_caller = caller_for(outsider)
    with raises_kms(E.AccessDeniedError):
        encrypt_as(outsider_caller, key)
    assert_failed_event("Encrypt", E.AccessDeniedError)
    grant(caller, key, outsider.arn, ["Encrypt", "Decrypt"])
    blob = encrypt_as(outsider_caller, key, TENANT_A)
    assert operations.decrypt(caller=outsider_caller, ciphertext_blob=blob,
                              encryption_context=TENANT_A).plaintext == SECRET
    with raises_kms(E.NotFoundError):  # by bare id the key is looked up in its own account
        operations.encrypt(caller=outsider_caller, key_id=str(key.id), plaintext=SECRET)
    with raises_kms(E.AccessDeniedError):  # the grant gives no CreateGrant
        grant(outsider_caller, key, outsider.arn, ["Encrypt"])


def test_a_cross_account_grantee_still_needs_its_own_iam_allow(caller, key, other_account):
    stranger = make_user(other_account, "stranger")  # no identity policy in its account
    grant(caller, key, stranger.arn, ["Encrypt"])
    with raises_kms(E.AccessDeniedError, contains=("identity-based policy",)):
        encrypt_as(caller_for(stranger), key)


# --- "at least as constrained" --------------------------------------------------------------

@pytest.fixture
def regrantor(caller, key, bob):
    """bob may Decrypt and CreateGrant through a grant constrained to tenant a."""
    grant(caller, key, bob.arn, ["Decrypt", "CreateGrant"],
          constraints={"EncryptionContextSubset": TENANT_A})
    return caller_for(bob)


@pytest.mark.parametrize("operations_, constraints", [
    (["Decrypt"], {"EncryptionContextSubset": TENANT_A}),
    (["Decrypt", "CreateGrant"], {"EncryptionContextSubset": {**TENANT_A, "app": "x"}}),
    (["Decrypt"], {"EncryptionContextEquals": {"Tenant": "a", "app": "x"}}),
])
def test_a_grantee_may_pass_on_a_grant_at_least_as_constrained(regrantor, key, carol,
                                                               operations_, constraints):
    created, _ = grant(regrantor, key, carol.arn, operations_, constraints=constraints)
    assert created.issuing_account == ROOT
    assert last_event("CreateGrant").error_code == ""


@pytest.mark.parametrize("operations_, constraints", [
    (["Decrypt"], None),
    (["Encrypt"], {"EncryptionContextSubset": TENANT_A}),
    (["Decrypt", "RetireGrant"], {"EncryptionContextSubset": TENANT_A}),
    (["Decrypt"], {"EncryptionContextSubset": TENANT_B}),
    (["Decrypt"], {"EncryptionContextEquals": {"app": "x"}}),
])
def test_a_grantee_may_not_pass_on_more_than_it_holds(regrantor, key, carol, operations_,
                                                      constraints):
    with raises_kms(E.AccessDeniedError, contains=("less constrained",)):
        grant(regrantor, key, carol.arn, operations_, constraints=constraints)
    assert_failed_event("CreateGrant", E.AccessDeniedError)
    assert not Grant.objects.filter(grantee_principal=carol.arn).exists()


def test_an_equals_parent_allows_only_the_same_equals_constraint(caller, key, bob, carol):
    grant(caller, key, bob.arn, ["Decrypt", "CreateGrant"],
          constraints={"EncryptionContextEquals": TENANT_A})
    bob_caller = caller_for(bob)
    grant(bob_caller, key, carol.arn, constraints={"EncryptionContextEquals": {"TENANT": "a"}})
    with raises_kms(E.AccessDeniedError):
        grant(bob_caller, key, carol.arn,
              constraints={"EncryptionContextSubset": TENANT_A})


# --- ListGrants -----------------------------------------------------------------------------

def test_list_grants_pages_through_all_grants_of_the_key(caller, key, bob, carol):
    made = [grant(caller, key, bob.arn if i % 2 else carol.arn, name=f"g{i}")[0].grant_id
            for i in range(5)]
    grant(caller, create_key(caller), bob.arn)  # another key's grant is not listed
    seen, marker, pages = [], None, 0
    while True:
        page, marker = kms_grants.grant_list(caller=caller, key_id=key.arn, limit=2,
                                             marker=marker)
        pages += 1
        assert len(page) <= 2
        seen += [g.grant_id for g in page]
        if marker is None:
            break
    assert seen == made and pages == 3
    event = last_event("ListGrants")
    assert event.read_only is True and event.error_code == ""
    assert event.request_parameters["keyId"] == key.arn


def test_list_grants_filters_by_grant_id_and_grantee(caller, key, bob, carol):
    mine, _ = grant(caller, key, bob.arn)
    grant(caller, key, carol.arn)
    by_id, _ = kms_grants.grant_list(caller=caller, key_id=str(key.id), grant_id=mine.grant_id)
    assert [g.grant_id for g in by_id] == [mine.grant_id]
    by_grantee, _ = kms_grants.grant_list(caller=caller, key_id=key.arn,
                                          grantee_principal=carol.arn)
    assert [g.grantee_principal for g in by_grantee] == [carol.arn]
    nothing, _ = kms_grants.grant_list(caller=caller, key_id=key.arn,
                                       grantee_service_principal="logs.amazonaws.com")
    assert nothing == []


def test_list_grants_works_in_every_key_state(caller, key, bob):
    grant(caller, key, bob.arn)
    key_services.key_schedule_deletion(caller=caller, key_id=key.arn, pending_window_days=7)
    grants, marker = kms_grants.grant_list(caller=caller, key_id=key.arn)
    assert len(grants) == 1 and marker is None


@pytest.mark.parametrize("arguments, error", [
    ({"limit": 0}, E.ValidationError),
    ({"limit": 101}, E.ValidationError),
    ({"grant_id": "not-a-grant-id"}, E.InvalidGrantIdError),
    ({"grant_id": "A" * 64}, E.InvalidGrantIdError),
    ({"marker": "forged"}, E.InvalidMarkerError),
])
def test_list_grants_refuses_bad_arguments(caller, key, arguments, error):
    with raises_kms(error):
        kms_grants.grant_list(caller=caller, key_id=key.arn, **arguments)
    assert_failed_event("ListGrants", error)


def test_list_grants_is_denied_to_a_grantee_and_to_anonymous(caller, key, bob):
    grant(caller, key, bob.arn, ["Decrypt", "DescribeKey"])
    with raises_kms(E.AccessDeniedError, contains=("kms:ListGrants",)):
        kms_grants.grant_list(caller=caller_for(bob), key_id=key.arn)
    assert_failed_event("ListGrants", E.AccessDeniedError)
    with raises_kms(E.AccessDeniedError):
        kms_grants.grant_list(caller=anonymous_caller(), key_id=key.arn)


# --- ListRetirableGrants --------------------------------------------------------------------

def test_list_retirable_grants_finds_grants_of_the_retiring_principal(caller, key, bob, carol):
    wanted = [grant(caller, key, bob.arn, retiring_principal=carol.arn)[0].grant_id
              for _ in range(3)]
    grant(caller, key, bob.arn)                          # no retiring principal
    grant(caller, key, carol.arn, retiring_principal=bob.arn)
    first, marker = kms_grants.grant_list_retirable(caller=caller, retiring_principal=carol.arn,
                                                    limit=2)
    rest, end = kms_grants.grant_list_retirable(caller=caller, retiring_principal=carol.arn,
                                                limit=2, marker=marker)
    assert [g.grant_id for g in first + rest] == wanted and end is None
    event = last_event("ListRetirableGrants")
    assert event.read_only is True and event.resources == []
    assert event.request_parameters["retiringPrincipal"] == carol.arn


def test_list_retirable_grants_spans_accounts(caller, key, outsider):
    created, _ = grant(caller, key, outsider.arn, retiring_principal=outsider.arn)
    listed, _ = kms_grants.grant_list_retirable(caller=caller_for(outsider),
                                                retiring_principal=outsider.arn)
    assert [(g.grant_id, g.key.arn) for g in listed] == [(created.grant_id, key.arn)]


def test_list_retirable_grants_needs_an_iam_permission_in_the_callers_account(caller, key,
                                                                              carol, outsider):
    grant(caller, key, carol.arn, retiring_principal=carol.arn)
    with raises_kms(E.AccessDeniedError, contains=("kms:ListRetirableGrants",)):
        kms_grants.grant_list_retirable(caller=caller_for(carol), retiring_principal=carol.arn)
    assert_failed_event("ListRetirableGrants", E.AccessDeniedError)
    with raises_kms(E.AccessDeniedError):  # another account's principal
        kms_grants.grant_list_retirable(caller=caller_for(outsider),
                                        retiring_principal=carol.arn)
    with raises_kms(E.AccessDeniedError):
        kms_grants.grant_list_retirable(caller=anonymous_caller(), retiring_principal=carol.arn)


@pytest.mark.parametrize("arguments", [
    {"retiring_principal": None},
    {"retiring_principal": "carol"},
    {"retiring_principal": f"arn:aws:iam::{ACCOUNT_ID}:user/carol", "limit": 0},
    {"retiring_principal": f"arn:aws:iam::{ACCOUNT_ID}:user/carol", "limit": 101},
])
def test_list_retirable_grants_refuses_bad_arguments(caller, arguments):
    with raises_kms(E.ValidationError):
        kms_grants.grant_list_retirable(caller=caller, **arguments)
    assert_failed_event("ListRetirableGrants", E.ValidationError)


# --- RetireGrant ----------------------------------------------------------------------------

def test_the_retiring_principal_retires_a_grant_by_token(caller, key, bob, carol):
    created, token = grant(caller, key, bob.arn, ["Encrypt"], retiring_principal=carol.arn)
    retired = kms_grants.grant_retire(caller=caller_for(carol), grant_token=token)
    assert retired.grant_id == created.grant_id
    assert not Grant.objects.exists()
    event = last_event("RetireGrant")
    assert event.error_code == "" and event.read_only is False
    assert event.request_parameters == {"keyId": key.arn, "grantId": created.grant_id}
    assert [r["ARN"] for r in event.resources] == [key.arn]
    assert event.user_identity["arn"] == carol.arn
    assert_no_token(event, token)
    with raises_kms(E.AccessDeniedError):  # retired means gone: bob's access ends at once
        encrypt_as(caller_for(bob), key)
    with raises_kms(E.NotFoundError):
        kms_grants.grant_retire(caller=caller_for(carol), grant_token=token)
    assert_failed_event("RetireGrant", E.NotFoundError)


def test_the_retiring_principal_retires_by_key_arn_and_grant_id(caller, key, bob, carol):
    created, _ = grant(caller, key, bob.arn, retiring_principal=carol.arn)
    kms_grants.grant_retire(caller=caller_for(carol), key_id=key.arn,
                            grant_id=created.grant_id)
    assert not Grant.objects.exists()
    assert last_event("RetireGrant").request_parameters == {"keyId": key.arn,
                                                            "grantId": created.grant_id}


def test_a_grantee_retires_its_grant_only_if_it_includes_retire_grant(caller, key, bob):
    plain, plain_token = grant(caller, key, bob.arn, ["Decrypt"])
    with raises_kms(E.AccessDeniedError, contains=(bob.arn, "kms:RetireGrant")):
        kms_grants.grant_retire(caller=caller_for(bob), grant_token=plain_token)
    assert_failed_event("RetireGrant", E.AccessDeniedError)
    retirable, token = grant(caller, key, bob.arn, ["Decrypt", "RetireGrant"])
    kms_grants.grant_retire(caller=caller_for(bob), grant_token=token)
    assert list(Grant.objects.values_list("grant_id", flat=True)) == [plain.grant_id]


def test_a_stranger_may_not_retire_a_grant(caller, key, bob, carol, outsider):
    dave = make_user(key.account, "dave")
    created, token = grant(caller, key, bob.arn, ["Decrypt", "RetireGrant"],
                           retiring_principal=carol.arn)
    for stranger in (caller_for(dave), caller_for(outsider), anonymous_caller()):
        with raises_kms(E.AccessDeniedError):
            kms_grants.grant_retire(caller=stranger, grant_token=token)
        assert_failed_event("RetireGrant", E.AccessDeniedError)
    assert Grant.objects.filter(pk=created.pk).exists()


def test_the_issuing_accounts_administrator_retires_through_iam(caller, key, bob):
    created, _ = grant(caller, key, bob.arn)
    kms_grants.grant_retire(caller=caller, key_id=str(key.id), grant_id=created.grant_id)
    assert not Grant.objects.exists()


def test_a_retiring_principal_in_another_account_retires_across_accounts(caller, key,
                                                                         outsider):
    created, _ = grant(caller, key, outsider.arn, retiring_principal=outsider.arn)
    kms_grants.grant_retire(caller=caller_for(outsider), key_id=key.arn,
                            grant_id=created.grant_id)
    assert not Grant.objects.exists()


def test_retire_grant_works_in_every_key_state(caller, key, bob, carol):
    created, token = grant(caller, key, bob.arn, retiring_principal=carol.arn)
    key_services.key_disable(caller=caller, key_id=key.arn)
    key_services.key_schedule_deletion(caller=caller, key_id=key.arn, pending_window_days=7)
    kms_grants.grant_retire(caller=caller_for(carol), grant_token=token)
    assert not Grant.objects.exists()


@pytest.mark.parametrize("arguments, error", [
    ({}, E.ValidationError),
    ({"key_id": "KEY"}, E.ValidationError),
    ({"grant_id": "GRANT"}, E.ValidationError),
    ({"key_id": "KEY", "grant_id": "nope"}, E.InvalidGrantIdError),
    ({"key_id": "KEY", "grant_id": "0" * 64}, E.NotFoundError),
    ({"grant_token": "garbage"}, E.InvalidGrantTokenError),
    ({"grant_token": grant_token_for("0" * 64)}, E.NotFoundError),
    ({"grant_token": "TOKEN", "grant_id": "0" * 64}, E.ValidationError),
])
def test_retire_grant_refuses_incomplete_or_wrong_identification(caller, key, bob, carol,
                                                                arguments, error):
    created, token = grant(caller, key, bob.arn, retiring_principal=carol.arn)
    values = {"KEY": key.arn, "GRANT": created.grant_id, "TOKEN": token}
    arguments = {name: values.get(value, value) for name, value in arguments.items()}
    with raises_kms(error):
        kms_grants.grant_retire(caller=caller_for(carol), **arguments)
    assert_failed_event("RetireGrant", error)
    assert Grant.objects.filter(pk=created.pk).exists()


def test_a_retire_dry_run_checks_permission_and_retires_nothing(caller, key, bob, carol):
    created, token = grant(caller, key, bob.arn, retiring_principal=carol.arn)
    with raises_kms(E.DryRunOperationError):
        kms_grants.grant_retire(caller=caller_for(carol), grant_token=token, dry_run=True)
    with raises_kms(E.AccessDeniedError):
        kms_grants.grant_retire(caller=caller_for(bob), grant_token=token, dry_run=True)
    assert Grant.objects.filter(pk=created.pk).exists()


# --- RevokeGrant ----------------------------------------------------------------------------

def test_revoke_grant_deletes_the_grant_and_is_audited(caller, key, bob):
    created, _ = grant(caller, key, bob.arn)
    revoked = kms_grants.grant_revoke(caller=caller, key_id=str(key.id),
                                      grant_id=created.grant_id)
    assert revoked.grant_id == created.grant_id
    assert not Grant.objects.exists()
    event = last_event("RevokeGrant")
    assert event.error_code == "" and event.read_only is False
    assert event.request_parameters == {"keyId": str(key.id), "grantId": created.grant_id}
    assert [r["ARN"] for r in event.resources] == [key.arn]


def test_revoke_grant_works_while_the_key_is_pending_deletion(caller, key, bob):
    created, _ = grant(caller, key, bob.arn)
    key_services.key_schedule_deletion(caller=caller, key_id=key.arn, pending_window_days=7)
    kms_grants.grant_revoke(caller=caller, key_id=key.arn, grant_id=created.grant_id)
    assert not Grant.objects.exists()


@pytest.mark.parametrize("grant_id, error", [
    ("0" * 64, E.NotFoundError),
    ("not-a-grant", E.InvalidGrantIdError),
])
def test_revoke_grant_refuses_unknown_and_malformed_grant_ids(caller, key, grant_id, error):
    with raises_kms(error):
        kms_grants.grant_revoke(caller=caller, key_id=key.arn, grant_id=grant_id)
    assert_failed_event("RevokeGrant", error)


def test_a_grant_id_of_another_key_is_not_found(caller, key, bob):
    created, _ = grant(caller, key, bob.arn)
    with raises_kms(E.NotFoundError):
        kms_grants.grant_revoke(caller=caller, key_id=create_key(caller).arn,
                                grant_id=created.grant_id)
    assert Grant.objects.filter(pk=created.pk).exists()


def test_revoke_grant_is_denied_to_the_grantee_an_outsider_and_anonymous(caller, key, bob,
                                                                         outsider):
    created, _ = grant(caller, key, bob.arn, ["Decrypt", "RetireGrant", "CreateGrant"])
    for someone in (caller_for(bob), caller_for(outsider), anonymous_caller()):
        with raises_kms(E.AccessDeniedError, contains=("kms:RevokeGrant",)):
            kms_grants.grant_revoke(caller=someone, key_id=key.arn, grant_id=created.grant_id)
        assert_failed_event("RevokeGrant", E.AccessDeniedError)
    assert Grant.objects.filter(pk=created.pk).exists()


def test_a_revoke_dry_run_revokes_nothing(caller, key, bob):
    created, _ = grant(caller, key, bob.arn)
    with raises_kms(E.DryRunOperationError):
        kms_grants.grant_revoke(caller=caller, key_id=key.arn, grant_id=created.grant_id,
                                dry_run=True)
    assert Grant.objects.filter(pk=created.pk).exists()


def test_deleting_a_key_takes_its_grants_with_it(caller, key, bob):
    grant(caller, key, bob.arn)
    key.delete()
    assert not Grant.objects.exists()
