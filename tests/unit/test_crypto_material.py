"""keys.crypto.material, plus a round trip through the package for every key spec."""

from __future__ import annotations

import functools
import hashlib
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import keys.crypto as kc
from keys.crypto import specs
from keys.crypto.material import (
    generate_data_key,
    generate_data_key_pair,
    generate_key_material,
    random_bytes,
)


@functools.cache
def material_for(key_spec: str) -> bytes:
    """One material per spec for this module: RSA generation is slow."""
    return generate_key_material(key_spec)


@functools.cache
def data_key_pair_for(key_pair_spec: str) -> tuple[bytes, bytes]:
    return generate_data_key_pair(key_pair_spec)


# --- every key spec round-trips through the public package API ----------------


@pytest.mark.parametrize("spec", specs.KEY_SPECS)
def test_every_supported_key_spec_round_trips(spec: str) -> None:
    material = material_for(spec)
    family = specs.key_type(spec)
    if family == "SYMMETRIC":
        key_id = uuid.uuid4()
        blob = kc.encrypt(
            material=material, key_id=key_id, version=1, plaintext=b"p", context={"k": "v"}
        )
        assert kc.read_header(blob) == kc.BlobHeader(key_id=key_id, version=1)
        assert kc.decrypt(material=material, blob=blob, context={"k": "v"}) == b"p"
    elif family == "HMAC":
        (algorithm,) = specs.mac_algorithms(spec, "GENERATE_VERIFY_MAC")
        tag = kc.generate_mac(material=material, key_spec=spec, algorithm=algorithm, message=b"m")
        assert kc.verify_mac(
            material=material, key_spec=spec, algorithm=algorithm, message=b"m", mac=tag
        )
    else:
        for algorithm in specs.encryption_algorithms(spec, "ENCRYPT_DECRYPT"):
            ciphertext = kc.rsa_encrypt(
                private_der=material, key_spec=spec, algorithm=algorithm, plaintext=b"p"
            )
            assert (
                kc.rsa_decrypt(
                    private_der=material, key_spec=spec, algorithm=algorithm, ciphertext=ciphertext
                )
                == b"p"
            )
        signing = specs.signing_algorithms(spec, "SIGN_VERIFY")
        assert signing
        for algorithm in signing:
            for message_type in specs.MESSAGE_TYPES:
                hash_name = "sha" + algorithm[-3:]
                message = (
                    hashlib.new(hash_name, b"m").digest() if message_type == "DIGEST" else b"m"
                )
                signature = kc.sign(
                    private_der=material,
                    key_spec=spec,
                    algorithm=algorithm,
                    message=message,
                    message_type=message_type,
                )
                assert kc.verify(
                    private_der=material,
                    key_spec=spec,
                    algorithm=algorithm,
                    message=message,
                    message_type=message_type,
                    signature=signature,
                )


# --- key material -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "size"),
    [
        ("SYMMETRIC_DEFAULT", 32),
        ("HMAC_224", 28),
        ("HMAC_256", 32),
        ("HMAC_384", 48),
        ("HMAC_512", 64),
    ],
)
def test_symmetric_and_hmac_material_has_the_spec_length_and_is_random(
    spec: str, size: int
) -> None:
    first, second = generate_key_material(spec), generate_key_material(spec)
    assert len(first) == len(second) == size
    assert first != second


@pytest.mark.parametrize("spec", ("RSA_2048", "ECC_NIST_P384", "ECC_SECG_P256K1"))
def test_asymmetric_material_is_a_pkcs8_der_private_key(spec: str) -> None:
    key = serialization.load_der_private_key(material_for(spec), password=None)
    assert isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey))


def test_material_for_unimplemented_or_unknown_specs_is_refused() -> None:
    for spec in ("SM2", "ML_DSA_44", "ECC_NIST_EDWARDS25519", "AES_256", "nonsense"):
        with pytest.raises(ValueError):
            generate_key_material(spec)


# --- data keys ------------------------------------------------------------------------


def test_data_key_by_key_spec_has_aes_length() -> None:
    assert len(generate_data_key(key_spec="AES_256", number_of_bytes=None)) == 32
    assert len(generate_data_key(key_spec="AES_128", number_of_bytes=None)) == 16
    assert generate_data_key(key_spec="AES_256", number_of_bytes=None) != generate_data_key(
        key_spec="AES_256", number_of_bytes=None
    )


@pytest.mark.parametrize("n", [1, 7, 64, 1024])
def test_data_key_by_number_of_bytes_has_that_length(n: int) -> None:
    assert len(generate_data_key(key_spec=None, number_of_bytes=n)) == n


def test_data_key_needs_exactly_one_valid_size_argument() -> None:
    bad_calls = [
        {"key_spec": None, "number_of_bytes": None},
        {"key_spec": "AES_256", "number_of_bytes": 32},
        {"key_spec": "AES_512", "number_of_bytes": None},
        {"key_spec": None, "number_of_bytes": 0},
        {"key_spec": None, "number_of_bytes": 1025},
        {"key_spec": None, "number_of_bytes": True},
    ]
    for kwargs in bad_calls:
        with pytest.raises(ValueError):
            generate_data_key(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", specs.DATA_KEY_PAIR_SPECS)
def test_data_key_pair_is_pkcs8_private_and_matching_spki_public(spec: str) -> None:
    private_der, public_der = data_key_pair_for(spec)
    private = serialization.load_der_private_key(private_der, password=None)
    public = serialization.load_der_public_key(public_der)
    assert private.public_key() == public
    assert public_der == kc.public_key_der(private_der)


def test_data_key_pairs_are_fresh_each_call() -> None:
    assert generate_data_key_pair("ECC_NIST_P256") != generate_data_key_pair("ECC_NIST_P256")


def test_data_key_pair_of_unimplemented_spec_is_refused() -> None:
    for spec in ("SM2", "ML_KEM_512", "ECC_NIST_EDWARDS25519", "SYMMETRIC_DEFAULT"):
        with pytest.raises(ValueError):
            generate_data_key_pair(spec)


# --- random -----------------------------------------------------------------------------


def test_random_bytes_returns_n_distinct_bytes() -> None:
    assert random_bytes(0) == b""
    assert len(random_bytes(1024)) == 1024
    assert random_bytes(32) != random_bytes(32)
    with pytest.raises(ValueError):
        random_bytes(-1)
