"""Imported key material through the services (keys/imports.py; kms-spec.md 2.8, 3.3, 4.4).

Material is made and wrapped offline as a key owner would (tests/byok.py); every mutating path
checks its audit event, and that no event carries the token, the wrapped material or the
material.
"""

import base64
import datetime
import json

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from keys import imports, operations, services
from keys.materials import open_material
from keys.models import ImportParameters, Key, KeyMaterial
from kmsconsole.errors import (
    AccessDeniedError,
    ExpiredImportTokenError,
    IncorrectKeyMaterialError,
    InvalidCiphertextError,
    InvalidImportTokenError,
    InvalidStateError,
    UnsupportedOperationError,
    ValidationError,
)
from tests.byok import make_material, wrap_offline
from tests.conftest import caller_for, make_user

from .conftest import create_key, raises_kms

CONTEXT = {"purpose": "byok"}
DOES_NOT_EXPIRE = {"expiration_model": "KEY_MATERIAL_DOES_NOT_EXPIRE"}


def external_key(caller, key_spec="SYMMETRIC_DEFAULT"):
    return create_key(caller, key_spec, origin="EXTERNAL")


def parameters(caller, key, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048"):
    return imports.import_parameters_get(caller=caller, key_id=str(key.id),
                                         wrapping_algorithm=algorithm, wrapping_key_spec=spec)


def do_import(caller, key, material, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048", **kwargs):
    issued = parameters(caller, key, algorithm, spec)
    return imports.import_key_material(
        caller=caller, key_id=str(key.id), import_token=issued.import_token,
        encrypted_key_material=wrap_offline(issued.public_key, algorithm, material),
        **(kwargs or DOES_NOT_EXPIRE))


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).order_by("-id").first()


def reloaded(key) -> Key:
    return Key.objects.get(pk=key.pk)


# --- GetParametersForImport -----------------------------------------------------------------

def test_parameters_are_an_rsa_public_key_and_a_token_valid_for_24_hours(caller):
    key = external_key(caller)
    before = timezone.now()
    issued = parameters(caller, key, spec="RSA_3072")
    assert issued.key.pk == key.pk
    assert before + datetime.timedelta(hours=24) <= issued.valid_to \
        <= timezone.now() + datetime.timedelta(hours=24)
    assert issued.public_key.startswith(b"\x30") and len(issued.import_token) >= 32
    [row] = ImportParameters.objects.filter(key=key)
    # Only a digest of the token and the wrapping key wrapped under the root key are stored.
    assert row.token_digest != issued.import_token.hex()
    assert issued.import_token not in bytes(row.wrapped_private_key)
    event = last_event("GetParametersForImport")
    assert event.read_only is True and event.response_elements is None
    assert event.request_parameters == {"keyId": str(key.id),
                                        "wrappingAlgorithm": "RSAES_OAEP_SHA_256",
                                        "wrappingKeySpec": "RSA_3072"}


def test_a_key_of_aws_kms_origin_takes_no_imported_material(caller, sym_key):
    with raises_kms(UnsupportedOperationError,
                    f"{sym_key.arn} origin is AWS_KMS which is not valid for this operation."):
        parameters(caller, sym_key)
    assert last_event("GetParametersForImport").error_code == "UnsupportedOperationException"


def test_a_key_pending_deletion_gets_no_parameters(caller):
    key = external_key(caller)
    services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    with raises_kms(InvalidStateError, f"{key.arn} is pending deletion."):
        parameters(caller, key)


@pytest.mark.parametrize("algorithm, spec, error", [
    ("RSAES_PKCS1_V1_5", "RSA_2048", ValidationError),
    ("RSAES_OAEP_SHA_256", "RSA_1024", ValidationError),
    ("SM2PKE", "SM2", UnsupportedOperationError),
])
def test_deprecated_unknown_and_china_only_wrapping_is_refused(caller, algorithm, spec, error):
    key = external_key(caller)
    with raises_kms(error):
        parameters(caller, key, algorithm, spec)
    assert not ImportParameters.objects.filter(key=key).exists()


def test_rsaes_oaep_parameters_for_an_rsa_key_are_refused(caller):
    key = external_key(caller, "RSA_2048")
    with raises_kms(ValidationError, contains=("RSA_AES_KEY_WRAP_SHA_256",)):
        parameters(caller, key, "RSAES_OAEP_SHA_1", "RSA_4096")


# --- ImportKeyMaterial ----------------------------------------------------------------------

def test_imported_symmetric_material_enables_the_key_and_encrypts(caller):
    key = external_key(caller)
    assert key.key_state == "PendingImport"
    change = do_import(caller, key, make_material("SYMMETRIC_DEFAULT"))
    key = reloaded(key)
    assert key.key_state == "Enabled" and key.current_version == 1
    assert change.material_id == key.current_material_id() and len(change.material_id) == 64
    row = key.materials.get()
    assert (row.import_state, row.expiration_model, row.valid_to) == (
        "IMPORTED", "KEY_MATERIAL_DOES_NOT_EXPIRE", None)
    blob = operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"secret",
                              encryption_context=CONTEXT).blob
    assert operations.decrypt(caller=caller, ciphertext_blob=blob,
                              encryption_context=CONTEXT).plaintext == b"secret"
    event = last_event("ImportKeyMaterial")
    assert event.read_only is False and event.error_code == ""
    assert event.request_parameters == {"keyId": str(key.id),
                                        "expirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}


def test_the_import_token_is_used_up(caller):
    key = external_key(caller)
    material = make_material("SYMMETRIC_DEFAULT")
    issued = parameters(caller, key)
    encrypted = wrap_offline(issued.public_key, "RSAES_OAEP_SHA_256", material)
    imports.import_key_material(caller=caller, key_id=str(key.id),
                                import_token=issued.import_token,
                                encrypted_key_material=encrypted, **DOES_NOT_EXPIRE)
    assert not ImportParameters.objects.filter(key=key).exists()
    with raises_kms(InvalidImportTokenError):
        imports.import_key_material(caller=caller, key_id=str(key.id),
                                    import_token=issued.import_token,
                                    encrypted_key_material=encrypted, **DOES_NOT_EXPIRE)


def test_a_wrong_import_token_is_refused(caller):
    key = external_key(caller)
    issued = parameters(caller, key)
    with raises_kms(InvalidImportTokenError):
        imports.import_key_material(
            caller=caller, key_id=str(key.id), import_token=b"not the token",
            encrypted_key_material=wrap_offline(issued.public_key, "RSAES_OAEP_SHA_256",
                                                make_material("SYMMETRIC_DEFAULT")),
            **DOES_NOT_EXPIRE)
    assert reloaded(key).key_state == "PendingImport"
    assert last_event("ImportKeyMaterial").error_code == "InvalidImportTokenException"


def test_the_import_token_of_another_key_is_refused(caller):
    key, other = external_key(caller), external_key(caller)
    issued = parameters(caller, other)
    with raises_kms(InvalidImportTokenError):
        imports.import_key_material(
            caller=caller, key_id=str(key.id), import_token=issued.import_token,
            encrypted_key_material=wrap_offline(issued.public_key, "RSAES_OAEP_SHA_256",
                                                make_material("SYMMETRIC_DEFAULT")),
            **DOES_NOT_EXPIRE)


def test_an_import_token_older_than_24_hours_is_expired(caller):
    key = external_key(caller)
    issued = parameters(caller, key)
    encrypted = wrap_offline(issued.public_key, "RSAES_OAEP_SHA_256",
                             make_material("SYMMETRIC_DEFAULT"))
    with time_machine.travel(issued.valid_to + datetime.timedelta(seconds=1)):
        with raises_kms(ExpiredImportTokenError):
            imports.import_key_material(caller=caller, key_id=str(key.id),
                                        import_token=issued.import_token,
                                        encrypted_key_material=encrypted, **DOES_NOT_EXPIRE)
    with time_machine.travel(issued.valid_to - datetime.timedelta(minutes=1)):
        imports.import_key_material(caller=caller, key_id=str(key.id),
                                    import_token=issued.import_token,
                                    encrypted_key_material=encrypted, **DOES_NOT_EXPIRE)
    assert reloaded(key).key_state == "Enabled"


def test_material_wrapped_with_another_algorithm_is_an_invalid_ciphertext(caller):
    key = external_key(caller)
    issued = parameters(caller, key, "RSAES_OAEP_SHA_256")
    with raises_kms(InvalidCiphertextError):
        imports.import_key_material(
            caller=caller, key_id=str(key.id), import_token=issued.import_token,
            encrypted_key_material=wrap_offline(issued.public_key, "RSAES_OAEP_SHA_1",
                                                make_material("SYMMETRIC_DEFAULT")),
            **DOES_NOT_EXPIRE)
    assert reloaded(key).key_state == "PendingImport"


@pytest.mark.parametrize("key_spec, material", [
    ("SYMMETRIC_DEFAULT", b"\x01" * 16),
    ("HMAC_256", b"\x02" * 31),
    ("ECC_NIST_P256", None),
])
def test_material_that_does_not_fit_the_key_spec_is_incorrect(caller, key_spec, material):
    key = external_key(caller, key_spec)
    material = material or make_material("ECC_NIST_P384")
    with raises_kms(IncorrectKeyMaterialError, contains=(key_spec,)):
        do_import(caller, key, material)
    assert not KeyMaterial.objects.filter(key=key).exists()


@pytest.mark.parametrize("kwargs, fragment", [
    ({}, "validTo date must be set"),
    ({"expiration_model": "KEY_MATERIAL_EXPIRES"}, "validTo date must be set"),
    ({"expiration_model": "KEY_MATERIAL_DOES_NOT_EXPIRE",
      "valid_to": datetime.timedelta(days=1)}, "must not be set"),
    ({"expiration_model": "KEY_MATERIAL_EXPIRES", "valid_to": -datetime.timedelta(minutes=1)},
     "in the future"),
    ({"expiration_model": "KEY_MATERIAL_EXPIRES", "valid_to": datetime.timedelta(days=366)},
     "365 days"),
    ({"expiration_model": "SOMETIMES"}, "expirationModel"),
])
def test_expiration_rules_are_aws_s(caller, kwargs, fragment):
    key = external_key(caller)
    if "valid_to" in kwargs:
        kwargs = {**kwargs, "valid_to": timezone.now() + kwargs["valid_to"]}
    issued = parameters(caller, key)
    with raises_kms(ValidationError, contains=(fragment,)):
        imports.import_key_material(
            caller=caller, key_id=str(key.id), import_token=issued.import_token,
            encrypted_key_material=wrap_offline(issued.public_key, "RSAES_OAEP_SHA_256",
                                                make_material("SYMMETRIC_DEFAULT")), **kwargs)


def test_expiring_material_shows_its_model_and_date_in_the_metadata(caller):
    from api.handlers import key_metadata

    key = external_key(caller)
    valid_to = timezone.now() + datetime.timedelta(days=30)
    do_import(caller, key, make_material("SYMMETRIC_DEFAULT"),
              expiration_model="KEY_MATERIAL_EXPIRES", valid_to=valid_to)
    metadata = key_metadata(reloaded(key))
    assert metadata["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert metadata["ValidTo"] == valid_to
    event = last_event("ImportKeyMaterial")
    assert event.request_parameters["validTo"] == valid_to.isoformat()
    assert "ExpirationModel" not in key_metadata(external_key(caller))


@pytest.mark.parametrize("key_spec, use", [
    ("ECC_NIST_P256", "sign"), ("ECC_NIST_P521", "sign"), ("RSA_2048", "sign"),
    ("RSA_3072", "encrypt"), ("HMAC_384", "mac"),
])
def test_asymmetric_and_hmac_material_imports_and_works(caller, key_spec, use):
    usage = {"sign": "SIGN_VERIFY", "encrypt": "ENCRYPT_DECRYPT",
             "mac": "GENERATE_VERIFY_MAC"}[use]
    key = create_key(caller, key_spec, usage, origin="EXTERNAL")
    material = make_material(key_spec)
    algorithm = "RSA_AES_KEY_WRAP_SHA_256" if key_spec.startswith(("RSA", "ECC_NIST_P521")) \
        else "RSAES_OAEP_SHA_1"
    do_import(caller, key, material, algorithm, "RSA_4096")
    assert open_material(reloaded(key), 1).plaintext == material
    key_id = str(key.id)
    if use == "sign":
        algo = {"ECC_NIST_P256": "ECDSA_SHA_256", "ECC_NIST_P521": "ECDSA_SHA_512",
                "RSA_2048": "RSASSA_PSS_SHA_256"}[key_spec]
        signature = operations.sign(caller=caller, key_id=key_id, message=b"m",
                                    signing_algorithm=algo).signature
        operations.verify(caller=caller, key_id=key_id, message=b"m", signature=signature,
                          signing_algorithm=algo)
    elif use == "encrypt":
        blob = operations.encrypt(caller=caller, key_id=key_id, plaintext=b"m",
                                  encryption_algorithm="RSAES_OAEP_SHA_256").blob
        assert operations.decrypt(caller=caller, ciphertext_blob=blob, key_id=key_id,
                                  encryption_algorithm="RSAES_OAEP_SHA_256").plaintext == b"m"
    else:
        mac = operations.generate_mac(caller=caller, key_id=key_id, message=b"m",
                                      mac_algorithm="HMAC_SHA_384").mac
        operations.verify_mac(caller=caller, key_id=key_id, message=b"m", mac_value=mac,
                              mac_algorithm="HMAC_SHA_384")


# --- DeleteImportedKeyMaterial and re-import ------------------------------------------------

def test_deleted_material_makes_the_key_pending_import_until_the_same_material_returns(caller):
    key = external_key(caller)
    material = make_material("SYMMETRIC_DEFAULT")
    material_id = do_import(caller, key, material).material_id
    blob = operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"kept",
                              encryption_context=CONTEXT).blob
    change = imports.delete_imported_key_material(caller=caller, key_id=str(key.id))
    assert change.material_id == material_id
    key = reloaded(key)
    assert key.key_state == "PendingImport" and key.current_version is None
    row = key.materials.get()
    assert bytes(row.wrapped) == b"" and row.import_state == "PENDING_IMPORT"
    assert open_material(key, 1) is None  # the opened-material cache was emptied too
    event = last_event("DeleteImportedKeyMaterial")
    assert event.read_only is False and event.request_parameters == {"keyId": str(key.id)}
    with raises_kms(InvalidStateError, f"{key.arn} is pending import."):
        operations.decrypt(caller=caller, ciphertext_blob=blob, encryption_context=CONTEXT)
    # A different key's worth of material is refused; the same material restores version 1.
    with raises_kms(IncorrectKeyMaterialError):
        do_import(caller, key, make_material("SYMMETRIC_DEFAULT"),
                  "RSA_AES_KEY_WRAP_SHA_1", "RSA_3072")
    again = do_import(caller, key, material, "RSA_AES_KEY_WRAP_SHA_1", "RSA_3072",
                      import_type="EXISTING_KEY_MATERIAL",
                      expiration_model="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert again.material_id == material_id
    assert reloaded(key).key_state == "Enabled"
    assert operations.decrypt(caller=caller, ciphertext_blob=blob,
                              encryption_context=CONTEXT).plaintext == b"kept"


def test_a_different_material_is_refused_even_while_the_first_is_present(caller):
    key = external_key(caller)
    do_import(caller, key, make_material("SYMMETRIC_DEFAULT"))
    with raises_kms(IncorrectKeyMaterialError):
        do_import(caller, key, make_material("SYMMETRIC_DEFAULT"))
    assert last_event("ImportKeyMaterial").error_code == "IncorrectKeyMaterialException"


def test_new_key_material_for_a_key_that_has_material_is_not_supported(caller):
    key = external_key(caller)
    material = make_material("SYMMETRIC_DEFAULT")
    do_import(caller, key, material)
    with raises_kms(UnsupportedOperationError, contains=("NEW_KEY_MATERIAL",)):
        do_import(caller, key, material, import_type="NEW_KEY_MATERIAL",
                  expiration_model="KEY_MATERIAL_DOES_NOT_EXPIRE")


def test_deleting_the_material_of_a_key_pending_import_changes_nothing(caller):
    key = external_key(caller)
    change = imports.delete_imported_key_material(caller=caller, key_id=str(key.id))
    assert change.material_id is None and reloaded(key).key_state == "PendingImport"


def test_a_key_whose_material_was_deleted_returns_to_pending_import_on_cancelled_deletion(
        caller):
    key = external_key(caller)
    do_import(caller, key, make_material("SYMMETRIC_DEFAULT"))
    services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    imports.delete_imported_key_material(caller=caller, key_id=str(key.id))
    assert reloaded(key).key_state == "PendingDeletion"
    services.key_cancel_deletion(caller=caller, key_id=str(key.id))
    assert reloaded(key).key_state == "PendingImport"


def test_material_of_an_aws_kms_key_cannot_be_deleted(caller, sym_key):
    with raises_kms(UnsupportedOperationError):
        imports.delete_imported_key_material(caller=caller, key_id=str(sym_key.id))
    assert open_material(reloaded(sym_key), 1) is not None


# --- expiry (the scheduled sweep calls these) -----------------------------------------------

def test_expired_material_is_deleted_by_the_sweep_at_its_valid_to_and_not_before(caller):
    key, lasting = external_key(caller), external_key(caller)
    valid_to = timezone.now() + datetime.timedelta(days=10)
    do_import(caller, key, make_material("SYMMETRIC_DEFAULT"),
              expiration_model="KEY_MATERIAL_EXPIRES", valid_to=valid_to)
    do_import(caller, lasting, make_material("SYMMETRIC_DEFAULT"))
    before = valid_to - datetime.timedelta(seconds=1)
    assert imports.keys_with_expired_material(before) == []
    assert imports.expire_imported_material(key.id, before) is False
    with time_machine.travel(valid_to + datetime.timedelta(minutes=5)):
        now = timezone.now()
        assert imports.keys_with_expired_material(now) == [str(key.id)]
        assert imports.expire_imported_material(str(key.id), now) is True
        assert imports.expire_imported_material(str(key.id), now) is False
    key = reloaded(key)
    assert key.key_state == "PendingImport" and bytes(key.materials.get().wrapped) == b""
    assert reloaded(lasting).key_state == "Enabled"
    [event] = AuditEvent.objects.filter(event_name="DeleteExpiredKeyMaterial")
    record = event.as_record()
    assert record["eventType"] == "AwsServiceEvent" and record["readOnly"] is False
    assert record["requestParameters"] is None
    assert event.resources == [{"accountId": key.account_id, "type": "AWS::KMS::Key",
                                "ARN": key.arn}]


# --- authorization and audit ----------------------------------------------------------------

@pytest.fixture
def nobody(account):
    return caller_for(make_user(account, "nobody"))


def test_a_user_without_permission_is_refused_every_import_operation(caller, nobody):
    key = external_key(caller)
    issued = parameters(caller, key)
    with raises_kms(AccessDeniedError, contains=("kms:GetParametersForImport",)):
        parameters(nobody, key)
    with raises_kms(AccessDeniedError, contains=("kms:ImportKeyMaterial",)):
        imports.import_key_material(
            caller=nobody, key_id=str(key.id), import_token=issued.import_token,
            encrypted_key_material=wrap_offline(issued.public_key, "RSAES_OAEP_SHA_256",
                                                make_material("SYMMETRIC_DEFAULT")),
            **DOES_NOT_EXPIRE)
    with raises_kms(AccessDeniedError, contains=("kms:DeleteImportedKeyMaterial",)):
        imports.delete_imported_key_material(caller=nobody, key_id=str(key.id))
    assert ImportParameters.objects.filter(key=key).count() == 1
    assert reloaded(key).key_state == "PendingImport"


def test_no_event_holds_the_token_the_wrapped_material_or_the_material(caller):
    key = external_key(caller)
    material = make_material("SYMMETRIC_DEFAULT")
    issued = parameters(caller, key, "RSA_AES_KEY_WRAP_SHA_256")
    encrypted = wrap_offline(issued.public_key, "RSA_AES_KEY_WRAP_SHA_256", material)
    imports.import_key_material(caller=caller, key_id=str(key.id),
                                import_token=issued.import_token,
                                encrypted_key_material=encrypted, **DOES_NOT_EXPIRE)
    imports.delete_imported_key_material(caller=caller, key_id=str(key.id))
    dump = json.dumps([event.as_record() for event in AuditEvent.objects.all()],
                      default=str).lower()
    for secret in (issued.import_token, encrypted, material, issued.public_key):
        for form in (secret.hex(), base64.b64encode(secret).decode().lower()):
            assert form not in dump
