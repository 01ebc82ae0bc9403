"""HMAC keys: GenerateMac / VerifyMac (kms-spec.md section 4.3).

RFC 2104 HMAC with the SHA-2 hash named by the key spec, computed by
cryptography.hazmat. Each HMAC key spec allows exactly one MAC algorithm.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from . import specs
from .errors import UnsupportedAlgorithmError

__all__ = ["generate_mac", "verify_mac"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "HMAC_SHA_224": hashes.SHA224,
    "HMAC_SHA_256": hashes.SHA256,
    "HMAC_SHA_384": hashes.SHA384,
    "HMAC_SHA_512": hashes.SHA512,
}


def _hmac(material: bytes, key_spec: str, algorithm: str, message: bytes) -> hmac.HMAC:
    """Validate inputs and return an HMAC context that has absorbed the message."""
    if algorithm not in _HASHES or algorithm not in specs.mac_algorithms(
        key_spec, "GENERATE_VERIFY_MAC"
    ):
        raise UnsupportedAlgorithmError.incompatible(algorithm, key_spec)
    # An empty key would make every MAC forgeable by anyone; it can only come
    # from a storage bug, so fail loudly.
    if not isinstance(material, bytes) or not material:
        raise ValueError("HMAC key material must be non-empty bytes")
    if not isinstance(message, bytes):
        raise TypeError("message must be bytes")
    ctx = hmac.HMAC(material, _HASHES[algorithm]())
    ctx.update(message)
    return ctx


def generate_mac(*, material: bytes, key_spec: str, algorithm: str, message: bytes) -> bytes:
    """Return the HMAC tag (28/32/48/64 bytes) of message."""
    return _hmac(material, key_spec, algorithm, message).finalize()


def verify_mac(
    *, material: bytes, key_spec: str, algorithm: str, message: bytes, mac: bytes
) -> bool:
    """True iff mac is the HMAC of message.

    HMAC.verify compares in constant time, so a forger cannot learn a valid tag
    byte by byte from response timing.
    """
    ctx = _hmac(material, key_spec, algorithm, message)
    if not isinstance(mac, bytes):
        return False
    try:
        ctx.verify(mac)
    except InvalidSignature:
        return False
    return True
