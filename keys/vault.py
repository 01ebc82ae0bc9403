"""Where key material meets the root key: wrap on the way into the database, unwrap on the way out.

The root key is loaded once per process from settings (KMS_ROOT_KEY, KMS_ROOT_KEY_FILE; a
development file is created only when KMS_CREATE_ROOT_KEY_FILE allows it). During a root-key
rotation (keys/root_key_rotation.py) the old key is configured as KMS_PREVIOUS_ROOT_KEY(_FILE):
everything is wrapped under the current key, and a value still under the previous key unwraps
with it until `kms_root_key rotate` has re-wrapped it. Wrapped material is bound to its key ARN
and version through AAD, so a row copied onto another key or version does not unwrap.
"""

import functools
import hashlib
import hmac

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from keys.crypto.rootkey import RootKey, RootKeyRing, load_root_key

ROOT_KEY_SETTINGS = frozenset({
    "KMS_ROOT_KEY", "KMS_ROOT_KEY_FILE", "KMS_CREATE_ROOT_KEY_FILE",
    "KMS_PREVIOUS_ROOT_KEY", "KMS_PREVIOUS_ROOT_KEY_FILE",
})


@functools.cache
def root_key() -> RootKeyRing:
    """The configured root keys: wrap under the current one, unwrap with the one a value names."""
    current = RootKey(
        load_root_key(
            key_b64=settings.KMS_ROOT_KEY,
            key_file=settings.KMS_ROOT_KEY_FILE,
            create_file_if_missing=settings.KMS_CREATE_ROOT_KEY_FILE,
        )
    )
    return RootKeyRing(current, previous_root_keys())


def previous_root_keys() -> tuple[RootKey, ...]:
    """The previous root key, if one is configured (never created: it must exist already)."""
    key_b64 = getattr(settings, "KMS_PREVIOUS_ROOT_KEY", None)
    key_file = getattr(settings, "KMS_PREVIOUS_ROOT_KEY_FILE", None)
    if not (key_b64 and key_b64.strip()) and not key_file:
        return ()
    return (RootKey(load_root_key(key_b64=key_b64, key_file=key_file,
                                  create_file_if_missing=False,
                                  variable="KMS_PREVIOUS_ROOT_KEY")),)


@receiver(setting_changed)
def _forget_root_keys(*, setting, **kwargs):
    # Tests (and only tests) change settings at run time; the next use reloads the keys.
    if setting in ROOT_KEY_SETTINGS:
        root_key.cache_clear()


def material_aad(key_arn: str, version: int) -> bytes:
    return f"{key_arn}#{version}".encode()


def wrap_material(*, key_arn: str, version: int, material: bytes) -> bytes:
    return root_key().wrap(material, aad=material_aad(key_arn, version))


def unwrap_material(*, key_arn: str, version: int, wrapped: bytes) -> bytes:
    return root_key().unwrap(bytes(wrapped), aad=material_aad(key_arn, version))


# --- imported key material (keys/imports.py) --------------------------------------------------

def import_key_aad(key_arn: str, token_digest: str) -> bytes:
    # Bound to the key and the token: a wrapping key row copied to another key or token fails.
    return f"{key_arn}#import#{token_digest}".encode()


def wrap_import_private_key(*, key_arn: str, token_digest: str, private_der: bytes) -> bytes:
    return root_key().wrap(private_der, aad=import_key_aad(key_arn, token_digest))


def unwrap_import_private_key(*, key_arn: str, token_digest: str, wrapped: bytes) -> bytes:
    return root_key().unwrap(bytes(wrapped), aad=import_key_aad(key_arn, token_digest))


def commitment_aad(key_arn: str) -> bytes:
    return f"{key_arn}#commitment".encode()


def _material_digest(key_arn: str, material: bytes) -> bytes:
    return hashlib.sha256(key_arn.encode() + b"\x00" + material).digest()


def wrap_material_commitment(*, key_arn: str, material: bytes) -> bytes:
    """A commitment to imported material: its SHA-256 (bound to the key ARN), wrapped under the
    root key.

    Kept after the material itself is deleted, so a re-import can be checked to be the same
    material without storing it. Wrapped rather than stored in the clear, so a database reader
    cannot test guesses of the material against it (a plain hash of a leaked key would confirm
    it); wrapped rather than keyed with a key derived from the root key, so a root-key rotation
    re-wraps it like every other wrapped value, even after the material is gone.
    """
    return root_key().wrap(_material_digest(key_arn, material), aad=commitment_aad(key_arn))


def material_matches_commitment(*, key_arn: str, material: bytes, wrapped: bytes) -> bool:
    committed = root_key().unwrap(bytes(wrapped), aad=commitment_aad(key_arn))
    return hmac.compare_digest(committed, _material_digest(key_arn, material))
