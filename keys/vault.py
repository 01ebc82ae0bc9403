"""Where key material meets the root key: wrap on the way into the database, unwrap on the way out.

The root key is loaded once per process from settings (KMS_ROOT_KEY, KMS_ROOT_KEY_FILE; a
development file is created only when KMS_CREATE_ROOT_KEY_FILE allows it). Wrapped material is
bound to its key ARN and version through AAD, so a row copied onto another key or version does
not unwrap.
"""

import functools

from django.conf import settings

from keys.crypto.rootkey import RootKey, load_root_key


@functools.cache
def root_key() -> RootKey:
    return RootKey(
        load_root_key(
            key_b64=settings.KMS_ROOT_KEY,
            key_file=settings.KMS_ROOT_KEY_FILE,
            create_file_if_missing=settings.KMS_CREATE_ROOT_KEY_FILE,
        )
    )


def material_aad(key_arn: str, version: int) -> bytes:
    return f"{key_arn}#{version}".encode()


def wrap_material(*, key_arn: str, version: int, material: bytes) -> bytes:
    return root_key().wrap(material, aad=material_aad(key_arn, version))


def unwrap_material(*, key_arn: str, version: int, wrapped: bytes) -> bytes:
    return root_key().unwrap(bytes(wrapped), aad=material_aad(key_arn, version))
