"""The service root key: loading it safely and wrapping key material with it.

Every KMS key's material is stored in the database only in wrapped form:
AES-256-GCM under the root key, with the caller's AAD (for example the key id
and material version) bound in, so a wrapped blob copied onto another row fails
to unwrap instead of silently becoming that key's material.

Wrapped formats:
  version 2 (written today):  0x02 | key id (8 bytes) | nonce (12 bytes) | ciphertext+tag
  version 1 (read only):      0x01 | nonce (12 bytes) | ciphertext+tag

The key id is the root key's fingerprint (a labelled SHA-256 of the key, not the key). It lets
a root-key rotation tell the rows already re-wrapped under the new key from those still under
the old one without trying to decrypt them, and lets a server that holds both keys during the
rotation open each blob with the key it names. The whole header is authenticated (AAD), so it
cannot be edited to point at another key. Version 1 blobs name no key: a RootKeyRing tries each
key it holds on them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import RootKeyError

__all__ = [
    "ROOT_KEY_BYTES", "generate_root_key", "load_root_key", "create_root_key_file",
    "wrapped_by", "RootKey", "RootKeyRing",
]

ROOT_KEY_BYTES = 32

_WRAP_FORMAT_V1 = 0x01
_WRAP_FORMAT = 0x02
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12
_TAG_BYTES = 16
_FINGERPRINT_LABEL = b"kmsconsole root key fingerprint v1\x00"
_UNWRAP_FAILED = "key material could not be unwrapped"
# A root key file holds 44 characters of base64; anything far larger is not a key
# file, and reading it whole would only waste memory.
_MAX_KEY_FILE_BYTES = 4096


def generate_root_key() -> bytes:
    """Return a fresh 256-bit root key from the OS CSPRNG."""
    return os.urandom(ROOT_KEY_BYTES)


def _decode_key_text(text: str, source: str) -> bytes:
    """Decode standard base64 text into a 32-byte key.

    Messages name only the source, never the text: a wrong value could still be a
    real key with a typo, and errors end up in logs.
    """
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise RootKeyError(f"root key from {source} is not valid base64") from None
    if len(key) != ROOT_KEY_BYTES:
        raise RootKeyError(f"root key from {source} must decode to {ROOT_KEY_BYTES} bytes")
    return key


def _read_key_file(path: str) -> bytes:
    """Read and validate an existing root key file.

    Opens first and then fstat()s the open descriptor, so the mode we check is the
    mode of the file we actually read (no check-then-open race). Symlinks are
    followed on purpose: Kubernetes mounts secrets through symlinks.
    """
    # O_NONBLOCK: a FIFO planted at the path must not hang startup; it is then
    # refused below as not a regular file. No effect on regular files.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RootKeyError(f"root key file {path} is not a regular file")
        # Threat: another local user or process group reading the root key and with
        # it every key in the database. Refuse to run rather than keep using it.
        if info.st_mode & 0o077:
            raise RootKeyError(
                f"root key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); chmod 600 it"
            )
        data = os.read(fd, _MAX_KEY_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise RootKeyError(f"root key file {path} is too large to be a root key")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise RootKeyError(f"root key file {path} is not valid base64") from None
    return _decode_key_text(text, f"file {path}")


def _create_key_file(path: str) -> bytes:
    """Create a new root key file, mode 0600, failing if it already exists.

    O_CREAT|O_EXCL means two processes starting at once cannot both write a key
    (one would otherwise overwrite the other's key after it encrypted data), and
    the file never exists with wider permissions than 0600, not even briefly.
    """
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, mode=0o700, exist_ok=True)
    key = generate_root_key()
    data = base64.b64encode(key) + b"\n"
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        # The umask can only remove bits from 0600; force the exact mode so a
        # strict umask cannot leave us a file we cannot read back at next start.
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        # Losing the root key loses every key in the database: make it durable
        # before any material is wrapped with it.
        os.fsync(fd)
    except OSError:
        os.close(fd)
        # A half-written file would block every later start; remove it.
        os.unlink(path)
        raise RootKeyError(f"could not write root key file {path}") from None
    os.close(fd)
    if parent:
        dir_fd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return key


def create_root_key_file(path: str) -> bytes:
    """Create a new root key file (mode 0600) for an operator; refuse to replace one.

    Overwriting an existing root key file would orphan everything wrapped under it, so an
    existing path is an error, never a replacement.
    """
    try:
        return _create_key_file(path)
    except OSError as exc:
        # O_EXCL reports an existing file; makedirs reports a parent that is not a directory
        # with the same error, so look at the path itself before saying which.
        if os.path.lexists(path):
            raise RootKeyError(
                f"root key file {path} already exists; refusing to replace it") from None
        raise RootKeyError(f"root key file {path} could not be created ({exc.strerror})") from None


def wrapped_by(blob: bytes) -> str | None:
    """The fingerprint of the root key a wrapped blob names, read from its header.

    None for a version 1 blob, which names no key. A blob that is neither (empty, truncated,
    another format) raises RootKeyError. Decrypts nothing: cheap enough to classify every row
    of a table.
    """
    if len(blob) >= 1 + _KEY_ID_BYTES + _NONCE_BYTES + _TAG_BYTES and blob[0] == _WRAP_FORMAT:
        return blob[1 : 1 + _KEY_ID_BYTES].hex()
    if len(blob) >= 1 + _NONCE_BYTES + _TAG_BYTES and blob[0] == _WRAP_FORMAT_V1:
        return None
    raise RootKeyError("not a wrapped value")


def load_root_key(
    *, key_b64: str | None, key_file: str | None, create_file_if_missing: bool,
    variable: str = "KMS_ROOT_KEY",
) -> bytes:
    """Load the root key from configuration.

    Precedence: key_b64 (for example the KMS_ROOT_KEY environment variable), then
    key_file. An empty or blank key_b64 counts as not configured. A missing file is
    created only when create_file_if_missing is true. `variable` names key_b64's
    setting in messages (KMS_PREVIOUS_ROOT_KEY for the previous key of a rotation).
    """
    if key_b64 is not None and key_b64.strip():
        return _decode_key_text(key_b64, variable)
    if not key_file:
        raise RootKeyError(f"no root key configured (set {variable} or a root key file)")
    try:
        try:
            return _read_key_file(key_file)
        except FileNotFoundError:
            if not create_file_if_missing:
                raise RootKeyError(f"root key file {key_file} does not exist") from None
        try:
            return _create_key_file(key_file)
        except FileExistsError:
            # Another process won the O_EXCL race; use the key it wrote.
            return _read_key_file(key_file)
    except OSError as exc:
        # Permissions, not-a-directory, disk full...: report without the key.
        raise RootKeyError(
            f"root key file {key_file} could not be read or created ({exc.strerror})"
        ) from None


class RootKey:
    """The root key, used only to wrap and unwrap stored key material."""

    __slots__ = ("_key", "_aead", "_key_id")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != ROOT_KEY_BYTES:
            raise RootKeyError(f"root key must be exactly {ROOT_KEY_BYTES} bytes")
        self._key = key
        self._aead = AESGCM(key)
        self._key_id = hashlib.sha256(_FINGERPRINT_LABEL + key).digest()[:_KEY_ID_BYTES]

    def __repr__(self) -> str:
        # Never let the default repr (or a debugger/log line) print the key.
        return f"<RootKey fingerprint={self.fingerprint}>"

    @property
    def fingerprint(self) -> str:
        """First 16 hex chars of SHA-256(label || key): identifies the key in logs and blobs.

        The domain-separation label keeps this value unrelated to any other hash of
        the key someone might compute or publish elsewhere.
        """
        return self._key_id.hex()

    def wrap(self, plaintext: bytes, *, aad: bytes) -> bytes:
        """Encrypt key material under the root key, binding aad; format 2, naming this key."""
        if not isinstance(plaintext, bytes) or not isinstance(aad, bytes):
            raise TypeError("plaintext and aad must be bytes")
        header = bytes([_WRAP_FORMAT]) + self._key_id
        nonce = os.urandom(_NONCE_BYTES)
        # The header is authenticated too, so a blob cannot be replayed under a different
        # format interpretation, nor relabelled as wrapped by another key.
        return header + nonce + self._aead.encrypt(nonce, plaintext, header + aad)

    def unwrap(self, blob: bytes, *, aad: bytes) -> bytes:
        """Decrypt wrapped key material (format 2 or 1); any failure raises RootKeyError."""
        if not isinstance(blob, bytes) or not isinstance(aad, bytes):
            raise RootKeyError(_UNWRAP_FAILED)
        try:
            named = wrapped_by(blob)
        except RootKeyError:
            raise RootKeyError(_UNWRAP_FAILED) from None
        if named is None:
            header_len = 1
        elif named == self.fingerprint:
            header_len = 1 + _KEY_ID_BYTES
        else:
            raise RootKeyError(_UNWRAP_FAILED)  # wrapped under another root key
        header = blob[:header_len]
        nonce = blob[header_len : header_len + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[header_len + _NONCE_BYTES :], header + aad)
        except InvalidTag:
            # Threat: tampered, swapped or foreign blobs (and the wrong root key)
            # must never yield material.
            raise RootKeyError(_UNWRAP_FAILED) from None


class RootKeyRing:
    """The current root key plus the previous ones still accepted during a root-key rotation.

    Wraps only under the current key. Unwraps a format 2 blob with the key its header names
    (and fails if that key is not on the ring), a format 1 blob by trying each key in turn:
    AES-GCM's tag makes a wrong key fail, never yield wrong material. Duplicates of the
    current key among the previous ones are dropped.
    """

    __slots__ = ("current", "previous")

    def __init__(self, current: RootKey, previous: tuple[RootKey, ...] = ()) -> None:
        self.current = current
        distinct: dict[str, RootKey] = {}
        for key in previous:
            if key.fingerprint != current.fingerprint:
                distinct.setdefault(key.fingerprint, key)
        self.previous = tuple(distinct.values())

    def __repr__(self) -> str:
        return (f"<RootKeyRing current={self.current.fingerprint} "
                f"previous={[key.fingerprint for key in self.previous]}>")

    @property
    def fingerprint(self) -> str:
        return self.current.fingerprint

    def fingerprints(self) -> tuple[str, ...]:
        return (self.current.fingerprint, *(key.fingerprint for key in self.previous))

    def wrap(self, plaintext: bytes, *, aad: bytes) -> bytes:
        return self.current.wrap(plaintext, aad=aad)

    def unwrap(self, blob: bytes, *, aad: bytes) -> bytes:
        # Each key refuses a format 2 blob that names another key before decrypting anything
        # (RootKey.unwrap), so only the named key does the work; format 1 tries them in turn.
        for key in (self.current, *self.previous):
            try:
                return key.unwrap(blob, aad=aad)
            except RootKeyError:
                continue
        raise RootKeyError(_UNWRAP_FAILED)

    def is_current(self, blob: bytes) -> bool:
        """Whether `blob` is already wrapped (format 2) under the current key."""
        try:
            return wrapped_by(blob) == self.current.fingerprint
        except RootKeyError:
            return False

    def rewrap(self, blob: bytes, *, aad: bytes) -> bytes:
        """The same plaintext, wrapped under the current key (same aad)."""
        return self.current.wrap(self.unwrap(blob, aad=aad), aad=aad)
