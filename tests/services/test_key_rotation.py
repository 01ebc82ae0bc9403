"""Key rotation services (keys/rotation.py; kms-spec.md 2.6, 2.11, 3.3): enabling, disabling and
reading automatic rotation, rotating on demand (new material for real, old ciphertexts still
decrypt, AWS's limit), listing rotations; which keys and states refuse, with AWS's errors;
every call audited, denied callers included."""

import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from keys import operations, rotation, services
from keys.models import Key, KeyMaterial
from kmsconsole.errors import (
    AccessDeniedError,
    DisabledError,
    InvalidMarkerError,
    InvalidStateError,
    LimitExceededError,
    UnsupportedOperationError,
    ValidationError,
)
from tests.conftest import caller_for, make_user

from .conftest import create_key, raises_kms

pytestmark = pytest.mark.django_db


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).order_by("-id").first()


def fresh(key) -> Key:
    return Key.objects.get(pk=key.pk)


def near(moment, expected, seconds=60) -> bool:
    return abs((moment - expected).total_seconds()) < seconds


# --- EnableKeyRotation / DisableKeyRotation / GetKeyRotationStatus ----------------------------

def test_enabling_rotation_defaults_to_365_days_from_now(caller, sym_key):
    rotation.key_rotation_enable(caller=caller, key_id=str(sym_key.id))
    key, status = rotation.key_rotation_status(caller=caller, key_id=str(sym_key.id))
    assert status["enabled"] is True and status["period_days"] == 365
    assert near(status["next_rotation_date"], timezone.now() + datetime.timedelta(days=365))
    assert status["on_demand_start_date"] is None
    event = last_event("EnableKeyRotation")
    assert (event.error_code, event.read_only) == ("", False)
    assert event.request_parameters == {"keyId": str(sym_key.id)}
    assert event.resources[0]["ARN"] == sym_key.arn
    assert last_event("GetKeyRotationStatus").read_only is True


def test_a_custom_period_is_used_and_logged(caller, sym_key):
    rotation.key_rotation_enable(caller=caller, key_id=sym_key.arn, rotation_period_days=180)
    key = fresh(sym_key)
    assert (key.rotation_enabled, key.rotation_period_days) == (True, 180)
    assert near(key.next_rotation_date, timezone.now() + datetime.timedelta(days=180))
    assert last_event("EnableKeyRotation").request_parameters == {
        "keyId": sym_key.arn, "rotationPeriodInDays": 180}


def test_enabling_again_with_a_new_period_recomputes_the_next_date(caller, sym_key):
    rotation.key_rotation_enable(caller=caller, key_id=str(sym_key.id), rotation_period_days=90)
    rotation.key_rotation_enable(caller=caller, key_id=str(sym_key.id), rotation_period_days=2560)
    key = fresh(sym_key)
    assert key.rotation_period_days == 2560
    assert near(key.next_rotation_date, timezone.now() + datetime.timedelta(days=2560))


def test_enabling_again_with_the_same_period_keeps_the_next_date(caller, sym_key):
    rotation.key_rotation_enable(caller=caller, key_id=str(sym_key.id), rotation_period_days=90)
    first = fresh(sym_key).next_rotation_date
    rotation.key_rotation_enable(caller=caller, key_id=str(sym_key.id), rotation_period_days=90)
    assert fresh(sym_key).next_rotation_date == first
    assert AuditEvent.objects.filter(event_name="EnableKeyRotation", error_code="").count() == 2


@pytest.mark.parametrize("days, rule", [(89, "greater than or equal to 90"),
                                        (2561, "less than or equal to 2560")])
def test_a_period_out_of_range_is_refused(caller, sym_key, days, rule):
    with raises_kms(ValidationError, contains=("rotationPeriodInDays", rule)):
        rotation.key_rotation_enable(caller=caller, key_id=str(sym_key.id),
                                     rotation_period_days=days)
    assert fresh(sym_key).rotation_enabled is False
    assert last_event("EnableKeyRotation").error_code == "ValidationException"


def test_disabling_rotation_stops_the_schedule_and_reports_off(caller, sym_key):
    rotation.key_rotation_enable(caller=caller, key_id=str(sym_key.id), rotation_period_days=180)
    rotation.key_rotation_disable(caller=caller, key_id=str(sym_key.id))
    _key, status = rotation.key_rotation_status(caller=caller, key_id=str(sym_key.id))
    assert status == {"enabled": False, "period_days": None, "next_rotation_date": None,
                      "on_demand_start_date": None}
    assert fresh(sym_key).rotation_period_days == 180  # offered again by the console's Edit
    assert last_event("DisableKeyRotation").error_code == ""


def test_a_disabled_key_keeps_its_setting_but_cannot_change_it(caller, sym_key):
    rotation.key_rotation_enable(caller=caller, key_id=str(sym_key.id))
    services.key_disable(caller=caller, key_id=str(sym_key.id))
    _key, status = rotation.key_rotation_status(caller=caller, key_id=str(sym_key.id))
    assert status["enabled"] is True
    message = f"{sym_key.arn} is disabled."
    with raises_kms(DisabledError, message):
        rotation.key_rotation_enable(caller=caller, key_id=str(sym_key.id))
    with raises_kms(DisabledError, message):
        rotation.key_rotation_disable(caller=caller, key_id=str(sym_key.id))
    with raises_kms(DisabledError, message):
        rotation.key_rotate_on_demand(caller=caller, key_id=str(sym_key.id))
    assert last_event("RotateKeyOnDemand").error_code == "DisabledException"
    assert fresh(sym_key).current_version == 1


def test_a_key_pending_deletion_reports_off_and_refuses_changes(caller, sym_key):
    rotation.key_rotation_enable(caller=caller, key_id=str(sym_key.id))
    services.key_schedule_deletion(caller=caller, key_id=str(sym_key.id), pending_window_days=7)
    _key, status = rotation.key_rotation_status(caller=caller, key_id=str(sym_key.id))
    assert status["enabled"] is False and status["next_rotation_date"] is None
    message = f"{sym_key.arn} is pending deletion."
    for service in (rotation.key_rotation_enable, rotation.key_rotation_disable,
                    rotation.key_rotate_on_demand):
        with raises_kms(InvalidStateError, message):
            service(caller=caller, key_id=str(sym_key.id))
    # The setting comes back with the key (which returns Disabled, as AWS does).
    services.key_cancel_deletion(caller=caller, key_id=str(sym_key.id))
    _key, status = rotation.key_rotation_status(caller=caller, key_id=str(sym_key.id))
    assert status["enabled"] is True


@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_NIST_P256", "HMAC_256"])
def test_keys_other_than_symmetric_encryption_keys_do_not_rotate(caller, spec):
    key = create_key(caller, spec)
    message = f"{key.arn} key spec is {spec} which is not valid for this operation."
    calls = [rotation.key_rotation_enable, rotation.key_rotation_disable,
             rotation.key_rotation_status, rotation.key_rotate_on_demand,
             rotation.key_rotations_list]
    for service in calls:
        with raises_kms(UnsupportedOperationError, message):
            service(caller=caller, key_id=str(key.id))
    assert last_event("ListKeyRotations").error_code == "UnsupportedOperationException"


def test_keys_with_imported_material_cannot_rotate_but_report_their_status(caller):
    key = create_key(caller, origin="EXTERNAL")
    message = f"{key.arn} origin is EXTERNAL which is not valid for this operation."
    for service in (rotation.key_rotation_enable, rotation.key_rotation_disable,
                    rotation.key_rotate_on_demand):
        with raises_kms(UnsupportedOperationError, message):
            service(caller=caller, key_id=str(key.id))
    _key, status = rotation.key_rotation_status(caller=caller, key_id=str(key.id))
    assert status["enabled"] is False
    assert rotation.key_rotations_list(caller=caller, key_id=str(key.id))[1] == []


def test_aws_managed_keys_rotate_yearly_and_customers_cannot_change_it(caller):
    managed = services.key_describe(caller=caller, key_id="alias/aws/s3")
    _key, status = rotation.key_rotation_status(caller=caller, key_id=str(managed.id))
    assert status["enabled"] is True and status["period_days"] == 365
    # Their key policy allows the account kms:Describe*, Get* and List* only, so even an
    # administrator is refused, as AWS refuses it.
    for service in (rotation.key_rotation_enable, rotation.key_rotation_disable,
                    rotation.key_rotate_on_demand):
        with raises_kms(AccessDeniedError):
            service(caller=caller, key_id=str(managed.id))
    assert fresh(managed).current_version == 1


# --- RotateKeyOnDemand ------------------------------------------------------------------------

def test_rotating_on_demand_makes_new_material_and_old_ciphertexts_still_decrypt(caller, sym_key):
    before = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"old data")
    old_material = fresh(sym_key).current_material_id()
    rotated = rotation.key_rotate_on_demand(caller=caller, key_id=str(sym_key.id))
    assert rotated.current_version == 2
    new_material = fresh(sym_key).current_material_id()
    assert new_material != old_material and len(new_material) == 64
    wrapped = list(KeyMaterial.objects.filter(key=sym_key).order_by("version")
                   .values_list("wrapped", flat=True))
    assert len(wrapped) == 2 and bytes(wrapped[0]) != bytes(wrapped[1])

    after = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"new data")
    assert (before.material_id, after.material_id) == (old_material, new_material)
    old = operations.decrypt(caller=caller, ciphertext_blob=before.blob)
    new = operations.decrypt(caller=caller, ciphertext_blob=after.blob)
    assert (old.plaintext, old.material_id) == (b"old data", old_material)
    assert (new.plaintext, new.material_id) == (b"new data", new_material)

    event = last_event("RotateKeyOnDemand")
    assert (event.error_code, event.read_only) == ("", False)
    assert event.request_parameters == {"keyId": str(sym_key.id)}
    assert event.response_elements == {"keyId": sym_key.arn}


def test_rotating_on_demand_leaves_the_automatic_schedule_alone(caller, sym_key):
    rotation.key_rotation_enable(caller=caller, key_id=str(sym_key.id), rotation_period_days=90)
    scheduled = fresh(sym_key).next_rotation_date
    rotation.key_rotate_on_demand(caller=caller, key_id=str(sym_key.id))
    key = fresh(sym_key)
    assert (key.rotation_enabled, key.next_rotation_date) == (True, scheduled)


def test_rotating_on_demand_works_with_automatic_rotation_off(caller, sym_key):
    rotation.key_rotate_on_demand(caller=caller, key_id=str(sym_key.id))
    assert fresh(sym_key).rotation_enabled is False
    assert fresh(sym_key).current_version == 2


def test_the_eleventh_on_demand_rotation_is_refused(caller, sym_key):
    for _ in range(rotation.ON_DEMAND_ROTATION_LIMIT):
        rotation.key_rotate_on_demand(caller=caller, key_id=str(sym_key.id))
    with raises_kms(LimitExceededError, contains=("on-demand rotations limit",
                                                  sym_key.arn)):
        rotation.key_rotate_on_demand(caller=caller, key_id=str(sym_key.id))
    assert fresh(sym_key).current_version == rotation.ON_DEMAND_ROTATION_LIMIT + 1
    assert last_event("RotateKeyOnDemand").error_code == "LimitExceededException"


def test_automatic_rotations_do_not_count_against_the_on_demand_limit(caller, sym_key):
    from keys.access import locked
    from keys.materials import rotate_material

    for _ in range(3):  # what the scheduled sweep does for a due key
        key = locked(fresh(sym_key))
        rotate_material(key, rotation_type=rotation.AUTOMATIC)
        key.save(update_fields=["current_version"])
    assert rotation.on_demand_rotations_used(fresh(sym_key)) == 0
    rotation.key_rotate_on_demand(caller=caller, key_id=str(sym_key.id))
    assert rotation.on_demand_rotations_used(fresh(sym_key)) == 1


# --- ListKeyRotations -------------------------------------------------------------------------

def test_list_rotations_lists_completed_rotations_oldest_first(caller, sym_key):
    assert rotation.key_rotations_list(caller=caller, key_id=str(sym_key.id))[1:] == ([], None)
    rotation.key_rotate_on_demand(caller=caller, key_id=str(sym_key.id))
    rotation.key_rotate_on_demand(caller=caller, key_id=str(sym_key.id))
    _key, rows, marker = rotation.key_rotations_list(caller=caller, key_id=str(sym_key.id))
    assert [(m.version, m.rotation_type) for m in rows] == [(2, "ON_DEMAND"), (3, "ON_DEMAND")]
    assert marker is None
    _key, rows, _marker = rotation.key_rotations_list(
        caller=caller, key_id=str(sym_key.id), include_key_material="ALL_KEY_MATERIAL")
    assert [(m.version, m.rotation_type) for m in rows] == [
        (1, ""), (2, "ON_DEMAND"), (3, "ON_DEMAND")]
    assert last_event("ListKeyRotations").request_parameters == {
        "keyId": str(sym_key.id), "includeKeyMaterial": "ALL_KEY_MATERIAL", "limit": 100}


def test_list_rotations_pages_with_markers_and_refuses_foreign_ones(caller, sym_key,
                                                                    other_sym_key):
    for _ in range(3):
        rotation.key_rotate_on_demand(caller=caller, key_id=str(sym_key.id))
    seen, marker = [], None
    while True:
        _key, rows, marker = rotation.key_rotations_list(caller=caller, key_id=str(sym_key.id),
                                                         limit=2, marker=marker)
        seen += [m.version for m in rows]
        if marker is None:
            break
    assert seen == [2, 3, 4]
    _key, _rows, marker = rotation.key_rotations_list(caller=caller, key_id=str(sym_key.id),
                                                      limit=1)
    # A marker of one key's listing does not page another key's.
    with raises_kms(InvalidMarkerError):
        rotation.key_rotations_list(caller=caller, key_id=str(other_sym_key.id),
                                    marker=marker)
    with raises_kms(InvalidMarkerError):
        rotation.key_rotations_list(caller=caller, key_id=str(sym_key.id), marker="made-up")


@pytest.mark.parametrize("kwargs, path", [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"),
                                          ({"include_key_material": "SOME"},
                                           "includeKeyMaterial")])
def test_list_rotations_validates_its_parameters(caller, sym_key, kwargs, path):
    with raises_kms(ValidationError, contains=(path,)):
        rotation.key_rotations_list(caller=caller, key_id=str(sym_key.id), **kwargs)


# --- who may ----------------------------------------------------------------------------------

CALLS = {
    "EnableKeyRotation": rotation.key_rotation_enable,
    "DisableKeyRotation": rotation.key_rotation_disable,
    "GetKeyRotationStatus": rotation.key_rotation_status,
    "RotateKeyOnDemand": rotation.key_rotate_on_demand,
    "ListKeyRotations": rotation.key_rotations_list,
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_user_without_permission_is_refused_and_audited(account, sym_key, name):
    nobody = caller_for(make_user(account, "nobody"))
    with raises_kms(AccessDeniedError, contains=(f"kms:{name}",)):
        CALLS[name](caller=nobody, key_id=str(sym_key.id))
    event = last_event(name)
    assert (event.error_code, event.principal_arn) == ("AccessDeniedException",
                                                       nobody.principal.arn)
    assert fresh(sym_key).current_version == 1 and fresh(sym_key).rotation_enabled is False


@pytest.mark.parametrize("name", sorted(CALLS))
def test_another_accounts_administrator_is_refused(outsider_caller, sym_key, name):
    with raises_kms(AccessDeniedError):
        CALLS[name](caller=outsider_caller, key_id=sym_key.arn)


def test_the_key_policy_decides_who_may_rotate(caller, account, sym_key):
    """kms:RotateKeyOnDemand granted in the key policy to one user: that user may rotate, but
    not enable automatic rotation."""
    import json

    operator = make_user(account, "operator")
    services.key_put_policy(caller=caller, key_id=str(sym_key.id), policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account.id}:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": operator.arn},
             "Action": "kms:RotateKeyOnDemand", "Resource": "*"}]}))
    rotation.key_rotate_on_demand(caller=caller_for(operator), key_id=str(sym_key.id))
    assert fresh(sym_key).current_version == 2
    with raises_kms(AccessDeniedError):
        rotation.key_rotation_enable(caller=caller_for(operator), key_id=str(sym_key.id))
