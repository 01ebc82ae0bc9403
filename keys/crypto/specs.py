"""Key specs, key usages and algorithm tables (kms-spec.md sections 3.1, 3.2, 3.4).

Pure data plus tiny lookup helpers, no cryptography. Two kinds of tuples live
here:

* the full AWS enums (ALL_KEY_SPECS, ENCRYPTION_ALGORITHMS, SIGNING_ALGORITHMS,
  ...), so a caller can tell "not a KMS value at all" (a ValidationException in
  AWS) from "a real KMS value that this service does not implement";
* the subset this service implements (KEY_SPECS, DATA_KEY_PAIR_SPECS), plus
  per-spec helpers that only ever return algorithms we actually implement.

Lookup helpers raise ValueError for a string that is not in the AWS enum at
all, and return an empty result for a known value we do not implement, so a
typo in calling code fails loudly instead of silently matching nothing.
"""

from __future__ import annotations

from .errors import UnsupportedAlgorithmError

__all__ = [
    "KEY_SPECS",
    "ALL_KEY_SPECS",
    "KEY_USAGES",
    "ENCRYPTION_ALGORITHMS",
    "SIGNING_ALGORITHMS",
    "MAC_ALGORITHMS",
    "DATA_KEY_SPECS",
    "DATA_KEY_PAIR_SPECS",
    "ALL_DATA_KEY_PAIR_SPECS",
    "MESSAGE_TYPES",
    "SYMMETRIC_PLAINTEXT_MAX",
    "allowed_usages",
    "encryption_algorithms",
    "signing_algorithms",
    "mac_algorithms",
    "key_type",
    "rsa_oaep_max_plaintext",
    "digest_length",
]

# --- Key specs -------------------------------------------------------------

# The key specs this service implements.
KEY_SPECS: tuple[str, ...] = (
    "SYMMETRIC_DEFAULT",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
)

# The full KeySpec enum of the AWS model, in model order (section 3.1).
ALL_KEY_SPECS: tuple[str, ...] = (
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "SYMMETRIC_DEFAULT",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "SM2",
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
    "ECC_NIST_EDWARDS25519",
    "ML_KEM_512",
    "ML_KEM_768",
    "ML_KEM_1024",
)

# Full KeyUsageType enum.
KEY_USAGES: tuple[str, ...] = (
    "SIGN_VERIFY",
    "ENCRYPT_DECRYPT",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
    "ENCAPSULATE_DECAPSULATE",
)

# --- Algorithm enums (full AWS enums, section 3.1) -------------------------

ENCRYPTION_ALGORITHMS: tuple[str, ...] = (
    "SYMMETRIC_DEFAULT",
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "SM2PKE",
)

SIGNING_ALGORITHMS: tuple[str, ...] = (
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "ECDSA_SHA_256",
    "ECDSA_SHA_384",
    "ECDSA_SHA_512",
    "SM2DSA",
    "ML_DSA_SHAKE_256",
    "ED25519_SHA_512",
    "ED25519_PH_SHA_512",
)

MAC_ALGORITHMS: tuple[str, ...] = (
    "HMAC_SHA_224",
    "HMAC_SHA_256",
    "HMAC_SHA_384",
    "HMAC_SHA_512",
)

DATA_KEY_SPECS: tuple[str, ...] = ("AES_256", "AES_128")

# Data key pair specs this service implements.
DATA_KEY_PAIR_SPECS: tuple[str, ...] = (
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
)

# Full DataKeyPairSpec enum.
ALL_DATA_KEY_PAIR_SPECS: tuple[str, ...] = DATA_KEY_PAIR_SPECS + (
    "SM2",
    "ECC_NIST_EDWARDS25519",
    "ML_KEM_512",
    "ML_KEM_768",
    "ML_KEM_1024",
)

# Message types we implement (EXTERNAL_MU is ML-DSA only, which we do not implement).
MESSAGE_TYPES: tuple[str, ...] = ("RAW", "DIGEST")

# Section 3.4: Encrypt plaintext for SYMMETRIC_DEFAULT is 1..4096 bytes.
SYMMETRIC_PLAINTEXT_MAX = 4096

# --- Per-spec tables (section 3.2, restricted to what we implement) --------

_RSA_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096")
_ECC_SPECS = ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1")
_HMAC_SPECS = ("HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512")

# Only usages we implement: no KEY_AGREEMENT (DeriveSharedSecret) yet.
_USAGES: dict[str, tuple[str, ...]] = {
    "SYMMETRIC_DEFAULT": ("ENCRYPT_DECRYPT",),
    **{spec: ("ENCRYPT_DECRYPT", "SIGN_VERIFY") for spec in _RSA_SPECS},
    **{spec: ("SIGN_VERIFY",) for spec in _ECC_SPECS},
    **{spec: ("GENERATE_VERIFY_MAC",) for spec in _HMAC_SPECS},
}

_ENCRYPTION: dict[str, tuple[str, ...]] = {
    "SYMMETRIC_DEFAULT": ("SYMMETRIC_DEFAULT",),
    **{spec: ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256") for spec in _RSA_SPECS},
}

_SIGNING: dict[str, tuple[str, ...]] = {
    **{
        spec: (
            "RSASSA_PKCS1_V1_5_SHA_256",
            "RSASSA_PKCS1_V1_5_SHA_384",
            "RSASSA_PKCS1_V1_5_SHA_512",
            "RSASSA_PSS_SHA_256",
            "RSASSA_PSS_SHA_384",
            "RSASSA_PSS_SHA_512",
        )
        for spec in _RSA_SPECS
    },
    "ECC_NIST_P256": ("ECDSA_SHA_256",),
    "ECC_NIST_P384": ("ECDSA_SHA_384",),
    "ECC_NIST_P521": ("ECDSA_SHA_512",),
    "ECC_SECG_P256K1": ("ECDSA_SHA_256",),
}

_MAC: dict[str, tuple[str, ...]] = {
    "HMAC_224": ("HMAC_SHA_224",),
    "HMAC_256": ("HMAC_SHA_256",),
    "HMAC_384": ("HMAC_SHA_384",),
    "HMAC_512": ("HMAC_SHA_512",),
}

_RSA_MODULUS_BYTES: dict[str, int] = {"RSA_2048": 256, "RSA_3072": 384, "RSA_4096": 512}
_OAEP_HASH_BYTES: dict[str, int] = {"RSAES_OAEP_SHA_1": 20, "RSAES_OAEP_SHA_256": 32}


def _check_known_spec(key_spec: str) -> None:
    """Reject strings that are not an AWS KeySpec at all (a caller bug, not a user error)."""
    if key_spec not in ALL_KEY_SPECS:
        raise ValueError(f"unknown key spec: {key_spec!r}")


def _check_known_usage(key_usage: str) -> None:
    if key_usage not in KEY_USAGES:
        raise ValueError(f"unknown key usage: {key_usage!r}")


def allowed_usages(key_spec: str) -> tuple[str, ...]:
    """Key usages we implement for key_spec; () for a known spec we do not implement."""
    _check_known_spec(key_spec)
    return _USAGES.get(key_spec, ())


def _algorithms_for(
    table: dict[str, tuple[str, ...]], wanted_usage: str, key_spec: str, key_usage: str
) -> list[str]:
    _check_known_spec(key_spec)
    _check_known_usage(key_usage)
    if key_usage != wanted_usage or key_usage not in allowed_usages(key_spec):
        return []
    # A fresh list each call so callers cannot mutate the shared table.
    return list(table.get(key_spec, ()))


def encryption_algorithms(key_spec: str, key_usage: str) -> list[str]:
    """EncryptionAlgorithms for KeyMetadata, in AWS order; [] unless ENCRYPT_DECRYPT."""
    return _algorithms_for(_ENCRYPTION, "ENCRYPT_DECRYPT", key_spec, key_usage)


def signing_algorithms(key_spec: str, key_usage: str) -> list[str]:
    """SigningAlgorithms for KeyMetadata, in AWS order; [] unless SIGN_VERIFY."""
    return _algorithms_for(_SIGNING, "SIGN_VERIFY", key_spec, key_usage)


def mac_algorithms(key_spec: str, key_usage: str) -> list[str]:
    """MacAlgorithms for KeyMetadata; [] unless GENERATE_VERIFY_MAC."""
    return _algorithms_for(_MAC, "GENERATE_VERIFY_MAC", key_spec, key_usage)


def key_type(key_spec: str) -> str:
    """Coarse family of a key spec: "SYMMETRIC", "ASYMMETRIC" or "HMAC"."""
    _check_known_spec(key_spec)
    if key_spec == "SYMMETRIC_DEFAULT":
        return "SYMMETRIC"
    if key_spec.startswith("HMAC_"):
        return "HMAC"
    return "ASYMMETRIC"


def rsa_oaep_max_plaintext(key_spec: str, algorithm: str) -> int:
    """Largest RSA-OAEP plaintext: modulus bytes - 2 * hash length - 2 (RFC 8017 7.1.1)."""
    if key_spec not in _RSA_MODULUS_BYTES or algorithm not in _OAEP_HASH_BYTES:
        raise UnsupportedAlgorithmError.incompatible(algorithm, key_spec)
    return _RSA_MODULUS_BYTES[key_spec] - 2 * _OAEP_HASH_BYTES[algorithm] - 2


def digest_length(signing_algorithm: str) -> int:
    """Bytes of the digest a signing algorithm hashes with (what MessageType DIGEST must be)."""
    for suffix, length in (("_SHA_256", 32), ("_SHA_384", 48), ("_SHA_512", 64)):
        if signing_algorithm.endswith(suffix):
            return length
    raise UnsupportedAlgorithmError(f"Algorithm {signing_algorithm} has no fixed digest length")
