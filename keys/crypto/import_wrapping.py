"""Imported key material (BYOK): wrapping key pairs and unwrapping EncryptedKeyMaterial.

kms-spec.md 4.4. GetParametersForImport hands out the public half of a fresh RSA wrapping key;
the caller wraps its key material offline under it, and ImportKeyMaterial unwraps it here:

* RSAES_OAEP_SHA_1 / RSAES_OAEP_SHA_256: RSA-OAEP (MGF1 with the same hash, empty label)
  directly over the material.
* RSA_AES_KEY_WRAP_SHA_1 / RSA_AES_KEY_WRAP_SHA_256: the caller wraps the material with a fresh
  AES key using AES Key Wrap with padding (RFC 5649) and RSA-OAEP-encrypts that AES key; the
  blob is the RSA ciphertext (modulus length) followed by the AES-wrapped material.

The unwrapped material must fit the KMS key's spec: 32 bytes for SYMMETRIC_DEFAULT, the HMAC
key lengths AWS accepts, or a DER PKCS#8 private key of the key's RSA size or ECC curve.
Pure Python on top of `cryptography`, no Django.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from .errors import CryptoError, InvalidCiphertextError

__all__ = [
    "WRAPPING_KEY_SPECS",
    "ALL_WRAPPING_KEY_SPECS",
    "WRAPPING_ALGORITHMS",
    "ALL_WRAPPING_ALGORITHMS",
    "HMAC_KEY_BYTES",
    "UnsupportedWrappingError",
    "IncorrectMaterialError",
    "generate_wrapping_key",
    "check_wrapping",
    "unwrap",
    "canonical_material",
]

# The wrapping key specs and algorithms this service implements (SM2 / SM2PKE are China-only).
WRAPPING_KEY_SPECS: tuple[str, ...] = ("RSA_2048", "RSA_3072", "RSA_4096")
ALL_WRAPPING_KEY_SPECS: tuple[str, ...] = WRAPPING_KEY_SPECS + ("SM2",)
WRAPPING_ALGORITHMS: tuple[str, ...] = (
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
)
# The full AlgorithmSpec enum of the AWS model; RSAES_PKCS1_V1_5 is refused since 2023-10-10.
ALL_WRAPPING_ALGORITHMS: tuple[str, ...] = ("RSAES_PKCS1_V1_5",) + WRAPPING_ALGORITHMS + (
    "SM2PKE",)

_RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RSAES_OAEP_SHA_1": hashes.SHA1,
    "RSAES_OAEP_SHA_256": hashes.SHA256,
    "RSA_AES_KEY_WRAP_SHA_1": hashes.SHA1,
    "RSA_AES_KEY_WRAP_SHA_256": hashes.SHA256,
}
_SYMMETRIC_KEY_BYTES = 32
# Lengths AWS accepts for imported HMAC key material, inclusive (kms-spec.md 4.3).
HMAC_KEY_BYTES: dict[str, tuple[int, int]] = {
    "HMAC_224": (28, 64),
    "HMAC_256": (32, 64),
    "HMAC_384": (48, 128),
    "HMAC_512": (64, 128),
}
_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
_AES_KEY_BYTES = (16, 24, 32)


class UnsupportedWrappingError(CryptoError):
    """A wrapping algorithm / wrapping key spec that cannot carry this key spec's material."""


class IncorrectMaterialError(CryptoError):
    """Unwrapped material that is not valid key material for the KMS key's spec."""


def _is_rsa_aes(wrapping_algorithm: str) -> bool:
    return wrapping_algorithm.startswith("RSA_AES_KEY_WRAP_")


def generate_wrapping_key(wrapping_key_spec: str) -> tuple[bytes, bytes]:
    """A fresh RSA wrapping key pair: (private DER PKCS#8, public DER SubjectPublicKeyInfo)."""
    if wrapping_key_spec not in _RSA_BITS:
        raise ValueError(f"not a wrapping key spec we implement: {wrapping_key_spec!r}")
    key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[wrapping_key_spec])
    private_der = key.private_bytes(serialization.Encoding.DER,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_der = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return private_der, public_der


def check_wrapping(*, key_spec: str, wrapping_algorithm: str, wrapping_key_spec: str) -> None:
    """Refuse the combinations AWS refuses (UnsupportedWrappingError, message for the user).

    RSA private keys are too large for RSA-OAEP directly, so they need an RSA_AES algorithm;
    an ECC_NIST_P521 private key does not fit RSA-OAEP under an RSA_2048 wrapping key.
    """
    if wrapping_algorithm not in _HASHES or wrapping_key_spec not in _RSA_BITS:
        raise ValueError("not a wrapping algorithm / key spec we implement")
    if _is_rsa_aes(wrapping_algorithm):
        return
    if key_spec in _RSA_BITS:
        raise UnsupportedWrappingError(
            f"The {wrapping_algorithm} wrapping algorithm cannot wrap RSA key material. Use "
            f"RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.")
    if key_spec == "ECC_NIST_P521" and wrapping_key_spec == "RSA_2048":
        raise UnsupportedWrappingError(
            f"The {wrapping_algorithm} wrapping algorithm with the RSA_2048 wrapping key spec "
            f"cannot wrap ECC_NIST_P521 key material. Use a larger wrapping key spec or an "
            f"RSA_AES_KEY_WRAP_SHA_* wrapping algorithm.")


def _oaep(wrapping_algorithm: str) -> padding.OAEP:
    hash_cls = _HASHES[wrapping_algorithm]
    return padding.OAEP(mgf=padding.MGF1(algorithm=hash_cls()), algorithm=hash_cls(), label=None)


def unwrap(*, private_der: bytes, wrapping_algorithm: str, encrypted: bytes) -> bytes:
    """The key material inside `encrypted`, or InvalidCiphertextError (no detail: which step
    failed is no business of a caller probing the wrapping key)."""
    if wrapping_algorithm not in _HASHES:
        raise ValueError(f"not a wrapping algorithm we implement: {wrapping_algorithm!r}")
    private_key = serialization.load_der_private_key(private_der, password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise CryptoError("stored wrapping key is not an RSA key")
    modulus_bytes = private_key.key_size // 8
    try:
        if not _is_rsa_aes(wrapping_algorithm):
            return private_key.decrypt(encrypted, _oaep(wrapping_algorithm))
        if len(encrypted) <= modulus_bytes:
            raise InvalidCiphertextError()
        aes_key = private_key.decrypt(encrypted[:modulus_bytes], _oaep(wrapping_algorithm))
        if len(aes_key) not in _AES_KEY_BYTES:
            raise InvalidCiphertextError()
        return keywrap.aes_key_unwrap_with_padding(aes_key, encrypted[modulus_bytes:])
    except (ValueError, keywrap.InvalidUnwrap):
        raise InvalidCiphertextError() from None


def canonical_material(key_spec: str, material: bytes) -> bytes:
    """`material` checked against `key_spec`, in the form this service stores: raw bytes for
    symmetric and HMAC keys; unencrypted DER PKCS#8 for private keys, re-encoded so that the
    same key imported twice (whatever optional fields its encoding carried) compares equal."""
    if key_spec == "SYMMETRIC_DEFAULT":
        if len(material) != _SYMMETRIC_KEY_BYTES:
            raise IncorrectMaterialError(
                f"Key material for {key_spec} keys must be {_SYMMETRIC_KEY_BYTES} bytes.")
        return material
    if key_spec in HMAC_KEY_BYTES:
        low, high = HMAC_KEY_BYTES[key_spec]
        if not low <= len(material) <= high:
            raise IncorrectMaterialError(
                f"Key material for {key_spec} keys must be {low} to {high} bytes.")
        return material
    if key_spec in _RSA_BITS or key_spec in _EC_CURVES:
        return _canonical_private_key(key_spec, material)
    raise ValueError(f"not a key spec we implement: {key_spec!r}")


def _canonical_private_key(key_spec: str, material: bytes) -> bytes:
    mismatch = IncorrectMaterialError(
        f"Key material for {key_spec} keys must be a DER-encoded PKCS #8 private key of that "
        f"key spec.")
    try:
        # Loading runs OpenSSL's consistency checks: an RSA key whose factors do not match its
        # modulus would leak them through faulty signatures, so it is refused here.
        key = serialization.load_der_private_key(material, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise mismatch from None
    if key_spec in _RSA_BITS:
        fits = isinstance(key, rsa.RSAPrivateKey) and key.key_size == _RSA_BITS[key_spec]
    else:
        fits = (isinstance(key, ec.EllipticCurvePrivateKey)
                and isinstance(key.curve, _EC_CURVES[key_spec]))
    if not fits:
        raise mismatch
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
