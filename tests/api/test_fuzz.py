"""Fuzzing POST / (hypothesis): every implemented operation, correctly signed, with random bodies.

The server must never answer 5xx. Every answer is JSON 1.1 with an x-amzn-RequestId: either an
error whose `__type` is an AWS error name ending in "Exception" (and nothing but `__type` and
`message`), or a 200 whose body fits the operation's botocore output shape. Each request leaves
exactly one audit event under its request id, with the error code it was answered with.

Bodies come from five sources so that both the front door and the deep paths are reached:
- a known-valid body of the operation (see `valid_body`) with one to three edits: a member
  dropped, a member given a wrong value (wrong JSON type, out of range, too long, bad base64,
  a huge string, null), a member given another valid value, unknown members added;
- bodies generated from the operation's botocore input shape with values the model accepts
  (KeyIds sampled from the seeded keys as id, ARN, alias name and alias ARN);
- the same with wrong values mixed in;
- random JSON objects, and JSON that is not an object;
- raw bytes that are not JSON (or are, but barely).

The seeded world: a symmetric key, an RSA_2048 SIGN_VERIFY key, an HMAC_256 key (each with an
alias) and a symmetric key pending deletion, plus real ciphertexts, a signature and a MAC.

KMS_FUZZ_EXAMPLES=<n> runs n examples per operation instead of the default (a deeper search).
"""

import base64
import json
import os
from dataclasses import dataclass, field

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.handlers import HANDLERS
from audit.models import AuditEvent
from grants import kms_grants
from grants.policy import api_default_policy
from keys import imports, operations, services
from keys.models import Key
from tests.byok import make_material, wrap_offline
from tests.conftest import ACCOUNT_ID, REGION, caller_for

from .conftest import create_access_key
from .helpers import assert_json_matches_output_shape, service_model, signed_post

OPERATIONS = sorted(HANDLERS)
EXAMPLES = int(os.environ.get("KMS_FUZZ_EXAMPLES", "100"))
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow,
                                                HealthCheck.data_too_large,
                                                HealthCheck.filter_too_much,
                                                HealthCheck.large_base_example])
KEY_MEMBERS = {"KeyId", "TargetKeyId", "SourceKeyId", "DestinationKeyId"}
BLOB_SAMPLES = {"CiphertextBlob", "Signature", "Mac"}
MESSAGE = b"fuzz"
CONTEXT = {"a": "b"}


@dataclass
class World:
    credentials: tuple[str, str]
    symmetric: Key
    rsa: Key
    hmac: Key
    doomed: Key                      # a symmetric key pending deletion
    ciphertext: bytes                # MESSAGE under `symmetric`, with CONTEXT
    signature: bytes                 # RSASSA_PSS_SHA_256 over MESSAGE by `rsa`
    mac: bytes                       # HMAC_SHA_256 of MESSAGE by `hmac`
    key_refs: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    principal: str = ""              # the admin's ARN: grantee and retiring principal
    grant_id: str = ""               # a grant on `symmetric` ...
    grant_token: str = ""            # ... and its token
    imported: Key | None = None      # an EXTERNAL key with its material imported
    pending_import: Key | None = None  # an EXTERNAL key waiting for its material ...
    import_token: bytes = b""        # ... its import token ...
    wrapped_material: bytes = b""    # ... and material wrapped under that token's public key


def build_world(admin) -> World:
    caller = caller_for(admin)
    symmetric = services.key_create(caller=caller)
    rsa = services.key_create(caller=caller, key_spec="RSA_2048", key_usage="SIGN_VERIFY")
    hmac_key = services.key_create(caller=caller, key_spec="HMAC_256",
                                   key_usage="GENERATE_VERIFY_MAC")
    doomed = services.key_create(caller=caller)
    refs, aliases = [], []
    for name, key in (("sym", symmetric), ("rsa", rsa), ("hmac", hmac_key), ("doomed", doomed)):
        alias = f"alias/fuzz-{name}"
        services.alias_create(caller=caller, alias_name=alias, target_key_id=str(key.id))
        aliases.append(alias)
        refs += [str(key.id), key.arn, alias, f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{alias}"]
    services.alias_create(caller=caller, alias_name="alias/fuzz-spare",
                          target_key_id=str(symmetric.id))
    aliases.append("alias/fuzz-spare")
    services.key_schedule_deletion(caller=caller, key_id=str(doomed.id), pending_window_days=7)
    refs += ["alias/missing", "00000000-0000-4000-8000-000000000000", "not-a-key-id",
             f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/{symmetric.id}",
             f"arn:aws:kms:{REGION}:444455556666:key/{symmetric.id}", "arn:aws:kms:bad",
             "alias/aws/s3"]
    ciphertext = operations.encrypt(caller=caller, key_id=str(symmetric.id), plaintext=MESSAGE,
                                    encryption_context=CONTEXT).blob
    plain_ciphertext = operations.encrypt(caller=caller, key_id=str(symmetric.id),
                                          plaintext=MESSAGE).blob
    signature = operations.sign(caller=caller, key_id=str(rsa.id), message=MESSAGE,
                                signing_algorithm="RSASSA_PSS_SHA_256").signature
    mac = operations.generate_mac(caller=caller, key_id=str(hmac_key.id), message=MESSAGE,
                                  mac_algorithm="HMAC_SHA_256").mac
    grant, grant_token = kms_grants.grant_create(
        caller=caller, key_id=str(symmetric.id), grantee_principal=admin.arn,
        retiring_principal=admin.arn, operations=["Decrypt", "RetireGrant"])
    imported, pending_import = (services.key_create(caller=caller, origin="EXTERNAL")
                                for _ in range(2))
    wrapped = {}
    for key in (imported, pending_import):
        issued = imports.import_parameters_get(caller=caller, key_id=str(key.id),
                                               wrapping_algorithm="RSAES_OAEP_SHA_256",
                                               wrapping_key_spec="RSA_2048")
        wrapped[key.id] = (issued.import_token, wrap_offline(
            issued.public_key, "RSAES_OAEP_SHA_256", make_material("SYMMETRIC_DEFAULT")))
    imports.import_key_material(caller=caller, key_id=str(imported.id),
                                import_token=wrapped[imported.id][0],
                                encrypted_key_material=wrapped[imported.id][1],
                                expiration_model="KEY_MATERIAL_DOES_NOT_EXPIRE")
    import_token, wrapped_material = wrapped[pending_import.id]
    refs += [str(imported.id), str(pending_import.id)]
    return World(create_access_key(admin), symmetric, rsa, hmac_key, doomed, ciphertext,
                 signature, mac, key_refs=refs, aliases=aliases,
                 blobs=[ciphertext, plain_ciphertext, signature, mac, import_token,
                        wrapped_material],
                 principal=admin.arn, grant_id=grant.grant_id, grant_token=grant_token,
                 imported=imported, pending_import=pending_import, import_token=import_token,
                 wrapped_material=wrapped_material)


@pytest.fixture
def world(admin) -> World:
    return build_world(admin)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def valid_body(operation: str, world: World) -> dict:
    """A body with which `operation` succeeds on a fresh world."""
    sym, rsa, hmac_key = str(world.symmetric.id), world.rsa.arn, str(world.hmac.id)
    message = b64(MESSAGE)
    return {
        "CancelKeyDeletion": {"KeyId": str(world.doomed.id)},
        "CreateAlias": {"AliasName": "alias/fuzz-new", "TargetKeyId": sym},
        "CreateGrant": {"KeyId": sym, "GranteePrincipal": world.principal,
                        "Operations": ["Encrypt", "Decrypt"], "Name": "fuzz",
                        "Constraints": {"EncryptionContextSubset": CONTEXT}},
        "CreateKey": {"Description": "fuzz", "Tags": [{"TagKey": "t", "TagValue": "v"}]},
        "Decrypt": {"CiphertextBlob": b64(world.ciphertext), "EncryptionContext": CONTEXT},
        "DeleteAlias": {"AliasName": "alias/fuzz-spare"},
        "DeleteImportedKeyMaterial": {"KeyId": str(world.imported.id)},
        "DisableKeyRotation": {"KeyId": sym},
        "EnableKeyRotation": {"KeyId": sym, "RotationPeriodInDays": 180},
        "GetKeyRotationStatus": {"KeyId": sym},
        "GetParametersForImport": {"KeyId": str(world.pending_import.id),
                                   "WrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_256",
                                   "WrappingKeySpec": "RSA_3072"},
        "ImportKeyMaterial": {"KeyId": str(world.pending_import.id),
                              "ImportToken": b64(world.import_token),
                              "EncryptedKeyMaterial": b64(world.wrapped_material),
                              "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"},
        "ListKeyRotations": {"KeyId": sym, "Limit": 2},
        "RotateKeyOnDemand": {"KeyId": sym},
        "DescribeKey": {"KeyId": "alias/fuzz-rsa"},
        "DisableKey": {"KeyId": sym},
        "EnableKey": {"KeyId": sym},
        "Encrypt": {"KeyId": "alias/fuzz-sym", "Plaintext": message,
                    "EncryptionContext": CONTEXT},
        "GenerateDataKey": {"KeyId": world.symmetric.arn, "KeySpec": "AES_256"},
        "GenerateDataKeyWithoutPlaintext": {"KeyId": sym, "NumberOfBytes": 16},
        "GenerateDataKeyPair": {"KeyId": sym, "KeyPairSpec": "ECC_NIST_P256"},
        "GenerateDataKeyPairWithoutPlaintext": {"KeyId": sym, "KeyPairSpec": "ECC_NIST_P256"},
        "GenerateMac": {"KeyId": hmac_key, "Message": message, "MacAlgorithm": "HMAC_SHA_256"},
        "GenerateRandom": {"NumberOfBytes": 32},
        "GetKeyLastUsage": {"KeyId": sym},
        "GetKeyPolicy": {"KeyId": sym, "PolicyName": "default"},
        "ListKeyPolicies": {"KeyId": sym},
        "PutKeyPolicy": {"KeyId": sym, "PolicyName": "default",
                         "Policy": api_default_policy(world.symmetric.account_id)},
        "GetPublicKey": {"KeyId": rsa},
        "ListAliases": {"Limit": 2},
        "ListGrants": {"KeyId": sym, "Limit": 2},
        "ListRetirableGrants": {"RetiringPrincipal": world.principal},
        "ListKeys": {"Limit": 2},
        "ListResourceTags": {"KeyId": sym},
        "RetireGrant": {"GrantToken": world.grant_token},
        "RevokeGrant": {"KeyId": world.symmetric.arn, "GrantId": world.grant_id},
        "ReEncrypt": {"CiphertextBlob": b64(world.ciphertext), "SourceEncryptionContext": CONTEXT,
                      "DestinationKeyId": "alias/fuzz-sym"},
        "ScheduleKeyDeletion": {"KeyId": sym, "PendingWindowInDays": 7},
        "Sign": {"KeyId": rsa, "Message": message, "SigningAlgorithm": "RSASSA_PSS_SHA_256"},
        "TagResource": {"KeyId": sym, "Tags": [{"TagKey": "k", "TagValue": "v"}]},
        "UntagResource": {"KeyId": sym, "TagKeys": ["k"]},
        "UpdateAlias": {"AliasName": "alias/fuzz-spare", "TargetKeyId": sym},
        "UpdateKeyDescription": {"KeyId": sym, "Description": "d"},
        "Verify": {"KeyId": rsa, "Message": message, "Signature": b64(world.signature),
                   "SigningAlgorithm": "RSASSA_PSS_SHA_256"},
        "VerifyMac": {"KeyId": hmac_key, "Message": message, "Mac": b64(world.mac),
                      "MacAlgorithm": "HMAC_SHA_256"},
    }[operation]


# --- strategies ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6)
huge_text = st.sampled_from([1_000, 9_000, 300_000]).map(lambda n: "K" * n)
bad_base64 = st.sampled_from(["!!!!", "YQ", "YQ=", "====", "a b c d", "YWJj\n", "\u00e9t\u00e9",
                              "-_-_", "YQ==YQ==", "Y Q = =", "\x00"])


def _bounds(shape, default_high: int) -> tuple[int, int]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    return (low if low is not None else 0), (high if high is not None else default_high)


def valid_value(shape, name: str, world: World, depth: int = 0):
    """Values the model accepts (the service may still refuse them)."""
    kind = shape.type_name
    low, high = _bounds(shape, 64)
    if kind == "structure":
        return _structure(shape, world, depth, valid_value)
    if kind == "list":
        return st.lists(valid_value(shape.member, name, world, depth + 1),
                        min_size=low, max_size=min(high, 3))
    if kind == "map":
        return st.just(CONTEXT) | st.dictionaries(
            valid_value(shape.key, name, world, depth + 1),
            valid_value(shape.value, name, world, depth + 1), max_size=3)
    if kind == "string":
        if name in KEY_MEMBERS:
            real = st.sampled_from(world.key_refs)
            return st.one_of(real, real, real, st.text(min_size=1, max_size=40))
        if name == "AliasName":
            return (st.sampled_from(world.aliases + ["alias/fuzz-new", "alias/aws/x", "bad"])
                    | st.from_regex(r"alias/[a-zA-Z0-9:/_-]{1,20}", fullmatch=True))
        if shape.metadata.get("enum"):
            return st.sampled_from(shape.metadata["enum"])
        pattern = shape.metadata.get("pattern")
        if pattern:
            return st.from_regex(pattern, fullmatch=True).filter(
                lambda s: low <= len(s) <= high and "\n" not in s)
        return st.text(min_size=low, max_size=min(high, 40))
    if kind == "blob":
        high = min(high, 4096)
        sizes = st.sampled_from(sorted({max(low, 1), high}))
        random_bytes = st.binary(min_size=max(low, 1), max_size=min(high, 64))
        if name in BLOB_SAMPLES:
            real = st.sampled_from(world.blobs)
            return st.one_of(real, real, random_bytes).map(b64)
        return st.one_of(st.just(MESSAGE), random_bytes,
                         sizes.map(lambda n: b"\x07" * n)).map(b64)
    if kind in ("integer", "long"):
        return st.integers(low or 0, high) | st.sampled_from(sorted({low or 0, high}))
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.floats(0, 4e9, allow_nan=False)
    return json_values


def wrong_value(shape, name: str, world: World, depth: int = 0):
    """Values that break the member's type or its constraints."""
    kind = shape.type_name
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    wrong = [json_values, st.none()]
    if kind == "structure":
        wrong.append(_structure(shape, world, depth, wrong_value))
    elif kind == "list":
        wrong.append(st.lists(wrong_value(shape.member, name, world, depth + 1), max_size=3))
        if high is not None:
            wrong.append(st.just([valid_example(shape.member)] * (high + 1)))
    elif kind == "map":
        wrong.append(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    elif kind == "string":
        wrong += [huge_text, st.integers(), st.lists(st.text(max_size=3), max_size=2)]
        if low:
            wrong.append(st.just(""))
        if high is not None and high < 300_000:
            wrong.append(st.just("x" * (high + 1)))
        if shape.metadata.get("enum"):
            wrong.append(st.sampled_from(["", "AES_512", shape.metadata["enum"][0].lower()]))
    elif kind == "blob":
        wrong += [bad_base64, st.integers(), st.just(""), huge_text]
        if high is not None:
            wrong.append(st.just(b64(b"\x00" * (high + 1))))
    elif kind in ("integer", "long"):
        edges = [-1, 0, 2**31, 2**63, -2**63, 2**64, 1.5, 1e308, -0.0, "1", True]
        edges += [v for v in ((low - 1) if low is not None else None,
                              (high + 1) if high is not None else None) if v is not None]
        wrong.append(st.sampled_from(edges))
    elif kind == "boolean":
        wrong.append(st.sampled_from(["true", 1, 0, [], {}]))
    return st.one_of(wrong)


def valid_example(shape):
    """One fixed valid value of a (simple) shape, to fill over-long lists."""
    if shape.type_name == "structure":
        return {n: valid_example(m) for n, m in shape.members.items()
                if n in shape.required_members}
    if shape.type_name == "string":
        enum = shape.metadata.get("enum")
        return enum[0] if enum else "x"
    if shape.type_name in ("integer", "long"):
        return shape.metadata.get("min", 1)
    if shape.type_name == "blob":
        return b64(b"x")
    return True


def _structure(shape, world, depth, values):
    if depth >= 4:
        return st.just({})
    members = {n: values(m, n, world, depth + 1) for n, m in shape.members.items()}
    required = {n: s for n, s in members.items() if n in shape.required_members}
    optional = {n: s for n, s in members.items() if n not in shape.required_members}
    return st.fixed_dictionaries(required, optional=optional)


def _edit(body: dict, shape, world: World):
    """One edit of a body: drop, break or change a member, or add unknown ones."""
    names = sorted(shape.members) if shape is not None else []
    edits = [st.dictionaries(st.text(min_size=1, max_size=10), json_values, min_size=1,
                             max_size=3).map(lambda extra: {**extra, **body})]
    if body:
        edits.append(st.sampled_from(sorted(body)).map(
            lambda gone: {k: v for k, v in body.items() if k != gone}))
    if names:
        edits.append(st.sampled_from(names).flatmap(lambda n: wrong_value(
            shape.members[n], n, world).map(lambda v: {**body, n: v})))
        edits.append(st.sampled_from(names).flatmap(lambda n: valid_value(
            shape.members[n], n, world).map(lambda v: {**body, n: v})))
    return st.one_of(edits)


def edited(body: dict, shape, world: World, times: int):
    strategy = _edit(body, shape, world)
    for _ in range(times - 1):
        strategy = strategy.flatmap(lambda b: _edit(b, shape, world))
    return strategy


def bodies(operation: str, world: World):
    shape = service_model().operation_model(operation).input_shape
    known = valid_body(operation, world)
    near_valid = st.one_of(st.just(known), edited(known, shape, world, 1),
                           edited(known, shape, world, 2), edited(known, shape, world, 3))
    if shape is None:
        generated = broken = st.just({})
    else:
        generated = valid_value(shape, "", world)
        broken = st.one_of(wrong_value(shape, "", world), _structure(shape, world, 0, _mixed))
    json_bodies = st.one_of(
        near_valid, near_valid, near_valid, generated, generated, broken,
        st.dictionaries(st.text(max_size=12), json_values, max_size=5),
        json_values.filter(lambda v: not isinstance(v, dict)))
    raw = st.one_of(st.binary(max_size=64), st.sampled_from([
        b"", b"{", b"}", b"nul", b"\xff\xfe{}", b'{"KeyId": "a"', b'{"a": NaN}',
        b'{"a": Infinity}', b'{"a": 1e999}', b'{"KeyId": "\\ud800"}', b"{} {}",
        b'{"KeyId": "a", "KeyId": "b"}', b"[" * 50 + b"]" * 50,
        b'{"a":' * 50 + b"1" + b"}" * 50, b'{"KeyId": "' + b"A" * (1024 * 1024) + b'"}']))
    # (JSON nested thousands deep is tested once, in test_protocol.py: here it would fail
    # every operation at once and hide what the generated bodies find.)
    return st.one_of(json_bodies.map(lambda b: json.dumps(b).encode()), raw)


def _mixed(shape, name, world, depth=0):
    return st.one_of(valid_value(shape, name, world, depth), wrong_value(shape, name, world,
                                                                         depth))


# --- the property ------------------------------------------------------------------------------

def check_response(operation: str, response) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/x-amz-json-1.1", response.content[:200]
    request_id = response.get("x-amzn-RequestId")
    assert request_id, "no x-amzn-RequestId"
    if response.status_code == 200:
        body = json.loads(response.content) if response.content else {}
        assert_json_matches_output_shape(operation, body)
        error_code = ""
    else:
        assert 400 <= response.status_code < 500, response.status_code
        body = json.loads(response.content)
        assert isinstance(body, dict), body
        assert body["__type"].endswith("Exception") and body["__type"].isalnum(), body
        assert set(body) <= {"__type", "message"}, body
        assert isinstance(body.get("message", ""), str), body
        error_code = body["__type"]
    events = list(AuditEvent.objects.filter(request_id=request_id)
                  .values_list("event_name", "error_code"))
    assert events == [(operation, error_code)], events


@pytest.mark.parametrize("operation", OPERATIONS)
def test_operation_never_fails_on_the_server(db, world, operation):
    client = Client(raise_request_exception=False)

    @FUZZ_SETTINGS
    @given(body=bodies(operation, world))
    @example(body=b"{}")
    @example(body=json.dumps(valid_body(operation, world)).encode())
    def run(body):
        check_response(operation, signed_post(client, operation, body, world.credentials))

    run()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_valid_body_succeeds(db, world, operation):
    """The fuzzer's starting points really succeed (so the edits start from deep inside)."""
    client = Client(raise_request_exception=False)
    response = signed_post(client, operation, valid_body(operation, world), world.credentials)
    assert response.status_code == 200, (response.status_code, response.content[:500])
    check_response(operation, response)


def test_every_handler_is_fuzzed(db, admin):
    world = build_world(admin)
    assert len(OPERATIONS) == len(HANDLERS) >= 29
    for name in OPERATIONS:
        assert service_model().operation_model(name)
        assert valid_body(name, world)
