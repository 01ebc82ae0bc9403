"""keys.crypto.asymmetric: RSA/ECC keys, RSA-OAEP, signatures; interop with `cryptography`."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from keys.crypto import asymmetric, specs
from keys.crypto.errors import (
    CryptoError,
    InvalidCiphertextError,
    InvalidDigestLengthError,
    PlaintextTooLargeError,
    UnsupportedAlgorithmError,
)

RSA_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096")
ECC_SPECS = ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1")
OAEP_ALGS = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "SHA_256": hashes.SHA256,
    "SHA_384": hashes.SHA384,
    "SHA_512": hashes.SHA512,
}
HASHLIB = {"SHA_256": hashlib.sha256, "SHA_384": hashlib.sha384, "SHA_512": hashlib.sha512}
MESSAGE = b"the quick brown fox jumps over the lazy dog"


@functools.cache
def private_der(key_spec: str) -> bytes:
    """One key per spec for this module: RSA generation is slow."""
    return asymmetric.generate_private_key(key_spec)


def _public(key_spec: str):  # type: ignore[no-untyped-def]
    return serialization.load_der_public_key(asymmetric.public_key_der(private_der(key_spec)))


def _hash_suffix(algorithm: str) -> str:
    return algorithm[-7:]  # "SHA_256" / "SHA_384" / "SHA_512"


def _signing_cases() -> list[tuple[str, str]]:
    return [
        (spec, alg)
        for spec in RSA_SPECS + ECC_SPECS
        for alg in specs.signing_algorithms(spec, "SIGN_VERIFY")
    ]


def _verify_with_cryptography_directly(
    key_spec: str, algorithm: str, message: bytes, signature: bytes
) -> None:
    """Independent verification with the public key only (raises InvalidSignature)."""
    public = _public(key_spec)
    hash_alg = HASHES[_hash_suffix(algorithm)]()
    if algorithm.startswith("ECDSA_"):
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, message, ec.ECDSA(hash_alg))
    elif algorithm.startswith("RSASSA_PSS_"):
        assert isinstance(public, rsa.RSAPublicKey)
        pss = padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
        public.verify(signature, message, pss, hash_alg)
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, message, padding.PKCS1v15(), hash_alg)


# --- key generation and public keys -------------------------------------------


@pytest.mark.parametrize(
    ("spec", "bits"), [("RSA_2048", 2048), ("RSA_3072", 3072), ("RSA_4096", 4096)]
)
def test_rsa_private_key_is_pkcs8_der_with_e_65537_and_right_size(spec: str, bits: int) -> None:
    key = serialization.load_der_private_key(private_der(spec), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == bits
    assert key.private_numbers().public_numbers.e == 65537
    # PKCS#8 re-serialisation is byte-identical: the input was PKCS#8 DER.
    assert key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) == private_der(spec)


@pytest.mark.parametrize(
    ("spec", "curve"),
    [
        ("ECC_NIST_P256", "secp256r1"),
        ("ECC_NIST_P384", "secp384r1"),
        ("ECC_NIST_P521", "secp521r1"),
        ("ECC_SECG_P256K1", "secp256k1"),
    ],
)
def test_ecc_private_key_is_on_the_right_curve(spec: str, curve: str) -> None:
    key = serialization.load_der_private_key(private_der(spec), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == curve


@pytest.mark.parametrize("spec", RSA_SPECS + ECC_SPECS)
def test_public_key_is_der_subject_public_key_info_of_the_private_key(spec: str) -> None:
    public_der = asymmetric.public_key_der(private_der(spec))
    public = serialization.load_der_public_key(public_der)
    private = serialization.load_der_private_key(private_der(spec), password=None)
    assert (
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == public_der
    )
    assert public == private.public_key()


def test_generate_private_key_rejects_non_asymmetric_specs() -> None:
    for spec in ("SYMMETRIC_DEFAULT", "HMAC_256", "SM2", "ECC_NIST_EDWARDS25519"):
        with pytest.raises(ValueError):
            asymmetric.generate_private_key(spec)


# --- RSA-OAEP ---------------------------------------------------------------------


@pytest.mark.parametrize("spec", RSA_SPECS)
@pytest.mark.parametrize("algorithm", OAEP_ALGS)
def test_rsa_encrypt_then_decrypt_round_trips(spec: str, algorithm: str) -> None:
    ciphertext = asymmetric.rsa_encrypt(
        private_der=private_der(spec), key_spec=spec, algorithm=algorithm, plaintext=MESSAGE
    )
    assert len(ciphertext) == int(spec[4:]) // 8
    assert (
        asymmetric.rsa_decrypt(
            private_der=private_der(spec), key_spec=spec, algorithm=algorithm, ciphertext=ciphertext
        )
        == MESSAGE
    )


@pytest.mark.parametrize("spec", RSA_SPECS)
@pytest.mark.parametrize(
    ("algorithm", "hash_cls"),
    [("RSAES_OAEP_SHA_1", hashes.SHA1), ("RSAES_OAEP_SHA_256", hashes.SHA256)],
)
def test_ciphertext_made_offline_with_the_public_key_decrypts(
    spec: str, algorithm: str, hash_cls: type[hashes.HashAlgorithm]
) -> None:
    public = _public(spec)
    assert isinstance(public, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None)
    ciphertext = public.encrypt(b"made offline", oaep)
    assert (
        asymmetric.rsa_decrypt(
            private_der=private_der(spec), key_spec=spec, algorithm=algorithm, ciphertext=ciphertext
        )
        == b"made offline"
    )


@pytest.mark.parametrize(
    ("spec", "algorithm", "limit"),
    [
        ("RSA_2048", "RSAES_OAEP_SHA_1", 214),
        ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
        ("RSA_3072", "RSAES_OAEP_SHA_1", 342),
        ("RSA_3072", "RSAES_OAEP_SHA_256", 318),
        ("RSA_4096", "RSAES_OAEP_SHA_1", 470),
        ("RSA_4096", "RSAES_OAEP_SHA_256", 446),
    ],
)
def test_rsa_oaep_accepts_exactly_the_limit_and_rejects_one_byte_more(
    spec: str, algorithm: str, limit: int
) -> None:
    largest = os.urandom(limit)
    ciphertext = asymmetric.rsa_encrypt(
        private_der=private_der(spec), key_spec=spec, algorithm=algorithm, plaintext=largest
    )
    assert (
        asymmetric.rsa_decrypt(
            private_der=private_der(spec), key_spec=spec, algorithm=algorithm, ciphertext=ciphertext
        )
        == largest
    )
    with pytest.raises(PlaintextTooLargeError) as excinfo:
        asymmetric.rsa_encrypt(
            private_der=private_der(spec),
            key_spec=spec,
            algorithm=algorithm,
            plaintext=os.urandom(limit + 1),
        )
    assert str(excinfo.value) == (
        f"Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {limit} bytes."
    )


def test_rsa_encrypt_with_non_oaep_algorithm_or_non_rsa_key_is_unsupported() -> None:
    with pytest.raises(UnsupportedAlgorithmError) as excinfo:
        asymmetric.rsa_encrypt(
            private_der=private_der("RSA_2048"),
            key_spec="RSA_2048",
            algorithm="SYMMETRIC_DEFAULT",
            plaintext=b"x",
        )
    assert (
        str(excinfo.value) == "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048"
    )
    with pytest.raises(UnsupportedAlgorithmError):
        asymmetric.rsa_encrypt(
            private_der=private_der("ECC_NIST_P256"),
            key_spec="ECC_NIST_P256",
            algorithm="RSAES_OAEP_SHA_256",
            plaintext=b"x",
        )


def test_rsa_decrypt_of_tampered_truncated_or_garbage_ciphertext_is_invalid_ciphertext() -> None:
    spec, alg = "RSA_2048", "RSAES_OAEP_SHA_256"
    ciphertext = asymmetric.rsa_encrypt(
        private_der=private_der(spec), key_spec=spec, algorithm=alg, plaintext=b"secret"
    )
    bad_inputs = [
        ciphertext[:-1],
        ciphertext + b"\x00",
        b"",
        bytes(256),
        os.urandom(256),
        bytes([ciphertext[0]]) + bytes([ciphertext[1] ^ 1]) + ciphertext[2:],
    ]
    for bad in bad_inputs:
        with pytest.raises(InvalidCiphertextError):
            asymmetric.rsa_decrypt(
                private_der=private_der(spec), key_spec=spec, algorithm=alg, ciphertext=bad
            )


def test_rsa_decrypt_with_the_other_oaep_hash_is_invalid_ciphertext() -> None:
    spec = "RSA_2048"
    ciphertext = asymmetric.rsa_encrypt(
        private_der=private_der(spec), key_spec=spec, algorithm="RSAES_OAEP_SHA_1", plaintext=b"s"
    )
    with pytest.raises(InvalidCiphertextError):
        asymmetric.rsa_decrypt(
            private_der=private_der(spec),
            key_spec=spec,
            algorithm="RSAES_OAEP_SHA_256",
            ciphertext=ciphertext,
        )


def test_stored_key_of_another_size_than_its_spec_is_refused() -> None:
    with pytest.raises(CryptoError, match="does not match key spec RSA_3072"):
        asymmetric.rsa_encrypt(
            private_der=private_der("RSA_2048"),
            key_spec="RSA_3072",
            algorithm="RSAES_OAEP_SHA_256",
            plaintext=b"x",
        )
    with pytest.raises(CryptoError, match="does not match key spec ECC_SECG_P256K1"):
        asymmetric.sign(
            private_der=private_der("ECC_NIST_P256"),
            key_spec="ECC_SECG_P256K1",
            algorithm="ECDSA_SHA_256",
            message=b"m",
            message_type="RAW",
        )


def test_corrupt_stored_private_key_is_a_crypto_error_without_key_bytes() -> None:
    corrupt = private_der("ECC_NIST_P256")[:-5]
    with pytest.raises(CryptoError) as excinfo:
        asymmetric.public_key_der(corrupt)
    assert corrupt.hex()[:16] not in str(excinfo.value)


# --- signatures ---------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "algorithm"), _signing_cases())
def test_raw_signature_round_trips_and_verifies_with_the_public_key_alone(
    spec: str, algorithm: str
) -> None:
    signature = asymmetric.sign(
        private_der=private_der(spec),
        key_spec=spec,
        algorithm=algorithm,
        message=MESSAGE,
        message_type="RAW",
    )
    assert asymmetric.verify(
        private_der=private_der(spec),
        key_spec=spec,
        algorithm=algorithm,
        message=MESSAGE,
        message_type="RAW",
        signature=signature,
    )
    _verify_with_cryptography_directly(spec, algorithm, MESSAGE, signature)


@pytest.mark.parametrize(("spec", "algorithm"), _signing_cases())
def test_digest_signature_equals_a_signature_over_the_raw_message(
    spec: str, algorithm: str
) -> None:
    digest = HASHLIB[_hash_suffix(algorithm)](MESSAGE).digest()
    signature = asymmetric.sign(
        private_der=private_der(spec),
        key_spec=spec,
        algorithm=algorithm,
        message=digest,
        message_type="DIGEST",
    )
    assert asymmetric.verify(
        private_der=private_der(spec),
        key_spec=spec,
        algorithm=algorithm,
        message=digest,
        message_type="DIGEST",
        signature=signature,
    )
    # A DIGEST signature is a normal single-hash signature over the original message.
    assert asymmetric.verify(
        private_der=private_der(spec),
        key_spec=spec,
        algorithm=algorithm,
        message=MESSAGE,
        message_type="RAW",
        signature=signature,
    )
    _verify_with_cryptography_directly(spec, algorithm, MESSAGE, signature)


@pytest.mark.parametrize(("spec", "algorithm"), _signing_cases())
def test_verify_returns_false_for_a_changed_message(spec: str, algorithm: str) -> None:
    signature = asymmetric.sign(
        private_der=private_der(spec),
        key_spec=spec,
        algorithm=algorithm,
        message=MESSAGE,
        message_type="RAW",
    )
    assert not asymmetric.verify(
        private_der=private_der(spec),
        key_spec=spec,
        algorithm=algorithm,
        message=MESSAGE + b".",
        message_type="RAW",
        signature=signature,
    )


@pytest.mark.parametrize("spec", RSA_SPECS + ECC_SPECS)
def test_verify_returns_false_for_malformed_or_tampered_signatures(spec: str) -> None:
    algorithm = specs.signing_algorithms(spec, "SIGN_VERIFY")[0]
    signature = asymmetric.sign(
        private_der=private_der(spec),
        key_spec=spec,
        algorithm=algorithm,
        message=MESSAGE,
        message_type="RAW",
    )
    flipped = bytearray(signature)
    flipped[len(flipped) // 2] ^= 0x40
    for bad in (
        b"",
        b"\x30\x00",
        b"\x00",
        os.urandom(len(signature)),
        bytes(flipped),
        signature[:-1],
        signature + b"\x00",
    ):
        assert (
            asymmetric.verify(
                private_der=private_der(spec),
                key_spec=spec,
                algorithm=algorithm,
                message=MESSAGE,
                message_type="RAW",
                signature=bad,
            )
            is False
        )


def test_signature_from_another_key_does_not_verify() -> None:
    other = asymmetric.generate_private_key("ECC_NIST_P256")
    signature = asymmetric.sign(
        private_der=other,
        key_spec="ECC_NIST_P256",
        algorithm="ECDSA_SHA_256",
        message=MESSAGE,
        message_type="RAW",
    )
    assert not asymmetric.verify(
        private_der=private_der("ECC_NIST_P256"),
        key_spec="ECC_NIST_P256",
        algorithm="ECDSA_SHA_256",
        message=MESSAGE,
        message_type="RAW",
        signature=signature,
    )


@pytest.mark.parametrize("spec", ECC_SPECS)
def test_ecdsa_signature_is_der_encoded_not_raw_r_and_s(spec: str) -> None:
    algorithm = specs.signing_algorithms(spec, "SIGN_VERIFY")[0]
    signature = asymmetric.sign(
        private_der=private_der(spec),
        key_spec=spec,
        algorithm=algorithm,
        message=MESSAGE,
        message_type="RAW",
    )
    assert signature[0] == 0x30  # DER SEQUENCE
    r, s = decode_dss_signature(signature)
    assert r > 0 and s > 0


@pytest.mark.parametrize("spec", RSA_SPECS)
def test_rsa_signature_made_by_cryptography_directly_verifies_through_verify(spec: str) -> None:
    key = serialization.load_der_private_key(private_der(spec), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    signature = key.sign(MESSAGE, pss, hashes.SHA384())
    assert asymmetric.verify(
        private_der=private_der(spec),
        key_spec=spec,
        algorithm="RSASSA_PSS_SHA_384",
        message=MESSAGE,
        message_type="RAW",
        signature=signature,
    )


def test_pss_signature_with_another_salt_length_does_not_verify() -> None:
    # AWS fixes salt length = hash length; a MAX_LENGTH-salt signature is a different scheme.
    spec = "RSA_2048"
    key = serialization.load_der_private_key(private_der(spec), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    signature = key.sign(MESSAGE, pss, hashes.SHA256())
    assert not asymmetric.verify(
        private_der=private_der(spec),
        key_spec=spec,
        algorithm="RSASSA_PSS_SHA_256",
        message=MESSAGE,
        message_type="RAW",
        signature=signature,
    )


@pytest.mark.parametrize(
    ("spec", "algorithm", "good_length"),
    [
        ("RSA_2048", "RSASSA_PSS_SHA_256", 32),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384", 48),
        ("RSA_2048", "RSASSA_PSS_SHA_512", 64),
        ("ECC_NIST_P256", "ECDSA_SHA_256", 32),
        ("ECC_NIST_P384", "ECDSA_SHA_384", 48),
        ("ECC_NIST_P521", "ECDSA_SHA_512", 64),
        ("ECC_SECG_P256K1", "ECDSA_SHA_256", 32),
    ],
)
def test_digest_of_wrong_length_gives_the_exact_message(
    spec: str, algorithm: str, good_length: int
) -> None:
    expected = f"Digest is invalid length for algorithm {algorithm}."
    for length in (0, 1, good_length - 1, good_length + 1, 100):
        with pytest.raises(InvalidDigestLengthError) as excinfo:
            asymmetric.sign(
                private_der=private_der(spec),
                key_spec=spec,
                algorithm=algorithm,
                message=os.urandom(length),
                message_type="DIGEST",
            )
        assert str(excinfo.value) == expected
        with pytest.raises(InvalidDigestLengthError) as excinfo:
            asymmetric.verify(
                private_der=private_der(spec),
                key_spec=spec,
                algorithm=algorithm,
                message=os.urandom(length),
                message_type="DIGEST",
                signature=b"\x00" * 64,
            )
        assert str(excinfo.value) == expected


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("ECC_NIST_P256", "ECDSA_SHA_384"),
        ("ECC_NIST_P384", "ECDSA_SHA_256"),
        ("ECC_SECG_P256K1", "ECDSA_SHA_512"),
        ("ECC_NIST_P256", "RSASSA_PSS_SHA_256"),
        ("RSA_2048", "ECDSA_SHA_256"),
        ("RSA_2048", "ED25519_SHA_512"),
        ("RSA_2048", "RSAES_OAEP_SHA_256"),
        ("HMAC_256", "ECDSA_SHA_256"),
    ],
)
def test_signing_algorithm_not_listed_for_the_key_spec_is_unsupported(
    spec: str, algorithm: str
) -> None:
    der = private_der(spec) if spec in RSA_SPECS + ECC_SPECS else b""
    with pytest.raises(UnsupportedAlgorithmError) as excinfo:
        asymmetric.sign(
            private_der=der, key_spec=spec, algorithm=algorithm, message=b"m", message_type="RAW"
        )
    assert str(excinfo.value) == f"Algorithm {algorithm} is incompatible with key spec {spec}"
    with pytest.raises(UnsupportedAlgorithmError):
        asymmetric.verify(
            private_der=der,
            key_spec=spec,
            algorithm=algorithm,
            message=b"m",
            message_type="RAW",
            signature=b"s",
        )


def test_direct_verification_rejects_a_wrong_signature_as_a_sanity_check() -> None:
    # Guards the helper used above: it must actually fail on bad input.
    with pytest.raises(InvalidSignature):
        _verify_with_cryptography_directly("ECC_NIST_P256", "ECDSA_SHA_256", MESSAGE, b"\x30\x00")
