"""keys.crypto.rootkey: loading the root key safely and wrapping material with it."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keys.crypto.errors import RootKeyError
from keys.crypto.rootkey import (
    ROOT_KEY_BYTES,
    RootKey,
    RootKeyRing,
    create_root_key_file,
    generate_root_key,
    load_root_key,
    wrapped_by,
)


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def _write_key_file(path: Path, key: bytes, mode: int) -> None:
    path.write_text(_b64(key) + "\n", encoding="ascii")
    os.chmod(path, mode)


# --- RootKey wrap/unwrap ---------------------------------------------------


def test_wrap_then_unwrap_with_the_same_aad_returns_the_material() -> None:
    root = RootKey(generate_root_key())
    blob = root.wrap(b"secret material", aad=b"key-1|v1")
    assert root.unwrap(blob, aad=b"key-1|v1") == b"secret material"


def test_wrapped_blob_has_format_2_the_key_fingerprint_nonce_and_tag_and_hides_the_plaintext(
) -> None:
    root = RootKey(generate_root_key())
    blob = root.wrap(b"A" * 32, aad=b"x")
    assert blob[0] == 0x02
    assert blob[1:9].hex() == root.fingerprint
    assert len(blob) == 1 + 8 + 12 + 32 + 16
    assert b"A" * 32 not in blob


def _legacy_wrap(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """A format 1 blob exactly as the code before format 2 wrote it."""
    nonce = os.urandom(12)
    return b"\x01" + nonce + AESGCM(key).encrypt(nonce, plaintext, b"\x01" + aad)


def test_format_1_blobs_written_before_format_2_still_unwrap() -> None:
    key = generate_root_key()
    blob = _legacy_wrap(key, b"old material", b"key-1|v1")
    assert RootKey(key).unwrap(blob, aad=b"key-1|v1") == b"old material"
    with pytest.raises(RootKeyError):
        RootKey(key).unwrap(blob, aad=b"key-2|v1")
    with pytest.raises(RootKeyError):
        RootKey(generate_root_key()).unwrap(blob, aad=b"key-1|v1")


def test_wrapped_by_reads_the_fingerprint_from_the_header_without_decrypting() -> None:
    key = generate_root_key()
    assert wrapped_by(RootKey(key).wrap(b"m", aad=b"a")) == RootKey(key).fingerprint
    assert wrapped_by(_legacy_wrap(key, b"m", b"a")) is None  # format 1 names no key
    for garbage in (b"", b"\x02" + bytes(10), b"\x03" + bytes(60), b"\x01" + bytes(5)):
        with pytest.raises(RootKeyError):
            wrapped_by(garbage)


def test_wrapping_twice_gives_different_blobs_because_the_nonce_is_random() -> None:
    root = RootKey(generate_root_key())
    assert root.wrap(b"m", aad=b"a") != root.wrap(b"m", aad=b"a")


def test_unwrap_with_wrong_aad_fails_with_root_key_error() -> None:
    root = RootKey(generate_root_key())
    blob = root.wrap(b"material", aad=b"key-1|v1")
    with pytest.raises(RootKeyError, match="^key material could not be unwrapped$"):
        root.unwrap(blob, aad=b"key-2|v1")


def test_unwrap_under_another_root_key_fails_with_root_key_error() -> None:
    blob = RootKey(generate_root_key()).wrap(b"material", aad=b"a")
    with pytest.raises(RootKeyError):
        RootKey(generate_root_key()).unwrap(blob, aad=b"a")


def test_unwrap_of_tampered_truncated_or_foreign_format_blob_fails() -> None:
    root = RootKey(generate_root_key())
    blob = root.wrap(b"material", aad=b"a")
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(RootKeyError):
            root.unwrap(bytes(tampered), aad=b"a")
    for n in range(len(blob)):
        with pytest.raises(RootKeyError):
            root.unwrap(blob[:n], aad=b"a")


def test_root_key_of_wrong_length_is_refused() -> None:
    for size in (0, 16, 31, 33, 64):
        with pytest.raises(RootKeyError):
            RootKey(os.urandom(size))


def test_fingerprint_is_16_hex_chars_stable_and_does_not_reveal_the_key() -> None:
    key = generate_root_key()
    root = RootKey(key)
    assert len(root.fingerprint) == 16
    int(root.fingerprint, 16)
    assert root.fingerprint == RootKey(key).fingerprint
    assert root.fingerprint != RootKey(generate_root_key()).fingerprint
    assert root.fingerprint not in key.hex()
    assert key.hex() not in repr(root) and _b64(key) not in repr(root)


def test_a_blob_whose_header_names_another_key_fails_even_if_relabelled() -> None:
    first, second = RootKey(generate_root_key()), RootKey(generate_root_key())
    blob = first.wrap(b"material", aad=b"a")
    with pytest.raises(RootKeyError):
        second.unwrap(blob, aad=b"a")
    # Relabelling the header with the other key's id does not help: the header is in the AAD.
    relabelled = blob[:1] + bytes.fromhex(second.fingerprint) + blob[9:]
    with pytest.raises(RootKeyError):
        second.unwrap(relabelled, aad=b"a")


# --- RootKeyRing (current plus previous, during a rotation) -----------------


def test_ring_wraps_under_the_current_key_and_unwraps_with_the_key_a_blob_names() -> None:
    old, new = RootKey(generate_root_key()), RootKey(generate_root_key())
    ring = RootKeyRing(new, (old,))
    assert ring.fingerprint == new.fingerprint
    assert ring.fingerprints() == (new.fingerprint, old.fingerprint)
    fresh = ring.wrap(b"fresh", aad=b"a")
    assert wrapped_by(fresh) == new.fingerprint and ring.is_current(fresh)
    assert new.unwrap(fresh, aad=b"a") == b"fresh"
    under_old = old.wrap(b"older", aad=b"a")
    assert not ring.is_current(under_old)
    assert ring.unwrap(under_old, aad=b"a") == b"older"
    assert ring.unwrap(fresh, aad=b"a") == b"fresh"


def test_ring_tries_every_key_on_a_format_1_blob() -> None:
    old_key = generate_root_key()
    ring = RootKeyRing(RootKey(generate_root_key()), (RootKey(old_key),))
    legacy = _legacy_wrap(old_key, b"legacy", b"a")
    assert not ring.is_current(legacy)
    assert ring.unwrap(legacy, aad=b"a") == b"legacy"
    with pytest.raises(RootKeyError):
        ring.unwrap(legacy, aad=b"b")


def test_ring_refuses_a_blob_under_a_key_it_does_not_hold() -> None:
    ring = RootKeyRing(RootKey(generate_root_key()), (RootKey(generate_root_key()),))
    stranger = RootKey(generate_root_key()).wrap(b"m", aad=b"a")
    with pytest.raises(RootKeyError, match="^key material could not be unwrapped$"):
        ring.unwrap(stranger, aad=b"a")
    for garbage in (b"", b"\x02", os.urandom(80)):
        with pytest.raises(RootKeyError):
            ring.unwrap(garbage, aad=b"a")
        assert not ring.is_current(garbage)


def test_rewrap_moves_a_value_to_the_current_key_and_the_old_key_no_longer_opens_it() -> None:
    old_key = generate_root_key()
    old, new = RootKey(old_key), RootKey(generate_root_key())
    ring = RootKeyRing(new, (old,))
    for blob in (old.wrap(b"material", aad=b"a"), _legacy_wrap(old_key, b"material", b"a")):
        moved = ring.rewrap(blob, aad=b"a")
        assert ring.is_current(moved)
        assert new.unwrap(moved, aad=b"a") == b"material"
        with pytest.raises(RootKeyError):
            old.unwrap(moved, aad=b"a")
        with pytest.raises(RootKeyError):
            RootKeyRing(old).unwrap(moved, aad=b"a")


def test_ring_drops_a_previous_key_equal_to_the_current_one_and_hides_keys_in_repr() -> None:
    key = generate_root_key()
    ring = RootKeyRing(RootKey(key), (RootKey(key),))
    assert ring.previous == ()
    assert key.hex() not in repr(ring) and _b64(key) not in repr(ring)


# --- load_root_key -----------------------------------------------------------


def test_generate_root_key_returns_32_random_bytes() -> None:
    assert len(generate_root_key()) == ROOT_KEY_BYTES == 32
    assert generate_root_key() != generate_root_key()


def test_missing_file_is_created_with_mode_0600_even_with_a_permissive_umask(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nested" / "dir" / "root.key"
    old_umask = os.umask(0)
    try:
        key = load_root_key(key_b64=None, key_file=str(path), create_file_if_missing=True)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32
    assert base64.b64decode(path.read_text(encoding="ascii").strip()) == key
    # The next start reads the same key back instead of making a new one.
    assert load_root_key(key_b64=None, key_file=str(path), create_file_if_missing=True) == key


def test_missing_file_without_create_permission_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    with pytest.raises(RootKeyError):
        load_root_key(key_b64=None, key_file=str(path), create_file_if_missing=False)
    assert not path.exists()


def test_file_with_mode_0600_is_loaded(tmp_path: Path) -> None:
    key = generate_root_key()
    path = tmp_path / "root.key"
    _write_key_file(path, key, 0o600)
    assert load_root_key(key_b64=None, key_file=str(path), create_file_if_missing=False) == key


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_file_readable_or_writable_by_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    key = generate_root_key()
    path = tmp_path / "root.key"
    _write_key_file(path, key, mode)
    with pytest.raises(RootKeyError, match="group or others") as excinfo:
        load_root_key(key_b64=None, key_file=str(path), create_file_if_missing=True)
    assert _b64(key) not in str(excinfo.value)


def test_key_file_without_trailing_newline_is_accepted(tmp_path: Path) -> None:
    key = generate_root_key()
    path = tmp_path / "root.key"
    path.write_text(_b64(key), encoding="ascii")
    os.chmod(path, 0o600)
    assert load_root_key(key_b64=None, key_file=str(path), create_file_if_missing=False) == key


def test_key_b64_wins_over_an_existing_key_file(tmp_path: Path) -> None:
    file_key, env_key = generate_root_key(), generate_root_key()
    path = tmp_path / "root.key"
    _write_key_file(path, file_key, 0o600)
    loaded = load_root_key(key_b64=_b64(env_key), key_file=str(path), create_file_if_missing=True)
    assert loaded == env_key


def test_key_b64_wins_and_no_file_is_created(tmp_path: Path) -> None:
    env_key = generate_root_key()
    path = tmp_path / "root.key"
    assert (
        load_root_key(key_b64=_b64(env_key), key_file=str(path), create_file_if_missing=True)
        == env_key
    )
    assert not path.exists()


@pytest.mark.parametrize("size", [16, 31, 33, 48])
def test_key_b64_of_wrong_length_is_refused_without_echoing_it(size: int) -> None:
    value = _b64(os.urandom(size))
    with pytest.raises(RootKeyError) as excinfo:
        load_root_key(key_b64=value, key_file=None, create_file_if_missing=False)
    assert value not in str(excinfo.value)


@pytest.mark.parametrize("size", [16, 31, 33])
def test_key_file_of_wrong_length_is_refused(tmp_path: Path, size: int) -> None:
    path = tmp_path / "root.key"
    _write_key_file(path, os.urandom(size), 0o600)
    with pytest.raises(RootKeyError):
        load_root_key(key_b64=None, key_file=str(path), create_file_if_missing=True)


def test_bad_base64_is_refused_without_echoing_it(tmp_path: Path) -> None:
    # URL-safe alphabet and stray characters are not standard base64.
    value = base64.urlsafe_b64encode(b"\xfb" * 32).decode("ascii")
    assert "-" in value or "_" in value
    with pytest.raises(RootKeyError) as excinfo:
        load_root_key(key_b64=value, key_file=None, create_file_if_missing=False)
    assert value not in str(excinfo.value)
    path = tmp_path / "root.key"
    path.write_text("not base64 at all!\n", encoding="ascii")
    os.chmod(path, 0o600)
    with pytest.raises(RootKeyError):
        load_root_key(key_b64=None, key_file=str(path), create_file_if_missing=False)


def test_nothing_configured_is_refused() -> None:
    with pytest.raises(RootKeyError):
        load_root_key(key_b64=None, key_file=None, create_file_if_missing=True)
    with pytest.raises(RootKeyError):
        load_root_key(key_b64="  ", key_file="", create_file_if_missing=True)


def test_key_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "root.key"
    directory.mkdir(mode=0o700)
    with pytest.raises(RootKeyError):
        load_root_key(key_b64=None, key_file=str(directory), create_file_if_missing=True)


def test_key_file_that_is_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    os.mkfifo(path, 0o600)
    with pytest.raises(RootKeyError, match="not a regular file"):
        load_root_key(key_b64=None, key_file=str(path), create_file_if_missing=True)


def test_a_previous_key_error_names_its_own_variable() -> None:
    with pytest.raises(RootKeyError, match="KMS_PREVIOUS_ROOT_KEY must decode"):
        load_root_key(key_b64=_b64(os.urandom(16)), key_file=None, create_file_if_missing=False,
                      variable="KMS_PREVIOUS_ROOT_KEY")


# --- create_root_key_file (kms_root_key generate) ---------------------------


def test_create_root_key_file_writes_a_0600_file_that_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "new.key"
    key = create_root_key_file(str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_root_key(key_b64=None, key_file=str(path), create_file_if_missing=False) == key


def test_create_root_key_file_never_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    key = generate_root_key()
    _write_key_file(path, key, 0o600)
    with pytest.raises(RootKeyError, match="already exists"):
        create_root_key_file(str(path))
    assert load_root_key(key_b64=None, key_file=str(path), create_file_if_missing=False) == key


def test_create_root_key_file_in_a_missing_unwritable_place_is_a_clear_error(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RootKeyError, match="could not be created"):
        create_root_key_file(str(blocker / "root.key"))
