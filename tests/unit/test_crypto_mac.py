"""keys.crypto.mac: HMAC keys, checked against the standard library's hmac."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Any

import pytest

from keys.crypto.errors import UnsupportedAlgorithmError
from keys.crypto.mac import generate_mac, verify_mac
from keys.crypto.material import generate_key_material

CASES = [
    ("HMAC_224", "HMAC_SHA_224", hashlib.sha224, 28),
    ("HMAC_256", "HMAC_SHA_256", hashlib.sha256, 32),
    ("HMAC_384", "HMAC_SHA_384", hashlib.sha384, 48),
    ("HMAC_512", "HMAC_SHA_512", hashlib.sha512, 64),
]
MESSAGE = b"message to authenticate"


@pytest.mark.parametrize(("spec", "algorithm", "digestmod", "size"), CASES)
def test_mac_equals_the_stdlib_hmac_and_verifies(
    spec: str, algorithm: str, digestmod: Callable[..., Any], size: int
) -> None:
    material = generate_key_material(spec)
    tag = generate_mac(material=material, key_spec=spec, algorithm=algorithm, message=MESSAGE)
    assert len(tag) == size
    assert tag == hmac.new(material, MESSAGE, digestmod).digest()
    assert verify_mac(
        material=material, key_spec=spec, algorithm=algorithm, message=MESSAGE, mac=tag
    )


@pytest.mark.parametrize(("spec", "algorithm", "digestmod", "size"), CASES)
def test_verify_mac_returns_false_for_any_wrong_tag_or_message(
    spec: str, algorithm: str, digestmod: Callable[..., Any], size: int
) -> None:
    material = generate_key_material(spec)
    tag = generate_mac(material=material, key_spec=spec, algorithm=algorithm, message=MESSAGE)
    flipped = bytes([tag[0] ^ 1]) + tag[1:]
    for bad in (flipped, tag[:-1], tag + b"\x00", b"", os.urandom(size)):
        assert not verify_mac(
            material=material, key_spec=spec, algorithm=algorithm, message=MESSAGE, mac=bad
        )
    assert not verify_mac(
        material=material, key_spec=spec, algorithm=algorithm, message=MESSAGE + b"!", mac=tag
    )
    assert not verify_mac(
        material=generate_key_material(spec),
        key_spec=spec,
        algorithm=algorithm,
        message=MESSAGE,
        mac=tag,
    )


def test_imported_hmac_key_longer_than_the_hash_still_matches_stdlib() -> None:
    material = os.urandom(100)
    tag = generate_mac(
        material=material, key_spec="HMAC_384", algorithm="HMAC_SHA_384", message=b"m"
    )
    assert tag == hmac.new(material, b"m", hashlib.sha384).digest()


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("HMAC_256", "HMAC_SHA_224"),
        ("HMAC_224", "HMAC_SHA_256"),
        ("HMAC_512", "HMAC_SHA_384"),
        ("HMAC_384", "HMAC_SHA_512"),
        ("HMAC_256", "ECDSA_SHA_256"),
        ("SYMMETRIC_DEFAULT", "HMAC_SHA_256"),
    ],
)
def test_mac_algorithm_of_another_spec_is_incompatible(spec: str, algorithm: str) -> None:
    material = os.urandom(32)
    with pytest.raises(UnsupportedAlgorithmError) as excinfo:
        generate_mac(material=material, key_spec=spec, algorithm=algorithm, message=MESSAGE)
    assert str(excinfo.value) == f"Algorithm {algorithm} is incompatible with key spec {spec}"
    with pytest.raises(UnsupportedAlgorithmError):
        verify_mac(material=material, key_spec=spec, algorithm=algorithm, message=MESSAGE, mac=b"x")


def test_empty_hmac_material_is_refused() -> None:
    with pytest.raises(ValueError):
        generate_mac(material=b"", key_spec="HMAC_256", algorithm="HMAC_SHA_256", message=MESSAGE)
