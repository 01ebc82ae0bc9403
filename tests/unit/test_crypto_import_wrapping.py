"""keys.crypto.import_wrapping: wrapping key pairs, unwrapping per algorithm, material checks
(kms-spec.md 4.4). Material is wrapped as a key owner would, offline (tests/byok.py)."""

import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keys.crypto import asymmetric
from keys.crypto.errors import InvalidCiphertextError
from keys.crypto.import_wrapping import (
    ALL_WRAPPING_ALGORITHMS,
    WRAPPING_ALGORITHMS,
    WRAPPING_KEY_SPECS,
    IncorrectMaterialError,
    UnsupportedWrappingError,
    canonical_material,
    check_wrapping,
    generate_wrapping_key,
    unwrap,
)
from tests.byok import make_material, wrap_offline


@pytest.fixture(scope="module")
def wrapping_keys():
    return {spec: generate_wrapping_key(spec) for spec in WRAPPING_KEY_SPECS}


@pytest.mark.parametrize("spec, bits", [("RSA_2048", 2048), ("RSA_3072", 3072),
                                        ("RSA_4096", 4096)])
def test_a_wrapping_key_is_an_rsa_pair_of_its_spec(wrapping_keys, spec, bits):
    private_der, public_der = wrapping_keys[spec]
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == bits
    assert asymmetric.public_key_der(private_der) == public_der


def test_every_wrapping_key_is_fresh():
    assert generate_wrapping_key("RSA_2048")[1] != generate_wrapping_key("RSA_2048")[1]


@pytest.mark.parametrize("algorithm", WRAPPING_ALGORITHMS)
@pytest.mark.parametrize("spec", WRAPPING_KEY_SPECS)
def test_symmetric_material_wrapped_offline_unwraps_with_each_algorithm_and_key_spec(
        wrapping_keys, algorithm, spec):
    private_der, public_der = wrapping_keys[spec]
    material = os.urandom(32)
    encrypted = wrap_offline(public_der, algorithm, material)
    assert unwrap(private_der=private_der, wrapping_algorithm=algorithm,
                  encrypted=encrypted) == material


@pytest.mark.parametrize("algorithm", ["RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"])
def test_an_rsa_private_key_unwraps_with_the_rsa_aes_algorithms(wrapping_keys, algorithm):
    private_der, public_der = wrapping_keys["RSA_2048"]
    material = make_material("RSA_3072")
    unwrapped = unwrap(private_der=private_der, wrapping_algorithm=algorithm,
                       encrypted=wrap_offline(public_der, algorithm, material))
    assert canonical_material("RSA_3072", unwrapped) == material


def test_material_wrapped_with_another_algorithm_does_not_unwrap(wrapping_keys):
    private_der, public_der = wrapping_keys["RSA_2048"]
    encrypted = wrap_offline(public_der, "RSAES_OAEP_SHA_1", os.urandom(32))
    with pytest.raises(InvalidCiphertextError):
        unwrap(private_der=private_der, wrapping_algorithm="RSAES_OAEP_SHA_256",
               encrypted=encrypted)


def test_material_wrapped_under_another_wrapping_key_does_not_unwrap(wrapping_keys):
    other_public = generate_wrapping_key("RSA_2048")[1]
    encrypted = wrap_offline(other_public, "RSA_AES_KEY_WRAP_SHA_256", os.urandom(32))
    with pytest.raises(InvalidCiphertextError):
        unwrap(private_der=wrapping_keys["RSA_2048"][0],
               wrapping_algorithm="RSA_AES_KEY_WRAP_SHA_256", encrypted=encrypted)


@pytest.mark.parametrize("tamper", [
    lambda blob: blob[:-1],
    lambda blob: blob[:256],
    lambda blob: blob[:-8] + bytes(8),
    lambda blob: b"\x00" * len(blob),
])
def test_a_tampered_or_truncated_rsa_aes_blob_does_not_unwrap(wrapping_keys, tamper):
    private_der, public_der = wrapping_keys["RSA_2048"]
    blob = wrap_offline(public_der, "RSA_AES_KEY_WRAP_SHA_256", os.urandom(32))
    with pytest.raises(InvalidCiphertextError):
        unwrap(private_der=private_der, wrapping_algorithm="RSA_AES_KEY_WRAP_SHA_256",
               encrypted=tamper(blob))


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
@pytest.mark.parametrize("key_spec", ["RSA_2048", "RSA_3072", "RSA_4096"])
def test_rsaes_oaep_cannot_wrap_rsa_private_keys(algorithm, key_spec):
    with pytest.raises(UnsupportedWrappingError, match="cannot wrap RSA key material"):
        check_wrapping(key_spec=key_spec, wrapping_algorithm=algorithm,
                       wrapping_key_spec="RSA_4096")


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
def test_rsaes_oaep_with_an_rsa_2048_wrapping_key_cannot_wrap_p521_material(algorithm):
    with pytest.raises(UnsupportedWrappingError, match="ECC_NIST_P521"):
        check_wrapping(key_spec="ECC_NIST_P521", wrapping_algorithm=algorithm,
                       wrapping_key_spec="RSA_2048")


@pytest.mark.parametrize("key_spec, algorithm, wrapping_key_spec", [
    ("ECC_NIST_P521", "RSAES_OAEP_SHA_256", "RSA_3072"),
    ("ECC_NIST_P521", "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048"),
    ("RSA_4096", "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"),
    ("SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSA_2048"),
    ("HMAC_512", "RSAES_OAEP_SHA_256", "RSA_2048"),
])
def test_the_combinations_aws_allows_pass(key_spec, algorithm, wrapping_key_spec):
    check_wrapping(key_spec=key_spec, wrapping_algorithm=algorithm,
                   wrapping_key_spec=wrapping_key_spec)


def test_the_full_aws_enum_names_the_deprecated_and_china_only_algorithms():
    assert set(ALL_WRAPPING_ALGORITHMS) - set(WRAPPING_ALGORITHMS) == {"RSAES_PKCS1_V1_5",
                                                                       "SM2PKE"}


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_symmetric_material_must_be_32_bytes(length):
    with pytest.raises(IncorrectMaterialError, match="32 bytes"):
        canonical_material("SYMMETRIC_DEFAULT", os.urandom(length))


@pytest.mark.parametrize("key_spec, low, high", [("HMAC_224", 28, 64), ("HMAC_256", 32, 64),
                                                  ("HMAC_384", 48, 128),
                                                  ("HMAC_512", 64, 128)])
def test_hmac_material_may_have_any_length_aws_allows_and_no_other(key_spec, low, high):
    for length in (low, high):
        material = os.urandom(length)
        assert canonical_material(key_spec, material) == material
    for length in (low - 1, high + 1):
        with pytest.raises(IncorrectMaterialError):
            canonical_material(key_spec, os.urandom(length))


@pytest.mark.parametrize("key_spec", ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384",
                                      "ECC_NIST_P521", "ECC_SECG_P256K1"])
def test_a_private_key_of_the_key_spec_is_accepted(key_spec):
    material = make_material(key_spec)
    assert canonical_material(key_spec, material) == material


@pytest.mark.parametrize("key_spec, material_spec", [
    ("RSA_3072", "RSA_2048"), ("ECC_NIST_P256", "ECC_SECG_P256K1"),
    ("ECC_NIST_P384", "RSA_2048"), ("RSA_2048", "ECC_NIST_P256"),
])
def test_a_private_key_of_another_spec_is_refused(key_spec, material_spec):
    with pytest.raises(IncorrectMaterialError, match=key_spec):
        canonical_material(key_spec, make_material(material_spec))


def test_bytes_that_are_no_private_key_are_refused():
    with pytest.raises(IncorrectMaterialError):
        canonical_material("ECC_NIST_P256", os.urandom(138))


def test_another_encoding_of_the_same_private_key_gives_the_same_material():
    """The same key encoded without the optional public key (or in the traditional format)
    must compare equal on re-import."""
    key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    traditional = key.private_bytes(serialization.Encoding.DER,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    assert canonical_material("ECC_NIST_P256", traditional) == \
        canonical_material("ECC_NIST_P256", pkcs8)
