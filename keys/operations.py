"""Cryptographic operations: Encrypt, Decrypt, ReEncrypt, data keys, Sign/Verify, MAC, random.

Each is one door like keys/services.py. Material is unwrapped from the root key only for the
duration of one operation and never leaves this module except as the operation's own output
(a data key's plaintext, a decrypted plaintext). Audit events carry key ids, encryption context
and algorithms, never plaintext, data keys or ciphertexts (kms-spec.md 7.2).
"""

from dataclasses import dataclass

from audit.recording import operation
from grants.authorization import authorize
from grants.grant_tokens import require_valid_grant_tokens
from grants.principals import Caller
from kmsconsole.errors import (
    DryRunOperationError,
    IncorrectKeyError,
    InvalidCiphertextError,
    InvalidKeyUsageError,
    InvalidMacError,
    InvalidSignatureError,
    UnsupportedOperationError,
    ValidationError,
)

from . import states, validation
from .access import authorize_key, open_key, resolve_key
from .crypto import asymmetric, envelope, mac, specs
from .crypto import errors as crypto_errors
from .crypto import material as fresh
from .materials import OpenedMaterial, open_material
from .models import Key
from .services import require_no_custom_key_store

SYMMETRIC = "SYMMETRIC_DEFAULT"
DRY_RUN_MESSAGE = "The request would have succeeded, but the DryRun option is set."


@dataclass(frozen=True)
class Ciphertext:
    """What Encrypt/GenerateDataKey/ReEncrypt hand back besides the blob itself."""

    key: Key
    blob: bytes
    algorithm: str
    material_id: str | None


@dataclass(frozen=True)
class Plaintext:
    key: Key
    plaintext: bytes
    algorithm: str
    material_id: str | None


@dataclass(frozen=True)
class DataKey:
    key: Key
    plaintext: bytes | None
    ciphertext: bytes
    material_id: str


@dataclass(frozen=True)
class DataKeyPair:
    key: Key
    key_pair_spec: str
    public_key: bytes
    private_plaintext: bytes | None
    private_ciphertext: bytes
    material_id: str


@dataclass(frozen=True)
class Signature:
    key: Key
    signature: bytes
    algorithm: str


@dataclass(frozen=True)
class Mac:
    key: Key
    mac: bytes
    algorithm: str


# --- helpers --------------------------------------------------------------------------------

def _material(key: Key, version: int | None = None) -> OpenedMaterial:
    opened = open_material(key, key.current_version if version is None else version)
    if opened is None:
        raise InvalidCiphertextError()
    return opened


def _require_usage(key: Key, usage: str, operation_name: str) -> None:
    if key.key_usage != usage:
        raise InvalidKeyUsageError(
            f"{key.arn} key usage is {key.key_usage} which is not valid for {operation_name}.")


def _require_symmetric(key: Key, operation_name: str) -> None:
    _require_usage(key, "ENCRYPT_DECRYPT", operation_name)
    if key.key_spec != SYMMETRIC:
        raise InvalidKeyUsageError(
            f"{key.arn} key spec is {key.key_spec} which is not valid for {operation_name}.")


def _use_key(op, caller: Caller, key_id: str, action: str, *, context: dict | None = None,
             encryption_context: dict | None = None) -> Key:
    """Open a key for a cryptographic operation: authorized with the operation's condition
    keys, and in a state that allows use."""
    key = open_key(op, caller, key_id, action, context=context,
                   encryption_context=encryption_context)
    states.require_state(key, states.USE)
    return key


def _dry_run(dry_run: bool) -> None:
    if dry_run:
        raise DryRunOperationError(DRY_RUN_MESSAGE)


def _context_params(params: dict, context: dict | None) -> dict:
    if context:
        params["encryptionContext"] = context
    return params


def _check_plaintext(plaintext: bytes) -> None:
    validation.require_length("plaintext", plaintext, 1, specs.SYMMETRIC_PLAINTEXT_MAX,
                              sensitive=True)


def _check_message(message: bytes) -> None:
    validation.require_length("message", message, 1, 4096, sensitive=True)


def _algorithm(key: Key, algorithm: str | None, allowed: list[str], kind: str) -> str:
    if algorithm is None:
        raise ValidationError(f"{kind} is required for {key.key_spec} keys.")
    if algorithm not in allowed:
        raise InvalidKeyUsageError(
            f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}.")
    return algorithm


def _crypto_call(function, **kwargs):
    """Run a keys.crypto function, turning its errors into AWS errors."""
    try:
        return function(**kwargs)
    except crypto_errors.InvalidCiphertextError:
        raise InvalidCiphertextError() from None
    except (crypto_errors.PlaintextTooLargeError, crypto_errors.InvalidDigestLengthError) as e:
        raise ValidationError(str(e)) from None
    except crypto_errors.UnsupportedAlgorithmError as error:
        raise InvalidKeyUsageError(str(error)) from None


def _encrypt_with(key: Key, plaintext: bytes, context: dict | None,
                  algorithm: str | None, *, dry_run: bool = False) -> Ciphertext:
    """Encrypt under `key` (already authorized and usable); shared by Encrypt, ReEncrypt and
    the data-key operations. Every check comes before DryRun: a dry run answers "would it
    succeed", so it must fail exactly where the real request would."""
    _require_usage(key, "ENCRYPT_DECRYPT", "Encrypt")
    if key.key_spec == SYMMETRIC:
        if algorithm not in (None, SYMMETRIC):
            raise InvalidKeyUsageError(
                f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}.")
        _check_plaintext(plaintext)
        _dry_run(dry_run)
        opened = _material(key)
        blob = envelope.encrypt(material=opened.plaintext, key_id=key.id,
                                version=opened.version, plaintext=plaintext, context=context)
        return Ciphertext(key, blob, SYMMETRIC, opened.material_id)
    algorithm = _algorithm(key, algorithm, specs.encryption_algorithms(key.key_spec,
                                                                       key.key_usage),
                           "EncryptionAlgorithm")
    if context:
        raise ValidationError("EncryptionContext is not supported with asymmetric keys.")
    _check_plaintext(plaintext)
    limit = specs.rsa_oaep_max_plaintext(key.key_spec, algorithm)
    if len(plaintext) > limit:
        raise ValidationError(str(crypto_errors.PlaintextTooLargeError.for_limit(
            algorithm, key.key_spec, limit)))
    _dry_run(dry_run)
    material = _material(key).plaintext
    blob = _crypto_call(asymmetric.rsa_encrypt, private_der=material, key_spec=key.key_spec,
                        algorithm=algorithm, plaintext=plaintext)
    return Ciphertext(key, blob, algorithm, None)


def _decrypt_with(op, caller: Caller, blob: bytes, context: dict | None, key_id: str | None,
                  algorithm: str | None, action: str, dry_run: bool = False) -> Plaintext:
    """Find the key a ciphertext belongs to, authorize `action` on it, and open it."""
    validation.require_length("ciphertextBlob", blob, 1, 6144)
    named = _named_key(op, caller, key_id) if key_id is not None else None
    if named is not None and named.key_spec != SYMMETRIC:
        key = named
        authorize_key(caller, action, key,
                      context={"kms:EncryptionAlgorithm": algorithm or SYMMETRIC})
        states.require_state(key, states.USE)
        _require_usage(key, "ENCRYPT_DECRYPT", "Decrypt")
        algorithm = _algorithm(key, algorithm, specs.encryption_algorithms(
            key.key_spec, key.key_usage), "EncryptionAlgorithm")
        material = _material(key).plaintext
        plaintext = _crypto_call(asymmetric.rsa_decrypt, private_der=material,
                                 key_spec=key.key_spec, algorithm=algorithm, ciphertext=blob)
        # Only an opened ciphertext proves the real request would succeed.
        _dry_run(dry_run)
        return Plaintext(key, plaintext, algorithm, None)
    if algorithm not in (None, SYMMETRIC):
        raise InvalidKeyUsageError(f"Algorithm {algorithm} cannot decrypt this ciphertext.")
    key, version = _blob_key(caller, blob)
    if named is not None and named.pk != key.pk:
        raise IncorrectKeyError("The key ID in the request does not identify a CMK that can "
                                "perform this operation.")
    op.add_key(key)
    authorize_key(caller, action, key, context={"kms:EncryptionAlgorithm": SYMMETRIC},
                  encryption_context=context or {})
    states.require_state(key, states.USE)
    _require_symmetric(key, "Decrypt")
    opened = _material(key, version)
    plaintext = _crypto_call(envelope.decrypt, material=opened.plaintext, blob=blob,
                             context=context)
    _dry_run(dry_run)
    return Plaintext(key, plaintext, SYMMETRIC, opened.material_id)


def _dry_run_ignoring_ciphertext(op, caller: Caller, blob: bytes | None, key_id: str | None,
                                 action: str, dry_run: bool, modifiers: list[str] | None) -> None:
    """DryRun with IGNORE_CIPHERTEXT checks permission on KeyId without reading a ciphertext.
    Without it, a request with no CiphertextBlob is incomplete."""
    if dry_run and "IGNORE_CIPHERTEXT" in (modifiers or []):
        if key_id is None:
            raise ValidationError("KeyId is required when DryRunModifiers has IGNORE_CIPHERTEXT.")
        key = open_key(op, caller, key_id, action)
        states.require_state(key, states.USE)
        _dry_run(dry_run)
    if blob is None:
        raise ValidationError(validation.constraint_message("ciphertextBlob", None,
                                                            "not be null"))


def _record_key_material(op, **material_ids: str | None) -> None:
    """CloudTrail's additionalEventData for the use of a symmetric key (AWS's records since
    2025): which key material the request used, keyMaterialId (ReEncrypt: destinationKeyMaterialId
    and sourceKeyMaterialId), so an admin can tell which requests a rotated-out material served.
    An asymmetric key's single material has no id and adds nothing."""
    ids = {name: value for name, value in material_ids.items() if value}
    if ids:
        op.additional_event_data = {**(op.additional_event_data or {}), **ids}


def _named_key(op, caller: Caller, key_id: str) -> Key:
    key = resolve_key(caller, key_id)
    op.add_key(key)
    return key


def _blob_key(caller: Caller, blob: bytes) -> tuple[Key, int]:
    """The key and material version a symmetric blob names, or InvalidCiphertextError."""
    try:
        header = envelope.read_header(blob)
    except crypto_errors.InvalidCiphertextError:
        raise InvalidCiphertextError() from None
    key = Key.objects.filter(id=header.key_id, region=caller.region).first()
    if key is None:
        # Garbage, a blob of a deleted key, or of another region: indistinguishable, as in AWS.
        raise InvalidCiphertextError()
    return key, header.version


# --- operations -----------------------------------------------------------------------------

def encrypt(*, caller: Caller, key_id: str, plaintext: bytes, encryption_context=None,
            encryption_algorithm: str | None = None, grant_tokens=None,
            dry_run: bool = False) -> Ciphertext:
    """Encrypt: up to 4096 bytes under a symmetric key, or within the RSA OAEP limits."""
    params = _context_params({"keyId": key_id, "encryptionAlgorithm":
                              encryption_algorithm or SYMMETRIC}, encryption_context)
    with operation(caller, "Encrypt", read_only=True, request_parameters=params) as op:
        validation.validate_encryption_context(encryption_context)
        require_valid_grant_tokens(grant_tokens)
        key = _use_key(op, caller, key_id, "kms:Encrypt",
                       context={"kms:EncryptionAlgorithm": encryption_algorithm or SYMMETRIC},
                       encryption_context=encryption_context or {})
        result = _encrypt_with(key, plaintext, encryption_context, encryption_algorithm,
                               dry_run=dry_run)
        _record_key_material(op, keyMaterialId=result.material_id)
        return result


def decrypt(*, caller: Caller, ciphertext_blob: bytes | None, encryption_context=None,
            key_id: str | None = None, encryption_algorithm: str | None = None,
            grant_tokens=None, dry_run: bool = False,
            dry_run_modifiers: list[str] | None = None) -> Plaintext:
    """Decrypt: the blob names its key and material version; KeyId is needed only for RSA."""
    params = _context_params({"encryptionAlgorithm": encryption_algorithm or SYMMETRIC},
                             encryption_context)
    if key_id is not None:
        params["keyId"] = key_id
    with operation(caller, "Decrypt", read_only=True, request_parameters=params) as op:
        validation.validate_encryption_context(encryption_context)
        require_valid_grant_tokens(grant_tokens)
        _dry_run_ignoring_ciphertext(op, caller, ciphertext_blob, key_id, "kms:Decrypt",
                                     dry_run, dry_run_modifiers)
        result = _decrypt_with(op, caller, ciphertext_blob, encryption_context, key_id,
                               encryption_algorithm, "kms:Decrypt", dry_run)
        _record_key_material(op, keyMaterialId=result.material_id)
        return result


def re_encrypt(*, caller: Caller, ciphertext_blob: bytes, destination_key_id: str,
               source_encryption_context=None, source_key_id: str | None = None,
               destination_encryption_context=None, source_encryption_algorithm=None,
               destination_encryption_algorithm=None, grant_tokens=None,
               dry_run: bool = False,
               dry_run_modifiers: list[str] | None = None) -> tuple[Plaintext, Ciphertext]:
    """ReEncrypt: decrypt and encrypt inside the service; the plaintext never leaves."""
    params = {"destinationKeyId": destination_key_id,
              "sourceEncryptionAlgorithm": source_encryption_algorithm or SYMMETRIC,
              "destinationEncryptionAlgorithm": destination_encryption_algorithm or SYMMETRIC}
    if source_key_id is not None:
        params["sourceKeyId"] = source_key_id
    if source_encryption_context:
        params["sourceEncryptionContext"] = source_encryption_context
    if destination_encryption_context:
        params["destinationEncryptionContext"] = destination_encryption_context
    with operation(caller, "ReEncrypt", read_only=True, request_parameters=params) as op:
        validation.validate_encryption_context(source_encryption_context)
        validation.validate_encryption_context(destination_encryption_context)
        require_valid_grant_tokens(grant_tokens)
        _dry_run_ignoring_ciphertext(op, caller, ciphertext_blob, source_key_id,
                                     "kms:ReEncryptFrom", dry_run, dry_run_modifiers)
        source = _decrypt_with(op, caller, ciphertext_blob, source_encryption_context,
                               source_key_id, source_encryption_algorithm, "kms:ReEncryptFrom")
        destination = _use_key(
            op, caller, destination_key_id, "kms:ReEncryptTo",
            context={"kms:EncryptionAlgorithm": destination_encryption_algorithm or SYMMETRIC},
            encryption_context=destination_encryption_context or {})
        _require_usage(destination, "ENCRYPT_DECRYPT", "ReEncrypt")
        result = _encrypt_with(destination, source.plaintext, destination_encryption_context,
                               destination_encryption_algorithm, dry_run=dry_run)
        _record_key_material(op, destinationKeyMaterialId=result.material_id,
                             sourceKeyMaterialId=source.material_id)
        return source, result


def _data_key_size(key_spec: str | None, number_of_bytes: int | None) -> None:
    if key_spec is None and number_of_bytes is None:
        raise ValidationError("Please specify either number of bytes or key spec.")
    if key_spec is not None and number_of_bytes is not None:
        raise ValidationError("Please specify either number of bytes or key spec, not both.")
    if key_spec is not None:
        validation.require_enum("keySpec", key_spec, specs.DATA_KEY_SPECS)
    else:
        validation.require_range("numberOfBytes", number_of_bytes, 1, 1024)


def generate_data_key(*, caller: Caller, key_id: str, encryption_context=None,
                      number_of_bytes: int | None = None, key_spec: str | None = None,
                      grant_tokens=None, dry_run: bool = False,
                      with_plaintext: bool = True) -> DataKey:
    """GenerateDataKey(+WithoutPlaintext): a random key, returned also encrypted under the key."""
    name = "GenerateDataKey" if with_plaintext else "GenerateDataKeyWithoutPlaintext"
    params = _context_params({"keyId": key_id}, encryption_context)
    if key_spec is not None:
        params["keySpec"] = key_spec
    if number_of_bytes is not None:
        params["numberOfBytes"] = number_of_bytes
    with operation(caller, name, read_only=True, request_parameters=params) as op:
        validation.validate_encryption_context(encryption_context)
        _data_key_size(key_spec, number_of_bytes)
        require_valid_grant_tokens(grant_tokens)
        key = _use_key(op, caller, key_id, f"kms:{name}",
                       encryption_context=encryption_context or {})
        _require_symmetric(key, name)
        _dry_run(dry_run)
        data_key = fresh.generate_data_key(key_spec=key_spec, number_of_bytes=number_of_bytes)
        sealed = _encrypt_with(key, data_key, encryption_context, None)
        _record_key_material(op, keyMaterialId=sealed.material_id)
        return DataKey(key, data_key if with_plaintext else None, sealed.blob,
                       sealed.material_id)


def generate_data_key_pair(*, caller: Caller, key_id: str, key_pair_spec: str,
                           encryption_context=None, grant_tokens=None, dry_run: bool = False,
                           with_plaintext: bool = True) -> DataKeyPair:
    """GenerateDataKeyPair(+WithoutPlaintext): the private key comes back sealed under the key."""
    name = "GenerateDataKeyPair" if with_plaintext else "GenerateDataKeyPairWithoutPlaintext"
    params = _context_params({"keyId": key_id, "keyPairSpec": key_pair_spec},
                             encryption_context)
    with operation(caller, name, read_only=True, request_parameters=params) as op:
        validation.validate_encryption_context(encryption_context)
        validation.require_enum("keyPairSpec", key_pair_spec, specs.ALL_DATA_KEY_PAIR_SPECS)
        require_valid_grant_tokens(grant_tokens)
        key = _use_key(op, caller, key_id, f"kms:{name}",
                       context={"kms:DataKeyPairSpec": key_pair_spec},
                       encryption_context=encryption_context or {})
        _require_symmetric(key, name)
        if key_pair_spec not in specs.DATA_KEY_PAIR_SPECS:
            raise UnsupportedOperationError(
                f"KeyPairSpec {key_pair_spec} is not supported by this service.")
        _dry_run(dry_run)
        private_der, public_der = fresh.generate_data_key_pair(key_pair_spec)
        sealed = _encrypt_with(key, private_der, encryption_context, None)
        _record_key_material(op, keyMaterialId=sealed.material_id)
        return DataKeyPair(key, key_pair_spec, public_der,
                           private_der if with_plaintext else None, sealed.blob,
                           sealed.material_id)


def generate_random(*, caller: Caller, number_of_bytes: int | None,
                    custom_key_store_id: str | None = None) -> bytes:
    """GenerateRandom: 1-1024 bytes from the CSPRNG; needs no key."""
    params = {} if number_of_bytes is None else {"numberOfBytes": number_of_bytes}
    with operation(caller, "GenerateRandom", read_only=True, request_parameters=params):
        authorize(caller, "kms:GenerateRandom")
        require_no_custom_key_store(custom_key_store_id)
        if number_of_bytes is None:
            raise ValidationError("NumberOfBytes is required.")
        validation.require_range("numberOfBytes", number_of_bytes, 1, 1024)
        return fresh.random_bytes(number_of_bytes)


def _signing_key(op, caller: Caller, key_id: str, action: str, algorithm: str,
                 message: bytes, message_type: str) -> tuple[Key, bytes]:
    validation.require_enum("messageType", message_type, specs.MESSAGE_TYPES)
    _check_message(message)
    key = _use_key(op, caller, key_id, action, context={"kms:SigningAlgorithm": algorithm,
                                                          "kms:MessageType": message_type})
    _require_usage(key, "SIGN_VERIFY", action.removeprefix("kms:"))
    _algorithm(key, algorithm, specs.signing_algorithms(key.key_spec, key.key_usage),
               "SigningAlgorithm")
    if message_type == "DIGEST" and len(message) != specs.digest_length(algorithm):
        raise ValidationError(str(crypto_errors.InvalidDigestLengthError.for_algorithm(
            algorithm)))
    material = _material(key).plaintext
    return key, material


def sign(*, caller: Caller, key_id: str, message: bytes, signing_algorithm: str,
         message_type: str = "RAW", grant_tokens=None, dry_run: bool = False) -> Signature:
    """Sign: RSA PSS / PKCS#1 v1.5 or ECDSA (DER) over a message or a digest."""
    params = {"keyId": key_id, "signingAlgorithm": signing_algorithm,
              "messageType": message_type}
    with operation(caller, "Sign", read_only=True, request_parameters=params) as op:
        require_valid_grant_tokens(grant_tokens)
        key, material = _signing_key(op, caller, key_id, "kms:Sign", signing_algorithm,
                                     message, message_type)
        _dry_run(dry_run)
        signature = _crypto_call(asymmetric.sign, private_der=material, key_spec=key.key_spec,
                                 algorithm=signing_algorithm, message=message,
                                 message_type=message_type)
        return Signature(key, signature, signing_algorithm)


def verify(*, caller: Caller, key_id: str, message: bytes, signature: bytes,
           signing_algorithm: str, message_type: str = "RAW", grant_tokens=None,
           dry_run: bool = False) -> Signature:
    """Verify: a valid signature returns; an invalid one raises KMSInvalidSignatureException."""
    params = {"keyId": key_id, "signingAlgorithm": signing_algorithm,
              "messageType": message_type}
    with operation(caller, "Verify", read_only=True, request_parameters=params) as op:
        validation.require_length("signature", signature, 1, 6144)
        require_valid_grant_tokens(grant_tokens)
        key, material = _signing_key(op, caller, key_id, "kms:Verify", signing_algorithm,
                                     message, message_type)
        _dry_run(dry_run)
        valid = _crypto_call(asymmetric.verify, private_der=material, key_spec=key.key_spec,
                             algorithm=signing_algorithm, message=message,
                             message_type=message_type, signature=signature)
        if not valid:
            raise InvalidSignatureError()
        return Signature(key, signature, signing_algorithm)


def _mac_key(op, caller: Caller, key_id: str, action: str, algorithm: str,
             message: bytes) -> tuple[Key, bytes]:
    validation.require_enum("macAlgorithm", algorithm, specs.MAC_ALGORITHMS)
    _check_message(message)
    key = _use_key(op, caller, key_id, action, context={"kms:MacAlgorithm": algorithm})
    _require_usage(key, "GENERATE_VERIFY_MAC", action.removeprefix("kms:"))
    material = _material(key).plaintext
    return key, material


def generate_mac(*, caller: Caller, key_id: str, message: bytes, mac_algorithm: str,
                 grant_tokens=None, dry_run: bool = False) -> Mac:
    """GenerateMac: HMAC with the SHA-2 the key spec names."""
    params = {"keyId": key_id, "macAlgorithm": mac_algorithm}
    with operation(caller, "GenerateMac", read_only=True, request_parameters=params) as op:
        require_valid_grant_tokens(grant_tokens)
        key, material = _mac_key(op, caller, key_id, "kms:GenerateMac", mac_algorithm, message)
        _dry_run(dry_run)
        tag = _crypto_call(mac.generate_mac, material=material, key_spec=key.key_spec,
                           algorithm=mac_algorithm, message=message)
        return Mac(key, tag, mac_algorithm)


def verify_mac(*, caller: Caller, key_id: str, message: bytes, mac_value: bytes,
               mac_algorithm: str, grant_tokens=None, dry_run: bool = False) -> Mac:
    """VerifyMac: a valid MAC returns; an invalid one raises KMSInvalidMacException."""
    params = {"keyId": key_id, "macAlgorithm": mac_algorithm}
    with operation(caller, "VerifyMac", read_only=True, request_parameters=params) as op:
        validation.require_length("mac", mac_value, 1, 6144)
        require_valid_grant_tokens(grant_tokens)
        key, material = _mac_key(op, caller, key_id, "kms:VerifyMac", mac_algorithm, message)
        _dry_run(dry_run)
        valid = _crypto_call(mac.verify_mac, material=material, key_spec=key.key_spec,
                             algorithm=mac_algorithm, message=message, mac=mac_value)
        if not valid:
            raise InvalidMacError()
        return Mac(key, mac_value, mac_algorithm)


def get_public_key(*, caller: Caller, key_id: str, grant_tokens=None) -> tuple[Key, bytes]:
    """GetPublicKey: DER SubjectPublicKeyInfo of an asymmetric key."""
    with operation(caller, "GetPublicKey", read_only=True,
                   request_parameters={"keyId": key_id}) as op:
        require_valid_grant_tokens(grant_tokens)
        key = _use_key(op, caller, key_id, "kms:GetPublicKey")
        if specs.key_type(key.key_spec) != "ASYMMETRIC":
            raise UnsupportedOperationError(
                f"{key.arn} key spec is {key.key_spec}, which has no public key.")
        material = _material(key).plaintext
        return key, asymmetric.public_key_der(material)
