"""Symmetric ciphertext blobs for SYMMETRIC_DEFAULT keys (kms-spec.md section 4.1).

Blob layout (format 0x01), all of it authenticated:

    format (1) | key id (16, UUID bytes) | material version (4, uint32 BE) | nonce (12)
    | AES-256-GCM ciphertext | GCM tag (16)

The cleartext header names the key and the material version, which is why
Decrypt needs no KeyId and why old ciphertexts keep working after rotation: the
caller looks up exactly the material the blob names.

Each message gets its own AES key, HKDF-SHA256(material, salt=nonce,
info=label || header). This mirrors AWS's per-message derivation and means the
GCM random-nonce collision bound applies per derived key, not to the millions
of messages one material may encrypt over its life.

AAD = header || canonical_context(context): the header cannot be edited (for
example pointing the blob at another key or version), and the encryption
context must match exactly, independent of pair order.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import InvalidCiphertextError

__all__ = [
    "BLOB_FORMAT",
    "HEADER_LEN",
    "MIN_BLOB_LEN",
    "BlobHeader",
    "canonical_context",
    "read_header",
    "encrypt",
    "decrypt",
]

BLOB_FORMAT = 0x01
_KEY_ID_LEN = 16
_VERSION_LEN = 4
_NONCE_LEN = 12
_TAG_LEN = 16
HEADER_LEN = 1 + _KEY_ID_LEN + _VERSION_LEN + _NONCE_LEN  # 33
MIN_BLOB_LEN = HEADER_LEN + _TAG_LEN  # 49: header plus tag of an empty plaintext

_MATERIAL_LEN = 32
_MAX_VERSION = 0xFFFFFFFF
_HKDF_INFO_LABEL = b"kmsconsole envelope v1"
_U32 = struct.Struct(">I")


@dataclass(frozen=True)
class BlobHeader:
    """What the cleartext header of a blob names (not yet authenticated!)."""

    key_id: uuid.UUID
    version: int


def canonical_context(context: Mapping[str, str] | None) -> bytes:
    """Deterministic, unambiguous encoding of an encryption context.

    uint32 BE pair count, then for each pair, sorted by the UTF-8 bytes of the key:
    uint32 BE length + UTF-8 key, uint32 BE length + UTF-8 value. Length prefixes
    stop {"a": "bc"} and {"ab": "c"} from encoding the same; sorting makes pair
    order irrelevant. None and {} encode the same (AWS treats them alike).

    Raises TypeError for non-string keys/values and ValueError for strings that
    are not encodable as UTF-8 (lone surrogates).
    """
    if context is None:
        context = {}
    pairs: list[tuple[bytes, bytes]] = []
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("encryption context keys and values must be strings")
        try:
            pairs.append((key.encode("utf-8"), value.encode("utf-8")))
        except UnicodeEncodeError:
            raise ValueError("encryption context is not valid Unicode text") from None
    pairs.sort(key=lambda pair: pair[0])
    out = [_U32.pack(len(pairs))]
    for key_bytes, value_bytes in pairs:
        out.append(_U32.pack(len(key_bytes)))
        out.append(key_bytes)
        out.append(_U32.pack(len(value_bytes)))
        out.append(value_bytes)
    return b"".join(out)


def _pack_header(key_id: uuid.UUID, version: int, nonce: bytes) -> bytes:
    return bytes([BLOB_FORMAT]) + key_id.bytes + _U32.pack(version) + nonce


def read_header(blob: bytes) -> BlobHeader:
    """Parse the cleartext header so the caller can find the key and material.

    The result is untrusted until decrypt() succeeds: the header is authenticated
    only as part of the GCM open.
    """
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise InvalidCiphertextError()
    blob = bytes(blob)
    if len(blob) < MIN_BLOB_LEN or blob[0] != BLOB_FORMAT:
        raise InvalidCiphertextError()
    key_id = uuid.UUID(bytes=blob[1 : 1 + _KEY_ID_LEN])
    (version,) = _U32.unpack_from(blob, 1 + _KEY_ID_LEN)
    return BlobHeader(key_id=key_id, version=version)


def _message_key(material: bytes, nonce: bytes, header: bytes) -> bytes:
    """Derive the per-message AES-256 key (see module docstring for why)."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=nonce,
        info=_HKDF_INFO_LABEL + header,
    )
    return hkdf.derive(material)


def _check_material(material: bytes) -> None:
    # A wrong-length material is a bug in the caller (wrong row, wrong key type),
    # not a bad ciphertext; fail loudly instead of deriving from short keys.
    if not isinstance(material, bytes) or len(material) != _MATERIAL_LEN:
        raise ValueError(f"symmetric key material must be {_MATERIAL_LEN} bytes")


def encrypt(
    *,
    material: bytes,
    key_id: uuid.UUID,
    version: int,
    plaintext: bytes,
    context: Mapping[str, str] | None,
) -> bytes:
    """Encrypt plaintext under one version of a key's material; return the blob.

    Size limits (1..4096 bytes) are the API layer's job; this function only
    builds the blob.
    """
    _check_material(material)
    if not isinstance(key_id, uuid.UUID):
        raise TypeError("key_id must be a uuid.UUID")
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError("version must be an int")
    if not 0 <= version <= _MAX_VERSION:
        raise ValueError("version must fit in an unsigned 32-bit integer")
    if not isinstance(plaintext, bytes):
        raise TypeError("plaintext must be bytes")
    aad_context = canonical_context(context)
    nonce = os.urandom(_NONCE_LEN)
    header = _pack_header(key_id, version, nonce)
    key = _message_key(material, nonce, header)
    sealed = AESGCM(key).encrypt(nonce, plaintext, header + aad_context)
    return header + sealed


def decrypt(*, material: bytes, blob: bytes, context: Mapping[str, str] | None) -> bytes:
    """Open a blob made by encrypt() with the material its header names.

    Every failure that depends on the blob or the context (truncation, any
    flipped bit, wrong context, wrong material, garbage) raises
    InvalidCiphertextError and nothing else: a caller probing with crafted blobs
    learns only "invalid".
    """
    _check_material(material)
    read_header(blob)  # length and format checks; raises InvalidCiphertextError
    blob = bytes(blob)
    header = blob[:HEADER_LEN]
    nonce = blob[HEADER_LEN - _NONCE_LEN : HEADER_LEN]
    try:
        aad_context = canonical_context(context)
    except (TypeError, ValueError):
        # A context that cannot even be encoded can never match the one used to
        # encrypt.
        raise InvalidCiphertextError() from None
    key = _message_key(material, nonce, header)
    try:
        return AESGCM(key).decrypt(nonce, blob[HEADER_LEN:], header + aad_context)
    except InvalidTag:
        raise InvalidCiphertextError() from None
