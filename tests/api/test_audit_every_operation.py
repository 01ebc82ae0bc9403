"""Every operation the API serves leaves exactly one audit event per request (issue 6).

For every KMS operation in api.handlers.HANDLERS and every STS operation in api.sts.HANDLERS,
three requests go through boto3 to live_server:
- a valid request of the account's administrator: one event, eventName the operation, the
  caller's userIdentity (IAMUser with the access key it signed with), resources naming the keys
  touched (the new key for CreateKey, source and destination for ReEncrypt; kms-spec.md 7.2),
  readOnly as CloudTrail marks the operation, no errorCode;
- the same request of a user with no policy: one event with AccessDeniedException and the
  message the client was given, and nothing changed (GetCallerIdentity, which AWS answers
  whatever the policies say, succeeds instead);
- a request that fails (a key that does not exist, a disabled key, a bad value...): one event
  with the AWS error code and message the client was given.
The case tables must name exactly the operations the API serves, so an operation added without
its cases fails `test_the_cases_cover_every_operation_the_api_serves`.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

import boto3
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError
from django.db.models import Max
from django.test import Client

from api import sts as sts_api
from api.handlers import HANDLERS
from audit.models import AuditEvent
from grants import kms_grants
from grants import services as iam
from grants.models import Grant, SessionCredential, User
from grants.policy import api_default_policy
from keys import imports, operations, services
from keys.models import Alias, Key, Tag
from tests.byok import make_material, wrap_offline
from tests.conftest import ACCOUNT_ID, REGION, caller_for, make_user

from .conftest import create_access_key
from .helpers import make_client, responses_must_fit, signed_post

pytestmark = pytest.mark.django_db(transaction=True)

MISSING_KEY_ID = "00000000-0000-4000-8000-000000000000"
CONTEXT = {"purpose": "audit-test"}
MESSAGE = b"the message of the audit test"
# What CloudTrail marks readOnly: false (kms-spec.md 7.1); every other operation reads.
WRITES = {
    "CreateKey", "EnableKey", "DisableKey", "ScheduleKeyDeletion", "CancelKeyDeletion",
    "UpdateKeyDescription", "PutKeyPolicy", "CreateAlias", "UpdateAlias", "DeleteAlias",
    "TagResource", "UntagResource", "CreateGrant", "RetireGrant", "RevokeGrant",
    "ImportKeyMaterial", "DeleteImportedKeyMaterial",
    "EnableKeyRotation", "DisableKeyRotation", "RotateKeyOnDemand",
}


@pytest.fixture(autouse=True)
def _every_kms_response_fits_its_shape(request):
    yield from responses_must_fit(request)


# --- what a case's requests need, made through the services as the administrator ------------

def _symmetric(admin) -> dict:
    return {"key": services.key_create(caller=caller_for(admin), description="audited")}


def _disabled(caller, **kwargs) -> Key:
    key = services.key_create(caller=caller, **kwargs)
    services.key_disable(caller=caller, key_id=str(key.id))
    return key


def _pending_deletion(caller) -> Key:
    key = services.key_create(caller=caller)
    services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    return key


def _with_disabled(admin) -> dict:
    caller = caller_for(admin)
    return {"key": services.key_create(caller=caller), "disabled": _disabled(caller)}


def _with_pending_deletion(admin) -> dict:
    caller = caller_for(admin)
    return {"key": services.key_create(caller=caller), "doomed": _pending_deletion(caller)}


def _ciphertexts(admin) -> dict:
    """A ciphertext under `key`, and one under `disabled` made before it was disabled."""
    caller = caller_for(admin)
    key, disabled = services.key_create(caller=caller), services.key_create(caller=caller)
    blob = operations.encrypt(caller=caller, key_id=str(key.id), plaintext=MESSAGE,
                              encryption_context=CONTEXT).blob
    disabled_blob = operations.encrypt(caller=caller, key_id=str(disabled.id),
                                       plaintext=MESSAGE, encryption_context=CONTEXT).blob
    services.key_disable(caller=caller, key_id=str(disabled.id))
    return {"key": key, "disabled": disabled, "blob": blob, "disabled_blob": disabled_blob,
            "destination": services.key_create(caller=caller)}


def _signing(admin) -> dict:
    caller = caller_for(admin)
    spec = {"key_spec": "ECC_NIST_P256", "key_usage": "SIGN_VERIFY"}
    key, disabled = services.key_create(caller=caller, **spec), \
        services.key_create(caller=caller, **spec)
    signatures = {name: operations.sign(caller=caller, key_id=str(k.id), message=MESSAGE,
                                        signing_algorithm="ECDSA_SHA_256").signature
                  for name, k in (("signature", key), ("disabled_signature", disabled))}
    services.key_disable(caller=caller, key_id=str(disabled.id))
    return {"key": key, "disabled": disabled, "symmetric": services.key_create(caller=caller),
            **signatures}


def _hmac(admin) -> dict:
    caller = caller_for(admin)
    spec = {"key_spec": "HMAC_256", "key_usage": "GENERATE_VERIFY_MAC"}
    key, disabled = services.key_create(caller=caller, **spec), \
        services.key_create(caller=caller, **spec)
    macs = {name: operations.generate_mac(caller=caller, key_id=str(k.id), message=MESSAGE,
                                          mac_algorithm="HMAC_SHA_256").mac
            for name, k in (("mac", key), ("disabled_mac", disabled))}
    services.key_disable(caller=caller, key_id=str(disabled.id))
    return {"key": key, "disabled": disabled, **macs}


def _aliased(admin) -> dict:
    """`key` with alias/audited, and `other` (of the same type) to move it to."""
    caller = caller_for(admin)
    key, other = services.key_create(caller=caller), services.key_create(caller=caller)
    services.alias_create(caller=caller, alias_name="alias/audited", target_key_id=str(key.id))
    return {"key": key, "other": other}


def _tagged(admin) -> dict:
    ctx = _with_pending_deletion(admin)
    services.key_tag(caller=caller_for(admin), key_id=str(ctx["key"].id), tags=[("team", "a")])
    return ctx


def _granted(admin) -> dict:
    """A grant on `key` to the administrator, who is also its retiring principal."""
    caller = caller_for(admin)
    key = services.key_create(caller=caller)
    grant, token = kms_grants.grant_create(caller=caller, key_id=str(key.id),
                                           grantee_principal=admin.arn,
                                           retiring_principal=admin.arn,
                                           operations=["Decrypt", "RetireGrant"])
    return {"key": key, "grant_id": grant.grant_id, "token": token,
            "disabled": _disabled(caller)}


def _nothing(admin) -> dict:
    return {}


def _external(admin) -> dict:
    """`key` (origin EXTERNAL, waiting for its material), its import parameters and material
    wrapped offline, and a `symmetric` key of AWS_KMS origin (which takes no import)."""
    caller = caller_for(admin)
    key = services.key_create(caller=caller, origin="EXTERNAL")
    issued = imports.import_parameters_get(caller=caller, key_id=str(key.id),
                                           wrapping_algorithm="RSAES_OAEP_SHA_256",
                                           wrapping_key_spec="RSA_2048")
    return {"key": key, "token": issued.import_token, "symmetric": services.key_create(
        caller=caller), "encrypted": wrap_offline(issued.public_key, "RSAES_OAEP_SHA_256",
                                                  make_material("SYMMETRIC_DEFAULT"))}


def _imported(admin) -> dict:
    ctx = _external(admin)
    imports.import_key_material(caller=caller_for(admin), key_id=str(ctx["key"].id),
                                import_token=ctx["token"],
                                encrypted_key_material=ctx["encrypted"],
                                expiration_model="KEY_MATERIAL_DOES_NOT_EXPIRE")
    return ctx


# --- the cases --------------------------------------------------------------------------------

def arns(*names: str) -> Callable[[dict, dict | None], list[str]]:
    """The ARNs of these keys of the case's context, as the event's resources must name them."""
    return lambda ctx, response: [ctx[name].arn for name in names]


NO_KEY = arns()


@dataclass(frozen=True)
class Case:
    """One operation: its valid request and a failing one, and what their events name."""

    setup: Callable[[User], dict]
    request: Callable[[dict], dict]           # boto3 parameters of a request that succeeds
    resources: Callable[[dict, dict | None], list[str]]
    failing: Callable[[dict], dict]           # ... and of one that fails with `failure`
    failure: str
    failing_resources: Callable[[dict, dict | None], list[str]] = NO_KEY
    # The keys a denied request names: those found before the refusal (alias permissions are
    # checked before the key is looked up, so a denied *Alias request names none).
    denied_resources: Callable[[dict, dict | None], list[str]] | None = None


def _key_id(ctx, name="key") -> str:
    return str(ctx[name].id)


KMS_CASES = {
    "CreateKey": Case(
        _nothing, lambda c: {"Description": "made through the API",
                             "Tags": [{"TagKey": "team", "TagValue": "audit"}]},
        lambda ctx, response: [response["KeyMetadata"]["Arn"]],
        lambda c: {"KeySpec": "RSA_2048"}, "ValidationException", denied_resources=NO_KEY),
    "DescribeKey": Case(
        _symmetric, lambda c: {"KeyId": _key_id(c)}, arns("key"),
        lambda c: {"KeyId": "alias/missing"}, "NotFoundException"),
    "ListKeys": Case(
        _symmetric, lambda c: {"Limit": 10}, NO_KEY,
        lambda c: {"Marker": "not-a-marker-we-issued"}, "InvalidMarkerException"),
    "EnableKey": Case(
        _with_pending_deletion, lambda c: {"KeyId": _key_id(c)}, arns("key"),
        lambda c: {"KeyId": _key_id(c, "doomed")}, "KMSInvalidStateException", arns("doomed")),
    "DisableKey": Case(
        _symmetric, lambda c: {"KeyId": c["key"].arn}, arns("key"),
        lambda c: {"KeyId": MISSING_KEY_ID}, "NotFoundException"),
    "ScheduleKeyDeletion": Case(
        _with_pending_deletion, lambda c: {"KeyId": _key_id(c), "PendingWindowInDays": 7},
        arns("key"), lambda c: {"KeyId": _key_id(c, "doomed")}, "KMSInvalidStateException",
        arns("doomed")),
    "CancelKeyDeletion": Case(
        _with_pending_deletion, lambda c: {"KeyId": _key_id(c, "doomed")}, arns("doomed"),
        lambda c: {"KeyId": _key_id(c)}, "KMSInvalidStateException", arns("key")),
    "UpdateKeyDescription": Case(
        _with_pending_deletion, lambda c: {"KeyId": _key_id(c), "Description": "new words"},
        arns("key"), lambda c: {"KeyId": _key_id(c, "doomed"), "Description": "too late"},
        "KMSInvalidStateException", arns("doomed")),
    "GetKeyLastUsage": Case(
        _symmetric, lambda c: {"KeyId": _key_id(c)}, arns("key"),
        lambda c: {"KeyId": MISSING_KEY_ID}, "NotFoundException"),
    "GetKeyPolicy": Case(
        _symmetric, lambda c: {"KeyId": _key_id(c), "PolicyName": "default"}, arns("key"),
        lambda c: {"KeyId": _key_id(c), "PolicyName": "another"}, "NotFoundException",
        arns("key")),
    "PutKeyPolicy": Case(
        _symmetric, lambda c: {"KeyId": _key_id(c), "PolicyName": "default",
                               "Policy": api_default_policy(ACCOUNT_ID)}, arns("key"),
        lambda c: {"KeyId": _key_id(c), "PolicyName": "default", "Policy": "not a policy"},
        "MalformedPolicyDocumentException", arns("key")),
    "ListKeyPolicies": Case(
        _symmetric, lambda c: {"KeyId": _key_id(c)}, arns("key"),
        lambda c: {"KeyId": MISSING_KEY_ID}, "NotFoundException"),
    "CreateAlias": Case(
        _aliased, lambda c: {"AliasName": "alias/another", "TargetKeyId": _key_id(c)},
        arns("key"), lambda c: {"AliasName": "alias/audited", "TargetKeyId": _key_id(c)},
        "AlreadyExistsException", arns("key"), denied_resources=NO_KEY),
    "UpdateAlias": Case(
        _aliased, lambda c: {"AliasName": "alias/audited", "TargetKeyId": _key_id(c, "other")},
        arns("key", "other"),
        lambda c: {"AliasName": "alias/missing", "TargetKeyId": _key_id(c)},
        "NotFoundException", denied_resources=NO_KEY),
    "DeleteAlias": Case(
        _aliased, lambda c: {"AliasName": "alias/audited"}, arns("key"),
        lambda c: {"AliasName": "alias/missing"}, "NotFoundException",
        denied_resources=NO_KEY),
    "ListAliases": Case(
        _aliased, lambda c: {"KeyId": _key_id(c)}, arns("key"),
        lambda c: {"KeyId": MISSING_KEY_ID}, "NotFoundException"),
    "TagResource": Case(
        _with_pending_deletion,
        lambda c: {"KeyId": _key_id(c), "Tags": [{"TagKey": "team", "TagValue": "b"}]},
        arns("key"),
        lambda c: {"KeyId": _key_id(c, "doomed"), "Tags": [{"TagKey": "t", "TagValue": "v"}]},
        "KMSInvalidStateException", arns("doomed")),
    "UntagResource": Case(
        _tagged, lambda c: {"KeyId": _key_id(c), "TagKeys": ["team"]}, arns("key"),
        lambda c: {"KeyId": MISSING_KEY_ID, "TagKeys": ["team"]}, "NotFoundException"),
    "ListResourceTags": Case(
        _tagged, lambda c: {"KeyId": _key_id(c)}, arns("key"),
        lambda c: {"KeyId": MISSING_KEY_ID}, "NotFoundException"),
    "Encrypt": Case(
        _with_disabled, lambda c: {"KeyId": _key_id(c), "Plaintext": MESSAGE,
                                   "EncryptionContext": CONTEXT}, arns("key"),
        lambda c: {"KeyId": _key_id(c, "disabled"), "Plaintext": MESSAGE},
        "DisabledException", arns("disabled")),
    "Decrypt": Case(
        _ciphertexts, lambda c: {"CiphertextBlob": c["blob"], "EncryptionContext": CONTEXT},
        arns("key"),
        lambda c: {"CiphertextBlob": c["disabled_blob"], "EncryptionContext": CONTEXT},
        "DisabledException", arns("disabled")),
    "ReEncrypt": Case(
        _ciphertexts, lambda c: {"CiphertextBlob": c["blob"], "SourceEncryptionContext": CONTEXT,
                                 "DestinationKeyId": _key_id(c, "destination")},
        arns("key", "destination"),
        lambda c: {"CiphertextBlob": c["blob"], "SourceEncryptionContext": CONTEXT,
                   "DestinationKeyId": _key_id(c, "disabled")},
        "DisabledException", arns("key", "disabled"), denied_resources=arns("key")),
    "GenerateDataKey": Case(
        _with_disabled, lambda c: {"KeyId": _key_id(c), "KeySpec": "AES_256"}, arns("key"),
        lambda c: {"KeyId": _key_id(c, "disabled"), "KeySpec": "AES_256"},
        "DisabledException", arns("disabled")),
    "GenerateDataKeyWithoutPlaintext": Case(
        _with_pending_deletion, lambda c: {"KeyId": _key_id(c), "NumberOfBytes": 32},
        arns("key"), lambda c: {"KeyId": _key_id(c, "doomed"), "NumberOfBytes": 32},
        "KMSInvalidStateException", arns("doomed")),
    "GenerateDataKeyPair": Case(
        _with_disabled, lambda c: {"KeyId": _key_id(c), "KeyPairSpec": "ECC_NIST_P256"},
        arns("key"), lambda c: {"KeyId": _key_id(c, "disabled"), "KeyPairSpec": "ECC_NIST_P256"},
        "DisabledException", arns("disabled")),
    "GenerateDataKeyPairWithoutPlaintext": Case(
        _with_disabled, lambda c: {"KeyId": _key_id(c), "KeyPairSpec": "ECC_NIST_P256"},
        arns("key"), lambda c: {"KeyId": _key_id(c, "disabled"), "KeyPairSpec": "ECC_NIST_P256"},
        "DisabledException", arns("disabled")),
    "GenerateRandom": Case(
        _nothing, lambda c: {"NumberOfBytes": 32}, NO_KEY,
        lambda c: {"NumberOfBytes": 32, "CustomKeyStoreId": "cks-1234567890abcdef0"},
        "CustomKeyStoreNotFoundException"),
    "Sign": Case(
        _signing, lambda c: {"KeyId": _key_id(c), "Message": MESSAGE,
                             "SigningAlgorithm": "ECDSA_SHA_256"}, arns("key"),
        lambda c: {"KeyId": _key_id(c, "disabled"), "Message": MESSAGE,
                   "SigningAlgorithm": "ECDSA_SHA_256"}, "DisabledException", arns("disabled")),
    "Verify": Case(
        _signing, lambda c: {"KeyId": _key_id(c), "Message": MESSAGE,
                             "Signature": c["signature"], "SigningAlgorithm": "ECDSA_SHA_256"},
        arns("key"),
        lambda c: {"KeyId": _key_id(c, "disabled"), "Message": MESSAGE,
                   "Signature": c["disabled_signature"], "SigningAlgorithm": "ECDSA_SHA_256"},
        "DisabledException", arns("disabled")),
    "GetPublicKey": Case(
        _signing, lambda c: {"KeyId": c["key"].arn}, arns("key"),
        lambda c: {"KeyId": _key_id(c, "symmetric")}, "UnsupportedOperationException",
        arns("symmetric")),
    "GenerateMac": Case(
        _hmac, lambda c: {"KeyId": _key_id(c), "Message": MESSAGE,
                          "MacAlgorithm": "HMAC_SHA_256"}, arns("key"),
        lambda c: {"KeyId": _key_id(c, "disabled"), "Message": MESSAGE,
                   "MacAlgorithm": "HMAC_SHA_256"}, "DisabledException", arns("disabled")),
    "VerifyMac": Case(
        _hmac, lambda c: {"KeyId": _key_id(c), "Message": MESSAGE, "Mac": c["mac"],
                          "MacAlgorithm": "HMAC_SHA_256"}, arns("key"),
        lambda c: {"KeyId": _key_id(c, "disabled"), "Message": MESSAGE,
                   "Mac": c["disabled_mac"], "MacAlgorithm": "HMAC_SHA_256"},
        "DisabledException", arns("disabled")),
    "CreateGrant": Case(
        _granted, lambda c: {"KeyId": _key_id(c), "GranteePrincipal": c["grantee"],
                             "Operations": ["Encrypt", "Decrypt"], "Name": "audited"},
        arns("key"),
        lambda c: {"KeyId": _key_id(c, "disabled"), "GranteePrincipal": c["grantee"],
                   "Operations": ["Encrypt"]}, "DisabledException", arns("disabled")),
    "ListGrants": Case(
        _granted, lambda c: {"KeyId": _key_id(c)}, arns("key"),
        lambda c: {"KeyId": MISSING_KEY_ID}, "NotFoundException"),
    "ListRetirableGrants": Case(
        _granted, lambda c: {"RetiringPrincipal": c["grantee"]}, NO_KEY,
        lambda c: {"RetiringPrincipal": "not-an-arn"}, "ValidationException"),
    "RetireGrant": Case(
        _granted, lambda c: {"GrantToken": c["token"]}, arns("key"),
        lambda c: {"KeyId": c["key"].arn, "GrantId": "not-a-grant-id"},
        "InvalidGrantIdException"),
    "RevokeGrant": Case(
        _granted, lambda c: {"KeyId": _key_id(c), "GrantId": c["grant_id"]}, arns("key"),
        lambda c: {"KeyId": _key_id(c), "GrantId": "0" * 64}, "NotFoundException",
        arns("key")),
    # --- imported key material ---
    "GetParametersForImport": Case(
        _external, lambda c: {"KeyId": _key_id(c), "WrappingAlgorithm": "RSAES_OAEP_SHA_1",
                              "WrappingKeySpec": "RSA_3072"}, arns("key"),
        lambda c: {"KeyId": _key_id(c, "symmetric"), "WrappingAlgorithm": "RSAES_OAEP_SHA_1",
                   "WrappingKeySpec": "RSA_3072"}, "UnsupportedOperationException",
        arns("symmetric")),
    "ImportKeyMaterial": Case(
        _external, lambda c: {"KeyId": _key_id(c), "ImportToken": c["token"],
                              "EncryptedKeyMaterial": c["encrypted"],
                              "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}, arns("key"),
        lambda c: {"KeyId": _key_id(c), "ImportToken": b"not the token" * 4,
                   "EncryptedKeyMaterial": c["encrypted"],
                   "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"},
        "InvalidImportTokenException", arns("key")),
    "DeleteImportedKeyMaterial": Case(
        _imported, lambda c: {"KeyId": c["key"].arn}, arns("key"),
        lambda c: {"KeyId": _key_id(c, "symmetric")}, "UnsupportedOperationException",
        arns("symmetric")),
    # --- rotation ---
    "EnableKeyRotation": Case(
        _with_disabled, lambda c: {"KeyId": _key_id(c), "RotationPeriodInDays": 180},
        arns("key"), lambda c: {"KeyId": _key_id(c, "disabled")}, "DisabledException",
        arns("disabled")),
    "DisableKeyRotation": Case(
        _with_pending_deletion, lambda c: {"KeyId": _key_id(c)}, arns("key"),
        lambda c: {"KeyId": _key_id(c, "doomed")}, "KMSInvalidStateException", arns("doomed")),
    "GetKeyRotationStatus": Case(
        _signing, lambda c: {"KeyId": _key_id(c, "symmetric")}, arns("symmetric"),
        lambda c: {"KeyId": _key_id(c)}, "UnsupportedOperationException", arns("key")),
    "RotateKeyOnDemand": Case(
        _with_disabled, lambda c: {"KeyId": c["key"].arn}, arns("key"),
        lambda c: {"KeyId": _key_id(c, "disabled")}, "DisabledException", arns("disabled")),
    "ListKeyRotations": Case(
        _symmetric, lambda c: {"KeyId": _key_id(c), "IncludeKeyMaterial": "ALL_KEY_MATERIAL"},
        arns("key"), lambda c: {"KeyId": _key_id(c), "Marker": "not-a-marker-we-issued"},
        "InvalidMarkerException", arns("key")),
}


# --- helpers ----------------------------------------------------------------------------------

def last_event_id() -> int:
    return AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0


def the_one_new_event(since: int, request_id: str) -> AuditEvent:
    """The request's event, after checking it is the only event written since `since`."""
    new = list(AuditEvent.objects.filter(id__gt=since).order_by("id"))
    assert [(e.event_name, e.request_id) for e in new] == [(new[0].event_name, request_id)], \
        [(e.event_name, e.request_id, e.error_code) for e in new]
    return new[0]


def iam_user_identity(user: User, access_key_id: str) -> dict:
    """CloudTrail's userIdentity of an IAM user signing with an access key (kms-spec.md 7.1)."""
    return {"type": "IAMUser", "principalId": user.unique_id, "arn": user.arn,
            "accountId": user.account_id, "accessKeyId": access_key_id, "userName": user.name}


def resources_of(key_arns: list[str]) -> list[dict]:
    return [{"accountId": ACCOUNT_ID, "type": "AWS::KMS::Key", "ARN": arn} for arn in key_arns]


def snapshot() -> tuple:
    """Everything a KMS or STS request could change (to show a refused one changed nothing)."""
    return (
        list(Key.objects.order_by("id").values_list(
            "id", "key_state", "description", "policy", "deletion_date")),
        list(Alias.objects.order_by("name").values_list("name", "target_key_id")),
        list(Tag.objects.order_by("key_id", "tag_key").values_list(
            "key_id", "tag_key", "tag_value")),
        list(Grant.objects.order_by("grant_id").values_list("grant_id", "key_id", "name")),
        list(SessionCredential.objects.order_by("access_key_id").values_list("access_key_id")),
    )


def call(client, operation: str, params: dict) -> tuple[dict | None, ClientError | None]:
    """(response, None) or (None, the ClientError) of one boto3 call of `operation`."""
    try:
        return getattr(client, xform_name(operation))(**params), None
    except ClientError as error:
        return None, error


def request_id_of(response: dict | None, error: ClientError | None) -> str:
    metadata = (response if error is None else error.response)["ResponseMetadata"]
    return metadata["RequestId"]


def check_common(event: AuditEvent, operation: str, *, event_source: str) -> None:
    """What every API event says whoever called: CloudTrail's fixed members (kms-spec.md 7.1)."""
    record = event.as_record()
    assert record["eventName"] == operation
    assert record["eventSource"] == event_source
    assert record["eventType"] == "AwsApiCall"
    assert record["awsRegion"] == REGION
    assert record["recipientAccountId"] == ACCOUNT_ID
    assert record["sourceIPAddress"] == "127.0.0.1"
    assert "Boto3" in record["userAgent"] or "Botocore" in record["userAgent"]
    assert record["readOnly"] is (operation not in WRITES)
    assert event.source == "api"


def check_key_column(event: AuditEvent) -> None:
    """The key column (the event history's key filter) is the first key resource's id."""
    first = event.resources[0]["ARN"].rsplit("/", 1)[-1] if event.resources else ""
    assert event.key_id == first


# --- KMS --------------------------------------------------------------------------------------

@pytest.fixture
def world(admin, account):
    """The administrator's client and credentials, and a user with no policy at all."""
    admin_credentials = create_access_key(admin)
    nobody = make_user(account, "nobody")
    return {"admin": admin, "admin_credentials": admin_credentials,
            "nobody": nobody, "nobody_credentials": create_access_key(nobody)}


def _context(case: Case, world) -> dict:
    ctx = case.setup(world["admin"])
    ctx["grantee"] = world["admin"].arn
    return ctx


def test_the_cases_cover_every_operation_the_api_serves():
    assert set(KMS_CASES) == set(HANDLERS)
    assert set(STS_CASES) == set(sts_api.HANDLERS)


@pytest.mark.parametrize("operation", sorted(KMS_CASES))
def test_a_successful_request_is_recorded_once_with_caller_and_keys(live_server, world,
                                                                    operation):
    case = KMS_CASES[operation]
    ctx = _context(case, world)
    kms = make_client(live_server, world["admin_credentials"])
    since = last_event_id()
    params = case.request(ctx)
    response, error = call(kms, operation, params)
    assert error is None, error
    event = the_one_new_event(since, request_id_of(response, None))
    check_common(event, operation, event_source="kms.amazonaws.com")
    assert event.user_identity == iam_user_identity(world["admin"],
                                                    world["admin_credentials"][0])
    assert event.principal_arn == world["admin"].arn
    assert event.resources == resources_of(case.resources(ctx, response))
    check_key_column(event)
    assert (event.error_code, event.error_message) == ("", "")
    if "KeyId" in params:  # logged as the caller sent it: id, ARN or alias (kms-spec.md 7.2)
        assert event.request_parameters["keyId"] == params["KeyId"]
    if operation not in WRITES:
        assert event.response_elements is None  # reads and crypto: never logged


@pytest.mark.parametrize("operation", sorted(KMS_CASES))
def test_a_denied_request_is_recorded_once_with_access_denied(live_server, world, operation):
    case = KMS_CASES[operation]
    ctx = _context(case, world)
    kms = make_client(live_server, world["nobody_credentials"])
    before, since = snapshot(), last_event_id()
    response, error = call(kms, operation, case.request(ctx))
    assert error is not None, f"{operation} was allowed to a user with no policy"
    assert error.response["Error"]["Code"] == "AccessDeniedException"
    event = the_one_new_event(since, request_id_of(response, error))
    check_common(event, operation, event_source="kms.amazonaws.com")
    assert event.user_identity == iam_user_identity(world["nobody"],
                                                    world["nobody_credentials"][0])
    assert event.error_code == "AccessDeniedException"
    assert event.error_message == error.response["Error"]["Message"]
    assert f"User: {world['nobody'].arn} is not authorized" in event.error_message
    expected = case.denied_resources or case.resources
    assert event.resources == resources_of(expected(ctx, None))
    check_key_column(event)
    assert event.response_elements is None
    assert snapshot() == before


@pytest.mark.parametrize("operation", sorted(KMS_CASES))
def test_a_failing_request_is_recorded_once_with_its_error(live_server, world, operation):
    case = KMS_CASES[operation]
    ctx = _context(case, world)
    kms = make_client(live_server, world["admin_credentials"])
    since = last_event_id()
    response, error = call(kms, operation, case.failing(ctx))
    assert error is not None, f"the failing {operation} request succeeded"
    assert error.response["Error"]["Code"] == case.failure
    event = the_one_new_event(since, request_id_of(response, error))
    check_common(event, operation, event_source="kms.amazonaws.com")
    assert event.user_identity == iam_user_identity(world["admin"],
                                                    world["admin_credentials"][0])
    assert event.error_code == case.failure
    assert event.error_message and event.error_message == error.response["Error"]["Message"]
    assert event.resources == resources_of(case.failing_resources(ctx, None))
    check_key_column(event)
    assert event.response_elements is None


def test_a_denied_request_of_another_account_is_recorded_in_the_callers_account(
        live_server, world, outsider):
    """CloudTrail files a refused cross-account call in the caller's account only (kms-spec.md
    7.2); the record still names the key it was refused."""
    key = services.key_create(caller=caller_for(world["admin"]))
    credentials = create_access_key(outsider)
    since = last_event_id()
    response, error = call(make_client(live_server, credentials), "DescribeKey",
                           {"KeyId": key.arn})
    assert error.response["Error"]["Code"] == "AccessDeniedException"
    event = the_one_new_event(since, request_id_of(response, error))
    assert event.recipient_account_id == outsider.account_id != key.account_id
    assert event.user_identity == iam_user_identity(outsider, credentials[0])
    assert event.error_message == error.response["Error"]["Message"] != ""
    assert event.resources == resources_of([key.arn])


# --- refused before any operation runs --------------------------------------------------------

def test_a_request_with_a_wrong_secret_is_recorded_once_under_the_key_it_named(live_server,
                                                                              world):
    access_key_id, _ = world["admin_credentials"]
    kms = make_client(live_server, (access_key_id, "not-the-secret-" + "x" * 25))
    since = last_event_id()
    response, error = call(kms, "ListKeys", {})
    assert error.response["Error"]["Code"] == "InvalidSignatureException"
    event = the_one_new_event(since, request_id_of(response, error))
    assert (event.event_name, event.error_code) == ("ListKeys", "InvalidSignatureException")
    assert event.error_message == error.response["Error"]["Message"] != ""
    # Not authenticated, so no identity is claimed beyond the key id and its account.
    assert event.user_identity == {"type": "Unknown", "accountId": ACCOUNT_ID,
                                   "accessKeyId": access_key_id}
    assert event.resources == []


def test_a_request_with_an_unknown_access_key_is_recorded_once(live_server, world):
    kms = make_client(live_server, ("AKIAUNKNOWNKEY000000", "x" * 40))
    since = last_event_id()
    response, error = call(kms, "DescribeKey", {"KeyId": MISSING_KEY_ID})
    assert error.response["Error"]["Code"] == "UnrecognizedClientException"
    event = the_one_new_event(since, request_id_of(response, error))
    assert (event.event_name, event.error_code) == ("DescribeKey",
                                                    "UnrecognizedClientException")
    assert event.error_message == error.response["Error"]["Message"] != ""
    assert event.user_identity == {"type": "Unknown", "accessKeyId": "AKIAUNKNOWNKEY000000"}


@pytest.mark.parametrize("target, body, code", [
    ("NoSuchOperation", b"{}", "UnknownOperationException"),
    ("DescribeKey", b'{"KeyId": ', "SerializationException"),
    ("DescribeKey", b"{}", "ValidationException"),
])
def test_a_request_refused_before_its_operation_runs_is_recorded_once(world, target, body,
                                                                      code):
    since = last_event_id()
    response = signed_post(Client(), target, body, world["admin_credentials"])
    assert json.loads(response.content)["__type"] == code
    event = the_one_new_event(since, response["x-amzn-RequestId"])
    assert (event.event_name, event.error_code) == (target, code)
    assert event.error_message == json.loads(response.content)["message"] != ""
    assert event.user_identity == iam_user_identity(world["admin"],
                                                    world["admin_credentials"][0])


# --- STS --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StsCase:
    """An STS operation: its valid request, and a failing one (with other credentials if
    `failing_secret` is set) answered and recorded with the Query protocol code `failure`."""

    request: Callable[[dict], dict]
    resources: Callable[[dict], list[dict]]
    failing: Callable[[dict], dict]
    failure: str
    failing_secret: str | None = None
    denied: bool = True  # False: AWS answers it whatever the policies say


def _role_resource(ctx) -> list[dict]:
    role = ctx["role"]
    return [{"accountId": ACCOUNT_ID, "type": "AWS::IAM::Role", "ARN": role.arn}]


STS_CASES = {
    "AssumeRole": StsCase(
        lambda c: {"RoleArn": c["role"].arn, "RoleSessionName": "audited"}, _role_resource,
        lambda c: {"RoleArn": c["role"].arn, "RoleSessionName": "not a valid name"},
        "ValidationError"),
    "GetCallerIdentity": StsCase(
        lambda c: {}, lambda c: [], lambda c: {}, "SignatureDoesNotMatch",
        failing_secret="not-the-secret-" + "x" * 25, denied=False),
}


def sts_client(live_server, credentials):
    access_key_id, secret = credentials
    client = boto3.client("sts", endpoint_url=live_server.url, region_name=REGION,
                          aws_access_key_id=access_key_id, aws_secret_access_key=secret,
                          config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    # boto3 keep-alive against live_server leaves a thread behind at exit; close each time.
    client.meta.events.register("before-send.sts.*",
                                lambda request, **kwargs: request.headers.__setitem__(
                                    "Connection", "close"))
    return client


@pytest.fixture
def sts_world(world):
    """A role whose trust policy delegates to the account: its identity policies decide, so
    the administrator may assume it and the user with no policy may not."""
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
        "Action": "sts:AssumeRole"}]})
    role = iam.role_create(caller=caller_for(world["admin"]), name="audited-role",
                           trust_policy=trust)
    return {**world, "role": role}


@pytest.mark.parametrize("operation", sorted(STS_CASES))
def test_a_successful_sts_request_is_recorded_once(live_server, sts_world, operation):
    case = STS_CASES[operation]
    sts = sts_client(live_server, sts_world["admin_credentials"])
    since = last_event_id()
    response, error = call(sts, operation, case.request(sts_world))
    assert error is None, error
    event = the_one_new_event(since, request_id_of(response, None))
    check_common(event, operation, event_source="sts.amazonaws.com")
    assert event.user_identity == iam_user_identity(sts_world["admin"],
                                                    sts_world["admin_credentials"][0])
    assert event.resources == case.resources(sts_world)
    assert (event.error_code, event.error_message) == ("", "")


@pytest.mark.parametrize("operation", sorted(STS_CASES))
def test_an_sts_request_of_a_user_with_no_policy_is_recorded_once(live_server, sts_world,
                                                                  operation):
    case = STS_CASES[operation]
    sts = sts_client(live_server, sts_world["nobody_credentials"])
    before, since = snapshot(), last_event_id()
    response, error = call(sts, operation, case.request(sts_world))
    event = the_one_new_event(since, request_id_of(response, error))
    check_common(event, operation, event_source="sts.amazonaws.com")
    assert event.user_identity == iam_user_identity(sts_world["nobody"],
                                                    sts_world["nobody_credentials"][0])
    if not case.denied:
        assert error is None and event.error_code == ""
        return
    assert error.response["Error"]["Code"] == "AccessDenied"
    assert event.error_code == "AccessDenied"
    assert event.error_message == error.response["Error"]["Message"] != ""
    assert snapshot() == before


@pytest.mark.parametrize("operation", sorted(STS_CASES))
def test_a_failing_sts_request_is_recorded_once(live_server, sts_world, operation):
    case = STS_CASES[operation]
    access_key_id, secret = sts_world["admin_credentials"]
    sts = sts_client(live_server, (access_key_id, case.failing_secret or secret))
    since = last_event_id()
    response, error = call(sts, operation, case.failing(sts_world))
    assert error is not None, f"the failing {operation} request succeeded"
    event = the_one_new_event(since, request_id_of(response, error))
    assert (event.event_name, event.event_source) == (operation, "sts.amazonaws.com")
    # The trail records the code the caller was answered (STS's Query protocol codes).
    assert event.error_code == error.response["Error"]["Code"] == case.failure
    assert event.error_message == error.response["Error"]["Message"] != ""
    assert event.resources == []
