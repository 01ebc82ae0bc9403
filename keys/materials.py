"""A key's material ring: appending a version (creation, rotation, AWS managed keys) and
opening one for a cryptographic operation."""

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.utils import timezone

from .crypto.material import generate_key_material
from .models import Key, KeyMaterial
from .vault import unwrap_material, wrap_material

# Opened material by (key id, version). A version's material never changes once stored (a new
# version is a new entry; re-wrapping under a new root key keeps the plaintext), so an entry
# never goes stale and needs no invalidation. Every use still reads the key row first (state,
# policy), so a disabled or deleted key is refused before its cached material is reached. The
# cache saves a SELECT and an unwrap on every cryptographic request; it holds nothing the
# process does not hold anyway while it serves the key, and it is bounded.
_OPENED_CACHE_SIZE = 1024
_opened: OrderedDict[tuple, "OpenedMaterial"] = OrderedDict()
_opened_lock = threading.Lock()  # gunicorn threads and Celery's thread pool share the cache


@dataclass(frozen=True)
class OpenedMaterial:
    version: int
    material_id: str
    plaintext: bytes


def add_material(key: Key, *, version: int, material: bytes, rotation_type: str = "") -> None:
    """Store `material` wrapped as `version` of `key` and make it current (caller saves key)."""
    KeyMaterial.objects.create(
        key=key,
        version=version,
        wrapped=wrap_material(key_arn=key.arn, version=version, material=material),
        # KeyMaterialId as AWS reports it: 64 lowercase hex, not derived from the material.
        material_id=secrets.token_hex(32),
        created_at=timezone.now(),
        rotation_type=rotation_type,
    )
    key.current_version = version


def rotate_material(key: Key, *, rotation_type: str) -> None:
    """Append fresh material as the next version and make it current (caller saves key).

    The only way a key's material rotates, for RotateKeyOnDemand and the scheduled sweep alike.
    The caller holds the key row locked (select_for_update) inside the transaction that also
    records the event, so a failure anywhere leaves no half-rotated key: the new version row
    and the key's current_version commit together or not at all.
    """
    add_material(key, version=(key.current_version or 0) + 1,
                 material=generate_key_material(key.key_spec), rotation_type=rotation_type)


def open_material(key: Key, version: int) -> OpenedMaterial | None:
    """`version` of `key`'s material in the clear, or None if the key has no such version."""
    cache_key = (key.pk, version)
    with _opened_lock:
        opened = _opened.get(cache_key)
        if opened is not None:
            _opened.move_to_end(cache_key)
            return opened
    row = KeyMaterial.objects.filter(key=key, version=version).first()
    if row is None or not row.wrapped:
        # Never cached: the version may be stored later (import, rotation). An emptied row is
        # imported material that was deleted or expired (keys/imports.py) until re-imported.
        return None
    opened = OpenedMaterial(version=version, material_id=row.material_id,
                            plaintext=unwrap_material(key_arn=key.arn, version=version,
                                                      wrapped=row.wrapped))
    with _opened_lock:
        _opened[cache_key] = opened
        while len(_opened) > _OPENED_CACHE_SIZE:
            _opened.popitem(last=False)
    return opened


def forget_opened(key_id) -> None:
    """Drop every opened version of `key_id` from this process's cache (the scheduled deletion
    destroys a key's material; its plaintext must not stay in memory until evicted)."""
    key_id = str(key_id)
    with _opened_lock:
        for cache_key in [cache_key for cache_key in _opened if str(cache_key[0]) == key_id]:
            del _opened[cache_key]
