"""Root-key rotation (keys/root_key_rotation.py, `manage.py kms_root_key`): every value wrapped
under the root key is re-wrapped under a new one, resumably and audited, while old ciphertexts,
access keys, MFA devices and sessions keep working, and the old root key opens nothing after."""

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import models

from audit.models import AuditEvent
from grants import mfa, services
from grants.models import AccessKey, MFADevice, SessionCredential
from grants.sts import role_assume
from keys import imports, operations
from keys.crypto.rootkey import (
    RootKey,
    RootKeyError,
    RootKeyRing,
    generate_root_key,
    wrapped_by,
)
from keys.materials import forget_opened
from keys.models import Key
from keys.root_key_rotation import (
    FORMAT_1,
    ROTATE_ROOT_KEY_EVENT,
    WRAPPED_COLUMNS,
    RootKeyRotationRefused,
    root_key_rotate,
    root_key_status,
)
from keys.rotation import key_rotate_on_demand
from keys.vault import root_key
from tests.api.conftest import create_access_key, kms_client
from tests.byok import make_material, wrap_offline
from tests.conftest import ACCOUNT_ID, OTHER_ACCOUNT_ID, caller_for, make_user

from .conftest import create_key

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = {"purpose": "root key rotation"}
DOES_NOT_EXPIRE = {"expiration_model": "KEY_MATERIAL_DOES_NOT_EXPIRE"}


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def switch_to_new_root_key(settings) -> bytes:
    """Step 2 of the operator flow: the new key becomes current, the old one previous."""
    new_key = generate_root_key()
    settings.KMS_PREVIOUS_ROOT_KEY = settings.KMS_ROOT_KEY
    settings.KMS_ROOT_KEY = b64(new_key)
    return new_key


def forget_previous_root_key(settings) -> None:
    """Step 5: the old key is removed from the configuration."""
    settings.KMS_PREVIOUS_ROOT_KEY = None
    settings.KMS_PREVIOUS_ROOT_KEY_FILE = None


def fingerprint(key: bytes) -> str:
    return RootKey(key).fingerprint


def import_material(caller, key, material, **kwargs):
    issued = imports.import_parameters_get(caller=caller, key_id=str(key.id),
                                           wrapping_algorithm="RSAES_OAEP_SHA_256",
                                           wrapping_key_spec="RSA_2048")
    return imports.import_key_material(
        caller=caller, key_id=str(key.id), import_token=issued.import_token,
        encrypted_key_material=wrap_offline(issued.public_key, "RSAES_OAEP_SHA_256", material),
        **(kwargs or DOES_NOT_EXPIRE))


def wrapped_rows():
    """(column, row, wrapped value) for every non-empty wrapped value of every table."""
    for column in WRAPPED_COLUMNS:
        rows = column.model.objects.select_related(column.related).order_by("pk")
        for row in rows:
            blob = bytes(getattr(row, column.field))
            if blob:
                yield column, row, blob


def forget_every_opened_material() -> None:
    # Decrypting after the rotation must unwrap the re-wrapped rows, not reuse plaintext the
    # process opened before it.
    for key in Key.objects.all():
        forget_opened(key.id)


@pytest.fixture
def world(caller, outsider_caller, outsider, admin, settings):
    """Something in every wrapped column, in two accounts, and what was made with it."""
    made = {"ciphertexts": []}
    symmetric = create_key(caller)
    made["ciphertexts"].append((caller, operations.encrypt(
        caller=caller, key_id=str(symmetric.id), plaintext=b"version 1 secret",
        encryption_context=CONTEXT).blob, b"version 1 secret"))
    key_rotate_on_demand(caller=caller, key_id=str(symmetric.id))
    made["ciphertexts"].append((caller, operations.encrypt(
        caller=caller, key_id=str(symmetric.id), plaintext=b"version 2 secret",
        encryption_context=CONTEXT).blob, b"version 2 secret"))
    rsa = create_key(caller, "RSA_2048", "SIGN_VERIFY")
    made["signature"] = (rsa, operations.sign(
        caller=caller, key_id=str(rsa.id), message=b"signed",
        signing_algorithm="RSASSA_PSS_SHA_256").signature)
    hmac_key = create_key(caller, "HMAC_256")
    made["mac"] = (hmac_key, operations.generate_mac(
        caller=caller, key_id=str(hmac_key.id), message=b"maced",
        mac_algorithm="HMAC_SHA_256").mac)
    # Imported material, then deleted: its row keeps only the wrapped commitment.
    external = create_key(caller, origin="EXTERNAL")
    made["imported_material"] = make_material("SYMMETRIC_DEFAULT")
    import_material(caller, external, made["imported_material"])
    imports.delete_imported_key_material(caller=caller, key_id=str(external.id))
    made["external"] = external
    # Import parameters issued and not used yet: their wrapped private key must survive.
    pending = create_key(caller, origin="EXTERNAL")
    made["pending"] = (pending, imports.import_parameters_get(
        caller=caller, key_id=str(pending.id), wrapping_algorithm="RSAES_OAEP_SHA_256",
        wrapping_key_spec="RSA_2048"))
    # The other account has keys of its own, and access keys, an MFA device and a session.
    other_key = create_key(outsider_caller)
    made["ciphertexts"].append((outsider_caller, operations.encrypt(
        caller=outsider_caller, key_id=str(other_key.id), plaintext=b"other account",
        encryption_context=CONTEXT).blob, b"other account"))
    made["access_keys"] = [create_access_key(admin), create_access_key(outsider)]
    device, made["totp_secret"] = mfa.mfa_device_create(caller=caller, user=admin,
                                                        device_name="admin-phone")
    alice = make_user(admin.account, "alice")
    role = services.role_create(caller=caller, name="app", trust_policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "AWS": alice.arn}, "Action": "sts:AssumeRole"}]}))
    issued = role_assume(caller=caller_for(alice), role_arn=role.arn, session_name="s1")
    made["session"] = (issued.session.access_key_id, issued.secret_access_key)
    made["old_key"] = base64.b64decode(settings.KMS_ROOT_KEY)
    return made


def assert_everything_still_works(world, caller) -> None:
    forget_every_opened_material()
    for who, blob, plaintext in world["ciphertexts"]:
        assert operations.decrypt(caller=who, ciphertext_blob=blob,
                                  encryption_context=CONTEXT).plaintext == plaintext
    rsa, signature = world["signature"]
    operations.verify(caller=caller, key_id=str(rsa.id), message=b"signed", signature=signature,
                      signing_algorithm="RSASSA_PSS_SHA_256")
    hmac_key, mac = world["mac"]
    operations.verify_mac(caller=caller, key_id=str(hmac_key.id), message=b"maced",
                          mac_value=mac, mac_algorithm="HMAC_SHA_256")
    for access_key_id, secret in world["access_keys"]:
        assert AccessKey.objects.get(access_key_id=access_key_id).secret() == secret
    assert MFADevice.objects.get().secret() == world["totp_secret"]
    session_id, session_secret = world["session"]
    assert SessionCredential.objects.get(access_key_id=session_id).secret() == session_secret


def test_every_binary_column_of_every_model_is_rotated():
    # A new wrapped column that rotation forgot would stop unwrapping when the old key goes.
    binary = {f"{model.__name__}.{field.name}" for model in apps.get_models()
              for field in model._meta.get_fields() if isinstance(field, models.BinaryField)}
    assert binary == {column.label for column in WRAPPED_COLUMNS}


def test_after_rotation_every_old_ciphertext_decrypts_and_every_secret_still_works(
        world, caller, settings):
    new_key = switch_to_new_root_key(settings)
    result = root_key_rotate(expected_fingerprint=fingerprint(new_key))
    assert result.finished and result.interruption is None
    forget_previous_root_key(settings)  # from here on, only the new key is configured
    assert root_key().previous == ()
    assert_everything_still_works(world, caller)
    # Re-importing the deleted material is checked against the re-wrapped commitment, and the
    # import parameters issued before the rotation still open the wrapped material.
    external = world["external"]
    import_material(caller, external, world["imported_material"],
                    import_type="EXISTING_KEY_MATERIAL",
                    expiration_model="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert Key.objects.get(pk=external.pk).key_state == "Enabled"
    pending, issued = world["pending"]
    imports.import_key_material(
        caller=caller, key_id=str(pending.id), import_token=issued.import_token,
        encrypted_key_material=wrap_offline(issued.public_key, "RSAES_OAEP_SHA_256",
                                            make_material("SYMMETRIC_DEFAULT")),
        **DOES_NOT_EXPIRE)
    assert Key.objects.get(pk=pending.pk).key_state == "Enabled"


def test_after_rotation_the_old_root_key_unwraps_nothing_in_any_table(world, settings):
    new_key = switch_to_new_root_key(settings)
    root_key_rotate(expected_fingerprint=fingerprint(new_key))
    old_only = RootKeyRing(RootKey(world["old_key"]))
    new_only = RootKeyRing(RootKey(new_key))
    seen = set()
    for column, row, blob in wrapped_rows():
        seen.add(column.label)
        assert wrapped_by(blob) == fingerprint(new_key)
        with pytest.raises(RootKeyError):
            old_only.unwrap(blob, aad=column.aad_of(row))
        new_only.unwrap(blob, aad=column.aad_of(row))
    # The world really put something in every column, so the loop above checked them all.
    assert seen == {column.label for column in WRAPPED_COLUMNS}


def test_status_counts_values_per_root_key(world, settings):
    before = root_key_status()
    old = fingerprint(world["old_key"])
    assert before["KeyMaterial.wrapped"][old] == 5  # 2 versions + RSA + HMAC + other account
    # (the deleted imported material is an empty value: not counted)
    assert before["KeyMaterial.material_commitment"][old] == 1
    assert before["ImportParameters.wrapped_private_key"][old] == 1
    assert before["AccessKey.secret_wrapped"][old] == 2
    assert before["MFADevice.secret_wrapped"][old] == 1
    assert before["SessionCredential.secret_wrapped"][old] == 1
    new_key = switch_to_new_root_key(settings)
    root_key_rotate(expected_fingerprint=fingerprint(new_key))
    after = root_key_status()
    for label, found in after.items():
        assert set(found) == {fingerprint(new_key)}
        assert found[fingerprint(new_key)] == before[label][old]


def test_rotation_records_one_event_per_account_with_its_own_counts_and_no_key_bytes(
        world, settings):
    new_key = switch_to_new_root_key(settings)
    root_key_rotate(expected_fingerprint=fingerprint(new_key))
    events = list(AuditEvent.objects.filter(event_name=ROTATE_ROOT_KEY_EVENT).order_by("id"))
    assert [event.recipient_account_id for event in events] == [ACCOUNT_ID, OTHER_ACCOUNT_ID]
    assert len({event.request_id for event in events}) == 1  # one run
    ours, theirs = (event.service_event_details["rotateRootKey"] for event in events)
    for event in events:
        assert event.event_type == "AwsServiceEvent" and event.read_only is False
        assert event.error_code == "" and event.user_identity["invokedBy"] == "AWS Internal"
    assert ours["finished"] is True
    assert ours["rootKeyFingerprint"] == fingerprint(new_key)
    assert ours["previousRootKeyFingerprints"] == [fingerprint(world["old_key"])]
    assert ours["columns"]["KeyMaterial.wrapped"] == {"rewrapped": 4, "skipped": 0, "failed": 0}
    assert ours["columns"]["AccessKey.secret_wrapped"]["rewrapped"] == 1
    assert theirs["columns"] == {
        "AccessKey.secret_wrapped": {"rewrapped": 1, "skipped": 0, "failed": 0},
        "KeyMaterial.wrapped": {"rewrapped": 1, "skipped": 0, "failed": 0}}
    assert theirs["valuesRewrapped"] == 2
    recorded = json.dumps([event.as_record() for event in events], default=str)
    for key in (new_key, world["old_key"]):
        for form in (key.hex(), b64(key), base64.b64encode(key[:16]).decode()):
            assert form not in recorded


def test_an_interrupted_rotation_keeps_the_server_working_and_a_rerun_finishes(
        world, caller, settings, monkeypatch):
    new_key = switch_to_new_root_key(settings)
    real_rewrap = RootKeyRing.rewrap
    calls = []

    def failing_on_the_fourth(self, blob, *, aad):
        if len(calls) == 3:
            raise RuntimeError("disk full")
        calls.append(1)
        return real_rewrap(self, blob, aad=aad)

    monkeypatch.setattr(RootKeyRing, "rewrap", failing_on_the_fourth)
    first = root_key_rotate(expected_fingerprint=fingerprint(new_key), batch_size=2)
    assert not first.finished and first.interruption == "RuntimeError: disk full"
    # The first batch of two committed; the second, holding the failure, was rolled back.
    assert first.total().rewrapped == 2
    status = root_key_status()
    assert sum(found[fingerprint(new_key)] for found in status.values()) == 2
    assert sum(found[fingerprint(world["old_key"])] for found in status.values()) == 9
    failed = AuditEvent.objects.get(event_name=ROTATE_ROOT_KEY_EVENT)
    assert failed.error_code == "KMSInternalException"
    assert failed.error_message == "Root key rotation was interrupted; run it again to finish."
    details = failed.service_event_details["rotateRootKey"]
    assert details["finished"] is False and details["valuesRewrapped"] == 2

    # Halfway, with both keys configured, everything works, whichever key wraps it.
    assert_everything_still_works(world, caller)

    monkeypatch.setattr(RootKeyRing, "rewrap", real_rewrap)
    second = root_key_rotate(expected_fingerprint=fingerprint(new_key), batch_size=2)
    assert second.finished
    assert second.total().skipped == 2 and second.total().rewrapped == 9
    assert all(set(found) == {fingerprint(new_key)} for found in root_key_status().values())
    forget_previous_root_key(settings)
    assert_everything_still_works(world, caller)


def test_rotation_refuses_when_the_configured_key_is_not_the_new_one(world, settings):
    switch_to_new_root_key(settings)
    other = generate_root_key()
    with pytest.raises(RootKeyRotationRefused, match="is not the new key"):
        root_key_rotate(expected_fingerprint=fingerprint(other))
    assert not AuditEvent.objects.filter(event_name=ROTATE_ROOT_KEY_EVENT).exists()
    old = fingerprint(world["old_key"])
    assert all(set(found) == {old} for found in root_key_status().values())


def test_rotation_refuses_a_previous_key_that_is_the_current_key(world, settings):
    settings.KMS_PREVIOUS_ROOT_KEY = settings.KMS_ROOT_KEY
    with pytest.raises(RootKeyRotationRefused, match="same key as the current one"):
        root_key_rotate(expected_fingerprint=fingerprint(world["old_key"]))


def test_rotation_refuses_when_values_are_under_a_key_that_is_not_configured(world, settings):
    # The operator configured the new key but forgot the old one as the previous key.
    new_key = switch_to_new_root_key(settings)
    forget_previous_root_key(settings)
    with pytest.raises(RootKeyRotationRefused,
                       match=f"11 under {fingerprint(world['old_key'])}.*PREVIOUS_ROOT_KEY"):
        root_key_rotate(expected_fingerprint=fingerprint(new_key))


def test_format_1_values_from_before_format_2_are_rewrapped_without_a_previous_key(
        world, caller, settings):
    old_key = world["old_key"]
    for column, row, blob in wrapped_rows():
        plaintext = root_key().unwrap(blob, aad=column.aad_of(row))
        nonce = os.urandom(12)
        legacy = b"\x01" + nonce + AESGCM(old_key).encrypt(
            nonce, plaintext, b"\x01" + column.aad_of(row))
        column.model.objects.filter(pk=row.pk).update(**{column.field: legacy})
    assert all(set(found) == {FORMAT_1} for found in root_key_status().values())
    # Same key, new format: rotating to the key already configured upgrades every value.
    result = root_key_rotate(expected_fingerprint=fingerprint(old_key))
    assert result.finished and result.total().rewrapped == 11
    assert all(set(found) == {fingerprint(old_key)} for found in root_key_status().values())
    assert_everything_still_works(world, caller)


def test_a_value_no_configured_key_opens_fails_alone_and_the_run_is_unfinished(
        world, settings):
    access_key = AccessKey.objects.filter(user__account_id=ACCOUNT_ID).get()
    # A format 1 value under a key nobody has (a restore from another installation, say).
    AccessKey.objects.filter(pk=access_key.pk).update(secret_wrapped=b"\x01" + os.urandom(60))
    new_key = switch_to_new_root_key(settings)
    result = root_key_rotate(expected_fingerprint=fingerprint(new_key))
    assert not result.finished and result.interruption is None
    assert result.total().failed == 1 and result.total().rewrapped == 10
    assert result.tally.failures == [f"AccessKey.secret_wrapped id={access_key.pk}"]
    event = AuditEvent.objects.get(event_name=ROTATE_ROOT_KEY_EVENT,
                                   recipient_account_id=ACCOUNT_ID)
    assert event.error_code == "KMSInternalException"
    assert "1 wrapped value(s) could not be unwrapped" in event.error_message
    assert event.service_event_details["rotateRootKey"]["valuesFailed"] == 1


def test_a_value_a_server_changed_meanwhile_is_not_overwritten(world, settings, monkeypatch):
    new_key = switch_to_new_root_key(settings)
    access_key = AccessKey.objects.filter(user__account_id=ACCOUNT_ID).get()
    real_rewrap = RootKeyRing.rewrap

    def server_writes_first(self, blob, *, aad):
        if aad == access_key._aad():
            # A server process sets a new secret between the rotation's read and its write.
            fresh = AccessKey.objects.get(pk=access_key.pk)
            fresh.set_secret("a secret set meanwhile")
            fresh.save(update_fields=["secret_wrapped"])
        return real_rewrap(self, blob, aad=aad)

    monkeypatch.setattr(RootKeyRing, "rewrap", server_writes_first)
    result = root_key_rotate(expected_fingerprint=fingerprint(new_key))
    assert result.finished
    assert AccessKey.objects.get(pk=access_key.pk).secret() == "a secret set meanwhile"
    assert result.tally.by_column()["AccessKey.secret_wrapped"].skipped == 1


@pytest.mark.django_db(transaction=True)
def test_the_api_keeps_serving_boto3_halfway_through_a_rotation(
        live_server, admin, settings, monkeypatch):
    credentials = create_access_key(admin)
    kms = kms_client(live_server, credentials)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    before = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    new_key = switch_to_new_root_key(settings)
    real_rewrap = RootKeyRing.rewrap
    calls = []

    def failing_on_the_second(self, blob, *, aad):
        if calls:
            raise RuntimeError("power cut")
        calls.append(1)
        return real_rewrap(self, blob, aad=aad)

    monkeypatch.setattr(RootKeyRing, "rewrap", failing_on_the_second)
    half = root_key_rotate(expected_fingerprint=fingerprint(new_key), batch_size=1)
    assert half.total().rewrapped == 1 and not half.finished
    # The key material is under the new key, the access key secret still under the old one.
    status = root_key_status()
    assert status["KeyMaterial.wrapped"] == {fingerprint(new_key): 1}
    old = fingerprint(base64.b64decode(settings.KMS_PREVIOUS_ROOT_KEY))
    assert status["AccessKey.secret_wrapped"] == {old: 1}
    forget_every_opened_material()
    assert kms.decrypt(CiphertextBlob=before)["Plaintext"] == b"before"
    during = kms.encrypt(KeyId=key_id, Plaintext=b"during")["CiphertextBlob"]
    monkeypatch.setattr(RootKeyRing, "rewrap", real_rewrap)
    assert root_key_rotate(expected_fingerprint=fingerprint(new_key)).finished
    forget_previous_root_key(settings)
    forget_every_opened_material()
    assert kms.decrypt(CiphertextBlob=before)["Plaintext"] == b"before"
    assert kms.decrypt(CiphertextBlob=during)["Plaintext"] == b"during"


# --- the command ----------------------------------------------------------------------------

def key_file(path: Path, key: bytes) -> Path:
    path.write_text(b64(key) + "\n")
    path.chmod(0o600)
    return path


def test_generate_writes_a_0600_key_file_and_never_overwrites(tmp_path, capsys):
    path = tmp_path / "new-root.key"
    call_command("kms_root_key", "generate", str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = base64.b64decode(path.read_text())
    assert f"fingerprint {fingerprint(key)}" in capsys.readouterr().out
    with pytest.raises(CommandError, match="already exists; refusing to replace it"):
        call_command("kms_root_key", "generate", str(path))
    assert base64.b64decode(path.read_text()) == key


def test_rotate_and_status_commands_walk_the_operator_flow(world, settings, tmp_path, capsys):
    call_command("kms_root_key", "status")
    assert (f"AccessKey.secret_wrapped: 2 under the current root key "
            f"{fingerprint(world['old_key'])}") in capsys.readouterr().out
    new_path = tmp_path / "new.key"
    call_command("kms_root_key", "generate", str(new_path))
    new_key = base64.b64decode(new_path.read_text())
    settings.KMS_PREVIOUS_ROOT_KEY = settings.KMS_ROOT_KEY
    settings.KMS_ROOT_KEY = None
    settings.KMS_ROOT_KEY_FILE = str(new_path)
    with pytest.raises(SystemExit) as pending:
        call_command("kms_root_key", "status")
    assert pending.value.code == 1
    shown = capsys.readouterr()
    assert (f"AccessKey.secret_wrapped: 2 under the previous root key "
            f"{fingerprint(world['old_key'])}") in shown.out
    assert "11 wrapped value(s) are not under the current root key yet" in shown.err
    call_command("kms_root_key", "rotate", "--new-key-file", str(new_path), "--batch-size", "3")
    out = capsys.readouterr().out
    assert "KeyMaterial.wrapped: 3 re-wrapped, 0 skipped, 0 failed so far" in out
    assert "KeyMaterial.wrapped: 5 re-wrapped, 0 skipped, 0 failed" in out
    assert f"Done: 11 value(s) re-wrapped, 0 already under root key {fingerprint(new_key)}" in out
    call_command("kms_root_key", "status")  # exit 0: nothing needs the old key
    out = capsys.readouterr().out
    assert f"All 11 wrapped value(s) are under the current root key {fingerprint(new_key)}" in out
    assert "MFADevice.secret_wrapped: 1 under the current root key" in out


def test_rotate_command_refuses_a_key_file_that_is_not_the_configured_key(
        world, tmp_path):
    other = key_file(tmp_path / "other.key", generate_root_key())
    with pytest.raises(CommandError, match="is not the new key"):
        call_command("kms_root_key", "rotate", "--new-key-file", str(other))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("kms_root_key", "rotate", "--new-key-file", str(tmp_path / "missing"))
    loose = key_file(tmp_path / "loose.key", generate_root_key())
    loose.chmod(0o644)
    with pytest.raises(CommandError, match="group or others"):
        call_command("kms_root_key", "rotate", "--new-key-file", str(loose))


def test_rotate_command_exits_1_when_values_failed(world, settings, tmp_path, capsys):
    AccessKey.objects.filter(user__account_id=OTHER_ACCOUNT_ID).update(
        secret_wrapped=b"\x01" + os.urandom(60))
    new_path = key_file(tmp_path / "new.key", switch_to_new_root_key(settings))
    with pytest.raises(SystemExit) as done:
        call_command("kms_root_key", "rotate", "--new-key-file", str(new_path))
    assert done.value.code == 1
    assert "Not finished: 1 value(s) could not be unwrapped" in capsys.readouterr().err


def test_command_errors_are_one_clear_line_without_a_traceback(tmp_path):
    existing = key_file(tmp_path / "exists.key", generate_root_key())
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "KMS_VAR_DIR": str(tmp_path / "var")}
    for args, message in [
        (["generate", str(existing)], "already exists; refusing to replace it"),
        (["rotate", "--new-key-file", str(tmp_path / "missing.key")], "does not exist"),
    ]:
        done = subprocess.run([sys.executable, "manage.py", "kms_root_key", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1
        assert message in done.stderr and "Traceback" not in done.stderr


def test_a_previous_root_key_that_does_not_load_stops_the_start(tmp_path):
    loose = key_file(tmp_path / "previous.key", generate_root_key())
    loose.chmod(0o644)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "KMS_VAR_DIR": str(tmp_path / "var"), "KMS_PREVIOUS_ROOT_KEY_FILE": str(loose)}
    done = subprocess.run([sys.executable, "manage.py", "kms_root_key", "status"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert (f"The previous root key cannot be used: root key file {loose} is accessible by "
            "group or others") in done.stderr
    assert base64.b64decode(loose.read_text()).hex() not in done.stderr
