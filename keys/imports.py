"""Imported key material (BYOK, kms-spec.md 2.8 and 4.4): GetParametersForImport,
ImportKeyMaterial, DeleteImportedKeyMaterial, and the expiry the scheduled sweep runs.

Each operation is one door like keys/services.py. The wrapping private key is stored wrapped
under the root key and the import token only as its SHA-256, so a database reader can neither
unwrap a captured EncryptedKeyMaterial nor replay a token. The material itself is stored like
any other version (wrapped under the root key); beside it a wrapped commitment (keys/vault.py)
survives its deletion, so a re-import can be checked to be the same material.

Audit events carry keyId, the wrapping choices, expirationModel, validTo and importType, never
the token, the wrapped material or the material (kms-spec.md 7.2).

Out of scope here: several material versions in one imported key (ImportType
NEW_KEY_MATERIAL into a key that already has material, then RotateKeyOnDemand). It is refused
with UnsupportedOperationException.
"""

import datetime
import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.recording import operation
from grants.principals import Caller
from kmsconsole.errors import (
    ExpiredImportTokenError,
    IncorrectKeyMaterialError,
    InvalidCiphertextError,
    InvalidImportTokenError,
    InvalidStateError,
    NotFoundError,
    UnsupportedOperationError,
    ValidationError,
)

from . import validation
from .access import locked, open_key
from .crypto import errors as crypto_errors
from .crypto import import_wrapping
from .materials import add_material, forget_opened
from .models import (
    ENABLED,
    MANAGER_CUSTOMER,
    ORIGIN_EXTERNAL,
    PENDING_DELETION,
    PENDING_IMPORT,
    ImportParameters,
    Key,
    KeyMaterial,
)
from .vault import (
    material_matches_commitment,
    unwrap_import_private_key,
    wrap_import_private_key,
    wrap_material,
    wrap_material_commitment,
)

PARAMETERS_VALIDITY = datetime.timedelta(hours=24)
MAX_VALID_TO = datetime.timedelta(days=365)
# Expired parameters are kept a while so a late import is told "expired", not "invalid".
EXPIRED_PARAMETERS_KEPT = datetime.timedelta(days=7)
TOKEN_BYTES = 64

EXPIRES = "KEY_MATERIAL_EXPIRES"
DOES_NOT_EXPIRE = "KEY_MATERIAL_DOES_NOT_EXPIRE"
EXPIRATION_MODELS = [EXPIRES, DOES_NOT_EXPIRE]
NEW_KEY_MATERIAL = "NEW_KEY_MATERIAL"
EXISTING_KEY_MATERIAL = "EXISTING_KEY_MATERIAL"
IMPORT_TYPES = [NEW_KEY_MATERIAL, EXISTING_KEY_MATERIAL]
IMPORTED = "IMPORTED"
PENDING = "PENDING_IMPORT"


@dataclass(frozen=True)
class ImportParametersIssued:
    """GetParametersForImport's answer; the token exists in the clear only here."""

    key: Key
    import_token: bytes
    public_key: bytes
    valid_to: datetime.datetime


@dataclass(frozen=True)
class MaterialChange:
    key: Key
    material_id: str | None


# --- shared checks --------------------------------------------------------------------------

def _require_importable(key: Key) -> None:
    """Only customer managed keys of origin EXTERNAL take imported material."""
    if key.key_manager != MANAGER_CUSTOMER:
        raise UnsupportedOperationError(f"{key.arn} is an AWS managed key.")
    if key.origin != ORIGIN_EXTERNAL:
        raise UnsupportedOperationError(
            f"{key.arn} origin is {key.origin} which is not valid for this operation.")


def _require_not_pending_deletion(key: Key) -> None:
    if key.key_state == PENDING_DELETION:
        raise InvalidStateError(f"{key.arn} is pending deletion.")


def _last_material(key: Key) -> KeyMaterial | None:
    """The key's material row, present or deleted (an imported key has one version here)."""
    return key.materials.order_by("-version").first()


def _token_digest(token: bytes) -> str:
    return hashlib.sha256(token).hexdigest()


# --- GetParametersForImport -----------------------------------------------------------------

def _validate_wrapping(key: Key, wrapping_algorithm: str, wrapping_key_spec: str) -> None:
    validation.require_enum("wrappingAlgorithm", wrapping_algorithm,
                            import_wrapping.ALL_WRAPPING_ALGORITHMS)
    validation.require_enum("wrappingKeySpec", wrapping_key_spec,
                            import_wrapping.ALL_WRAPPING_KEY_SPECS)
    if wrapping_algorithm == "RSAES_PKCS1_V1_5":
        raise ValidationError("The RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported. "
                              "Use an RSAES_OAEP_* or RSA_AES_KEY_WRAP_* wrapping algorithm.")
    if wrapping_algorithm == "SM2PKE" or wrapping_key_spec == "SM2":
        raise UnsupportedOperationError("SM2 wrapping is available only in China Regions.")
    try:
        import_wrapping.check_wrapping(key_spec=key.key_spec,
                                       wrapping_algorithm=wrapping_algorithm,
                                       wrapping_key_spec=wrapping_key_spec)
    except import_wrapping.UnsupportedWrappingError as error:
        raise ValidationError(str(error)) from None


def import_parameters_get(*, caller: Caller, key_id: str, wrapping_algorithm: str,
                          wrapping_key_spec: str) -> ImportParametersIssued:
    """GetParametersForImport: a fresh RSA wrapping key and an import token, valid 24 hours.

    Allowed while the key is pending import, enabled or disabled (a re-import); refused while
    pending deletion. CloudTrail records it as readOnly with no responseElements.
    """
    params = {"keyId": key_id, "wrappingAlgorithm": wrapping_algorithm,
              "wrappingKeySpec": wrapping_key_spec}
    with operation(caller, "GetParametersForImport", read_only=True,
                   request_parameters=params) as op:
        key = open_key(op, caller, key_id, "kms:GetParametersForImport", allow_alias=False,
                       context={"kms:WrappingAlgorithm": wrapping_algorithm,
                                "kms:WrappingKeySpec": wrapping_key_spec})
        _require_importable(key)
        _require_not_pending_deletion(key)
        _validate_wrapping(key, wrapping_algorithm, wrapping_key_spec)
        now = timezone.now()
        ImportParameters.objects.filter(key=key,
                                        valid_to__lt=now - EXPIRED_PARAMETERS_KEPT).delete()
        private_der, public_der = import_wrapping.generate_wrapping_key(wrapping_key_spec)
        token = secrets.token_bytes(TOKEN_BYTES)
        digest = _token_digest(token)
        issued = ImportParameters.objects.create(
            key=key, wrapping_key_spec=wrapping_key_spec, wrapping_algorithm=wrapping_algorithm,
            wrapped_private_key=wrap_import_private_key(key_arn=key.arn, token_digest=digest,
                                                        private_der=private_der),
            token_digest=digest, created_at=now, valid_to=now + PARAMETERS_VALIDITY)
        return ImportParametersIssued(key, token, public_der, issued.valid_to)


# --- ImportKeyMaterial ----------------------------------------------------------------------

def _import_params(key_id, expiration_model, valid_to, import_type, description,
                   key_material_id) -> dict:
    params = {"keyId": key_id, "expirationModel": expiration_model or EXPIRES}
    optional = {"validTo": valid_to.isoformat() if valid_to else None,
                "importType": import_type, "keyMaterialDescription": description,
                "keyMaterialId": key_material_id}
    params.update({name: value for name, value in optional.items() if value is not None})
    return params


def _validate_expiration(model: str, valid_to: datetime.datetime | None,
                         now: datetime.datetime) -> None:
    validation.require_enum("expirationModel", model, EXPIRATION_MODELS)
    if model == DOES_NOT_EXPIRE:
        if valid_to is not None:
            raise ValidationError("A validTo date must not be set if the ExpirationModel is "
                                  f"{DOES_NOT_EXPIRE}.")
        return
    if valid_to is None:
        raise ValidationError(f"A validTo date must be set if the ExpirationModel is {EXPIRES}.")
    if valid_to <= now:
        raise ValidationError("The validTo date must be in the future.")
    if valid_to > now + MAX_VALID_TO:
        raise ValidationError("The validTo date must be at most 365 days from now.")


def _claim_parameters(key: Key, token: bytes, now: datetime.datetime) -> ImportParameters:
    """The unexpired parameters row this token was issued with, for this key.

    Threat: a token issued for another key (or a guessed one) must not open a wrapping key;
    both look the same to the caller.
    """
    row = (ImportParameters.objects.select_for_update()
           .filter(token_digest=_token_digest(token), key=key).first())
    if row is None:
        raise InvalidImportTokenError(
            f"The import token is not valid for {key.arn}. Use the import token from a "
            f"GetParametersForImport response for this key.")
    if row.valid_to <= now:
        raise ExpiredImportTokenError(
            "The import token has expired. Download a new wrapping key and import token.")
    return row


def _unwrapped_material(key: Key, row: ImportParameters, encrypted: bytes) -> bytes:
    private_der = unwrap_import_private_key(key_arn=key.arn, token_digest=row.token_digest,
                                            wrapped=row.wrapped_private_key)
    try:
        material = import_wrapping.unwrap(private_der=private_der,
                                          wrapping_algorithm=row.wrapping_algorithm,
                                          encrypted=encrypted)
    except crypto_errors.InvalidCiphertextError:
        raise InvalidCiphertextError(
            f"The encrypted key material could not be unwrapped with the {row.wrapping_key_spec}"
            f" wrapping key and the {row.wrapping_algorithm} wrapping algorithm of this import "
            f"token.") from None
    try:
        return import_wrapping.canonical_material(key.key_spec, material)
    except import_wrapping.IncorrectMaterialError as error:
        raise IncorrectKeyMaterialError(str(error)) from None


def _import_type(key: Key, import_type: str | None, existing: KeyMaterial | None) -> None:
    if import_type is None:
        return  # NEW for the first import, EXISTING after, as AWS defaults it
    validation.require_enum("importType", import_type, IMPORT_TYPES)
    if import_type == NEW_KEY_MATERIAL and existing is not None:
        raise UnsupportedOperationError(
            "Importing new key material into a key that already has key material (ImportType "
            "NEW_KEY_MATERIAL) is not supported by this service. Re-import the same key "
            "material with ImportType EXISTING_KEY_MATERIAL.")
    if import_type == EXISTING_KEY_MATERIAL and existing is None:
        raise ValidationError(f"{key.arn} has no key material to re-import. Use ImportType "
                              f"{NEW_KEY_MATERIAL} for its first import.")


def import_key_material(*, caller: Caller, key_id: str, import_token: bytes,
                        encrypted_key_material: bytes, expiration_model: str | None = None,
                        valid_to: datetime.datetime | None = None,
                        import_type: str | None = None,
                        key_material_description: str | None = None,
                        key_material_id: str | None = None) -> MaterialChange:
    """ImportKeyMaterial: the first import stores version 1 and enables the key; a re-import
    must be the same material (IncorrectKeyMaterialException otherwise) and restores that same
    version, so ciphertexts made before the deletion decrypt again. The token is used up."""
    params = _import_params(key_id, expiration_model, valid_to, import_type,
                            key_material_description, key_material_id)
    model = expiration_model or EXPIRES
    with operation(caller, "ImportKeyMaterial", read_only=False, request_parameters=params) as op:
        conditions = {"kms:ExpirationModel": model}
        if valid_to is not None:
            conditions["kms:ValidTo"] = valid_to
        key = locked(open_key(op, caller, key_id, "kms:ImportKeyMaterial", allow_alias=False,
                              context=conditions))
        _require_importable(key)
        _require_not_pending_deletion(key)
        validation.require_length("importToken", import_token, 1, 6144)
        validation.require_length("encryptedKeyMaterial", encrypted_key_material, 1, 6144)
        if key_material_description is not None:
            validation.require_length("keyMaterialDescription", key_material_description, 0, 256)
        if key_material_id is not None:
            validation.require_length("keyMaterialId", key_material_id, 64, 64)
        now = timezone.now()
        _validate_expiration(model, valid_to, now)
        existing = _last_material(key)
        _import_type(key, import_type, existing)
        if key_material_id is not None and (existing is None
                                            or key_material_id != existing.material_id):
            raise NotFoundError(f"Key material {key_material_id} does not exist in {key.arn}.")
        row = _claim_parameters(key, import_token, now)
        material = _unwrapped_material(key, row, encrypted_key_material)
        if existing is None:
            add_material(key, version=1, material=material)
            existing = key.materials.get(version=1)
        elif not material_matches_commitment(key_arn=key.arn, material=material,
                                             wrapped=existing.material_commitment):
            raise IncorrectKeyMaterialError(
                f"The key material is not the key material previously imported into {key.arn}. "
                f"A key with imported material only ever takes that same material.")
        else:
            existing.wrapped = wrap_material(key_arn=key.arn, version=existing.version,
                                             material=material)
            key.current_version = existing.version
        existing.import_state = IMPORTED
        existing.expiration_model = model
        existing.valid_to = valid_to if model == EXPIRES else None
        existing.material_commitment = wrap_material_commitment(key_arn=key.arn,
                                                                material=material)
        if key_material_description is not None:
            existing.material_description = key_material_description
        existing.save(update_fields=["wrapped", "import_state", "expiration_model", "valid_to",
                                     "material_commitment", "material_description"])
        if key.key_state == PENDING_IMPORT:
            key.key_state = ENABLED
        key.save(update_fields=["current_version", "key_state"])
        row.delete()  # a token imports once
        return MaterialChange(key, existing.material_id)


# --- DeleteImportedKeyMaterial and expiry ---------------------------------------------------

def _remove_material(key: Key, row: KeyMaterial) -> None:
    """Take the material out of the database (the row keeps its id and commitment for a
    re-import); the key waits for an import, unless it is pending deletion already."""
    row.wrapped = b""
    row.import_state = PENDING
    row.expiration_model = ""
    row.valid_to = None
    row.save(update_fields=["wrapped", "import_state", "expiration_model", "valid_to"])
    key.current_version = None
    if key.key_state != PENDING_DELETION:
        key.key_state = PENDING_IMPORT
    key.save(update_fields=["current_version", "key_state"])
    # Evict now and again after the commit, so that no request racing this transaction can
    # leave the old plaintext cached in this process.
    forget_opened(key.pk)
    transaction.on_commit(lambda: forget_opened(key.pk))


def delete_imported_key_material(*, caller: Caller, key_id: str,
                                 key_material_id: str | None = None) -> MaterialChange:
    """DeleteImportedKeyMaterial: the key becomes PendingImport and unusable until the same
    material is imported again. On a key already waiting for its material it changes nothing."""
    params = {"keyId": key_id}
    if key_material_id is not None:
        params["keyMaterialId"] = key_material_id
    with operation(caller, "DeleteImportedKeyMaterial", read_only=False,
                   request_parameters=params) as op:
        key = locked(open_key(op, caller, key_id, "kms:DeleteImportedKeyMaterial",
                              allow_alias=False))
        _require_importable(key)
        if key_material_id is not None:
            validation.require_length("keyMaterialId", key_material_id, 64, 64)
        row = _last_material(key)
        if key_material_id is not None and (row is None or row.material_id != key_material_id):
            raise NotFoundError(f"Key material {key_material_id} does not exist in {key.arn}.")
        if row is None or not row.wrapped:
            return MaterialChange(key, row.material_id if row else None)
        _remove_material(key, row)
        return MaterialChange(key, row.material_id)


def _expired_material(key: Key, now: datetime.datetime) -> KeyMaterial | None:
    if key.origin != ORIGIN_EXTERNAL or key.current_version is None:
        return None
    return key.materials.filter(version=key.current_version, import_state=IMPORTED,
                                expiration_model=EXPIRES, valid_to__lte=now).first()


def keys_with_expired_material(now: datetime.datetime) -> list[str]:
    """Ids of EXTERNAL keys whose current material is imported, expires, and is due."""
    ids = (KeyMaterial.objects.filter(key__origin=ORIGIN_EXTERNAL, import_state=IMPORTED,
                                      expiration_model=EXPIRES, valid_to__lte=now)
           .values_list("key_id", "version", "key__current_version"))
    return list(dict.fromkeys(str(key_id) for key_id, version, current in ids
                              if version == current))


def expire_imported_material(key_id, now: datetime.datetime) -> bool:
    """Delete `key_id`'s imported material if it expired by `now`, as AWS does at ValidTo: a
    DeleteExpiredKeyMaterial service event. Whether this call expired it.

    The key is claimed with select_for_update(skip_locked=True) in a transaction of its own,
    so two sweeps never expire the same key twice (the second skips or finds nothing left to
    do). A failure is recorded as a failed service event (operation() runs in a savepoint of
    the claim's transaction, which then commits that event) and raised again after it.
    """
    failure = None
    with transaction.atomic():
        key = Key.objects.select_for_update(skip_locked=True).filter(pk=key_id).first()
        row = _expired_material(key, now) if key is not None else None
        if row is None:
            return False
        caller = Caller.scheduler(account_id=key.account_id, region=key.region)
        try:
            with operation(caller, "DeleteExpiredKeyMaterial", read_only=False) as op:
                op.add_key(key)
                op.service_event_details = {"keyId": str(key.id),
                                            "keyMaterialId": row.material_id}
                _remove_material(key, row)
        except Exception as error:
            failure = error
    if failure is not None:
        raise failure
    return True


# --- reading, for the console's Key material tab --------------------------------------------

def material_summary(key: Key) -> KeyMaterial | None:
    """The key's imported material row (import state, expiration, id) for a key the caller
    was already allowed to describe; None before the first import."""
    if key.origin != ORIGIN_EXTERNAL:
        return None
    return _last_material(key)


def expiration_metadata(key: Key) -> dict:
    """KeyMetadata's ExpirationModel and ValidTo of an EXTERNAL key, as AWS sends them: only
    while imported material is present, ValidTo only when that material expires."""
    row = key.materials.filter(version=key.current_version).first() \
        if key.current_version is not None else None
    if row is None or row.import_state != IMPORTED:
        return {}
    metadata = {"ExpirationModel": row.expiration_model}
    if row.expiration_model == EXPIRES:
        metadata["ValidTo"] = row.valid_to
    return metadata
