"""The scheduled sweep (keys/sweep.py): automatic rotation, scheduled deletion and the expiry
of imported material, with the clock moved by time-machine (issue 8, kms-spec.md 2.6, 2.11,
3.3, 7.3). Rotation is switched on with EnableKeyRotation (keys/rotation.py)."""

import datetime
import io

import pytest
import time_machine
from django.core.management import call_command

from audit.chain import chain_verify
from audit.models import AuditEvent
from grants.kms_grants import grant_create
from grants.models import Grant
from keys import imports, materials, operations, rotation, services, sweep
from keys.crypto import envelope
from keys.managed import ensure_managed_key
from keys.models import DISABLED, Alias, Key, KeyMaterial, Tag
from keys.tasks import kms_sweep
from kmsconsole.errors import InvalidCiphertextError, NotFoundError
from tests.byok import make_material
from tests.conftest import ACCOUNT_ID, REGION

from .conftest import create_key, raises_kms
from .test_key_import import do_import, external_key

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.UTC)


def days(n: float) -> datetime.datetime:
    return T0 + datetime.timedelta(days=n)


def at(moment: datetime.datetime):
    return time_machine.travel(moment, tick=False)


def enable_rotation(caller, key: Key, period_days: int) -> Key:
    """EnableKeyRotation: the first rotation one period from now."""
    return rotation.key_rotation_enable(caller=caller, key_id=str(key.id),
                                        rotation_period_days=period_days)


def versions(key: Key) -> list[int]:
    return list(KeyMaterial.objects.filter(key_id=key.id).values_list("version", flat=True))


def service_events(name: str, key: Key):
    return AuditEvent.objects.filter(event_name=name, key_id=str(key.id)).order_by("id")


def rotated(result) -> int:
    return result.phase("rotation").done


# --- rotation -------------------------------------------------------------------------------

def test_a_90_day_key_is_rotated_after_90_days_and_not_after_89(caller):
    with at(T0):
        key = enable_rotation(caller, create_key(caller), 90)
        before = operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"old data",
                                    encryption_context={"purpose": "test"})
    with at(days(89)):
        assert rotated(sweep.sweep()) == 0
    key.refresh_from_db()
    assert key.current_version == 1 and versions(key) == [1]

    with at(days(90)):
        result = sweep.sweep()
    assert rotated(result) == 1 and result.failed == 0
    key.refresh_from_db()
    assert key.current_version == 2 and versions(key) == [1, 2]
    new = KeyMaterial.objects.get(key_id=key.id, version=2)
    assert new.rotation_type == "AUTOMATIC"
    assert new.created_at == days(90)
    # The next rotation is one period after this one.
    assert key.next_rotation_date == days(180)

    with at(days(91)):
        # Old ciphertexts still decrypt (with the material they were made with) ...
        old_plain = operations.decrypt(caller=caller, ciphertext_blob=before.blob,
                                       encryption_context={"purpose": "test"})
        assert old_plain.plaintext == b"old data"
        assert old_plain.material_id == before.material_id
        # ... and new ones use the new material: blob header and KeyMaterialId.
        after = operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"new data")
    assert envelope.read_header(before.blob).version == 1
    assert envelope.read_header(after.blob).version == 2
    assert after.material_id == new.material_id != before.material_id
    assert operations.decrypt(caller=caller, ciphertext_blob=after.blob).plaintext == b"new data"

    # ListKeyRotations shows the rotation as AUTOMATIC.
    _, rows, _ = rotation.key_rotations_list(caller=caller, key_id=str(key.id))
    assert [(row.material_id, row.rotation_type) for row in rows] == [
        (new.material_id, "AUTOMATIC")]


def test_rotation_records_a_rotate_key_service_event_as_aws_does(caller):
    with at(T0):
        key = enable_rotation(caller, create_key(caller), 90)
    with at(days(90)):
        sweep.sweep()
    event = service_events("RotateKey", key).get()
    assert event.event_type == "AwsServiceEvent"
    assert event.error_code == ""
    assert event.read_only is False
    assert event.source == "scheduler"
    assert event.user_identity == {"accountId": ACCOUNT_ID, "invokedBy": "AWS Internal"}
    assert event.source_ip_address == "AWS Internal" and event.user_agent == "AWS Internal"
    assert event.request_parameters is None and event.response_elements is None
    assert event.service_event_details == {"rotationType": "AUTOMATIC", "keyId": str(key.id)}
    assert event.resources == [{"accountId": ACCOUNT_ID, "type": "AWS::KMS::Key",
                                "ARN": key.arn}]
    assert event.aws_region == REGION
    assert event.event_time == days(90)
    assert chain_verify().ok


def test_a_key_keeps_rotating_every_period(caller):
    with at(T0):
        key = enable_rotation(caller, create_key(caller), 90)
    for day in (90, 135, 180, 270):
        with at(days(day)):
            sweep.sweep()
    key.refresh_from_db()
    # Rotated at 90, 180 and 270; day 135 was between rotations.
    assert versions(key) == [1, 2, 3, 4]
    assert key.next_rotation_date == days(360)
    assert service_events("RotateKey", key).count() == 3


def test_a_sweep_running_late_rotates_once_and_schedules_one_period_after(caller):
    with at(T0):
        key = enable_rotation(caller, create_key(caller), 90)
    with at(days(400)):  # several periods missed (no worker ran): one rotation, not four
        sweep.sweep()
        sweep.sweep()
    key.refresh_from_db()
    assert versions(key) == [1, 2]
    assert key.next_rotation_date == days(490)


def test_keys_without_automatic_rotation_are_not_rotated(caller):
    with at(T0):
        plain = create_key(caller)
        switched_off = enable_rotation(caller, create_key(caller), 90)
        switched_off.rotation_enabled = False  # DisableKeyRotation keeps the old date
        switched_off.save(update_fields=["rotation_enabled"])
        hmac = create_key(caller, "HMAC_256")
        # Not a state EnableKeyRotation allows; the sweep must not rotate it even so.
        Key.objects.filter(pk=hmac.pk).update(rotation_enabled=True, rotation_period_days=90,
                                               next_rotation_date=T0)
    with at(days(1000)):
        assert rotated(sweep.sweep()) == 0
    for key in (plain, switched_off, hmac):
        assert versions(key) == [1]


def test_aws_managed_keys_rotate_every_year(caller, account):
    with at(T0):
        key = ensure_managed_key(account_id=ACCOUNT_ID, region=REGION, alias_name="alias/aws/s3")
    with at(days(364)):
        sweep.sweep()
    assert versions(key) == [1]
    with at(days(365)):
        sweep.sweep()
    key.refresh_from_db()
    assert versions(key) == [1, 2] and key.next_rotation_date == days(730)


def test_a_key_disabled_across_its_rotation_date_rotates_as_soon_as_it_is_enabled_again(
        caller):
    with at(T0):
        key = enable_rotation(caller, create_key(caller), 90)
    with at(days(80)):
        services.key_disable(caller=caller, key_id=str(key.id))
    with at(days(100)):
        assert rotated(sweep.sweep()) == 0  # AWS does not rotate a disabled key
    key.refresh_from_db()
    assert versions(key) == [1] and key.key_state == DISABLED
    assert key.rotation_enabled  # the status does not change while disabled

    with at(days(120)):
        services.key_enable(caller=caller, key_id=str(key.id))
        # Material older than one period: AWS rotates it immediately ...
        assert rotated(sweep.sweep()) == 1
    key.refresh_from_db()
    assert versions(key) == [1, 2]
    # ... "and every period thereafter".
    assert key.next_rotation_date == days(210)


def test_a_key_disabled_and_enabled_again_before_its_date_keeps_its_schedule(caller):
    with at(T0):
        key = enable_rotation(caller, create_key(caller), 90)
    with at(days(10)):
        services.key_disable(caller=caller, key_id=str(key.id))
    with at(days(20)):
        services.key_enable(caller=caller, key_id=str(key.id))
    with at(days(89)):
        assert rotated(sweep.sweep()) == 0
    with at(days(90)):
        assert rotated(sweep.sweep()) == 1
    key.refresh_from_db()
    assert key.next_rotation_date == days(180)


def test_a_key_pending_deletion_at_its_rotation_date_is_not_rotated(caller):
    with at(T0):
        key = enable_rotation(caller, create_key(caller), 90)
    with at(days(80)):
        services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=30)
    with at(days(95)):
        assert rotated(sweep.sweep()) == 0
    with at(days(100)):
        services.key_cancel_deletion(caller=caller, key_id=str(key.id))  # back to Disabled
        assert rotated(sweep.sweep()) == 0
        services.key_enable(caller=caller, key_id=str(key.id))
        assert rotated(sweep.sweep()) == 1
    key.refresh_from_db()
    assert versions(key) == [1, 2] and key.next_rotation_date == days(190)


# --- deletion -------------------------------------------------------------------------------

def test_a_key_whose_waiting_period_ended_is_deleted_with_its_material(caller, admin):
    with at(T0):
        key = create_key(caller)
        key_id = str(key.id)
        services.alias_create(caller=caller, alias_name="alias/doomed", target_key_id=key_id)
        services.key_tag(caller=caller, key_id=key_id, tags=[("team", "payments")])
        grant_create(caller=caller, key_id=key_id, grantee_principal=admin.arn,
                     operations=["Decrypt"])
        blob = operations.encrypt(caller=caller, key_id=key_id, plaintext=b"secret").blob
        operations.decrypt(caller=caller, ciphertext_blob=blob)  # material now in the cache
        services.key_schedule_deletion(caller=caller, key_id=key_id, pending_window_days=7)
    assert any(str(cache_key[0]) == key_id for cache_key in materials._opened)

    with at(days(7) - datetime.timedelta(minutes=1)):
        assert sweep.sweep().phase("deletion").done == 0
    assert Key.objects.filter(pk=key_id).exists()

    with at(days(7)):
        result = sweep.sweep()
    assert result.phase("deletion").done == 1 and result.failed == 0
    assert not Key.objects.filter(pk=key_id).exists()
    assert KeyMaterial.objects.filter(key_id=key_id).count() == 0
    assert not Alias.objects.filter(name="alias/doomed").exists()
    assert not Tag.objects.filter(key_id=key_id).exists()
    assert not Grant.objects.filter(key_id=key_id).exists()
    assert not any(str(cache_key[0]) == key_id for cache_key in materials._opened)
    with raises_kms(NotFoundError):
        services.key_describe(caller=caller, key_id=key_id)
    listed, _ = services.key_list(caller=caller)
    assert key_id not in [str(k.id) for k in listed]
    with raises_kms(InvalidCiphertextError):
        operations.decrypt(caller=caller, ciphertext_blob=blob)


def test_deletion_records_a_delete_key_service_event_that_outlives_the_key(caller):
    with at(T0):
        key = create_key(caller)
        services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    with at(days(8)):
        sweep.sweep()
    event = service_events("DeleteKey", key).get()
    assert event.event_type == "AwsServiceEvent" and event.error_code == ""
    assert event.user_identity == {"accountId": ACCOUNT_ID, "invokedBy": "AWS Internal"}
    assert event.request_parameters is None and event.response_elements is None
    assert event.resources == [{"accountId": ACCOUNT_ID, "type": "AWS::KMS::Key",
                                "ARN": key.arn}]
    # The key's earlier history is still there too.
    assert service_events("CreateKey", key).exists()
    assert chain_verify().ok


def test_a_cancelled_deletion_is_not_carried_out(caller):
    with at(T0):
        key = create_key(caller)
        services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    with at(days(3)):
        services.key_cancel_deletion(caller=caller, key_id=str(key.id))
    with at(days(30)):
        assert sweep.sweep().phase("deletion").done == 0
    key.refresh_from_db()
    assert key.key_state == DISABLED and versions(key) == [1]
    assert not service_events("DeleteKey", key).exists()


# --- expiry of imported material --------------------------------------------------------------

def test_the_sweep_expires_imported_material_at_its_valid_to(caller):
    with at(T0):
        key, lasting = external_key(caller), external_key(caller)
        do_import(caller, key, make_material("SYMMETRIC_DEFAULT"),
                  expiration_model="KEY_MATERIAL_EXPIRES", valid_to=days(10))
        do_import(caller, lasting, make_material("SYMMETRIC_DEFAULT"))
    with at(days(10) - datetime.timedelta(seconds=1)):
        assert sweep.sweep().phase("expiry").done == 0
    with at(days(10)):
        result = sweep.sweep()
    assert result.phase("expiry").done == 1 and result.failed == 0
    key.refresh_from_db()
    lasting.refresh_from_db()
    assert key.key_state == "PendingImport" and lasting.key_state == "Enabled"
    assert imports.keys_with_expired_material(days(11)) == []
    event = service_events("DeleteExpiredKeyMaterial", key).get()
    assert event.event_type == "AwsServiceEvent" and event.error_code == ""


# --- failures -------------------------------------------------------------------------------

def fail_key_save_for(monkeypatch, victim: Key) -> None:
    """Key.save raises for `victim` once its new material row is written (rotation's save)."""
    real_save = Key.save

    def save(self, *args, **kwargs):
        if self.pk == victim.pk and "next_rotation_date" in (kwargs.get("update_fields") or ()):
            assert KeyMaterial.objects.filter(key_id=self.pk, version=2).exists()
            raise RuntimeError("injected: the key row could not be saved")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Key, "save", save)


def fail_audit_record_for(monkeypatch, victim: Key) -> None:
    """Appending the RotateKey event of `victim` raises (its material and key row are written)."""
    from audit import recording

    real_append = recording.chain_append

    def chain_append(event):
        if event.event_name == "RotateKey" and event.key_id == str(victim.pk) \
                and not event.error_code:
            raise RuntimeError("injected: the audit event could not be written")
        return real_append(event)

    monkeypatch.setattr(recording, "chain_append", chain_append)


@pytest.mark.parametrize("inject", [fail_key_save_for, fail_audit_record_for],
                         ids=["key save fails", "audit record fails"])
def test_a_failure_after_the_new_material_is_written_leaves_no_half_rotated_key(
        caller, monkeypatch, inject):
    with at(T0):
        keys = [enable_rotation(caller, create_key(caller), 90) for _ in range(3)]
    victim = keys[1]
    inject(monkeypatch, victim)
    with at(days(90)):
        result = sweep.sweep()
    phase = result.phase("rotation")
    assert phase.done == 2 and phase.failed_key_ids == [str(victim.id)]
    assert "1 failed" in result.summary() and str(victim.id) in result.summary()

    victim.refresh_from_db()
    assert versions(victim) == [1] and victim.current_version == 1
    assert victim.next_rotation_date == days(90)  # still due
    for key in (keys[0], keys[2]):
        assert versions(key) == [1, 2]
    failed = service_events("RotateKey", victim).get()
    assert failed.error_code == "KMSInternalException"
    assert failed.event_type == "AwsServiceEvent"
    assert "injected" not in failed.error_message  # no internals in the audit trail
    assert chain_verify().ok

    monkeypatch.undo()
    with at(days(90) + datetime.timedelta(minutes=1)):
        result = sweep.sweep()
    assert rotated(result) == 1 and result.failed == 0
    victim.refresh_from_db()
    assert versions(victim) == [1, 2] and victim.current_version == 2
    assert [e.error_code for e in service_events("RotateKey", victim)] == [
        "KMSInternalException", ""]


def test_a_failed_deletion_keeps_the_key_and_does_not_stop_the_sweep(caller, monkeypatch):
    with at(T0):
        keys = [create_key(caller) for _ in range(2)]
        for key in keys:
            services.key_schedule_deletion(caller=caller, key_id=str(key.id),
                                           pending_window_days=7)
    victim = keys[0]
    real_delete = Key.delete

    def delete(self, *args, **kwargs):
        if self.pk == victim.pk:
            KeyMaterial.objects.filter(key_id=self.pk).delete()  # half done, then it breaks
            raise RuntimeError("injected")
        return real_delete(self, *args, **kwargs)

    monkeypatch.setattr(Key, "delete", delete)
    with at(days(7)):
        result = sweep.sweep()
    assert result.phase("deletion").done == 1
    assert result.phase("deletion").failed_key_ids == [str(victim.id)]
    assert Key.objects.filter(pk=victim.pk).exists() and versions(victim) == [1]
    assert not Key.objects.filter(pk=keys[1].pk).exists()
    assert service_events("DeleteKey", victim).get().error_code == "KMSInternalException"


# --- how it is run --------------------------------------------------------------------------

def test_the_sweep_command_prints_the_summary_and_exits_zero(caller):
    with at(T0):
        key = enable_rotation(caller, create_key(caller), 90)
    out = io.StringIO()
    with at(days(90)):
        call_command("kms_sweep", stdout=out)
    assert "rotation: 1 done, 0 failed" in out.getvalue()
    assert "deletion: 0 done, 0 failed" in out.getvalue()
    assert versions(key) == [1, 2]


def test_the_sweep_command_exits_non_zero_when_a_key_failed(caller, monkeypatch):
    with at(T0):
        key = enable_rotation(caller, create_key(caller), 90)
    fail_key_save_for(monkeypatch, key)
    err = io.StringIO()
    with at(days(90)), pytest.raises(SystemExit) as exit_:
        call_command("kms_sweep", stdout=io.StringIO(), stderr=err)
    assert exit_.value.code == 1
    assert f"rotation: 0 done, 1 failed ({key.id})" in err.getvalue()


def test_the_celery_task_runs_one_sweep_and_returns_its_summary(caller):
    from prometheus_client import REGISTRY

    def rotated() -> float:
        return REGISTRY.get_sample_value(
            "kms_sweep_keys_total", {"phase": "rotation", "result": "done"}) or 0.0

    with at(T0):
        key = enable_rotation(caller, create_key(caller), 90)
    before = rotated()
    with at(days(90)):
        summary = kms_sweep()
    assert rotated() == before + 1  # counted for /metrics
    assert summary == ("KMS sweep: rotation: 1 done, 0 failed; deletion: 0 done, 0 failed; "
                       "expiry: 0 done, 0 failed.")
    assert versions(key) == [1, 2]


def test_beat_runs_the_sweep_at_the_configured_interval(settings):
    from kmsconsole.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["kms-sweep"]
    assert entry["task"] == "keys.tasks.kms_sweep" == kms_sweep.name
    assert entry["schedule"] == settings.KMS_SWEEP_INTERVAL_SECONDS
    assert "keys.tasks.kms_sweep" in app.tasks


def test_a_sweep_with_nothing_due_does_nothing(caller):
    with at(T0):
        create_key(caller)
        before = AuditEvent.objects.count()
        result = sweep.sweep()
    assert result.summary() == ("KMS sweep: rotation: 0 done, 0 failed; deletion: 0 done, "
                                "0 failed; expiry: 0 done, 0 failed.")
    assert AuditEvent.objects.count() == before


def test_the_sweep_pages_through_more_due_keys_than_one_page(caller, monkeypatch):
    monkeypatch.setattr(sweep, "DUE_PAGE_SIZE", 2)
    with at(T0):
        keys = [enable_rotation(caller, create_key(caller), 90) for _ in range(5)]
    with at(days(90)):
        assert rotated(sweep.sweep()) == 5
    assert all(versions(key) == [1, 2] for key in keys)
