"""How cryptographic operations fail: the AWS error type and, where AWS has one, its exact text.

A ciphertext that cannot be opened for any reason (wrong context, a flipped bit, truncation,
another region) gives InvalidCiphertextException and nothing else: no other error type may act
as an oracle telling an attacker which check failed (kms-spec.md 4.1).
"""

import hashlib
import os

import pytest

from keys import operations, services
from keys.crypto import specs
from keys.crypto.material import generate_key_material
from keys.materials import add_material
from kmsconsole.errors import (
    DisabledError,
    IncorrectKeyError,
    InvalidCiphertextError,
    InvalidKeyUsageError,
    InvalidMacError,
    InvalidSignatureError,
    NotAuthorizedError,
    UnsupportedOperationError,
    ValidationError,
)
from tests.conftest import caller_for

from .conftest import (
    ECC_SIGNING_ALGORITHM,
    HMAC_ALGORITHM,
    OAEP_ALGORITHMS,
    RSA_SIGNING_ALGORITHMS,
    RSA_SPECS,
    create_key,
    digest_length,
    raises_kms,
)

pytestmark = pytest.mark.django_db

PLAINTEXT_TOO_LONG = ("1 validation error detected: Value at 'plaintext' failed to satisfy "
                      "constraint: Member must have length less than or equal to 4096")
PLAINTEXT_EMPTY = ("1 validation error detected: Value at 'plaintext' failed to satisfy "
                   "constraint: Member must have length greater than or equal to 1")
NUMBER_OF_BYTES_TOO_SMALL = ("1 validation error detected: Value '0' at 'numberOfBytes' failed "
                             "to satisfy constraint: Member must have value greater than or "
                             "equal to 1")
NUMBER_OF_BYTES_TOO_LARGE = ("1 validation error detected: Value '1025' at 'numberOfBytes' "
                             "failed to satisfy constraint: Member must have value less than "
                             "or equal to 1024")
OAEP_LIMIT = {
    ("RSA_2048", "RSAES_OAEP_SHA_1"): 214, ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
    ("RSA_3072", "RSAES_OAEP_SHA_1"): 342, ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
    ("RSA_4096", "RSAES_OAEP_SHA_1"): 470, ("RSA_4096", "RSAES_OAEP_SHA_256"): 446,
}
CONTEXT = {"purpose": "test", "tenant": "acme"}


def _decrypt_error(caller, blob: bytes, **kwargs) -> str:
    """'' if decrypt raised exactly InvalidCiphertextException, else what happened instead."""
    try:
        operations.decrypt(caller=caller, ciphertext_blob=blob, **kwargs)
    except InvalidCiphertextError as error:
        if type(error) is InvalidCiphertextError and error.code == "InvalidCiphertextException":
            return ""
        return f"{type(error).__name__}({error.code})"
    except Exception as error:  # anything else is the finding
        return f"{type(error).__name__}: {error}"
    return "decrypted"


@pytest.fixture
def sealed(caller, sym_key):
    return operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"sixteen bytes!!!",
                              encryption_context=CONTEXT).blob


# --- encryption context ---------------------------------------------------------------------

@pytest.mark.parametrize("context", [
    {"purpose": "test", "tenant": "other"},            # wrong value
    {"purpose": "test", "Tenant": "acme"},             # keys are case-sensitive
    {"purpose": "TEST", "tenant": "acme"},             # values are case-sensitive
    {"purpose": "test"},                               # a pair missing
    {"purpose": "test", "tenant": "acme", "x": "y"},  # an extra pair
    {"purposetest": "", "tenant": "acme"},             # same bytes, other split
    None,                                              # no context at all
    {},                                                # empty context
], ids=["wrong-value", "key-case", "value-case", "missing-pair", "extra-pair", "resplit",
        "none", "empty"])
def test_decrypt_with_another_encryption_context_is_invalid_ciphertext(caller, sealed, context):
    with raises_kms(InvalidCiphertextError, ""):
        operations.decrypt(caller=caller, ciphertext_blob=sealed, encryption_context=context)


def test_decrypt_with_a_context_when_none_was_used_is_invalid_ciphertext(caller, sym_key):
    blob = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"p").blob
    with raises_kms(InvalidCiphertextError, ""):
        operations.decrypt(caller=caller, ciphertext_blob=blob, encryption_context={"a": "b"})


# --- damaged blobs --------------------------------------------------------------------------

@pytest.mark.parametrize("bit", range(8))
def test_one_flipped_bit_at_every_byte_position_is_invalid_ciphertext(caller, sealed, bit):
    failures = {}
    for position in range(len(sealed)):
        damaged = bytearray(sealed)
        damaged[position] ^= 1 << bit
        outcome = _decrypt_error(caller, bytes(damaged), encryption_context=CONTEXT)
        if outcome:
            failures[position] = outcome
    assert failures == {}, f"positions not giving InvalidCiphertextException: {failures}"


def test_every_truncation_of_a_blob_is_invalid_ciphertext(caller, sealed):
    failures = {}
    for length in range(1, len(sealed)):
        outcome = _decrypt_error(caller, sealed[:length], encryption_context=CONTEXT)
        if outcome:
            failures[length] = outcome
    assert failures == {}, f"lengths not giving InvalidCiphertextException: {failures}"


def test_an_empty_blob_breaks_the_model_length_constraint(caller):
    with raises_kms(ValidationError, contains=("'ciphertextBlob'",
                                               "have length greater than or equal to 1")):
        operations.decrypt(caller=caller, ciphertext_blob=b"")


@pytest.mark.parametrize("suffix", [b"\x00", b"trailing bytes"])
def test_a_blob_with_bytes_appended_is_invalid_ciphertext(caller, sealed, suffix):
    assert _decrypt_error(caller, sealed + suffix, encryption_context=CONTEXT) == ""


@pytest.mark.parametrize("blob", [b"\x00", b"garbage", os.urandom(64), os.urandom(1024),
                                  b"\x01" + bytes(64)],
                         ids=["one-byte", "text", "random-64", "random-1024", "format-byte"])
def test_garbage_is_invalid_ciphertext(caller, blob):
    assert _decrypt_error(caller, blob) == ""


def test_a_blob_passed_with_the_key_id_of_another_key_is_incorrect_key(caller, sym_key,
                                                                       other_sym_key, sealed):
    for key_id in (str(other_sym_key.id), other_sym_key.arn):
        with raises_kms(IncorrectKeyError):
            operations.decrypt(caller=caller, ciphertext_blob=sealed, key_id=key_id,
                               encryption_context=CONTEXT)


def test_re_encrypt_with_the_source_key_id_of_another_key_is_incorrect_key(caller, sealed,
                                                                           other_sym_key):
    with raises_kms(IncorrectKeyError):
        operations.re_encrypt(caller=caller, ciphertext_blob=sealed,
                              source_encryption_context=CONTEXT,
                              source_key_id=str(other_sym_key.id),
                              destination_key_id=str(other_sym_key.id))


def test_a_blob_whose_key_is_in_another_region_is_invalid_ciphertext(caller, admin):
    eu = caller_for(admin, region="eu-west-1")
    eu_key = create_key(eu)
    blob = operations.encrypt(caller=eu, key_id=str(eu_key.id), plaintext=b"in europe").blob
    assert operations.decrypt(caller=eu, ciphertext_blob=blob).plaintext == b"in europe"
    with raises_kms(InvalidCiphertextError, ""):
        operations.decrypt(caller=caller, ciphertext_blob=blob)


@pytest.mark.parametrize("blob", [os.urandom(256), os.urandom(10), bytes(256)],
                         ids=["random-modulus-length", "short", "zeros"])
def test_rsa_garbage_ciphertext_is_invalid_ciphertext(caller, blob):
    key = create_key(caller, "RSA_2048", "ENCRYPT_DECRYPT")
    for algorithm in OAEP_ALGORITHMS:
        with raises_kms(InvalidCiphertextError, ""):
            operations.decrypt(caller=caller, ciphertext_blob=blob, key_id=key.arn,
                               encryption_algorithm=algorithm)


def test_rsa_ciphertext_decrypted_with_the_other_oaep_hash_is_invalid_ciphertext(caller):
    key = create_key(caller, "RSA_2048", "ENCRYPT_DECRYPT")
    blob = operations.encrypt(caller=caller, key_id=key.arn, plaintext=b"p",
                              encryption_algorithm="RSAES_OAEP_SHA_1").blob
    with raises_kms(InvalidCiphertextError, ""):
        operations.decrypt(caller=caller, ciphertext_blob=blob, key_id=key.arn,
                           encryption_algorithm="RSAES_OAEP_SHA_256")


def test_rsa_ciphertext_without_its_key_id_is_invalid_ciphertext(caller):
    key = create_key(caller, "RSA_2048", "ENCRYPT_DECRYPT")
    blob = operations.encrypt(caller=caller, key_id=key.arn, plaintext=b"p",
                              encryption_algorithm="RSAES_OAEP_SHA_256").blob
    assert _decrypt_error(caller, blob) == ""


# --- sizes and ranges (exact model messages) ------------------------------------------------

def test_plaintext_over_4096_bytes_is_refused_with_the_model_message(caller, sym_key):
    with raises_kms(ValidationError, PLAINTEXT_TOO_LONG):
        operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"x" * 4097)


def test_empty_plaintext_is_refused_with_the_model_message(caller, sym_key):
    with raises_kms(ValidationError, PLAINTEXT_EMPTY):
        operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"")


@pytest.mark.parametrize("number_of_bytes, message", [(0, NUMBER_OF_BYTES_TOO_SMALL),
                                                      (1025, NUMBER_OF_BYTES_TOO_LARGE)])
def test_generate_data_key_number_of_bytes_out_of_range(caller, sym_key, number_of_bytes,
                                                        message):
    for with_plaintext in (True, False):
        with raises_kms(ValidationError, message):
            operations.generate_data_key(caller=caller, key_id=str(sym_key.id),
                                         number_of_bytes=number_of_bytes,
                                         with_plaintext=with_plaintext)


@pytest.mark.parametrize("number_of_bytes, message", [(0, NUMBER_OF_BYTES_TOO_SMALL),
                                                      (1025, NUMBER_OF_BYTES_TOO_LARGE)])
def test_generate_random_number_of_bytes_out_of_range(caller, number_of_bytes, message):
    with raises_kms(ValidationError, message):
        operations.generate_random(caller=caller, number_of_bytes=number_of_bytes)


@pytest.mark.parametrize("number_of_bytes", [1, 32, 1024])
def test_generate_random_returns_the_number_of_bytes_asked(caller, number_of_bytes):
    assert len(operations.generate_random(caller=caller,
                                          number_of_bytes=number_of_bytes)) == number_of_bytes


def test_generate_random_without_number_of_bytes_is_refused(caller):
    with raises_kms(ValidationError, "NumberOfBytes is required."):
        operations.generate_random(caller=caller, number_of_bytes=None)


@pytest.mark.parametrize("size", [{}, {"key_spec": "AES_256", "number_of_bytes": 32}],
                         ids=["neither", "both"])
def test_generate_data_key_needs_exactly_one_of_key_spec_and_number_of_bytes(caller, sym_key,
                                                                             size):
    with raises_kms(ValidationError):
        operations.generate_data_key(caller=caller, key_id=str(sym_key.id), **size)


def test_generate_data_key_with_an_unknown_key_spec_is_refused(caller, sym_key):
    with raises_kms(ValidationError, contains=("'keySpec'", "[AES_256, AES_128]")):
        operations.generate_data_key(caller=caller, key_id=str(sym_key.id), key_spec="AES_512")


@pytest.mark.parametrize("key_spec", ["AES_256", "RSA_1024", "symmetric_default", ""])
def test_create_key_with_an_unknown_key_spec_names_keyspec_and_the_enum(caller, key_spec):
    enum = "[" + ", ".join(specs.ALL_KEY_SPECS) + "]"
    with raises_kms(ValidationError, contains=(
            "1 validation error detected:", f"Value '{key_spec}' at 'keySpec'",
            f"Member must satisfy enum value set: {enum}")):
        services.key_create(caller=caller, key_spec=key_spec, key_usage="ENCRYPT_DECRYPT")


@pytest.mark.parametrize("name", ["payments", "aliases/payments", "Alias/payments", "alias",
                                  "alias/", "/alias/payments"])
def test_alias_name_without_the_alias_prefix_is_refused(caller, sym_key, name):
    with raises_kms(ValidationError, contains=("alias/",)):
        services.alias_create(caller=caller, alias_name=name, target_key_id=str(sym_key.id))


def test_alias_name_under_alias_aws_is_reserved(caller, sym_key):
    with raises_kms(NotAuthorizedError):
        services.alias_create(caller=caller, alias_name="alias/aws/s3",
                              target_key_id=str(sym_key.id))


@pytest.mark.parametrize("key_spec", RSA_SPECS)
def test_rsa_oaep_plaintext_over_the_limit_is_refused_with_the_exact_message(caller, key_spec):
    key = create_key(caller, key_spec, "ENCRYPT_DECRYPT")
    for algorithm in OAEP_ALGORITHMS:
        limit = OAEP_LIMIT[key_spec, algorithm]
        with raises_kms(ValidationError, f"Algorithm {algorithm} and key spec {key_spec} "
                                         f"cannot encrypt data larger than {limit} bytes."):
            operations.encrypt(caller=caller, key_id=key.arn, plaintext=b"x" * (limit + 1),
                               encryption_algorithm=algorithm)


def test_rsa_encrypt_without_an_algorithm_is_refused(caller):
    key = create_key(caller, "RSA_2048", "ENCRYPT_DECRYPT")
    with raises_kms(ValidationError):
        operations.encrypt(caller=caller, key_id=key.arn, plaintext=b"p")


@pytest.mark.parametrize("key_spec, algorithms", [
    ("ECC_NIST_P256", ["ECDSA_SHA_256"]), ("ECC_NIST_P384", ["ECDSA_SHA_384"]),
    ("ECC_NIST_P521", ["ECDSA_SHA_512"]), ("ECC_SECG_P256K1", ["ECDSA_SHA_256"]),
    ("RSA_2048", RSA_SIGNING_ALGORITHMS),
])
def test_digest_of_the_wrong_length_is_refused_for_sign_and_verify(caller, key_spec,
                                                                   algorithms):
    key = create_key(caller, key_spec, "SIGN_VERIFY")
    for algorithm in algorithms:
        good = digest_length(algorithm)
        for length in {1, good - 1, good + 1, 20, 32, 48, 64} - {good}:
            message = "Digest is invalid length for algorithm " + algorithm + "."
            with raises_kms(ValidationError, message):
                operations.sign(caller=caller, key_id=key.arn, message=b"d" * length,
                                signing_algorithm=algorithm, message_type="DIGEST")
            with raises_kms(ValidationError, message):
                operations.verify(caller=caller, key_id=key.arn, message=b"d" * length,
                                  signature=b"s" * 64, signing_algorithm=algorithm,
                                  message_type="DIGEST")


# --- key usage ------------------------------------------------------------------------------

def _encrypt(caller, key):
    return operations.encrypt(caller=caller, key_id=key.arn, plaintext=b"p")


def _decrypt(caller, key):
    return operations.decrypt(caller=caller, ciphertext_blob=b"x" * 64, key_id=key.arn,
                              encryption_algorithm="RSAES_OAEP_SHA_256")


def _sign(caller, key):
    return operations.sign(caller=caller, key_id=key.arn, message=b"m",
                           signing_algorithm="ECDSA_SHA_256")


def _verify(caller, key):
    return operations.verify(caller=caller, key_id=key.arn, message=b"m", signature=b"s" * 64,
                             signing_algorithm="ECDSA_SHA_256")


def _generate_mac(caller, key):
    return operations.generate_mac(caller=caller, key_id=key.arn, message=b"m",
                                   mac_algorithm="HMAC_SHA_256")


def _verify_mac(caller, key):
    return operations.verify_mac(caller=caller, key_id=key.arn, message=b"m",
                                 mac_value=b"x" * 32, mac_algorithm="HMAC_SHA_256")


def _generate_data_key(caller, key):
    return operations.generate_data_key(caller=caller, key_id=key.arn, key_spec="AES_256")


def _generate_data_key_pair(caller, key):
    return operations.generate_data_key_pair(caller=caller, key_id=key.arn,
                                             key_pair_spec="ECC_NIST_P256")


WRONG_USAGE = [
    ("encrypt", _encrypt, "ECC_NIST_P256", "SIGN_VERIFY"),
    ("encrypt", _encrypt, "RSA_2048", "SIGN_VERIFY"),
    ("encrypt", _encrypt, "HMAC_256", "GENERATE_VERIFY_MAC"),
    ("decrypt", _decrypt, "RSA_2048", "SIGN_VERIFY"),
    ("decrypt", _decrypt, "HMAC_256", "GENERATE_VERIFY_MAC"),
    ("sign", _sign, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    ("sign", _sign, "RSA_2048", "ENCRYPT_DECRYPT"),
    ("sign", _sign, "HMAC_256", "GENERATE_VERIFY_MAC"),
    ("verify", _verify, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    ("generate_mac", _generate_mac, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    ("generate_mac", _generate_mac, "ECC_NIST_P256", "SIGN_VERIFY"),
    ("verify_mac", _verify_mac, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    ("generate_data_key", _generate_data_key, "RSA_2048", "ENCRYPT_DECRYPT"),
    ("generate_data_key", _generate_data_key, "HMAC_256", "GENERATE_VERIFY_MAC"),
    ("generate_data_key", _generate_data_key, "ECC_NIST_P256", "SIGN_VERIFY"),
    ("generate_data_key_pair", _generate_data_key_pair, "RSA_2048", "ENCRYPT_DECRYPT"),
    ("generate_data_key_pair", _generate_data_key_pair, "HMAC_256", "GENERATE_VERIFY_MAC"),
]


@pytest.mark.parametrize("name, call, key_spec, key_usage", WRONG_USAGE,
                         ids=[f"{n}-{s}-{u}" for n, _, s, u in WRONG_USAGE])
def test_an_operation_on_a_key_of_the_wrong_usage_is_invalid_key_usage(caller, name, call,
                                                                       key_spec, key_usage):
    key = create_key(caller, key_spec, key_usage)
    with raises_kms(InvalidKeyUsageError):
        call(caller, key)


def test_decrypt_of_a_symmetric_blob_with_an_rsa_algorithm_is_invalid_key_usage(caller, sealed):
    with raises_kms(InvalidKeyUsageError):
        operations.decrypt(caller=caller, ciphertext_blob=sealed, encryption_context=CONTEXT,
                           encryption_algorithm="RSAES_OAEP_SHA_256")


def test_symmetric_encrypt_with_an_rsa_algorithm_is_invalid_key_usage(caller, sym_key):
    with raises_kms(InvalidKeyUsageError):
        operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"p",
                           encryption_algorithm="RSAES_OAEP_SHA_1")


@pytest.mark.parametrize("key_spec, algorithm", [
    ("ECC_NIST_P256", "ECDSA_SHA_384"), ("ECC_NIST_P384", "ECDSA_SHA_256"),
    ("ECC_NIST_P521", "RSASSA_PSS_SHA_512"), ("ECC_SECG_P256K1", "ECDSA_SHA_512"),
    ("RSA_2048", "ECDSA_SHA_256"),
])
def test_signing_algorithm_of_another_key_spec_is_invalid_key_usage(caller, key_spec,
                                                                    algorithm):
    key = create_key(caller, key_spec, "SIGN_VERIFY")
    with raises_kms(InvalidKeyUsageError):
        operations.sign(caller=caller, key_id=key.arn, message=b"m", signing_algorithm=algorithm)


@pytest.mark.parametrize("key_spec", ["SYMMETRIC_DEFAULT", "HMAC_256"])
def test_get_public_key_of_a_key_without_one_is_unsupported(caller, key_spec):
    key = create_key(caller, key_spec)
    with raises_kms(UnsupportedOperationError):
        operations.get_public_key(caller=caller, key_id=key.arn)


# --- signatures and MACs that do not verify -------------------------------------------------

@pytest.mark.parametrize("key_spec", ["ECC_NIST_P256", "ECC_SECG_P256K1", "RSA_2048"])
def test_verify_with_a_wrong_signature_is_invalid_signature(caller, key_spec):
    key = create_key(caller, key_spec, "SIGN_VERIFY")
    other = create_key(caller, key_spec, "SIGN_VERIFY")
    algorithm = ECC_SIGNING_ALGORITHM.get(key_spec, "RSASSA_PSS_SHA_256")
    signature = operations.sign(caller=caller, key_id=key.arn, message=b"signed",
                                signing_algorithm=algorithm).signature
    foreign = operations.sign(caller=caller, key_id=other.arn, message=b"signed",
                              signing_algorithm=algorithm).signature
    flipped = bytes([signature[0]]) + bytes([signature[1] ^ 1]) + signature[2:]
    attempts = [
        (b"signed!", signature),       # another message
        (b"signed", foreign),          # another key's signature
        (b"signed", flipped),          # one bit of the signature
        (b"signed", signature[:-1]),   # truncated signature
        (b"signed", os.urandom(len(signature))),
    ]
    for message, candidate in attempts:
        with raises_kms(InvalidSignatureError, ""):
            operations.verify(caller=caller, key_id=key.arn, message=message,
                              signature=candidate, signing_algorithm=algorithm)


def test_verify_of_a_raw_signature_as_digest_of_the_message_itself_fails(caller):
    key = create_key(caller, "ECC_NIST_P256", "SIGN_VERIFY")
    digest = hashlib.sha256(b"m").digest()
    signature = operations.sign(caller=caller, key_id=key.arn, message=digest,
                                signing_algorithm="ECDSA_SHA_256",
                                message_type="RAW").signature
    with raises_kms(InvalidSignatureError):
        operations.verify(caller=caller, key_id=key.arn, message=digest, signature=signature,
                          signing_algorithm="ECDSA_SHA_256", message_type="DIGEST")


@pytest.mark.parametrize("key_spec", ["HMAC_224", "HMAC_512"])
def test_verify_mac_with_a_wrong_mac_is_invalid_mac(caller, key_spec):
    key = create_key(caller, key_spec)
    other = create_key(caller, key_spec)
    algorithm = HMAC_ALGORITHM[key_spec]
    tag = operations.generate_mac(caller=caller, key_id=key.arn, message=b"m",
                                  mac_algorithm=algorithm).mac
    foreign = operations.generate_mac(caller=caller, key_id=other.arn, message=b"m",
                                      mac_algorithm=algorithm).mac
    for message, candidate in [(b"M", tag), (b"m", foreign), (b"m", tag[:-1]),
                               (b"m", bytes([tag[0] ^ 0x80]) + tag[1:]), (b"m", tag + b"\0")]:
        with raises_kms(InvalidMacError, ""):
            operations.verify_mac(caller=caller, key_id=key.arn, message=message,
                                  mac_value=candidate, mac_algorithm=algorithm)


@pytest.mark.parametrize("key_spec, algorithm", [
    ("HMAC_224", "HMAC_SHA_256"), ("HMAC_256", "HMAC_SHA_224"), ("HMAC_384", "HMAC_SHA_512"),
    ("HMAC_512", "HMAC_SHA_384"),
])
def test_mac_algorithm_of_another_hmac_spec_is_invalid_key_usage(caller, key_spec, algorithm):
    key = create_key(caller, key_spec)
    with raises_kms(InvalidKeyUsageError):
        operations.generate_mac(caller=caller, key_id=key.arn, message=b"m",
                                mac_algorithm=algorithm)
    with raises_kms(InvalidKeyUsageError):
        operations.verify_mac(caller=caller, key_id=key.arn, message=b"m", mac_value=b"x" * 32,
                              mac_algorithm=algorithm)


def test_unknown_mac_algorithm_is_a_validation_error(caller):
    key = create_key(caller, "HMAC_256")
    with raises_kms(ValidationError, contains=("'macAlgorithm'",)):
        operations.generate_mac(caller=caller, key_id=key.arn, message=b"m",
                                mac_algorithm="HMAC_SHA_1")


# --- DryRun answers only for requests that would have succeeded -----------------------------
# DryRunOperationException means "the request would have succeeded" (kms-spec.md 1.4); a
# request that would fail must fail with its own error even when DryRun is set.

def _dry_run_plaintext_too_long(caller, sym_key):
    with raises_kms(ValidationError, PLAINTEXT_TOO_LONG):
        operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"x" * 4097,
                           dry_run=True)


def _dry_run_plaintext_empty(caller, sym_key):
    with raises_kms(ValidationError, PLAINTEXT_EMPTY):
        operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"", dry_run=True)


def _dry_run_symmetric_key_with_rsa_algorithm(caller, sym_key):
    with raises_kms(InvalidKeyUsageError):
        operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"p",
                           encryption_algorithm="RSAES_OAEP_SHA_256", dry_run=True)


def _dry_run_rsa_without_algorithm(caller, sym_key):
    key = create_key(caller, "RSA_2048", "ENCRYPT_DECRYPT")
    with raises_kms(ValidationError):
        operations.encrypt(caller=caller, key_id=key.arn, plaintext=b"p", dry_run=True)


def _dry_run_rsa_over_the_oaep_limit(caller, sym_key):
    key = create_key(caller, "RSA_2048", "ENCRYPT_DECRYPT")
    with raises_kms(ValidationError, "Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 "
                                     "cannot encrypt data larger than 190 bytes."):
        operations.encrypt(caller=caller, key_id=key.arn, plaintext=b"x" * 191,
                           encryption_algorithm="RSAES_OAEP_SHA_256", dry_run=True)


def _dry_run_sign_digest_of_wrong_length(caller, sym_key):
    key = create_key(caller, "ECC_NIST_P256", "SIGN_VERIFY")
    with raises_kms(ValidationError, "Digest is invalid length for algorithm ECDSA_SHA_256."):
        operations.sign(caller=caller, key_id=key.arn, message=b"d" * 31,
                        signing_algorithm="ECDSA_SHA_256", message_type="DIGEST", dry_run=True)


def _dry_run_re_encrypt_to_rsa_without_algorithm(caller, sym_key):
    key = create_key(caller, "RSA_2048", "ENCRYPT_DECRYPT")
    blob = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"p").blob
    with raises_kms(ValidationError):
        operations.re_encrypt(caller=caller, ciphertext_blob=blob, destination_key_id=key.arn,
                              dry_run=True)


def _dry_run_disabled_key(caller, sym_key):
    services.key_disable(caller=caller, key_id=str(sym_key.id))
    with raises_kms(DisabledError, f"{sym_key.arn} is disabled."):
        operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"p", dry_run=True)


def _dry_run_wrong_context(caller, sym_key):
    blob = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"p",
                              encryption_context={"a": "1"}).blob
    with raises_kms(InvalidCiphertextError):
        operations.decrypt(caller=caller, ciphertext_blob=blob, encryption_context={"a": "2"},
                           dry_run=True)


DRY_RUN_FAILURES = {
    "encrypt-plaintext-too-long": _dry_run_plaintext_too_long,
    "encrypt-plaintext-empty": _dry_run_plaintext_empty,
    "encrypt-symmetric-key-with-rsa-algorithm": _dry_run_symmetric_key_with_rsa_algorithm,
    "encrypt-rsa-without-algorithm": _dry_run_rsa_without_algorithm,
    "encrypt-rsa-over-the-oaep-limit": _dry_run_rsa_over_the_oaep_limit,
    "sign-digest-of-wrong-length": _dry_run_sign_digest_of_wrong_length,
    "re_encrypt-to-rsa-without-algorithm": _dry_run_re_encrypt_to_rsa_without_algorithm,
    "encrypt-disabled-key": _dry_run_disabled_key,
    "decrypt-wrong-context": _dry_run_wrong_context,
}


@pytest.mark.parametrize("case", list(DRY_RUN_FAILURES))
def test_dry_run_of_a_request_that_would_fail_gives_the_failure_not_dry_run(caller, sym_key,
                                                                             case):
    DRY_RUN_FAILURES[case](caller, sym_key)


# --- edited headers and bad contexts --------------------------------------------------------

def test_a_blob_whose_header_is_edited_to_name_another_key_is_invalid_ciphertext(
        caller, sym_key, other_sym_key, sealed):
    edited = sealed[:1] + other_sym_key.id.bytes + sealed[17:]
    assert _decrypt_error(caller, edited, encryption_context=CONTEXT) == ""
    with raises_kms(InvalidCiphertextError, ""):
        operations.decrypt(caller=caller, ciphertext_blob=edited, encryption_context=CONTEXT,
                           key_id=str(other_sym_key.id))


def test_a_blob_whose_header_is_edited_to_name_another_existing_version_is_invalid(
        caller, sym_key, sealed):
    add_material(sym_key, version=2, material=generate_key_material("SYMMETRIC_DEFAULT"))
    sym_key.save()
    edited = sealed[:17] + (2).to_bytes(4, "big") + sealed[21:]
    assert _decrypt_error(caller, edited, encryption_context=CONTEXT) == ""
    # The genuine blob still opens with version 1.
    assert operations.decrypt(caller=caller, ciphertext_blob=sealed,
                              encryption_context=CONTEXT).plaintext == b"sixteen bytes!!!"


@pytest.mark.parametrize("context", [{"a": 1}, {1: "a"}, {"a": None}, {"k": "\ud800"},
                                     {"big": "x" * 9000}],
                         ids=["int-value", "int-key", "none-value", "lone-surrogate", "9000-bytes"])
def test_an_unusable_encryption_context_is_a_validation_error(caller, sym_key, context):
    with raises_kms(ValidationError):
        operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"p",
                           encryption_context=context)
    with raises_kms(ValidationError):
        operations.generate_data_key(caller=caller, key_id=str(sym_key.id), key_spec="AES_256",
                                     encryption_context=context)


def test_messages_over_4096_bytes_are_refused_without_echoing_them(caller):
    signer = create_key(caller, "ECC_NIST_P256")
    hmac_key = create_key(caller, "HMAC_256")
    too_long = ("1 validation error detected: Value at 'message' failed to satisfy constraint: "
                "Member must have length less than or equal to 4096")
    with raises_kms(ValidationError, too_long):
        operations.sign(caller=caller, key_id=signer.arn, message=b"m" * 4097,
                        signing_algorithm="ECDSA_SHA_256")
    with raises_kms(ValidationError, too_long):
        operations.generate_mac(caller=caller, key_id=hmac_key.arn, message=b"m" * 4097,
                                mac_algorithm="HMAC_SHA_256")
    with raises_kms(ValidationError, too_long.replace("less than or equal to 4096",
                                                      "greater than or equal to 1")):
        operations.sign(caller=caller, key_id=signer.arn, message=b"",
                        signing_algorithm="ECDSA_SHA_256")
