"""keys.crypto.rootkey: loading the root key safely and wrapping material with it."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from keys.crypto.errors import RootKeyError
from keys.crypto.rootkey import ROOT_KEY_BYTES, RootKey, generate_root_key, load_root_key


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


def test_wrapped_blob_has_format_byte_nonce_and_tag_and_hides_the_plaintext() -> None:
    root = RootKey(generate_root_key())
    blob = root.wrap(b"A" * 32, aad=b"x")
    assert blob[0] == 0x01
    assert len(blob) == 1 + 12 + 32 + 16
    assert b"A" * 32 not in blob


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
