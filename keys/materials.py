"""Appending a version to a key's material ring (creation, rotation, AWS managed keys)."""

import secrets

from django.utils import timezone

from .models import Key, KeyMaterial
from .vault import wrap_material


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
