"""keys.crypto.specs: tables match kms-spec.md sections 3.1, 3.2 and 3.4."""

from __future__ import annotations

import pytest

from keys.crypto import specs
from keys.crypto.errors import UnsupportedAlgorithmError

RSA = ("RSA_2048", "RSA_3072", "RSA_4096")
ECC = ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1")
HMAC = ("HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512")


def test_supported_key_specs_are_a_subset_of_the_aws_enum() -> None:
    assert set(specs.KEY_SPECS) <= set(specs.ALL_KEY_SPECS)
    assert len(specs.ALL_KEY_SPECS) == 20
    assert set(specs.KEY_SPECS) == {"SYMMETRIC_DEFAULT", *RSA, *ECC, *HMAC}
    assert set(specs.DATA_KEY_PAIR_SPECS) <= set(specs.ALL_DATA_KEY_PAIR_SPECS)
    assert set(specs.DATA_KEY_PAIR_SPECS) == {*RSA, *ECC}


def test_enum_constants_hold_the_exact_aws_values() -> None:
    assert specs.DATA_KEY_SPECS == ("AES_256", "AES_128")
    assert specs.MESSAGE_TYPES == ("RAW", "DIGEST")
    assert specs.SYMMETRIC_PLAINTEXT_MAX == 4096
    assert specs.MAC_ALGORITHMS == ("HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512")
    assert set(specs.ENCRYPTION_ALGORITHMS) == {
        "SYMMETRIC_DEFAULT",
        "RSAES_OAEP_SHA_1",
        "RSAES_OAEP_SHA_256",
        "SM2PKE",
    }
    assert "ECDSA_SHA_512" in specs.SIGNING_ALGORITHMS
    assert set(specs.KEY_USAGES) == {
        "SIGN_VERIFY",
        "ENCRYPT_DECRYPT",
        "GENERATE_VERIFY_MAC",
        "KEY_AGREEMENT",
        "ENCAPSULATE_DECAPSULATE",
    }


def test_allowed_usages_list_only_usages_we_implement() -> None:
    assert specs.allowed_usages("SYMMETRIC_DEFAULT") == ("ENCRYPT_DECRYPT",)
    for spec in RSA:
        assert specs.allowed_usages(spec) == ("ENCRYPT_DECRYPT", "SIGN_VERIFY")
    for spec in ECC:
        assert specs.allowed_usages(spec) == ("SIGN_VERIFY",)
    for spec in HMAC:
        assert specs.allowed_usages(spec) == ("GENERATE_VERIFY_MAC",)
    assert specs.allowed_usages("SM2") == ()


def test_rsa_algorithm_lists_come_in_aws_order() -> None:
    assert specs.encryption_algorithms("RSA_3072", "ENCRYPT_DECRYPT") == [
        "RSAES_OAEP_SHA_1",
        "RSAES_OAEP_SHA_256",
    ]
    assert specs.signing_algorithms("RSA_3072", "SIGN_VERIFY") == [
        "RSASSA_PKCS1_V1_5_SHA_256",
        "RSASSA_PKCS1_V1_5_SHA_384",
        "RSASSA_PKCS1_V1_5_SHA_512",
        "RSASSA_PSS_SHA_256",
        "RSASSA_PSS_SHA_384",
        "RSASSA_PSS_SHA_512",
    ]
    # An RSA key has one usage; the other usage's list is empty.
    assert specs.signing_algorithms("RSA_3072", "ENCRYPT_DECRYPT") == []
    assert specs.encryption_algorithms("RSA_3072", "SIGN_VERIFY") == []


def test_ecc_hmac_and_symmetric_algorithm_lists() -> None:
    assert specs.signing_algorithms("ECC_NIST_P256", "SIGN_VERIFY") == ["ECDSA_SHA_256"]
    assert specs.signing_algorithms("ECC_NIST_P384", "SIGN_VERIFY") == ["ECDSA_SHA_384"]
    assert specs.signing_algorithms("ECC_NIST_P521", "SIGN_VERIFY") == ["ECDSA_SHA_512"]
    assert specs.signing_algorithms("ECC_SECG_P256K1", "SIGN_VERIFY") == ["ECDSA_SHA_256"]
    assert specs.encryption_algorithms("ECC_NIST_P256", "ENCRYPT_DECRYPT") == []
    for bits, spec in zip((224, 256, 384, 512), HMAC, strict=True):
        assert specs.mac_algorithms(spec, "GENERATE_VERIFY_MAC") == [f"HMAC_SHA_{bits}"]
    assert specs.encryption_algorithms("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT") == [
        "SYMMETRIC_DEFAULT"
    ]
    assert specs.mac_algorithms("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT") == []


def test_algorithm_lists_are_fresh_copies_callers_cannot_corrupt() -> None:
    specs.signing_algorithms("RSA_2048", "SIGN_VERIFY").clear()
    assert len(specs.signing_algorithms("RSA_2048", "SIGN_VERIFY")) == 6


def test_key_type_classifies_every_known_spec() -> None:
    assert specs.key_type("SYMMETRIC_DEFAULT") == "SYMMETRIC"
    assert {specs.key_type(s) for s in HMAC} == {"HMAC"}
    assert {specs.key_type(s) for s in RSA + ECC} == {"ASYMMETRIC"}


def test_unknown_strings_are_rejected_as_caller_bugs() -> None:
    with pytest.raises(ValueError):
        specs.key_type("AES_256")
    with pytest.raises(ValueError):
        specs.allowed_usages("rsa_2048")
    with pytest.raises(ValueError):
        specs.signing_algorithms("RSA_2048", "SIGN")


@pytest.mark.parametrize(
    ("spec", "sha1_limit", "sha256_limit"),
    [("RSA_2048", 214, 190), ("RSA_3072", 342, 318), ("RSA_4096", 470, 446)],
)
def test_rsa_oaep_max_plaintext_matches_the_spec_table(
    spec: str, sha1_limit: int, sha256_limit: int
) -> None:
    assert specs.rsa_oaep_max_plaintext(spec, "RSAES_OAEP_SHA_1") == sha1_limit
    assert specs.rsa_oaep_max_plaintext(spec, "RSAES_OAEP_SHA_256") == sha256_limit


def test_rsa_oaep_max_plaintext_rejects_non_oaep_combinations() -> None:
    with pytest.raises(
        UnsupportedAlgorithmError,
        match="^Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048$",
    ):
        specs.rsa_oaep_max_plaintext("RSA_2048", "SYMMETRIC_DEFAULT")
    with pytest.raises(UnsupportedAlgorithmError):
        specs.rsa_oaep_max_plaintext("ECC_NIST_P256", "RSAES_OAEP_SHA_1")
