"""Real boto3 against live_server: key lifecycle, aliases, tags, listing and paging, regions and
accounts. Every successful call is checked against botocore's output shape (helpers.checked)."""

import re
import uuid

import pytest
from botocore.exceptions import ClientError

from keys import services
from tests.conftest import ACCOUNT_ID, REGION, caller_for

from .helpers import (
    ShapeMismatch,
    assert_json_matches_output_shape,
    assert_matches_output_shape,
    checked,
    error_body_problems,
    forget_failures,
    make_client,
    output_shape,
    responses_must_fit,
    shape_problems,
    wire_problems,
)

pytestmark = pytest.mark.django_db(transaction=True)

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(autouse=True)
def _every_response_fits_its_shape(request):
    yield from responses_must_fit(request)


@pytest.fixture
def kms(kms):
    return checked(kms)


@pytest.fixture
def outsider_kms(outsider_kms):
    return checked(outsider_kms)


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def error_message(excinfo) -> str:
    return excinfo.value.response["Error"].get("Message", "")


def key_arn(key_id: str, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_id}"


# --- the helper itself --------------------------------------------------------------------

def test_helper_accepts_a_valid_response_and_catches_wrong_type_and_unknown_member():
    import datetime
    good = {"KeyMetadata": {"KeyId": "k", "AWSAccountId": ACCOUNT_ID, "Enabled": True,
                            "CreationDate": datetime.datetime.now(datetime.UTC),
                            "KeySpec": "SYMMETRIC_DEFAULT",
                            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]},
            "ResponseMetadata": {"HTTPStatusCode": 200}}
    assert_matches_output_shape("DescribeKey", good)

    wrong_type = {"KeyMetadata": {**good["KeyMetadata"], "Enabled": "yes"}}
    with pytest.raises(AssertionError, match="Enabled: expected boolean"):
        assert_matches_output_shape("DescribeKey", wrong_type)

    unknown = {"KeyMetadata": {**good["KeyMetadata"], "Colour": "blue"}}
    with pytest.raises(AssertionError, match="Colour: unknown member"):
        assert_matches_output_shape("DescribeKey", unknown)

    timestamp_as_number = {"KeyMetadata": {**good["KeyMetadata"], "CreationDate": 1.5}}
    with pytest.raises(AssertionError, match="expected datetime"):
        assert_matches_output_shape("DescribeKey", timestamp_as_number)

    bad_enum = {"KeyMetadata": {**good["KeyMetadata"], "KeySpec": "AES_999"}}
    with pytest.raises(AssertionError, match="not in enum"):
        assert_matches_output_shape("DescribeKey", bad_enum)

    missing_required = {"KeyMetadata": {"AWSAccountId": ACCOUNT_ID}}
    with pytest.raises(AssertionError, match="KeyId: required member"):
        assert_matches_output_shape("DescribeKey", missing_required)

    assert shape_problems(output_shape("Encrypt"), {"CiphertextBlob": "not bytes"})
    assert shape_problems(output_shape("GenerateRandom"), {"Plaintext": b""})  # min length 1
    assert shape_problems(output_shape("ListKeys"), {"Keys": [{"KeyId": 1}], "Truncated": False})
    assert shape_problems(output_shape("ListKeys"), {"Keys": {}, "Truncated": False})


def test_wire_check_catches_what_botocore_would_drop():
    # botocore's parser drops unknown members and converts types: only the raw JSON shows them.
    assert_json_matches_output_shape("Encrypt", {"CiphertextBlob": "YQ==", "KeyId": "k"})
    problems = wire_problems(output_shape("Encrypt"), {"CiphertextBlob": "YQ==", "Extra": 1})
    assert problems == ["$.Extra: unknown member of EncryptResponse"]
    assert wire_problems(output_shape("Encrypt"), {"CiphertextBlob": "!!"}) == [
        "$.CiphertextBlob: not valid base64"]
    assert wire_problems(output_shape("CreateKey"), {"KeyMetadata": {
        "KeyId": "k", "CreationDate": "2024-01-01"}}) == [
        "$.KeyMetadata.CreationDate: expected epoch seconds, got str"]
    assert wire_problems(output_shape("DescribeKey"), {"KeyMetadata": None})
    with pytest.raises(AssertionError, match="has no output"):
        assert_json_matches_output_shape("EnableKey", {"KeyId": "k"})
    assert error_body_problems(b'{"__type": "NotFoundException", "message": "x"}') == []
    assert error_body_problems(b"<html>")
    assert error_body_problems(b'{"__type": "Oops"}')
    assert error_body_problems(b'{"__type": "NotFoundException", "stack": "..."}')


def test_checked_client_raises_on_a_response_that_does_not_fit(kms):
    def tamper(parsed, **kwargs):
        parsed["KeyMetadata"]["Enabled"] = "yes"
    kms.meta.events.register_first("after-call.kms.CreateKey", tamper)
    with pytest.raises(ShapeMismatch, match="Enabled: expected boolean"):
        kms.create_key()
    assert kms.shape_failures
    forget_failures(kms)


# --- key lifecycle --------------------------------------------------------------------------

def test_create_and_describe_symmetric_key(kms):
    created = kms.create_key(Description="first", Tags=[{"TagKey": "team", "TagValue": "a"}])
    meta = created["KeyMetadata"]
    assert meta["AWSAccountId"] == ACCOUNT_ID
    assert uuid.UUID(meta["KeyId"]).version == 4
    assert meta["Arn"] == key_arn(meta["KeyId"])
    assert meta["Enabled"] is True and meta["KeyState"] == "Enabled"
    assert meta["KeySpec"] == meta["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT" and meta["Origin"] == "AWS_KMS"
    assert meta["KeyManager"] == "CUSTOMER" and meta["MultiRegion"] is False
    assert meta["Description"] == "first"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert "SigningAlgorithms" not in meta and "MacAlgorithms" not in meta
    assert "DeletionDate" not in meta
    assert HEX64.match(meta["CurrentKeyMaterialId"])

    described = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    assert described == meta
    assert kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"] == [
        {"TagKey": "team", "TagValue": "a"}]


@pytest.mark.parametrize("spec,usage,member,expected", [
    ("RSA_2048", "SIGN_VERIFY", "SigningAlgorithms",
     {"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
      "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"}),
    ("RSA_2048", "ENCRYPT_DECRYPT", "EncryptionAlgorithms",
     {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}),
    ("ECC_NIST_P256", "SIGN_VERIFY", "SigningAlgorithms", {"ECDSA_SHA_256"}),
    ("HMAC_256", "GENERATE_VERIFY_MAC", "MacAlgorithms", {"HMAC_SHA_256"}),
])
def test_describe_key_algorithm_lists(kms, spec, usage, member, expected):
    meta = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    assert meta["KeySpec"] == spec and meta["KeyUsage"] == usage
    assert set(meta[member]) == expected
    others = {"SigningAlgorithms", "EncryptionAlgorithms", "MacAlgorithms"} - {member}
    assert not others & set(meta)
    assert "CurrentKeyMaterialId" not in meta
    assert kms.describe_key(KeyId=meta["Arn"])["KeyMetadata"] == meta


def test_disable_and_enable(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and meta["Enabled"] is False
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error_code(excinfo) == "DisabledException"
    kms.disable_key(KeyId=key_id)  # idempotent
    kms.enable_key(KeyId=key_id)
    kms.enable_key(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_schedule_and_cancel_key_deletion(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    scheduled = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyId"] == key_arn(key_id)
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and meta["Enabled"] is False
    assert meta["DeletionDate"] == scheduled["DeletionDate"]
    assert meta["PendingDeletionWindowInDays"] == 7
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error_code(excinfo) == "KMSInvalidStateException"
    with pytest.raises(ClientError) as excinfo:
        kms.enable_key(KeyId=key_id)
    assert error_code(excinfo) == "KMSInvalidStateException"
    # Still listed while pending deletion.
    assert key_id in {k["KeyId"] for k in kms.list_keys()["Keys"]}

    assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == key_arn(key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled"
    assert "DeletionDate" not in meta and "PendingDeletionWindowInDays" not in meta
    with pytest.raises(ClientError) as excinfo:
        kms.cancel_key_deletion(KeyId=key_id)
    assert error_code(excinfo) == "KMSInvalidStateException"


def test_schedule_key_deletion_default_window_is_30_days(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert kms.schedule_key_deletion(KeyId=key_id)["PendingWindowInDays"] == 30


def test_update_key_description(kms):
    key_id = kms.create_key(Description="old")["KeyMetadata"]["KeyId"]
    kms.update_key_description(KeyId=key_id, Description="new")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "new"
    kms.update_key_description(KeyId=key_id, Description="")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == ""


def test_not_found_message_names_the_key_arn(kms):
    missing = str(uuid.uuid4())
    for key_id in (missing, key_arn(missing)):
        with pytest.raises(ClientError) as excinfo:
            kms.describe_key(KeyId=key_id)
        assert error_code(excinfo) == "NotFoundException"
        assert error_message(excinfo) == f"Key '{key_arn(missing)}' does not exist"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_alias_is_not_found(kms):
    with pytest.raises(ClientError) as excinfo:
        kms.describe_key(KeyId="alias/nope")
    assert error_code(excinfo) == "NotFoundException"


# --- aliases ----------------------------------------------------------------------------------

def test_alias_create_update_list_delete(kms):
    first = kms.create_key()["KeyMetadata"]["KeyId"]
    second = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=first)
    aliases = kms.list_aliases()["Aliases"]
    [entry] = [a for a in aliases if a["AliasName"] == "alias/app"]
    assert entry["AliasArn"] == f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/app"
    assert entry["TargetKeyId"] == first
    assert entry["CreationDate"] and entry["LastUpdatedDate"]
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == first

    with pytest.raises(ClientError) as excinfo:
        kms.create_alias(AliasName="alias/app", TargetKeyId=second)
    assert error_code(excinfo) == "AlreadyExistsException"

    kms.update_alias(AliasName="alias/app", TargetKeyId=second)
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == second
    assert [a["AliasName"] for a in kms.list_aliases(KeyId=second)["Aliases"]] == ["alias/app"]
    assert kms.list_aliases(KeyId=first)["Aliases"] == []

    kms.delete_alias(AliasName="alias/app")
    assert "alias/app" not in {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    with pytest.raises(ClientError) as excinfo:
        kms.describe_key(KeyId="alias/app")
    assert error_code(excinfo) == "NotFoundException"


def test_alias_name_rules(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for name in ("alias/aws/mine", "noprefix"):
        with pytest.raises(ClientError) as excinfo:
            kms.create_alias(AliasName=name, TargetKeyId=key_id)
        assert error_code(excinfo) in {"ValidationException", "NotAuthorizedException",
                                       "InvalidAliasNameException"}


# --- tags ---------------------------------------------------------------------------------------

def test_tag_untag_list(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "b", "TagValue": "2"},
                                         {"TagKey": "a", "TagValue": "1"}])
    kms.tag_resource(KeyId=key_arn(key_id), Tags=[{"TagKey": "a", "TagValue": "one"}])
    tags = kms.list_resource_tags(KeyId=key_id)
    assert sorted(tags["Tags"], key=lambda t: t["TagKey"]) == [
        {"TagKey": "a", "TagValue": "one"}, {"TagKey": "b", "TagValue": "2"}]
    assert tags["Truncated"] is False and "NextMarker" not in tags
    kms.untag_resource(KeyId=key_id, TagKeys=["a", "not-there"])
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "b", "TagValue": "2"}]


# --- listing and paging ----------------------------------------------------------------------

@pytest.fixture
def many_keys(admin):
    """120 keys (and an alias for each) made through the services: quicker than 240 calls."""
    caller = caller_for(admin)
    ids = []
    for index in range(120):
        key = services.key_create(caller=caller, description=f"k{index}")
        services.alias_create(caller=caller, alias_name=f"alias/page-{index:03d}",
                              target_key_id=str(key.id))
        ids.append(str(key.id))
    return ids


def test_list_keys_paginator_returns_every_key_once(kms, many_keys):
    seen = []
    pages = list(kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 7}))
    for page in pages:
        assert len(page["Keys"]) <= 7
        seen += [k["KeyId"] for k in page["Keys"]]
        for entry in page["Keys"]:
            assert entry["KeyArn"] == key_arn(entry["KeyId"])
    assert sorted(seen) == sorted(many_keys)
    assert len(pages) == 18  # 17 * 7 = 119, then 1


def test_list_keys_manual_limit_and_marker(kms, many_keys):
    seen, marker, pages = [], None, 0
    while True:
        kwargs = {"Limit": 50} | ({"Marker": marker} if marker else {})
        page = kms.list_keys(**kwargs)
        pages += 1
        seen += [k["KeyId"] for k in page["Keys"]]
        if page["Truncated"]:
            assert page["NextMarker"]
            assert len(page["Keys"]) == 50
            marker = page["NextMarker"]
        else:
            assert "NextMarker" not in page
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 120
    assert set(seen) == set(many_keys)
    # Default Limit is 100.
    first = kms.list_keys()
    assert len(first["Keys"]) == 100 and first["Truncated"] is True
    # Everything at once, and an exact fit: not truncated, no marker.
    for limit in (1000, 120):
        whole = kms.list_keys(Limit=limit)
        assert len(whole["Keys"]) == 120 and whole["Truncated"] is False
        assert "NextMarker" not in whole
    # Exactly the rest on the second page: that page is the last one.
    first = kms.list_keys(Limit=60)
    assert first["Truncated"] is True
    rest = kms.list_keys(Limit=60, Marker=first["NextMarker"])
    assert len(rest["Keys"]) == 60 and rest["Truncated"] is False and "NextMarker" not in rest
    assert {k["KeyId"] for k in first["Keys"] + rest["Keys"]} == set(many_keys)


@pytest.mark.parametrize("marker", ["not-a-marker", "x" * 40,
                                    "f5b98fc8-b653-4566-9ed5-18c5a4d94815!"])
def test_list_keys_bad_marker(kms, marker):
    with pytest.raises(ClientError) as excinfo:
        kms.list_keys(Marker=marker)
    assert error_code(excinfo) == "InvalidMarkerException"


def test_list_aliases_paginator_and_manual_paging(kms, many_keys):
    names = []
    for page in kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 13}):
        assert len(page["Aliases"]) <= 13
        names += [a["AliasName"] for a in page["Aliases"]]
    expected = {f"alias/page-{i:03d}" for i in range(120)}
    assert expected <= set(names) and len(names) == len(set(names))

    seen, marker = [], None
    while True:
        page = kms.list_aliases(Limit=100, **({"Marker": marker} if marker else {}))
        seen += [a["AliasName"] for a in page["Aliases"]]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        assert len(page["Aliases"]) == 100 and page["NextMarker"]
        marker = page["NextMarker"]
    assert seen == names  # same order, each once
    assert len(kms.list_aliases()["Aliases"]) == 50  # default Limit


def test_list_aliases_limit_above_100_is_refused(kms):
    with pytest.raises(ClientError) as excinfo:
        kms.list_aliases(Limit=101)
    assert error_code(excinfo) == "ValidationException"


def test_list_aliases_bad_marker(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/only", TargetKeyId=key_id)
    with pytest.raises(ClientError) as excinfo:
        kms.list_aliases(Marker="not-a-marker-we-issued")
    assert error_code(excinfo) == "InvalidMarkerException"


# --- regions and accounts ------------------------------------------------------------------

def test_keys_are_invisible_from_another_region(kms, live_server, admin_credentials):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/east", TargetKeyId=key_id)
    west = make_client(live_server, admin_credentials, region="eu-west-1")
    assert west.list_keys()["Keys"] == []
    assert "alias/east" not in {a["AliasName"] for a in west.list_aliases()["Aliases"]}
    for ref in (key_id, key_arn(key_id), "alias/east"):
        with pytest.raises(ClientError) as excinfo:
            west.describe_key(KeyId=ref)
        assert error_code(excinfo) == "NotFoundException", ref
    with pytest.raises(ClientError) as excinfo:
        west.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error_code(excinfo) == "NotFoundException"
    west_key = west.create_key()["KeyMetadata"]
    assert west_key["Arn"] == key_arn(west_key["KeyId"], "eu-west-1")
    assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == [key_id]
    assert west.shape_failures == []


def test_outsider_is_denied_the_admins_key_by_arn(kms, outsider_kms):
    meta = kms.create_key()["KeyMetadata"]
    for call in (lambda: outsider_kms.describe_key(KeyId=meta["Arn"]),
                 lambda: outsider_kms.encrypt(KeyId=meta["Arn"], Plaintext=b"x"),
                 lambda: outsider_kms.disable_key(KeyId=meta["Arn"])):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "AccessDeniedException"
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert outsider_kms.list_keys()["Keys"] == []


# --- DryRun, GetKeyLastUsage ---------------------------------------------------------------

def test_get_key_last_usage_after_encrypt(kms):
    meta = kms.create_key()["KeyMetadata"]
    before = kms.get_key_last_usage(KeyId=meta["KeyId"])
    assert before["KeyLastUsage"] == {}
    assert before["KeyCreationDate"] == meta["CreationDate"]
    encrypted = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"hello")
    usage = kms.get_key_last_usage(KeyId=meta["Arn"])
    last = usage["KeyLastUsage"]
    assert last["Operation"] == "Encrypt"
    assert last["KmsRequestId"] == encrypted["ResponseMetadata"]["RequestId"]
    assert last["Timestamp"] >= meta["CreationDate"]
    assert last["CloudTrailEventId"]
    with pytest.raises(ClientError) as excinfo:
        kms.get_key_last_usage(KeyId="alias/whatever")
    assert error_code(excinfo) in {"NotFoundException", "ValidationException"}
