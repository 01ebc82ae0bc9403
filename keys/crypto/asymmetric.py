"""RSA and ECC keys: generation, RSA-OAEP encryption, signing (kms-spec.md 4.2).

Private keys are passed around as DER PKCS#8 (the stored, root-key-wrapped
material) and public keys as DER SubjectPublicKeyInfo, the formats AWS returns
from GetPublicKey and GenerateDataKeyPair. All primitives come from
cryptography.hazmat; this module only maps AWS algorithm names onto them and
enforces AWS's rules (algorithm must fit the key spec, OAEP size limits, digest
lengths).
"""

from __future__ import annotations

import functools

from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as _LibUnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from . import specs
from .errors import (
    CryptoError,
    InvalidCiphertextError,
    InvalidDigestLengthError,
    PlaintextTooLargeError,
    UnsupportedAlgorithmError,
)

__all__ = [
    "generate_private_key",
    "public_key_der",
    "rsa_encrypt",
    "rsa_decrypt",
    "sign",
    "verify",
]

_RSA_BITS: dict[str, int] = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_RSA_PUBLIC_EXPONENT = 65537

_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}

_OAEP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RSAES_OAEP_SHA_1": hashes.SHA1,
    "RSAES_OAEP_SHA_256": hashes.SHA256,
}

# Signing algorithm -> (scheme, hash). The scheme picks the padding/signature type.
_SIGNING: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    "RSASSA_PSS_SHA_256": ("pss", hashes.SHA256),
    "RSASSA_PSS_SHA_384": ("pss", hashes.SHA384),
    "RSASSA_PSS_SHA_512": ("pss", hashes.SHA512),
    "RSASSA_PKCS1_V1_5_SHA_256": ("pkcs1v15", hashes.SHA256),
    "RSASSA_PKCS1_V1_5_SHA_384": ("pkcs1v15", hashes.SHA384),
    "RSASSA_PKCS1_V1_5_SHA_512": ("pkcs1v15", hashes.SHA512),
    "ECDSA_SHA_256": ("ecdsa", hashes.SHA256),
    "ECDSA_SHA_384": ("ecdsa", hashes.SHA384),
    "ECDSA_SHA_512": ("ecdsa", hashes.SHA512),
}


def generate_private_key(key_spec: str) -> bytes:
    """Generate a private key for an RSA/ECC key spec; return DER PKCS#8 (unencrypted)."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if key_spec in _RSA_BITS:
        key = rsa.generate_private_key(
            public_exponent=_RSA_PUBLIC_EXPONENT, key_size=_RSA_BITS[key_spec]
        )
    elif key_spec in _EC_CURVES:
        key = ec.generate_private_key(_EC_CURVES[key_spec]())
    else:
        raise ValueError(f"not an asymmetric key spec we implement: {key_spec!r}")
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


# Parsing an RSA private key includes OpenSSL's full consistency check (tens of ms
# for RSA_2048, ~250 ms for RSA_4096). We keep that check -- an inconsistent key
# (say p*q != n from imported material) can leak its factors through faulty CRT
# signatures -- and pay it once per key per process by caching parsed keys. The
# cache holds nothing the process does not hold anyway: whoever can read this
# process's memory also has the root key. Key objects are immutable.
_PARSED_KEY_CACHE_SIZE = 256


@functools.lru_cache(maxsize=_PARSED_KEY_CACHE_SIZE)
def _parse_private(private_der: bytes) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_der_private_key(private_der, password=None)
    except (ValueError, TypeError, _LibUnsupportedAlgorithm):
        raise CryptoError("stored private key could not be loaded") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise CryptoError("stored private key is not an RSA or EC key")
    return key


def _load_private(private_der: bytes) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """Load stored key material; failure means corrupt storage, not bad user input."""
    if not isinstance(private_der, bytes):
        raise CryptoError("stored private key must be bytes")
    return _parse_private(private_der)


def _rsa_key_for_spec(private_der: bytes, key_spec: str) -> rsa.RSAPrivateKey:
    """Load an RSA key and check its size matches key_spec.

    Threat: a material row attached to the wrong key (or a key spec edited in the
    database) would otherwise encrypt or sign with, say, a 2048-bit key while
    KeyMetadata promises 4096.
    """
    key = _load_private(private_der)
    if (
        key_spec not in _RSA_BITS
        or not isinstance(key, rsa.RSAPrivateKey)
        or key.key_size != _RSA_BITS[key_spec]
    ):
        raise CryptoError(f"stored private key does not match key spec {key_spec}")
    return key


def _ec_key_for_spec(private_der: bytes, key_spec: str) -> ec.EllipticCurvePrivateKey:
    """Load an EC key and check its curve matches key_spec (same threat as above)."""
    key = _load_private(private_der)
    if (
        key_spec not in _EC_CURVES
        or not isinstance(key, ec.EllipticCurvePrivateKey)
        or not isinstance(key.curve, _EC_CURVES[key_spec])
    ):
        raise CryptoError(f"stored private key does not match key spec {key_spec}")
    return key


def public_key_der(private_der: bytes) -> bytes:
    """DER SubjectPublicKeyInfo of the public half of a DER PKCS#8 private key."""
    return (
        _load_private(private_der)
        .public_key()
        .public_bytes(
            encoding=serialization.Encoding.DER,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )


def _oaep(key_spec: str, algorithm: str) -> padding.OAEP:
    """OAEP padding per kms-spec 4.2: MGF1 with the same hash, empty label."""
    if algorithm not in _OAEP_HASHES or algorithm not in specs.encryption_algorithms(
        key_spec, "ENCRYPT_DECRYPT"
    ):
        raise UnsupportedAlgorithmError.incompatible(algorithm, key_spec)
    hash_cls = _OAEP_HASHES[algorithm]
    return padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None)


def rsa_encrypt(*, private_der: bytes, key_spec: str, algorithm: str, plaintext: bytes) -> bytes:
    """RSA-OAEP encrypt with the public half of the key."""
    oaep = _oaep(key_spec, algorithm)
    limit = specs.rsa_oaep_max_plaintext(key_spec, algorithm)
    if len(plaintext) > limit:
        raise PlaintextTooLargeError.for_limit(algorithm, key_spec, limit)
    key = _rsa_key_for_spec(private_der, key_spec)
    return key.public_key().encrypt(plaintext, oaep)


def rsa_decrypt(*, private_der: bytes, key_spec: str, algorithm: str, ciphertext: bytes) -> bytes:
    """RSA-OAEP decrypt; any failure of the ciphertext raises InvalidCiphertextError.

    One undifferentiated error for wrong length, bad padding and the other OAEP
    hash keeps this from acting as a padding oracle (Manger's attack on OAEP). An
    algorithm the key spec does not support at all is UnsupportedAlgorithmError.
    """
    oaep = _oaep(key_spec, algorithm)
    key = _rsa_key_for_spec(private_der, key_spec)
    if not isinstance(ciphertext, (bytes, bytearray, memoryview)):
        raise InvalidCiphertextError()
    try:
        return key.decrypt(bytes(ciphertext), oaep)
    except ValueError:
        raise InvalidCiphertextError() from None


def _signing_params(
    key_spec: str, algorithm: str, message: bytes, message_type: str
) -> tuple[str, hashes.HashAlgorithm, hashes.HashAlgorithm | Prehashed]:
    """Validate algorithm/message type/digest length; return (scheme, hash, data-hash).

    data-hash is what cryptography should hash the input with: the hash itself for
    RAW, Prehashed(hash) for DIGEST (the input already is the digest).
    """
    if algorithm not in _SIGNING or algorithm not in specs.signing_algorithms(
        key_spec, "SIGN_VERIFY"
    ):
        raise UnsupportedAlgorithmError.incompatible(algorithm, key_spec)
    if message_type not in specs.MESSAGE_TYPES:
        raise ValueError(f"unsupported message type: {message_type!r}")
    if not isinstance(message, bytes):
        raise TypeError("message must be bytes")
    scheme, hash_cls = _SIGNING[algorithm]
    hash_alg = hash_cls()
    if message_type == "RAW":
        return scheme, hash_alg, hash_alg
    if len(message) != hash_alg.digest_size:
        raise InvalidDigestLengthError.for_algorithm(algorithm)
    return scheme, hash_alg, Prehashed(hash_alg)


def _rsa_signature_padding(
    scheme: str, hash_alg: hashes.HashAlgorithm
) -> padding.PSS | padding.PKCS1v15:
    if scheme == "pkcs1v15":
        return padding.PKCS1v15()
    # AWS PSS: MGF1 with the same hash and salt length = hash length (not
    # MAX_LENGTH, which verifiers expecting AWS's parameters would reject).
    return padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)


def sign(
    *, private_der: bytes, key_spec: str, algorithm: str, message: bytes, message_type: str
) -> bytes:
    """Sign a RAW message or a DIGEST; RSA signatures are PKCS#1, ECDSA is DER."""
    scheme, hash_alg, data_hash = _signing_params(key_spec, algorithm, message, message_type)
    if scheme == "ecdsa":
        ec_key = _ec_key_for_spec(private_der, key_spec)
        return ec_key.sign(message, ec.ECDSA(data_hash))
    rsa_key = _rsa_key_for_spec(private_der, key_spec)
    return rsa_key.sign(message, _rsa_signature_padding(scheme, hash_alg), data_hash)


def verify(
    *,
    private_der: bytes,
    key_spec: str,
    algorithm: str,
    message: bytes,
    message_type: str,
    signature: bytes,
) -> bool:
    """True iff signature is valid; False on mismatch or malformed signature."""
    scheme, hash_alg, data_hash = _signing_params(key_spec, algorithm, message, message_type)
    if scheme == "ecdsa":
        ec_public = _ec_key_for_spec(private_der, key_spec).public_key()
    else:
        rsa_public = _rsa_key_for_spec(private_der, key_spec).public_key()
    if not isinstance(signature, bytes):
        return False
    try:
        if scheme == "ecdsa":
            ec_public.verify(signature, message, ec.ECDSA(data_hash))
        else:
            pad = _rsa_signature_padding(scheme, hash_alg)
            rsa_public.verify(signature, message, pad, data_hash)
    except (InvalidSignature, ValueError):
        # ValueError: some malformed signature encodings are rejected by the
        # library before verification; to the caller that is just "invalid".
        return False
    return True
