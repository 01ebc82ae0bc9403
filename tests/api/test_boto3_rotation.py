"""Real boto3 against live_server: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
RotateKeyOnDemand and ListKeyRotations (kms-spec.md 2.6, 2.11): happy paths, AWS's errors for
keys and states that do not rotate, the on-demand limit, paging, allowed / denied / anonymous,
and rotation for real: old ciphertexts decrypt, new ones use the new key material. Every
response is checked against botocore's output shape (helpers.checked)."""

import datetime
import re

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from audit.models import AuditEvent
from tests.conftest import make_user

from .conftest import create_access_key
from .helpers import checked, make_client, responses_must_fit

pytestmark = pytest.mark.django_db(transaction=True)

HEX64 = re.compile(r"^[0-9a-f]{64}$")
ROTATION_CALLS = ["enable_key_rotation", "disable_key_rotation", "get_key_rotation_status",
                  "rotate_key_on_demand", "list_key_rotations"]


@pytest.fixture(autouse=True)
def _every_response_fits_its_shape(request):
    yield from responses_must_fit(request)


@pytest.fixture
def kms(live_server, admin_credentials):
    return make_client(live_server, admin_credentials)


@pytest.fixture
def key_id(kms) -> str:
    return kms.create_key(Description="rotated")["KeyMetadata"]["KeyId"]


def error_of(excinfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error.get("Message", "")


def arn_of(kms, key_id: str) -> str:
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]


def current_material(kms, key_id: str) -> str:
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]


# --- automatic rotation -------------------------------------------------------------------------

def test_rotation_is_off_until_enabled_then_on_with_the_default_period(kms, key_id):
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False
    assert {"RotationPeriodInDays", "NextRotationDate", "OnDemandRotationStartDate"}.isdisjoint(
        status)
    assert status["KeyId"] == arn_of(kms, key_id)

    kms.enable_key_rotation(KeyId=key_id)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 365)
    expected = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    assert abs((status["NextRotationDate"] - expected).total_seconds()) < 120
    assert "OnDemandRotationStartDate" not in status  # ours completes inside the request


def test_a_custom_period_then_disabling(kms, key_id):
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
    assert kms.get_key_rotation_status(KeyId=key_id)["RotationPeriodInDays"] == 180
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    assert kms.get_key_rotation_status(KeyId=key_id)["RotationPeriodInDays"] == 90
    kms.disable_key_rotation(KeyId=arn_of(kms, key_id))
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False and "RotationPeriodInDays" not in status


@pytest.mark.parametrize("days, rule", [(89, "greater than or equal to 90"),
                                        (2561, "less than or equal to 2560")])
def test_a_period_out_of_range_is_a_validation_error(live_server, admin_credentials, key_id,
                                                     days, rule):
    # boto3 checks the range itself; without its check the server answers as AWS does.
    kms = make_client(live_server, admin_credentials, parameter_validation=False)
    with pytest.raises(ClientError) as excinfo:
        kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=days)
    code, message = error_of(excinfo)
    assert code == "ValidationException"
    assert "rotationPeriodInDays" in message and rule in message


def test_an_alias_is_not_accepted_by_the_rotation_operations(kms, key_id):
    kms.create_alias(AliasName="alias/rotated", TargetKeyId=key_id)
    with pytest.raises(ClientError) as excinfo:
        kms.enable_key_rotation(KeyId="alias/rotated")
    assert error_of(excinfo) == ("NotFoundException", "Invalid keyId 'alias/rotated'")


# --- on-demand rotation ------------------------------------------------------------------------

def test_rotate_on_demand_rotates_for_real(kms, key_id):
    before = kms.encrypt(KeyId=key_id, Plaintext=b"before the rotation",
                         EncryptionContext={"purpose": "rotation"})
    old_material = current_material(kms, key_id)
    response = kms.rotate_key_on_demand(KeyId=key_id)
    assert response["KeyId"] == arn_of(kms, key_id)
    new_material = current_material(kms, key_id)
    assert HEX64.match(new_material) and new_material != old_material

    after = kms.encrypt(KeyId=key_id, Plaintext=b"after the rotation",
                        EncryptionContext={"purpose": "rotation"})
    old = kms.decrypt(CiphertextBlob=before["CiphertextBlob"],
                      EncryptionContext={"purpose": "rotation"})
    new = kms.decrypt(CiphertextBlob=after["CiphertextBlob"],
                      EncryptionContext={"purpose": "rotation"})
    assert (old["Plaintext"], old["KeyMaterialId"]) == (b"before the rotation", old_material)
    assert (new["Plaintext"], new["KeyMaterialId"]) == (b"after the rotation", new_material)
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert data_key["KeyMaterialId"] == new_material


def test_rotate_on_demand_keeps_the_automatic_schedule(kms, key_id):
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    scheduled = kms.get_key_rotation_status(KeyId=key_id)["NextRotationDate"]
    kms.rotate_key_on_demand(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["NextRotationDate"] == scheduled


def test_the_on_demand_limit_is_ten_rotations(kms, key_id):
    for _ in range(10):
        kms.rotate_key_on_demand(KeyId=key_id)
    with pytest.raises(ClientError) as excinfo:
        kms.rotate_key_on_demand(KeyId=key_id)
    code, message = error_of(excinfo)
    assert code == "LimitExceededException"
    assert "on-demand rotations limit has been reached" in message
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert len(rotations) == 10


# --- ListKeyRotations ----------------------------------------------------------------------------

def test_list_rotations_shows_each_rotation_and_optionally_the_first_material(kms, key_id):
    first = current_material(kms, key_id)
    empty = kms.list_key_rotations(KeyId=key_id)
    assert (empty["Rotations"], empty["Truncated"]) == ([], False)
    kms.rotate_key_on_demand(KeyId=key_id)
    second = current_material(kms, key_id)

    page = kms.list_key_rotations(KeyId=key_id)
    assert page["Truncated"] is False and "NextMarker" not in page
    [entry] = page["Rotations"]
    assert (entry["KeyId"], entry["RotationType"], entry["KeyMaterialId"],
            entry["KeyMaterialState"]) == (key_id, "ON_DEMAND", second, "CURRENT")
    assert isinstance(entry["RotationDate"], datetime.datetime)

    every = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    initial, rotated = every["Rotations"]
    assert (initial["KeyMaterialId"], initial["KeyMaterialState"]) == (first, "NON_CURRENT")
    assert "RotationDate" not in initial and "RotationType" not in initial
    assert "ImportState" not in initial  # import members are for EXTERNAL keys only
    assert rotated["KeyMaterialId"] == second
    event = AuditEvent.objects.filter(event_name="ListKeyRotations").order_by("-id").first()
    assert event.request_parameters["includeKeyMaterial"] == "ALL_KEY_MATERIAL"


def test_list_rotations_pages_with_the_paginator(kms, key_id):
    for _ in range(5):
        kms.rotate_key_on_demand(KeyId=key_id)
    first = kms.list_key_rotations(KeyId=key_id, Limit=2)
    assert first["Truncated"] is True and first["NextMarker"]
    pages = list(kms.get_paginator("list_key_rotations").paginate(
        KeyId=key_id, PaginationConfig={"PageSize": 2}))
    assert [len(p["Rotations"]) for p in pages] == [2, 2, 1]
    dates = [r["RotationDate"] for p in pages for r in p["Rotations"]]
    assert dates == sorted(dates)  # oldest first, as AWS lists them
    with pytest.raises(ClientError) as excinfo:
        kms.list_key_rotations(KeyId=key_id, Marker="not-a-marker-we-issued")
    assert error_of(excinfo)[0] == "InvalidMarkerException"


# --- keys and states that do not rotate -----------------------------------------------------------

@pytest.mark.parametrize("spec, usage", [("RSA_2048", "ENCRYPT_DECRYPT"),
                                         ("ECC_NIST_P256", "SIGN_VERIFY"),
                                         ("HMAC_256", "GENERATE_VERIFY_MAC")])
def test_asymmetric_and_hmac_keys_do_not_rotate(kms, spec, usage):
    metadata = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    for call in ROTATION_CALLS:
        with pytest.raises(ClientError) as excinfo:
            getattr(kms, call)(KeyId=metadata["KeyId"])
        assert error_of(excinfo) == (
            "UnsupportedOperationException",
            f"{metadata['Arn']} key spec is {spec} which is not valid for this operation.")


def test_a_key_with_imported_material_cannot_rotate(kms):
    metadata = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    for call in ("enable_key_rotation", "rotate_key_on_demand", "disable_key_rotation"):
        with pytest.raises(ClientError) as excinfo:
            getattr(kms, call)(KeyId=metadata["KeyId"])
        assert error_of(excinfo) == (
            "UnsupportedOperationException",
            f"{metadata['Arn']} origin is EXTERNAL which is not valid for this operation.")
    assert kms.get_key_rotation_status(KeyId=metadata["KeyId"])["KeyRotationEnabled"] is False


def test_a_disabled_key_cannot_change_rotation(kms, key_id):
    kms.disable_key(KeyId=key_id)
    for call in ("enable_key_rotation", "disable_key_rotation", "rotate_key_on_demand"):
        with pytest.raises(ClientError) as excinfo:
            getattr(kms, call)(KeyId=key_id)
        assert error_of(excinfo) == ("DisabledException", f"{arn_of(kms, key_id)} is disabled.")
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []


def test_a_key_pending_deletion_cannot_change_rotation(kms, key_id):
    kms.enable_key_rotation(KeyId=key_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    for call in ("enable_key_rotation", "disable_key_rotation", "rotate_key_on_demand"):
        with pytest.raises(ClientError) as excinfo:
            getattr(kms, call)(KeyId=key_id)
        assert error_of(excinfo) == ("KMSInvalidStateException",
                                     f"{arn_of(kms, key_id)} is pending deletion.")
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_an_aws_managed_key_rotates_yearly_and_cannot_be_changed(kms):
    managed = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    status = kms.get_key_rotation_status(KeyId=managed["KeyId"])
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 365)
    with pytest.raises(ClientError) as excinfo:
        kms.enable_key_rotation(KeyId=managed["KeyId"], RotationPeriodInDays=90)
    assert error_of(excinfo)[0] == "AccessDeniedException"


def test_an_unknown_key(kms):
    with pytest.raises(ClientError) as excinfo:
        kms.rotate_key_on_demand(KeyId="00000000-0000-4000-8000-000000000000")
    assert error_of(excinfo)[0] == "NotFoundException"


# --- allowed / denied / anonymous ---------------------------------------------------------------

@pytest.mark.parametrize("call", ROTATION_CALLS)
def test_a_user_without_permission_is_denied(live_server, account, kms, key_id, call):
    nobody = make_user(account, "nobody")
    client = make_client(live_server, create_access_key(nobody))
    with pytest.raises(ClientError) as excinfo:
        getattr(client, call)(KeyId=key_id)
    code, message = error_of(excinfo)
    assert code == "AccessDeniedException" and nobody.arn in message
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []


@pytest.mark.parametrize("call", ROTATION_CALLS)
def test_another_account_is_denied(live_server, outsider_credentials, kms, key_id, call):
    outsider = make_client(live_server, outsider_credentials)
    with pytest.raises(ClientError) as excinfo:
        getattr(outsider, call)(KeyId=arn_of(kms, key_id))
    assert error_of(excinfo)[0] == "AccessDeniedException"


@pytest.mark.parametrize("call", ROTATION_CALLS)
def test_an_anonymous_request_is_refused(live_server, kms, key_id, call):
    anonymous = boto3.client("kms", endpoint_url=live_server.url, region_name="us-east-1",
                             config=Config(signature_version=UNSIGNED,
                                           retries={"max_attempts": 1}))
    # boto3 keep-alive against live_server leaves a thread behind at exit; close each time.
    anonymous.meta.events.register(
        "before-send.kms.*", lambda request, **kwargs: request.headers.__setitem__(
            "Connection", "close"))
    checked(anonymous)
    with pytest.raises(ClientError) as excinfo:
        getattr(anonymous, call)(KeyId=key_id)
    assert error_of(excinfo)[0] == "MissingAuthenticationTokenException"
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []
