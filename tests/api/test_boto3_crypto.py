"""Real boto3 against live_server: the cryptographic operations, checked against `cryptography`
where the result can be verified locally. Every successful call is checked against botocore's
output shape (helpers.checked)."""

import hashlib
import os

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.conftest import ACCOUNT_ID, REGION

from .helpers import checked, make_client, responses_must_fit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _every_response_fits_its_shape(request):
    yield from responses_must_fit(request)


@pytest.fixture
def kms(kms):
    return checked(kms)


@pytest.fixture
def raw_kms(live_server, admin_credentials):
    """No client-side parameter validation: the server's own checks are what is seen."""
    return make_client(live_server, admin_credentials, parameter_validation=False)


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def error_message(excinfo) -> str:
    return excinfo.value.response["Error"].get("Message", "")


@pytest.fixture
def symmetric(kms):
    meta = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/sym", TargetKeyId=meta["KeyId"])
    return meta


# --- Encrypt / Decrypt / ReEncrypt ---------------------------------------------------------

def test_encrypt_by_every_identifier_and_decrypt(kms, symmetric):
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/sym"
    context = {"purpose": "test"}
    for ref in (symmetric["KeyId"], symmetric["Arn"], "alias/sym", alias_arn):
        plaintext = os.urandom(100)
        encrypted = kms.encrypt(KeyId=ref, Plaintext=plaintext, EncryptionContext=context)
        assert encrypted["KeyId"] == symmetric["Arn"], ref
        assert encrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
        assert plaintext not in encrypted["CiphertextBlob"]
        decrypted = kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"],
                                EncryptionContext=context)
        assert decrypted["Plaintext"] == plaintext
        assert decrypted["KeyId"] == symmetric["Arn"]
        assert decrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
        assert decrypted["KeyMaterialId"] == symmetric["CurrentKeyMaterialId"]


def test_decrypt_with_wrong_context_or_tampered_blob(kms, symmetric):
    blob = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"secret",
                       EncryptionContext={"a": "b"})["CiphertextBlob"]
    for kwargs in ({"CiphertextBlob": blob},
                   {"CiphertextBlob": blob, "EncryptionContext": {"a": "c"}},
                   {"CiphertextBlob": blob[:-1] + bytes([blob[-1] ^ 1]),
                    "EncryptionContext": {"a": "b"}}):
        with pytest.raises(ClientError) as excinfo:
            kms.decrypt(**kwargs)
        assert error_code(excinfo) == "InvalidCiphertextException"


def test_decrypt_with_another_key_id_is_incorrect_key(kms, symmetric):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"secret")["CiphertextBlob"]
    with pytest.raises(ClientError) as excinfo:
        kms.decrypt(CiphertextBlob=blob, KeyId=other)
    assert error_code(excinfo) == "IncorrectKeyException"
    assert kms.decrypt(CiphertextBlob=blob, KeyId="alias/sym")["Plaintext"] == b"secret"


def test_re_encrypt(kms, symmetric):
    destination = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"move me",
                       EncryptionContext={"k": "1"})["CiphertextBlob"]
    moved = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"k": "1"},
                           DestinationKeyId=destination["Arn"],
                           DestinationEncryptionContext={"k": "2"})
    assert moved["SourceKeyId"] == symmetric["Arn"]
    assert moved["KeyId"] == destination["Arn"]
    assert moved["SourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert moved["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert moved["SourceKeyMaterialId"] == symmetric["CurrentKeyMaterialId"]
    assert moved["DestinationKeyMaterialId"] == destination["CurrentKeyMaterialId"]
    decrypted = kms.decrypt(CiphertextBlob=moved["CiphertextBlob"],
                            EncryptionContext={"k": "2"})
    assert decrypted["Plaintext"] == b"move me"
    assert decrypted["KeyId"] == destination["Arn"]
    # Same key, via its alias, is allowed too.
    again = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"k": "1"},
                           DestinationKeyId="alias/sym")
    assert kms.decrypt(CiphertextBlob=again["CiphertextBlob"])["Plaintext"] == b"move me"
    with pytest.raises(ClientError) as excinfo:
        kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"k": "1"},
                       SourceKeyId=destination["KeyId"], DestinationKeyId=destination["KeyId"])
    assert error_code(excinfo) == "IncorrectKeyException"


def test_dry_run(kms, symmetric):
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    blob = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    signature = kms.sign(KeyId=signing["KeyId"], Message=b"m",
                         SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    mac = kms.generate_mac(KeyId=hmac_key["KeyId"], Message=b"m",
                           MacAlgorithm="HMAC_SHA_256")["Mac"]
    key_id = symmetric["KeyId"]
    calls = {
        "Encrypt": lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x", DryRun=True),
        "Decrypt": lambda: kms.decrypt(CiphertextBlob=blob, DryRun=True),
        "ReEncrypt": lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id,
                                            DryRun=True),
        "GenerateDataKey": lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256",
                                                         DryRun=True),
        "GenerateDataKeyPair": lambda: kms.generate_data_key_pair(
            KeyId=key_id, KeyPairSpec="ECC_NIST_P256", DryRun=True),
        "Sign": lambda: kms.sign(KeyId=signing["KeyId"], Message=b"m",
                                 SigningAlgorithm="ECDSA_SHA_256", DryRun=True),
        "Verify": lambda: kms.verify(KeyId=signing["KeyId"], Message=b"m", Signature=signature,
                                     SigningAlgorithm="ECDSA_SHA_256", DryRun=True),
        "GenerateMac": lambda: kms.generate_mac(KeyId=hmac_key["KeyId"], Message=b"m",
                                                MacAlgorithm="HMAC_SHA_256", DryRun=True),
        "VerifyMac": lambda: kms.verify_mac(KeyId=hmac_key["KeyId"], Message=b"m", Mac=mac,
                                            MacAlgorithm="HMAC_SHA_256", DryRun=True),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "DryRunOperationException", name
        assert error_message(excinfo) == (
            "The request would have succeeded, but the DryRun option is set."), name
    # A dry run of a request that would fail reports the failure, not DryRun.
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=signing["KeyId"], Plaintext=b"x", DryRun=True)
    assert error_code(excinfo) == "InvalidKeyUsageException"


# --- data keys -------------------------------------------------------------------------------

def test_generate_data_key_works_with_local_aes_gcm(kms, symmetric):
    context = {"file": "report.csv"}
    data_key = kms.generate_data_key(KeyId="alias/sym", KeySpec="AES_256",
                                     EncryptionContext=context)
    assert len(data_key["Plaintext"]) == 32
    assert data_key["KeyId"] == symmetric["Arn"]
    assert data_key["KeyMaterialId"] == symmetric["CurrentKeyMaterialId"]
    nonce = os.urandom(12)
    sealed = AESGCM(data_key["Plaintext"]).encrypt(nonce, b"local data", b"aad")

    recovered = kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"],
                            EncryptionContext=context)
    assert recovered["Plaintext"] == data_key["Plaintext"]
    assert AESGCM(recovered["Plaintext"]).decrypt(nonce, sealed, b"aad") == b"local data"

    assert len(kms.generate_data_key(KeyId=symmetric["KeyId"],
                                     KeySpec="AES_128")["Plaintext"]) == 16
    assert len(kms.generate_data_key(KeyId=symmetric["KeyId"],
                                     NumberOfBytes=1)["Plaintext"]) == 1
    assert len(kms.generate_data_key(KeyId=symmetric["KeyId"],
                                     NumberOfBytes=1024)["Plaintext"]) == 1024


def test_generate_data_key_without_plaintext(kms, symmetric):
    result = kms.generate_data_key_without_plaintext(KeyId=symmetric["Arn"], KeySpec="AES_128")
    assert "Plaintext" not in result
    assert result["KeyId"] == symmetric["Arn"]
    assert len(kms.decrypt(CiphertextBlob=result["CiphertextBlob"])["Plaintext"]) == 16


def test_generate_data_key_needs_exactly_one_size(raw_kms, symmetric):
    for kwargs in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}):
        with pytest.raises(ClientError) as excinfo:
            raw_kms.generate_data_key(KeyId=symmetric["KeyId"], **kwargs)
        assert error_code(excinfo) == "ValidationException"


def _private_matches_public(private_der: bytes, public_der: bytes) -> None:
    private = serialization.load_der_private_key(private_der, password=None)
    public = serialization.load_der_public_key(public_der)
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert private.public_key().public_bytes(*fmt) == public.public_bytes(*fmt) == public_der


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "RSA_2048"])
def test_generate_data_key_pair(kms, symmetric, spec):
    pair = kms.generate_data_key_pair(KeyId=symmetric["KeyId"], KeyPairSpec=spec,
                                      EncryptionContext={"p": "q"})
    assert pair["KeyPairSpec"] == spec and pair["KeyId"] == symmetric["Arn"]
    _private_matches_public(pair["PrivateKeyPlaintext"], pair["PublicKey"])
    decrypted = kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"],
                            EncryptionContext={"p": "q"})
    assert decrypted["Plaintext"] == pair["PrivateKeyPlaintext"]


def test_generate_data_key_pair_without_plaintext(kms, symmetric):
    pair = kms.generate_data_key_pair_without_plaintext(KeyId="alias/sym",
                                                        KeyPairSpec="ECC_NIST_P256")
    assert "PrivateKeyPlaintext" not in pair
    private = kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"]
    _private_matches_public(private, pair["PublicKey"])


# --- Sign / Verify -----------------------------------------------------------------------------

def _verify_locally(public_der: bytes, algorithm: str, message: bytes, signature: bytes):
    public = serialization.load_der_public_key(public_der)
    digest = {"256": hashes.SHA256(), "384": hashes.SHA384(),
              "512": hashes.SHA512()}[algorithm[-3:]]
    if algorithm.startswith("ECDSA"):
        public.verify(signature, message, ec.ECDSA(digest))
    elif algorithm.startswith("RSASSA_PSS"):
        public.verify(signature, message,
                      padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size),
                      digest)
    else:
        public.verify(signature, message, padding.PKCS1v15(), digest)


@pytest.mark.parametrize("spec,algorithms", [
    ("RSA_2048", ["RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PSS_SHA_512"]),
    ("ECC_NIST_P256", ["ECDSA_SHA_256"]),
])
def test_sign_verify_and_local_verification(kms, spec, algorithms):
    meta = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    public = kms.get_public_key(KeyId=meta["KeyId"])
    assert public["KeySpec"] == spec and public["KeyUsage"] == "SIGN_VERIFY"
    assert public["KeyId"] == meta["Arn"]
    assert set(public["SigningAlgorithms"]) == set(meta["SigningAlgorithms"])
    assert "EncryptionAlgorithms" not in public
    message = b"message to sign"
    for algorithm in algorithms:
        signed = kms.sign(KeyId=meta["Arn"], Message=message, SigningAlgorithm=algorithm)
        assert signed["KeyId"] == meta["Arn"] and signed["SigningAlgorithm"] == algorithm
        _verify_locally(public["PublicKey"], algorithm, message, signed["Signature"])
        verified = kms.verify(KeyId=meta["KeyId"], Message=message,
                              Signature=signed["Signature"], SigningAlgorithm=algorithm)
        assert verified["SignatureValid"] is True
        assert verified["KeyId"] == meta["Arn"]

        digest = hashlib.new("sha" + algorithm[-3:], message).digest()
        by_digest = kms.sign(KeyId=meta["KeyId"], Message=digest, MessageType="DIGEST",
                             SigningAlgorithm=algorithm)
        _verify_locally(public["PublicKey"], algorithm, message, by_digest["Signature"])

        with pytest.raises(ClientError) as excinfo:
            kms.verify(KeyId=meta["KeyId"], Message=b"another message",
                       Signature=signed["Signature"], SigningAlgorithm=algorithm)
        assert error_code(excinfo) == "KMSInvalidSignatureException"
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")
    assert error_code(excinfo) == "InvalidKeyUsageException"


def test_sign_digest_of_wrong_length(kms):
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=key_id, Message=b"short", MessageType="DIGEST",
                 SigningAlgorithm="ECDSA_SHA_256")
    assert error_code(excinfo) == "ValidationException"


def test_get_public_key_of_a_symmetric_key_is_unsupported(kms, symmetric):
    with pytest.raises(ClientError) as excinfo:
        kms.get_public_key(KeyId=symmetric["KeyId"])
    assert error_code(excinfo) == "UnsupportedOperationException"


def test_rsa_encryption_key_round_trip(kms):
    meta = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    public = kms.get_public_key(KeyId=meta["KeyId"])
    assert set(public["EncryptionAlgorithms"]) == {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}
    key = serialization.load_der_public_key(public["PublicKey"])
    blob = key.encrypt(b"local", padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                              algorithm=hashes.SHA256(), label=None))
    assert kms.decrypt(CiphertextBlob=blob, KeyId=meta["KeyId"],
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"local"


# --- MAC and random ---------------------------------------------------------------------------

def test_generate_and_verify_mac(kms):
    meta = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    mac = kms.generate_mac(KeyId=meta["KeyId"], Message=b"data", MacAlgorithm="HMAC_SHA_256")
    assert mac["KeyId"] == meta["Arn"] and mac["MacAlgorithm"] == "HMAC_SHA_256"
    assert len(mac["Mac"]) == 32
    assert mac["Mac"] == kms.generate_mac(KeyId=meta["Arn"], Message=b"data",
                                          MacAlgorithm="HMAC_SHA_256")["Mac"]
    verified = kms.verify_mac(KeyId=meta["KeyId"], Message=b"data", Mac=mac["Mac"],
                              MacAlgorithm="HMAC_SHA_256")
    assert verified["MacValid"] is True and verified["KeyId"] == meta["Arn"]
    with pytest.raises(ClientError) as excinfo:
        kms.verify_mac(KeyId=meta["KeyId"], Message=b"other", Mac=mac["Mac"],
                       MacAlgorithm="HMAC_SHA_256")
    assert error_code(excinfo) == "KMSInvalidMacException"
    with pytest.raises(ClientError) as excinfo:
        kms.generate_mac(KeyId=meta["KeyId"], Message=b"data", MacAlgorithm="HMAC_SHA_512")
    assert error_code(excinfo) == "InvalidKeyUsageException"


def test_generate_random(kms):
    for size in (1, 32, 1024):
        random_bytes = kms.generate_random(NumberOfBytes=size)["Plaintext"]
        assert len(random_bytes) == size
    assert kms.generate_random(NumberOfBytes=32)["Plaintext"] != random_bytes[:32]


# --- server-side validation -----------------------------------------------------------------

def test_server_side_validation(raw_kms, symmetric):
    cases = [
        (lambda: raw_kms.generate_random(NumberOfBytes=0),
         "Value '0' at 'numberOfBytes' failed to satisfy constraint: "
         "Member must have value greater than or equal to 1"),
        (lambda: raw_kms.generate_random(NumberOfBytes=1025),
         "Value '1025' at 'numberOfBytes' failed to satisfy constraint: "
         "Member must have value less than or equal to 1024"),
        (lambda: raw_kms.generate_data_key(KeyId=symmetric["KeyId"], NumberOfBytes=1025),
         "at 'numberOfBytes'"),
        (lambda: raw_kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"x" * 4097),
         "Value at 'plaintext' failed to satisfy constraint: "
         "Member must have length less than or equal to 4096"),
        (lambda: raw_kms.create_key(KeySpec="AES_512"),
         "Value 'AES_512' at 'keySpec' failed to satisfy constraint: "
         "Member must satisfy enum value set: ["),
        (lambda: raw_kms.generate_random(), "NumberOfBytes is required."),
    ]
    keys_before = len(raw_kms.list_keys()["Keys"])
    for call, message in cases:
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "ValidationException"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert message in error_message(excinfo)
    assert error_message(excinfo) == "NumberOfBytes is required."
    assert len(raw_kms.list_keys()["Keys"]) == keys_before


def test_plaintext_of_exactly_4096_bytes_is_accepted(kms, symmetric):
    blob = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"y" * 4096)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"y" * 4096
