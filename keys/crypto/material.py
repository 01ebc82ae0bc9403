"""Fresh key material, data keys, data key pairs and random bytes.

All randomness comes from the OS CSPRNG (os.urandom), directly or through
cryptography's key generation (kms-spec.md section 4.5).
"""

from __future__ import annotations

import os

from . import asymmetric, specs

__all__ = [
    "generate_key_material",
    "generate_data_key",
    "generate_data_key_pair",
    "random_bytes",
]

_SYMMETRIC_MATERIAL_BYTES = 32
# HMAC keys default to the hash output length (kms-spec 4.3).
_HMAC_MATERIAL_BYTES: dict[str, int] = {
    "HMAC_224": 28,
    "HMAC_256": 32,
    "HMAC_384": 48,
    "HMAC_512": 64,
}
_DATA_KEY_BYTES: dict[str, int] = {"AES_256": 32, "AES_128": 16}
# GenerateDataKey NumberOfBytes range (kms-spec 3.4).
_DATA_KEY_MIN_BYTES = 1
_DATA_KEY_MAX_BYTES = 1024


def random_bytes(n: int) -> bytes:
    """n bytes from the OS CSPRNG."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError("n must be a non-negative int")
    return os.urandom(n)


def generate_key_material(key_spec: str) -> bytes:
    """New material for a KMS key of key_spec (raw key bytes or DER PKCS#8)."""
    if key_spec == "SYMMETRIC_DEFAULT":
        return random_bytes(_SYMMETRIC_MATERIAL_BYTES)
    if key_spec in _HMAC_MATERIAL_BYTES:
        return random_bytes(_HMAC_MATERIAL_BYTES[key_spec])
    if key_spec in specs.KEY_SPECS:
        return asymmetric.generate_private_key(key_spec)
    raise ValueError(f"not a key spec we implement: {key_spec!r}")


def generate_data_key(*, key_spec: str | None, number_of_bytes: int | None) -> bytes:
    """Plaintext data key: by KeySpec (AES_256/AES_128) or by NumberOfBytes (1..1024).

    Exactly one must be given; the API layer validates first, so a ValueError here
    is a caller bug.
    """
    if (key_spec is None) == (number_of_bytes is None):
        raise ValueError("give exactly one of key_spec and number_of_bytes")
    if key_spec is not None:
        if key_spec not in _DATA_KEY_BYTES:
            raise ValueError(f"unknown data key spec: {key_spec!r}")
        return random_bytes(_DATA_KEY_BYTES[key_spec])
    if (
        isinstance(number_of_bytes, bool)
        or not isinstance(number_of_bytes, int)
        or not _DATA_KEY_MIN_BYTES <= number_of_bytes <= _DATA_KEY_MAX_BYTES
    ):
        raise ValueError(
            f"number_of_bytes must be an int in {_DATA_KEY_MIN_BYTES}..{_DATA_KEY_MAX_BYTES}"
        )
    return random_bytes(number_of_bytes)


def generate_data_key_pair(key_pair_spec: str) -> tuple[bytes, bytes]:
    """(private DER PKCS#8, public DER SubjectPublicKeyInfo) for a data key pair."""
    if key_pair_spec not in specs.DATA_KEY_PAIR_SPECS:
        raise ValueError(f"not a data key pair spec we implement: {key_pair_spec!r}")
    private_der = asymmetric.generate_private_key(key_pair_spec)
    return private_der, asymmetric.public_key_der(private_der)
