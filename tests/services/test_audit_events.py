"""Every service call writes exactly one AuditEvent, success or failure (design.md "one door").

The tables below hold one successful and one failing call for every service (public function
taking a keyword-only `caller`) of keys/services.py and keys/operations.py;
`test_every_service_function_has_audit_cases` makes adding a service without its audit cases
fail. Events are CloudTrail-shaped (kms-spec.md 7) and
never hold plaintext, data keys, ciphertexts, signatures or MACs (7.2).
"""

import base64
import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from audit.models import AuditEvent
from keys import operations, services
from keys.models import Alias, Key, KeyMaterial, Tag
from kmsconsole import errors as E
from kmsconsole.errors import KmsError, ValidationError
from tests.conftest import OTHER_ACCOUNT_ID

from .conftest import create_key, raises_kms

pytestmark = pytest.mark.django_db

SECRET = b"TOP-SECRET-PLAINTEXT-7f3a9c51e2"
CONTEXT = {"department": "finance"}
# Member names that must never appear in requestParameters / responseElements.
FORBIDDEN_MEMBERS = {"plaintext", "ciphertextBlob", "privateKeyPlaintext",
                     "privateKeyCiphertextBlob", "signature", "mac", "message", "publicKey",
                     "sharedSecret"}


# --- fixtures of the cases ------------------------------------------------------------------

def _nothing(caller) -> dict:
    return {}


def _one_key(caller) -> dict:
    return {"key": create_key(caller)}


def _two_keys(caller) -> dict:
    return {"key": create_key(caller), "other": create_key(caller)}


def _disabled_key(caller) -> dict:
    key = create_key(caller)
    services.key_disable(caller=caller, key_id=str(key.id))
    return {"key": key}


def _pending_deletion_key(caller, spec: str = "SYMMETRIC_DEFAULT") -> dict:
    key = create_key(caller, spec)
    services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    return {"key": key}


def _tagged_key(caller) -> dict:
    key = create_key(caller)
    services.key_tag(caller=caller, key_id=str(key.id), tags=[("team", "a"), ("env", "prod")])
    return {"key": key}


def _aliased_keys(caller) -> dict:
    ctx = _two_keys(caller)
    services.alias_create(caller=caller, alias_name="alias/audited",
                          target_key_id=str(ctx["key"].id))
    return ctx


def _blob(caller) -> dict:
    key = create_key(caller)
    blob = operations.encrypt(caller=caller, key_id=str(key.id), plaintext=SECRET,
                              encryption_context=CONTEXT).blob
    return {"key": key, "blob": blob, "secrets": [SECRET, blob]}


def _blob_and_destination(caller) -> dict:
    ctx = _blob(caller)
    ctx["other"] = create_key(caller)
    return ctx


def _signing_key(caller) -> dict:
    key = create_key(caller, "ECC_NIST_P256")
    signature = operations.sign(caller=caller, key_id=str(key.id), message=SECRET,
                                signing_algorithm="ECDSA_SHA_256").signature
    return {"key": key, "signature": signature, "secrets": [SECRET, signature]}


def _hmac_key(caller) -> dict:
    key = create_key(caller, "HMAC_256")
    tag = operations.generate_mac(caller=caller, key_id=str(key.id), message=SECRET,
                                  mac_algorithm="HMAC_SHA_256").mac
    return {"key": key, "mac": tag, "secrets": [SECRET, tag]}


def _symmetric_pending_deletion(caller) -> dict:
    return _pending_deletion_key(caller)


def _hmac_pending_deletion(caller) -> dict:
    return _pending_deletion_key(caller, "HMAC_256")


@dataclass(frozen=True)
class Case:
    """One call of a service and what its audit event must say."""

    function: str                         # the public function's name in its module
    event_name: str
    read_only: bool
    setup: Callable[[object], dict]
    call: Callable[[object, dict], object]
    keys: Callable[[dict, object], list] = lambda ctx, result: [ctx["key"]]
    params: Callable[[dict], dict] = lambda ctx: {}
    error: type[KmsError] | None = None   # for failing cases
    who: str = "admin"                    # or "outsider"
    secrets: Callable[[dict, object], list] = field(default=lambda ctx, result: [])
    response: Callable[[dict, object], dict] | None = None  # expected responseElements subset
    # Events after the first, for a service that goes through several doors (the console's
    # Create key wizard: CreateKey then CreateAlias); the first event is the one checked.
    also: tuple[str, ...] = ()


def _id(ctx, name="key") -> str:
    return str(ctx[name].id)


def _result_bytes(result) -> list[bytes]:
    """Every bytes value a service handed back (data keys, blobs, signatures...)."""
    if isinstance(result, bytes):
        return [result]
    if isinstance(result, tuple):
        return [b for item in result for b in _result_bytes(item)]
    if hasattr(result, "__dataclass_fields__"):
        return [value for name in result.__dataclass_fields__
                if isinstance(value := getattr(result, name), bytes)]
    return []


SUCCESS = [
    Case("key_create", "CreateKey", False, _nothing,
         lambda c, x: services.key_create(caller=c, description="audited",
                                          tags=[("team", "a")]),
         keys=lambda ctx, result: [result],
         params=lambda ctx: {"description": "audited", "keySpec": "SYMMETRIC_DEFAULT",
                             "origin": "AWS_KMS", "tags": [{"tagKey": "team", "tagValue": "a"}]},
         response=lambda ctx, result: {"keyMetadata": {"keyId": str(result.id),
                                                       "arn": result.arn,
                                                       "keyState": "Enabled"}}),
    Case("key_describe", "DescribeKey", True, _one_key,
         lambda c, x: services.key_describe(caller=c, key_id=x["key"].arn),
         params=lambda ctx: {"keyId": ctx["key"].arn}),
    Case("key_list", "ListKeys", True, _one_key,
         lambda c, x: services.key_list(caller=c, limit=10),
         keys=lambda ctx, result: [], params=lambda ctx: {"limit": 10}),
    Case("key_last_usage", "GetKeyLastUsage", True, _blob,
         lambda c, x: services.key_last_usage(caller=c, key_id=x["key"].arn),
         params=lambda ctx: {"keyId": ctx["key"].arn}),
    Case("key_enable", "EnableKey", False, _disabled_key,
         lambda c, x: services.key_enable(caller=c, key_id=_id(x)),
         params=lambda ctx: {"keyId": _id(ctx)}),
    Case("key_disable", "DisableKey", False, _one_key,
         lambda c, x: services.key_disable(caller=c, key_id=_id(x)),
         params=lambda ctx: {"keyId": _id(ctx)}),
    Case("key_update_description", "UpdateKeyDescription", False, _one_key,
         lambda c, x: services.key_update_description(caller=c, key_id=_id(x),
                                                      description="new words"),
         params=lambda ctx: {"keyId": _id(ctx), "description": "new words"}),
    Case("key_schedule_deletion", "ScheduleKeyDeletion", False, _one_key,
         lambda c, x: services.key_schedule_deletion(caller=c, key_id=_id(x),
                                                     pending_window_days=7),
         params=lambda ctx: {"keyId": _id(ctx), "pendingWindowInDays": 7},
         response=lambda ctx, result: {"keyId": ctx["key"].arn, "keyState": "PendingDeletion",
                                       "pendingWindowInDays": 7}),
    Case("key_cancel_deletion", "CancelKeyDeletion", False, _symmetric_pending_deletion,
         lambda c, x: services.key_cancel_deletion(caller=c, key_id=_id(x)),
         params=lambda ctx: {"keyId": _id(ctx)},
         response=lambda ctx, result: {"keyId": ctx["key"].arn}),
    Case("alias_create", "CreateAlias", False, _one_key,
         lambda c, x: services.alias_create(caller=c, alias_name="alias/new",
                                            target_key_id=_id(x)),
         params=lambda ctx: {"aliasName": "alias/new", "targetKeyId": _id(ctx)}),
    Case("alias_update", "UpdateAlias", False, _aliased_keys,
         lambda c, x: services.alias_update(caller=c, alias_name="alias/audited",
                                            target_key_id=_id(x, "other")),
         keys=lambda ctx, result: [ctx["key"], ctx["other"]],
         params=lambda ctx: {"aliasName": "alias/audited", "targetKeyId": _id(ctx, "other")}),
    Case("alias_delete", "DeleteAlias", False, _aliased_keys,
         lambda c, x: services.alias_delete(caller=c, alias_name="alias/audited"),
         params=lambda ctx: {"aliasName": "alias/audited"}),
    Case("alias_list", "ListAliases", True, _aliased_keys,
         lambda c, x: services.alias_list(caller=c, key_id=_id(x)),
         params=lambda ctx: {"keyId": _id(ctx)}),
    Case("key_tag", "TagResource", False, _one_key,
         lambda c, x: services.key_tag(caller=c, key_id=_id(x), tags=[("team", "b")]),
         params=lambda ctx: {"keyId": _id(ctx), "tags": [{"tagKey": "team", "tagValue": "b"}]}),
    Case("key_untag", "UntagResource", False, _tagged_key,
         lambda c, x: services.key_untag(caller=c, key_id=_id(x), tag_keys=["team"]),
         params=lambda ctx: {"keyId": _id(ctx), "tagKeys": ["team"]}),
    Case("key_list_tags", "ListResourceTags", True, _tagged_key,
         lambda c, x: services.key_list_tags(caller=c, key_id=_id(x)),
         params=lambda ctx: {"keyId": _id(ctx)}),
    Case("encrypt", "Encrypt", True, _one_key,
         lambda c, x: operations.encrypt(caller=c, key_id=_id(x), plaintext=SECRET,
                                         encryption_context=CONTEXT),
         params=lambda ctx: {"keyId": _id(ctx), "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                             "encryptionContext": CONTEXT},
         secrets=lambda ctx, result: [SECRET]),
    Case("decrypt", "Decrypt", True, _blob,
         lambda c, x: operations.decrypt(caller=c, ciphertext_blob=x["blob"],
                                         encryption_context=CONTEXT),
         params=lambda ctx: {"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                             "encryptionContext": CONTEXT}),
    Case("re_encrypt", "ReEncrypt", True, _blob_and_destination,
         lambda c, x: operations.re_encrypt(caller=c, ciphertext_blob=x["blob"],
                                            source_encryption_context=CONTEXT,
                                            destination_key_id=_id(x, "other")),
         keys=lambda ctx, result: [ctx["key"], ctx["other"]],
         params=lambda ctx: {"destinationKeyId": _id(ctx, "other"),
                             "sourceEncryptionContext": CONTEXT}),
    Case("generate_data_key", "GenerateDataKey", True, _one_key,
         lambda c, x: operations.generate_data_key(caller=c, key_id=_id(x), key_spec="AES_256",
                                                   encryption_context=CONTEXT),
         params=lambda ctx: {"keyId": _id(ctx), "keySpec": "AES_256",
                             "encryptionContext": CONTEXT}),
    Case("generate_data_key", "GenerateDataKeyWithoutPlaintext", True, _one_key,
         lambda c, x: operations.generate_data_key(caller=c, key_id=_id(x), number_of_bytes=48,
                                                   with_plaintext=False),
         params=lambda ctx: {"keyId": _id(ctx), "numberOfBytes": 48}),
    Case("generate_data_key_pair", "GenerateDataKeyPair", True, _one_key,
         lambda c, x: operations.generate_data_key_pair(caller=c, key_id=_id(x),
                                                        key_pair_spec="ECC_NIST_P256"),
         params=lambda ctx: {"keyId": _id(ctx), "keyPairSpec": "ECC_NIST_P256"}),
    Case("generate_data_key_pair", "GenerateDataKeyPairWithoutPlaintext", True, _one_key,
         lambda c, x: operations.generate_data_key_pair(caller=c, key_id=_id(x),
                                                        key_pair_spec="ECC_NIST_P384",
                                                        with_plaintext=False),
         params=lambda ctx: {"keyId": _id(ctx), "keyPairSpec": "ECC_NIST_P384"}),
    Case("generate_random", "GenerateRandom", True, _nothing,
         lambda c, x: operations.generate_random(caller=c, number_of_bytes=32),
         keys=lambda ctx, result: [], params=lambda ctx: {"numberOfBytes": 32}),
    Case("sign", "Sign", True, _signing_key,
         lambda c, x: operations.sign(caller=c, key_id=x["key"].arn, message=SECRET,
                                      signing_algorithm="ECDSA_SHA_256"),
         params=lambda ctx: {"keyId": ctx["key"].arn, "signingAlgorithm": "ECDSA_SHA_256",
                             "messageType": "RAW"}),
    Case("verify", "Verify", True, _signing_key,
         lambda c, x: operations.verify(caller=c, key_id=_id(x), message=SECRET,
                                        signature=x["signature"],
                                        signing_algorithm="ECDSA_SHA_256"),
         params=lambda ctx: {"keyId": _id(ctx), "signingAlgorithm": "ECDSA_SHA_256",
                             "messageType": "RAW"}),
    Case("generate_mac", "GenerateMac", True, _hmac_key,
         lambda c, x: operations.generate_mac(caller=c, key_id=_id(x), message=SECRET,
                                              mac_algorithm="HMAC_SHA_256"),
         params=lambda ctx: {"keyId": _id(ctx), "macAlgorithm": "HMAC_SHA_256"}),
    Case("verify_mac", "VerifyMac", True, _hmac_key,
         lambda c, x: operations.verify_mac(caller=c, key_id=_id(x), message=SECRET,
                                            mac_value=x["mac"], mac_algorithm="HMAC_SHA_256"),
         params=lambda ctx: {"keyId": _id(ctx), "macAlgorithm": "HMAC_SHA_256"}),
    Case("get_public_key", "GetPublicKey", True, _signing_key,
         lambda c, x: operations.get_public_key(caller=c, key_id=_id(x)),
         params=lambda ctx: {"keyId": _id(ctx)}),
    Case("key_get_policy", "GetKeyPolicy", True, _one_key,
         lambda c, x: services.key_get_policy(caller=c, key_id=_id(x)),
         params=lambda ctx: {"keyId": _id(ctx), "policyName": "default"}),
    Case("key_list_policies", "ListKeyPolicies", True, _one_key,
         lambda c, x: services.key_list_policies(caller=c, key_id=_id(x)),
         params=lambda ctx: {"keyId": _id(ctx), "limit": 100}),
    Case("key_put_policy", "PutKeyPolicy", False, _one_key,
         lambda c, x: services.key_put_policy(caller=c, key_id=_id(x), policy=ROOT_POLICY),
         params=lambda ctx: {"keyId": _id(ctx), "policyName": "default", "policy": ROOT_POLICY,
                             "bypassPolicyLockoutSafetyCheck": False}),
    Case("key_create_with_alias", "CreateKey", False, _nothing,
         lambda c, x: services.key_create_with_alias(caller=c, alias_name="alias/wizard",
                                                     description="audited", policy=ROOT_POLICY,
                                                     tags=[("team", "a")]),
         keys=lambda ctx, result: [result[0]], also=("CreateAlias",),
         params=lambda ctx: {"description": "audited", "keySpec": "SYMMETRIC_DEFAULT",
                             "origin": "AWS_KMS", "tags": [{"tagKey": "team", "tagValue": "a"}]},
         response=lambda ctx, result: {"keyMetadata": {"keyId": str(result[0].id),
                                                       "keyState": "Enabled"}}),
]

ROOT_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "kms:*", "Resource": "*"}]})
UNKNOWN = str(uuid.UUID(int=0x1234abcd12ab34cd56ef1234567890ab))


def _none(ctx, result):
    return []


FAILURES = [
    Case("key_create", "CreateKey", False, _nothing,
         lambda c, x: services.key_create(caller=c, key_spec="NOPE"), keys=_none,
         error=E.ValidationError),
    Case("key_describe", "DescribeKey", True, _nothing,
         lambda c, x: services.key_describe(caller=c, key_id=UNKNOWN), keys=_none,
         params=lambda ctx: {"keyId": UNKNOWN}, error=E.NotFoundError),
    Case("key_list", "ListKeys", True, _nothing,
         lambda c, x: services.key_list(caller=c, limit=0), keys=_none, error=E.ValidationError),
    Case("key_last_usage", "GetKeyLastUsage", True, _aliased_keys,
         lambda c, x: services.key_last_usage(caller=c, key_id="alias/audited"), keys=_none,
         error=E.NotFoundError),
    Case("key_enable", "EnableKey", False, _nothing,
         lambda c, x: services.key_enable(caller=c, key_id=UNKNOWN), keys=_none,
         error=E.NotFoundError),
    Case("key_disable", "DisableKey", False, _one_key,
         lambda c, x: services.key_disable(caller=c, key_id=x["key"].arn),
         error=E.AccessDeniedError, who="outsider"),
    Case("key_update_description", "UpdateKeyDescription", False, _one_key,
         lambda c, x: services.key_update_description(caller=c, key_id=_id(x),
                                                      description="d" * 8193),
         error=E.ValidationError),
    Case("key_schedule_deletion", "ScheduleKeyDeletion", False, _one_key,
         lambda c, x: services.key_schedule_deletion(caller=c, key_id=_id(x),
                                                     pending_window_days=31),
         error=E.ValidationError),
    Case("key_cancel_deletion", "CancelKeyDeletion", False, _one_key,
         lambda c, x: services.key_cancel_deletion(caller=c, key_id=_id(x)),
         error=E.InvalidStateError),
    Case("alias_create", "CreateAlias", False, _aliased_keys,
         lambda c, x: services.alias_create(caller=c, alias_name="alias/audited",
                                            target_key_id=_id(x, "other")),
         keys=lambda ctx, result: [ctx["other"]], error=E.AlreadyExistsError),
    Case("alias_update", "UpdateAlias", False, _one_key,
         lambda c, x: services.alias_update(caller=c, alias_name="alias/ghost",
                                            target_key_id=_id(x)),
         keys=_none, error=E.NotFoundError),
    Case("alias_delete", "DeleteAlias", False, _nothing,
         lambda c, x: services.alias_delete(caller=c, alias_name="alias/ghost"), keys=_none,
         error=E.NotFoundError),
    Case("alias_list", "ListAliases", True, _nothing,
         lambda c, x: services.alias_list(caller=c, limit=0), keys=_none,
         error=E.ValidationError),
    Case("key_tag", "TagResource", False, _tagged_key,
         lambda c, x: services.key_tag(caller=c, key_id=_id(x),
                                       tags=[(f"k{i}", "v") for i in range(51)]),
         error=E.TagError),
    Case("key_untag", "UntagResource", False, _tagged_key,
         lambda c, x: services.key_untag(caller=c, key_id=x["key"].arn, tag_keys=["team"]),
         error=E.AccessDeniedError, who="outsider"),
    Case("key_list_tags", "ListResourceTags", True, _aliased_keys,
         lambda c, x: services.key_list_tags(caller=c, key_id="alias/audited"), keys=_none,
         error=E.NotFoundError),
    Case("encrypt", "Encrypt", True, _one_key,
         lambda c, x: operations.encrypt(caller=c, key_id=_id(x), plaintext=SECRET,
                                         dry_run=True),
         error=E.DryRunOperationError),
    Case("decrypt", "Decrypt", True, _blob,
         lambda c, x: operations.decrypt(caller=c, ciphertext_blob=x["blob"],
                                         encryption_context={"department": "sales"}),
         error=E.InvalidCiphertextError),
    Case("re_encrypt", "ReEncrypt", True, _blob_and_destination,
         lambda c, x: operations.re_encrypt(caller=c, ciphertext_blob=x["blob"],
                                            source_key_id=_id(x, "other"),
                                            source_encryption_context=CONTEXT,
                                            destination_key_id=_id(x, "other")),
         keys=lambda ctx, result: [ctx["other"]], error=E.IncorrectKeyError),
    Case("generate_data_key", "GenerateDataKey", True, _one_key,
         lambda c, x: operations.generate_data_key(caller=c, key_id=_id(x), number_of_bytes=0),
         keys=_none, error=E.ValidationError),
    Case("generate_data_key", "GenerateDataKeyWithoutPlaintext", True, _disabled_key,
         lambda c, x: operations.generate_data_key(caller=c, key_id=_id(x), key_spec="AES_128",
                                                   with_plaintext=False),
         error=E.DisabledError),
    Case("generate_data_key_pair", "GenerateDataKeyPair", True, _one_key,
         lambda c, x: operations.generate_data_key_pair(caller=c, key_id=_id(x),
                                                        key_pair_spec="RSA_1024"),
         keys=_none, error=E.ValidationError),
    Case("generate_data_key_pair", "GenerateDataKeyPairWithoutPlaintext", True, _one_key,
         lambda c, x: operations.generate_data_key_pair(caller=c, key_id=_id(x),
                                                        key_pair_spec="ECC_NIST_P256",
                                                        with_plaintext=False, dry_run=True),
         error=E.DryRunOperationError),
    Case("generate_random", "GenerateRandom", True, _nothing,
         lambda c, x: operations.generate_random(caller=c, number_of_bytes=1025), keys=_none,
         error=E.ValidationError),
    Case("sign", "Sign", True, _one_key,
         lambda c, x: operations.sign(caller=c, key_id=_id(x), message=SECRET,
                                      signing_algorithm="ECDSA_SHA_256"),
         error=E.InvalidKeyUsageError),
    Case("verify", "Verify", True, _signing_key,
         lambda c, x: operations.verify(caller=c, key_id=_id(x), message=SECRET + b"!",
                                        signature=x["signature"],
                                        signing_algorithm="ECDSA_SHA_256"),
         error=E.InvalidSignatureError),
    Case("generate_mac", "GenerateMac", True, _hmac_pending_deletion,
         lambda c, x: operations.generate_mac(caller=c, key_id=_id(x), message=SECRET,
                                              mac_algorithm="HMAC_SHA_256"),
         error=E.InvalidStateError),
    Case("verify_mac", "VerifyMac", True, _hmac_key,
         lambda c, x: operations.verify_mac(caller=c, key_id=_id(x), message=SECRET + b"!",
                                            mac_value=x["mac"], mac_algorithm="HMAC_SHA_256"),
         error=E.InvalidMacError),
    Case("get_public_key", "GetPublicKey", True, _one_key,
         lambda c, x: operations.get_public_key(caller=c, key_id=_id(x)),
         error=E.UnsupportedOperationError),
    Case("key_get_policy", "GetKeyPolicy", True, _one_key,
         lambda c, x: services.key_get_policy(caller=c, key_id=x["key"].arn),
         error=E.AccessDeniedError, who="outsider"),
    Case("key_list_policies", "ListKeyPolicies", True, _one_key,
         lambda c, x: services.key_list_policies(caller=c, key_id=_id(x), limit=1001),
         error=E.ValidationError),
    Case("key_put_policy", "PutKeyPolicy", False, _one_key,
         lambda c, x: services.key_put_policy(caller=c, key_id=_id(x), policy="{not json"),
         error=E.MalformedPolicyDocumentError),
    Case("key_create_with_alias", "CreateKey", False, _nothing,
         lambda c, x: services.key_create_with_alias(caller=c, alias_name="alias/wizard",
                                                     policy="{not json"),
         keys=_none, params=lambda ctx: {"keySpec": "SYMMETRIC_DEFAULT"},
         error=E.MalformedPolicyDocumentError),
]


def _case_id(case: Case) -> str:
    return case.event_name


# --- helpers --------------------------------------------------------------------------------

def _last_event_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _events_after(last_id: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(id__gt=last_id).order_by("id"))


def _world() -> tuple:
    """Everything a failing call must leave as it was."""
    return (
        list(Key.objects.order_by("id").values()),
        list(KeyMaterial.objects.order_by("id").values_list("id", "key_id", "version")),
        list(Alias.objects.order_by("id").values_list("name", "target_key_id")),
        list(Tag.objects.order_by("id").values_list("key_id", "tag_key", "tag_value")),
    )


def _forms(secret: bytes) -> list[str]:
    """How bytes could show up in a JSON event: text, base64, hex, Python repr."""
    head = secret[:15]
    forms = [base64.b64encode(head).decode(), head.hex(), repr(head)[2:-1]]
    try:
        forms.append(secret.decode("ascii"))
    except UnicodeDecodeError:
        pass
    return forms


def _assert_no_secrets(event: AuditEvent, secrets: list[bytes]) -> None:
    record = event.as_record()
    text = json.dumps(record, default=str) + event.error_message
    for secret in secrets:
        if len(secret) < 12:
            continue  # too short to search for without false positives
        for form in _forms(secret):
            assert form not in text, f"event {event.event_name} contains a secret ({form[:12]}...)"
    for section in (record["requestParameters"] or {}, record["responseElements"] or {}):
        assert not FORBIDDEN_MEMBERS & set(section), section


def _assert_shape(event: AuditEvent, case: Case, caller, ctx: dict, result) -> None:
    principal = caller.principal
    assert event.event_name == case.event_name
    assert event.event_source == "kms.amazonaws.com"
    assert event.event_type == "AwsApiCall"
    assert event.aws_region == caller.region
    assert event.recipient_account_id == principal.account_id
    assert event.user_identity["arn"] == principal.arn
    assert event.user_identity["type"] == "IAMUser"
    assert event.user_identity["accountId"] == principal.account_id
    assert event.principal_arn == principal.arn
    assert event.read_only is case.read_only
    assert event.request_id == caller.request_id
    assert event.source_ip_address == "192.0.2.10"
    assert event.user_agent == "pytest"
    expected_keys = case.keys(ctx, result)
    assert sorted(r["ARN"] for r in event.resources) == sorted(k.arn for k in expected_keys)
    for resource in event.resources:
        assert resource["type"] == "AWS::KMS::Key"
        assert resource["accountId"] in {k.account_id for k in expected_keys}
    if expected_keys:
        assert event.key_id == str(expected_keys[0].id)
    params = event.request_parameters or {}
    for name, value in case.params(ctx).items():
        assert params.get(name) == value, (name, params)


# --- the tests ------------------------------------------------------------------------------

def _takes_a_caller(function) -> bool:
    parameter = inspect.signature(function).parameters.get("caller")
    return parameter is not None and parameter.kind is inspect.Parameter.KEYWORD_ONLY


def _public_functions(module) -> set[str]:
    """The services of a module: public functions taking a keyword-only Caller (design.md).

    Plain helpers a module exports (no caller, so no request and no event) are not services.
    """
    return {name for name, function in inspect.getmembers(module, inspect.isfunction)
            if function.__module__ == module.__name__ and not name.startswith("_")
            and _takes_a_caller(function)}


def test_every_service_function_has_audit_cases():
    public = _public_functions(services) | _public_functions(operations)
    assert len(public) >= 26
    assert public == {case.function for case in SUCCESS}, "success cases out of date"
    assert public == {case.function for case in FAILURES}, "failure cases out of date"
    # Both variants of the data key operations are covered.
    names = {case.event_name for case in SUCCESS}
    assert {"GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPairWithoutPlaintext"} <= names


@pytest.mark.parametrize("case", SUCCESS, ids=_case_id)
def test_a_successful_call_writes_exactly_one_event(caller, case):
    ctx = case.setup(caller)
    last = _last_event_id()
    result = case.call(caller, ctx)
    events = _events_after(last)
    assert [e.event_name for e in events] == [case.event_name, *case.also]
    event = events[0]
    _assert_shape(event, case, caller, ctx, result)
    assert event.error_code == ""
    assert event.error_message == ""
    if case.read_only:
        # kms-spec.md 7.2: responseElements only for mutating calls, never for crypto ops.
        assert event.response_elements is None
    if case.response is not None:
        for name, value in case.response(ctx, result).items():
            if isinstance(value, dict):
                got = (event.response_elements or {}).get(name) or {}
                assert {k: got.get(k) for k in value} == value, (name, event.response_elements)
            else:
                assert (event.response_elements or {}).get(name) == value, (
                    name, event.response_elements)
    secrets = ctx.get("secrets", []) + case.secrets(ctx, result) + _result_bytes(result)
    _assert_no_secrets(event, secrets)
    assert "errorCode" not in event.as_record()


@pytest.mark.parametrize("case", FAILURES, ids=_case_id)
def test_a_failing_call_writes_exactly_one_event_and_changes_nothing(caller, outsider_caller,
                                                                     case):
    ctx = case.setup(caller)
    who = outsider_caller if case.who == "outsider" else caller
    before = _world()
    last = _last_event_id()
    with pytest.raises(KmsError) as raised:
        case.call(who, ctx)
    error = raised.value
    assert type(error) is case.error, f"{type(error).__name__}: {error.message}"
    events = _events_after(last)
    assert [e.event_name for e in events] == [case.event_name]
    event = events[0]
    _assert_shape(event, case, who, ctx, None)
    assert event.error_code == case.error.code
    assert event.error_message == error.message
    assert event.response_elements is None
    record = event.as_record()
    assert record["errorCode"] == case.error.code
    assert record["errorMessage"] == error.message
    _assert_no_secrets(event, ctx.get("secrets", []) + [SECRET])
    assert _world() == before


# --- denied, dry-run and secrecy cases ------------------------------------------------------

DENIABLE = {
    "key_describe": lambda c, x: services.key_describe(caller=c, key_id=x["key"].arn),
    "key_last_usage": lambda c, x: services.key_last_usage(caller=c, key_id=x["key"].arn),
    "key_enable": lambda c, x: services.key_enable(caller=c, key_id=x["key"].arn),
    "key_disable": lambda c, x: services.key_disable(caller=c, key_id=x["key"].arn),
    "key_update_description": lambda c, x: services.key_update_description(
        caller=c, key_id=x["key"].arn, description="mine now"),
    "key_schedule_deletion": lambda c, x: services.key_schedule_deletion(caller=c,
                                                                         key_id=x["key"].arn),
    "key_cancel_deletion": lambda c, x: services.key_cancel_deletion(caller=c,
                                                                     key_id=x["key"].arn),
    "alias_create": lambda c, x: services.alias_create(caller=c, alias_name="alias/stolen",
                                                       target_key_id=x["key"].arn),
    "alias_list": lambda c, x: services.alias_list(caller=c, key_id=x["key"].arn),
    "key_tag": lambda c, x: services.key_tag(caller=c, key_id=x["key"].arn, tags=[("x", "y")]),
    "key_untag": lambda c, x: services.key_untag(caller=c, key_id=x["key"].arn,
                                                 tag_keys=["team"]),
    "key_list_tags": lambda c, x: services.key_list_tags(caller=c, key_id=x["key"].arn),
    "key_get_policy": lambda c, x: services.key_get_policy(caller=c, key_id=x["key"].arn),
    "key_list_policies": lambda c, x: services.key_list_policies(caller=c,
                                                                 key_id=x["key"].arn),
    "key_put_policy": lambda c, x: services.key_put_policy(caller=c, key_id=x["key"].arn,
                                                           policy=ROOT_POLICY),
    "encrypt": lambda c, x: operations.encrypt(caller=c, key_id=x["key"].arn, plaintext=SECRET),
    "decrypt": lambda c, x: operations.decrypt(caller=c, ciphertext_blob=x["blob"],
                                               encryption_context=CONTEXT),
    "re_encrypt": lambda c, x: operations.re_encrypt(caller=c, ciphertext_blob=x["blob"],
                                                     source_encryption_context=CONTEXT,
                                                     destination_key_id=x["key"].arn),
    "generate_data_key": lambda c, x: operations.generate_data_key(
        caller=c, key_id=x["key"].arn, key_spec="AES_256"),
    "generate_data_key_pair": lambda c, x: operations.generate_data_key_pair(
        caller=c, key_id=x["key"].arn, key_pair_spec="ECC_NIST_P256"),
    "sign": lambda c, x: operations.sign(caller=c, key_id=x["signer"].arn, message=SECRET,
                                         signing_algorithm="ECDSA_SHA_256"),
    "verify": lambda c, x: operations.verify(caller=c, key_id=x["signer"].arn, message=SECRET,
                                             signature=x["signature"],
                                             signing_algorithm="ECDSA_SHA_256"),
    "get_public_key": lambda c, x: operations.get_public_key(caller=c, key_id=x["signer"].arn),
    "generate_mac": lambda c, x: operations.generate_mac(caller=c, key_id=x["hmac"].arn,
                                                         message=SECRET,
                                                         mac_algorithm="HMAC_SHA_256"),
    "verify_mac": lambda c, x: operations.verify_mac(caller=c, key_id=x["hmac"].arn,
                                                     message=SECRET, mac_value=x["mac"],
                                                     mac_algorithm="HMAC_SHA_256"),
}


def _world_of_keys(caller) -> dict:
    ctx = _blob(caller)
    services.key_tag(caller=caller, key_id=str(ctx["key"].id), tags=[("team", "a")])
    signing = _signing_key(caller)
    hmac = _hmac_key(caller)
    ctx.update(signer=signing["key"], signature=signing["signature"], hmac=hmac["key"],
               mac=hmac["mac"])
    return ctx


@pytest.mark.parametrize("function", sorted(DENIABLE))
def test_a_denied_call_by_another_account_is_audited_once_for_the_caller(
        caller, outsider, outsider_caller, function):
    ctx = _world_of_keys(caller)
    if function == "key_cancel_deletion":
        services.key_schedule_deletion(caller=caller, key_id=str(ctx["key"].id))
    before = _world()
    last = _last_event_id()
    with raises_kms(E.AccessDeniedError, contains=(outsider.arn,)):
        DENIABLE[function](outsider_caller, ctx)
    events = _events_after(last)
    assert len(events) == 1
    event = events[0]
    assert event.error_code == "AccessDeniedException"
    assert event.user_identity["arn"] == outsider.arn
    assert event.recipient_account_id == OTHER_ACCOUNT_ID
    assert event.response_elements is None
    _assert_no_secrets(event, [SECRET, ctx["blob"], ctx["signature"], ctx["mac"]])
    assert _world() == before


def test_every_key_taking_function_has_a_denied_case():
    account_level = {"key_create", "key_create_with_alias", "key_list", "generate_random",
                     # aliases are looked up in the caller's own account: NotFound, not denial
                     "alias_update", "alias_delete"}
    public = _public_functions(services) | _public_functions(operations)
    assert public - account_level == set(DENIABLE)


DRY_RUNS = {
    "Encrypt": lambda c, x: operations.encrypt(caller=c, key_id=x["key"].arn, plaintext=SECRET,
                                               dry_run=True),
    "Decrypt": lambda c, x: operations.decrypt(caller=c, ciphertext_blob=x["blob"],
                                               encryption_context=CONTEXT, dry_run=True),
    "ReEncrypt": lambda c, x: operations.re_encrypt(caller=c, ciphertext_blob=x["blob"],
                                                    source_encryption_context=CONTEXT,
                                                    destination_key_id=x["key"].arn,
                                                    dry_run=True),
    "GenerateDataKey": lambda c, x: operations.generate_data_key(
        caller=c, key_id=x["key"].arn, key_spec="AES_256", dry_run=True),
    "GenerateDataKeyWithoutPlaintext": lambda c, x: operations.generate_data_key(
        caller=c, key_id=x["key"].arn, key_spec="AES_256", dry_run=True, with_plaintext=False),
    "GenerateDataKeyPair": lambda c, x: operations.generate_data_key_pair(
        caller=c, key_id=x["key"].arn, key_pair_spec="ECC_NIST_P256", dry_run=True),
    "GenerateDataKeyPairWithoutPlaintext": lambda c, x: operations.generate_data_key_pair(
        caller=c, key_id=x["key"].arn, key_pair_spec="ECC_NIST_P256", dry_run=True,
        with_plaintext=False),
    "Sign": lambda c, x: operations.sign(caller=c, key_id=x["signer"].arn, message=SECRET,
                                         signing_algorithm="ECDSA_SHA_256", dry_run=True),
    "Verify": lambda c, x: operations.verify(caller=c, key_id=x["signer"].arn, message=SECRET,
                                             signature=x["signature"],
                                             signing_algorithm="ECDSA_SHA_256", dry_run=True),
    "GenerateMac": lambda c, x: operations.generate_mac(caller=c, key_id=x["hmac"].arn,
                                                        message=SECRET,
                                                        mac_algorithm="HMAC_SHA_256",
                                                        dry_run=True),
    "VerifyMac": lambda c, x: operations.verify_mac(caller=c, key_id=x["hmac"].arn,
                                                    message=SECRET, mac_value=x["mac"],
                                                    mac_algorithm="HMAC_SHA_256", dry_run=True),
}


@pytest.mark.parametrize("event_name", list(DRY_RUNS))
def test_dry_run_raises_dry_run_operation_and_records_one_event(caller, event_name):
    ctx = _world_of_keys(caller)
    before = _world()
    last = _last_event_id()
    with raises_kms(E.DryRunOperationError, operations.DRY_RUN_MESSAGE):
        DRY_RUNS[event_name](caller, ctx)
    events = _events_after(last)
    assert [e.event_name for e in events] == [event_name]
    assert events[0].error_code == "DryRunOperationException"
    assert events[0].error_message == operations.DRY_RUN_MESSAGE
    assert _world() == before


def test_dry_run_on_encrypt_gives_dry_run_operation_exception_in_one_event(caller, sym_key):
    last = _last_event_id()
    with raises_kms(E.DryRunOperationError,
                    "The request would have succeeded, but the DryRun option is set."):
        operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=SECRET,
                           dry_run=True)
    (event,) = _events_after(last)
    assert (event.event_name, event.error_code) == ("Encrypt", "DryRunOperationException")
    assert event.resources == [{"accountId": sym_key.account_id, "type": "AWS::KMS::Key",
                                "ARN": sym_key.arn}]


# --- failing mutating calls leave everything as it was --------------------------------------

def test_tagging_with_51_tags_leaves_the_existing_tags(caller, sym_key):
    services.key_tag(caller=caller, key_id=str(sym_key.id), tags=[("team", "a"), ("env", "b")])
    with raises_kms(E.TagError, "Too many tags"):
        services.key_tag(caller=caller, key_id=str(sym_key.id),
                         tags=[("team", "changed")] + [(f"k{i}", "v") for i in range(50)])
    assert sorted(sym_key.tags.values_list("tag_key", "tag_value")) == [("env", "b"),
                                                                       ("team", "a")]
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.event_name, event.error_code) == ("TagResource", "TagException")


def test_a_refused_create_key_creates_no_key_and_no_material(caller):
    with raises_kms(E.TagError):
        services.key_create(caller=caller, tags=[("aws:reserved", "x")])
    with raises_kms(E.ValidationError):
        services.key_create(caller=caller, key_spec="RSA_2048", key_usage="GENERATE_VERIFY_MAC")
    assert not Key.objects.exists()
    assert not KeyMaterial.objects.exists()
    assert list(AuditEvent.objects.filter(event_name="CreateKey").order_by("id")
                .values_list("event_name", "error_code")) == [
        ("CreateKey", "TagException"), ("CreateKey", "ValidationException")]


def test_a_refused_alias_update_keeps_the_old_target(caller, sym_key):
    hmac_key = create_key(caller, "HMAC_256")
    services.alias_create(caller=caller, alias_name="alias/kept", target_key_id=str(sym_key.id))
    with raises_kms(E.ValidationError):
        services.alias_update(caller=caller, alias_name="alias/kept",
                              target_key_id=str(hmac_key.id))
    assert Alias.objects.get(name="alias/kept").target_key_id == sym_key.pk


# --- no ciphertext in error messages either -------------------------------------------------

@pytest.mark.parametrize("function", ["decrypt", "re_encrypt"])
def test_an_oversized_ciphertext_is_not_echoed_in_the_error_or_the_event(caller, sym_key,
                                                                         function):
    """kms-spec.md 7.2: CiphertextBlob is never logged; operations.py promises the same."""
    blob = b"CIPHERTEXT-" + bytes(range(256)) * 24 + b"-END"  # 6159 bytes > 6144
    last = _last_event_id()
    with raises_kms(ValidationError, contains=("'ciphertextBlob'",
                                               "less than or equal to 6144")):
        if function == "decrypt":
            operations.decrypt(caller=caller, ciphertext_blob=blob)
        else:
            operations.re_encrypt(caller=caller, ciphertext_blob=blob,
                                  destination_key_id=str(sym_key.id))
    (event,) = _events_after(last)
    echoed = "CIPHERTEXT-" in event.error_message
    assert not echoed, f"the blob is echoed: {event.error_message[:110]}..."
    _assert_no_secrets(event, [blob, blob[11:40]])


def test_an_oversized_signature_or_mac_is_not_echoed_in_the_error_or_the_event(caller):
    signer = create_key(caller, "ECC_NIST_P256")
    hmac_key = create_key(caller, "HMAC_256")
    junk = b"SIGNATURE-" + bytes(range(256)) * 24 + b"-END"
    last = _last_event_id()
    with raises_kms(ValidationError, contains=("'signature'",)):
        operations.verify(caller=caller, key_id=signer.arn, message=b"m", signature=junk,
                          signing_algorithm="ECDSA_SHA_256")
    with raises_kms(ValidationError, contains=("'mac'",)):
        operations.verify_mac(caller=caller, key_id=hmac_key.arn, message=b"m", mac_value=junk,
                              mac_algorithm="HMAC_SHA_256")
    echoed = {event.event_name: event.error_message[:100] + "..."
              for event in _events_after(last) if "SIGNATURE-" in event.error_message}
    assert echoed == {}
