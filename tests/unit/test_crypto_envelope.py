"""keys.crypto.envelope: symmetric ciphertext blobs (AES-256-GCM, per-message key)."""

from __future__ import annotations

import os
import struct
import uuid

import pytest

from keys.crypto import envelope
from keys.crypto.envelope import (
    BLOB_FORMAT,
    HEADER_LEN,
    MIN_BLOB_LEN,
    BlobHeader,
    canonical_context,
    decrypt,
    encrypt,
    read_header,
)
from keys.crypto.errors import InvalidCiphertextError

KEY_ID = uuid.UUID("1234abcd-12ab-34cd-56ef-1234567890ab")
CONTEXT = {"purpose": "test", "tenant": "ünïcode ☃"}


def _material() -> bytes:
    return os.urandom(32)


def _assert_invalid(material: bytes, blob: bytes, context: dict[str, str] | None) -> None:
    """Decrypt must fail with InvalidCiphertextError and with nothing else."""
    try:
        decrypt(material=material, blob=blob, context=context)
    except InvalidCiphertextError:
        return
    except Exception as exc:  # noqa: BLE001 - any other type is the failure we report
        pytest.fail(f"expected InvalidCiphertextError, got {type(exc).__name__}: {exc}")
    pytest.fail("decrypt unexpectedly succeeded")


def test_header_constants_match_the_documented_layout() -> None:
    assert BLOB_FORMAT == 0x01
    assert HEADER_LEN == 1 + 16 + 4 + 12 == 33
    assert MIN_BLOB_LEN == HEADER_LEN + 16


def test_encrypt_then_decrypt_round_trips_with_context() -> None:
    material = _material()
    blob = encrypt(material=material, key_id=KEY_ID, version=1, plaintext=b"hello", context=CONTEXT)
    assert decrypt(material=material, blob=blob, context=CONTEXT) == b"hello"


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1024, 4096])
def test_round_trip_for_many_plaintext_sizes(size: int) -> None:
    material, plaintext = _material(), os.urandom(size)
    blob = encrypt(material=material, key_id=KEY_ID, version=3, plaintext=plaintext, context=None)
    assert len(blob) == HEADER_LEN + size + 16
    assert decrypt(material=material, blob=blob, context=None) == plaintext


def test_blob_header_names_key_and_material_version() -> None:
    blob = encrypt(
        material=_material(), key_id=KEY_ID, version=0xDEADBEEF, plaintext=b"x", context=None
    )
    assert blob[0] == BLOB_FORMAT
    assert blob[1:17] == KEY_ID.bytes
    assert blob[17:21] == struct.pack(">I", 0xDEADBEEF)
    assert read_header(blob) == BlobHeader(key_id=KEY_ID, version=0xDEADBEEF)


def test_same_plaintext_encrypts_differently_each_time() -> None:
    material = _material()
    blobs = {
        encrypt(material=material, key_id=KEY_ID, version=1, plaintext=b"same", context=None)
        for _ in range(20)
    }
    assert len(blobs) == 20


def test_ciphertext_from_version_1_still_decrypts_after_version_2_exists() -> None:
    materials = {1: _material()}
    old_blob = encrypt(
        material=materials[1], key_id=KEY_ID, version=1, plaintext=b"old data", context=CONTEXT
    )
    materials[2] = _material()  # rotation: new current material, old one kept
    new_blob = encrypt(
        material=materials[2], key_id=KEY_ID, version=2, plaintext=b"new data", context=CONTEXT
    )
    for blob, expected in ((old_blob, b"old data"), (new_blob, b"new data")):
        version = read_header(blob).version
        assert decrypt(material=materials[version], blob=blob, context=CONTEXT) == expected
    # Each blob opens only with the material of the version it names.
    _assert_invalid(materials[2], old_blob, CONTEXT)
    _assert_invalid(materials[1], new_blob, CONTEXT)


def test_context_pair_order_does_not_matter_and_none_equals_empty() -> None:
    material = _material()
    blob = encrypt(
        material=material, key_id=KEY_ID, version=1, plaintext=b"p", context={"a": "1", "b": "2"}
    )
    assert decrypt(material=material, blob=blob, context={"b": "2", "a": "1"}) == b"p"
    blob = encrypt(material=material, key_id=KEY_ID, version=1, plaintext=b"p", context=None)
    assert decrypt(material=material, blob=blob, context={}) == b"p"


@pytest.mark.parametrize(
    "wrong_context",
    [
        None,
        {},
        {"purpose": "test"},
        {"purpose": "Test", "tenant": "ünïcode ☃"},
        {"Purpose": "test", "tenant": "ünïcode ☃"},
        {"purpose": "test", "tenant": "ünïcode ☃", "extra": ""},
        {"purpose": "test", "tenant": "ünïcode"},
        {"purpose": "test", "tenant": "ünïcode ☃", "\ud800": "lone surrogate"},
    ],
)
def test_wrong_encryption_context_raises_invalid_ciphertext(
    wrong_context: dict[str, str] | None,
) -> None:
    material = _material()
    blob = encrypt(material=material, key_id=KEY_ID, version=1, plaintext=b"p", context=CONTEXT)
    _assert_invalid(material, blob, wrong_context)


def test_context_on_decrypt_when_none_was_used_to_encrypt_raises_invalid_ciphertext() -> None:
    material = _material()
    blob = encrypt(material=material, key_id=KEY_ID, version=1, plaintext=b"p", context=None)
    _assert_invalid(material, blob, {"a": "b"})


def test_one_flipped_bit_at_every_byte_position_raises_invalid_ciphertext() -> None:
    material = _material()
    blob = encrypt(
        material=material, key_id=KEY_ID, version=7, plaintext=b"sixteen byte msg!", context=CONTEXT
    )
    for position in range(len(blob)):
        for bit in range(8):
            tampered = bytearray(blob)
            tampered[position] ^= 1 << bit
            _assert_invalid(material, bytes(tampered), CONTEXT)


def test_every_truncation_raises_invalid_ciphertext() -> None:
    material = _material()
    blob = encrypt(material=material, key_id=KEY_ID, version=1, plaintext=b"payload", context=None)
    for length in range(len(blob)):
        _assert_invalid(material, blob[:length], None)


def test_appended_bytes_raise_invalid_ciphertext() -> None:
    material = _material()
    blob = encrypt(material=material, key_id=KEY_ID, version=1, plaintext=b"payload", context=None)
    _assert_invalid(material, blob + b"\x00", None)


def test_blob_of_another_keys_material_raises_invalid_ciphertext() -> None:
    other_material = _material()
    blob = encrypt(
        material=other_material, key_id=uuid.uuid4(), version=1, plaintext=b"p", context=None
    )
    _assert_invalid(_material(), blob, None)


def test_header_rewritten_to_point_at_another_key_raises_invalid_ciphertext() -> None:
    # Threat: an attacker relabels a blob so the service opens it with another key.
    material = _material()
    blob = encrypt(material=material, key_id=KEY_ID, version=1, plaintext=b"p", context=None)
    relabelled = blob[:1] + uuid.uuid4().bytes + blob[17:]
    _assert_invalid(material, relabelled, None)


def test_garbage_and_non_bytes_raise_invalid_ciphertext() -> None:
    material = _material()
    for garbage in (b"", b"\x01", os.urandom(MIN_BLOB_LEN), os.urandom(200), b"\x00" * 100):
        _assert_invalid(material, garbage, None)
    _assert_invalid(material, "not bytes", None)  # type: ignore[arg-type]
    _assert_invalid(material, None, None)  # type: ignore[arg-type]


def test_read_header_rejects_short_blobs_and_unknown_formats() -> None:
    blob = encrypt(material=_material(), key_id=KEY_ID, version=1, plaintext=b"", context=None)
    assert len(blob) == MIN_BLOB_LEN
    assert read_header(blob).key_id == KEY_ID
    with pytest.raises(InvalidCiphertextError):
        read_header(blob[:-1])
    with pytest.raises(InvalidCiphertextError):
        read_header(b"\x02" + blob[1:])


def test_invalid_ciphertext_error_says_nothing() -> None:
    with pytest.raises(InvalidCiphertextError) as excinfo:
        decrypt(material=_material(), blob=os.urandom(80), context=None)
    assert str(excinfo.value) == ""


def test_canonical_context_known_answer() -> None:
    encoded = canonical_context({"b": "2", "a": "é"})
    assert encoded == (
        struct.pack(">I", 2)
        + struct.pack(">I", 1)
        + b"a"
        + struct.pack(">I", 2)
        + "é".encode()
        + struct.pack(">I", 1)
        + b"b"
        + struct.pack(">I", 1)
        + b"2"
    )
    assert canonical_context(None) == canonical_context({}) == struct.pack(">I", 0)


def test_canonical_context_is_unambiguous_across_pair_boundaries() -> None:
    assert canonical_context({"a": "bc"}) != canonical_context({"ab": "c"})
    assert canonical_context({"a": "", "b": ""}) != canonical_context({"a": "\x00\x00\x00\x01b"})


def test_canonical_context_sorts_keys_by_utf8_bytes() -> None:
    # U+FF5E comes before U+10000 in UTF-8 byte order; UTF-16 code-unit order (Java,
    # JavaScript) would put it after, so this pins the documented order.
    encoded = canonical_context({"\U00010000": "x", "\uff5e": "y"})
    assert encoded.index("\uff5e".encode()) < encoded.index("\U00010000".encode())


def test_canonical_context_rejects_non_string_values() -> None:
    with pytest.raises(TypeError):
        canonical_context({"a": 1})  # type: ignore[dict-item]


def test_encrypt_rejects_material_that_is_not_32_bytes() -> None:
    for size in (0, 16, 31, 33):
        with pytest.raises(ValueError):
            encrypt(
                material=os.urandom(size), key_id=KEY_ID, version=1, plaintext=b"p", context=None
            )


def test_encrypt_rejects_version_outside_uint32() -> None:
    for version in (-1, 2**32):
        with pytest.raises(ValueError):
            encrypt(
                material=_material(), key_id=KEY_ID, version=version, plaintext=b"p", context=None
            )


def test_per_message_key_differs_from_the_material() -> None:
    # Opening the GCM body directly with the material must fail: the message key is
    # derived per nonce, not the material itself.
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    material = _material()
    blob = encrypt(material=material, key_id=KEY_ID, version=1, plaintext=b"p", context=None)
    nonce = blob[HEADER_LEN - 12 : HEADER_LEN]
    with pytest.raises(InvalidTag):
        AESGCM(material).decrypt(
            nonce, blob[HEADER_LEN:], blob[:HEADER_LEN] + canonical_context(None)
        )
    assert envelope._message_key(material, nonce, blob[:HEADER_LEN]) != material
