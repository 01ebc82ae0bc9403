"""Real boto3 against live_server: importing key material (BYOK; kms-spec.md 2.8, 4.4).

The key owner's side is done offline with `cryptography` (tests/byok.py): material is made,
wrapped under the downloaded public key with each wrapping algorithm, and results (signatures,
MACs) are checked against the owner's own copy of the key. Every response is checked against
botocore's output shape.
"""

import datetime
import hashlib
import hmac

import boto3
import pytest
import time_machine
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from tests.byok import make_material, wrap_offline
from tests.conftest import make_user

from .conftest import create_access_key, kms_client
from .helpers import checked, responses_must_fit

pytestmark = pytest.mark.django_db(transaction=True)

CONTEXT = {"app": "byok"}


@pytest.fixture(autouse=True)
def _every_response_fits_its_shape(request):
    yield from responses_must_fit(request)


@pytest.fixture
def kms(kms):
    return checked(kms)


def code_of(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def external_key(kms, key_spec="SYMMETRIC_DEFAULT", key_usage=None) -> str:
    params = {"Origin": "EXTERNAL", "KeySpec": key_spec}
    if key_usage:
        params["KeyUsage"] = key_usage
    metadata = kms.create_key(**params)["KeyMetadata"]
    assert metadata["KeyState"] == "PendingImport" and metadata["Enabled"] is False
    return metadata["KeyId"]


def import_material(kms, key_id, material, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048",
                    **extra):
    parameters = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm,
                                               WrappingKeySpec=spec)
    return kms.import_key_material(
        KeyId=key_id, ImportToken=parameters["ImportToken"],
        EncryptedKeyMaterial=wrap_offline(parameters["PublicKey"], algorithm, material),
        **(extra or {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}))


@pytest.mark.parametrize("algorithm, spec", [
    ("RSAES_OAEP_SHA_1", "RSA_2048"),
    ("RSAES_OAEP_SHA_256", "RSA_3072"),
    ("RSA_AES_KEY_WRAP_SHA_1", "RSA_4096"),
    ("RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"),
])
def test_symmetric_material_wrapped_offline_imports_and_encrypts(kms, algorithm, spec):
    key_id = external_key(kms)
    parameters = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm,
                                               WrappingKeySpec=spec)
    assert parameters["KeyId"].endswith(key_id)
    public_key = serialization.load_der_public_key(parameters["PublicKey"])
    assert public_key.key_size == int(spec.split("_")[1])
    valid_for = parameters["ParametersValidTo"] - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(hours=23, minutes=59) < valid_for <= datetime.timedelta(hours=24)
    response = kms.import_key_material(
        KeyId=key_id, ImportToken=parameters["ImportToken"],
        EncryptedKeyMaterial=wrap_offline(parameters["PublicKey"], algorithm,
                                          make_material("SYMMETRIC_DEFAULT")),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "Enabled" and metadata["Origin"] == "EXTERNAL"
    assert metadata["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert "ValidTo" not in metadata
    assert response["KeyMaterialId"] == metadata["CurrentKeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"hello", EncryptionContext=CONTEXT)
    decrypted = kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=CONTEXT)
    assert decrypted["Plaintext"] == b"hello"


@pytest.mark.parametrize("key_spec, algorithm, wrapping", [
    ("ECC_NIST_P256", "ECDSA_SHA_256", "RSAES_OAEP_SHA_256"),
    ("RSA_2048", "RSASSA_PSS_SHA_256", "RSA_AES_KEY_WRAP_SHA_256"),
])
def test_an_imported_private_key_signs_what_its_owner_can_verify(kms, key_spec, algorithm,
                                                                 wrapping):
    key_id = external_key(kms, key_spec, "SIGN_VERIFY")
    material = make_material(key_spec)
    import_material(kms, key_id, material, wrapping, "RSA_4096")
    owner_public = serialization.load_der_private_key(material, password=None).public_key()
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == owner_public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    signature = kms.sign(KeyId=key_id, Message=b"signed offline check",
                         SigningAlgorithm=algorithm)["Signature"]
    if key_spec.startswith("ECC"):
        owner_public.verify(signature, b"signed offline check", ec.ECDSA(hashes.SHA256()))
    else:
        owner_public.verify(signature, b"signed offline check",
                            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                            hashes.SHA256())


def test_an_imported_hmac_key_macs_what_its_owner_computes(kms):
    key_id = external_key(kms, "HMAC_256", "GENERATE_VERIFY_MAC")
    material = make_material("HMAC_256")
    import_material(kms, key_id, material, "RSA_AES_KEY_WRAP_SHA_1", "RSA_3072")
    mac = kms.generate_mac(KeyId=key_id, Message=b"tag me", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac == hmac.new(material, b"tag me", hashlib.sha256).digest()


def test_a_wrong_import_token_is_refused(kms):
    key_id = external_key(kms)
    parameters = kms.get_parameters_for_import(KeyId=key_id,
                                               WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                               WrappingKeySpec="RSA_2048")
    with pytest.raises(ClientError) as excinfo:
        kms.import_key_material(
            KeyId=key_id, ImportToken=b"made up" * 8,
            EncryptedKeyMaterial=wrap_offline(parameters["PublicKey"], "RSAES_OAEP_SHA_256",
                                              make_material("SYMMETRIC_DEFAULT")),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code_of(excinfo) == "InvalidImportTokenException"


def test_an_import_token_older_than_24_hours_is_refused(kms):
    key_id = external_key(kms)
    parameters = kms.get_parameters_for_import(KeyId=key_id,
                                               WrappingAlgorithm="RSAES_OAEP_SHA_1",
                                               WrappingKeySpec="RSA_2048")
    encrypted = wrap_offline(parameters["PublicKey"], "RSAES_OAEP_SHA_1",
                             make_material("SYMMETRIC_DEFAULT"))
    with time_machine.travel(datetime.datetime.now(datetime.UTC)
                             + datetime.timedelta(hours=24, minutes=1)):
        with pytest.raises(ClientError) as excinfo:
            kms.import_key_material(KeyId=key_id, ImportToken=parameters["ImportToken"],
                                    EncryptedKeyMaterial=encrypted,
                                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code_of(excinfo) == "ExpiredImportTokenException"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_ciphertexts_fail_after_deletion_until_the_same_material_is_imported_again(kms):
    key_id = external_key(kms)
    material = make_material("SYMMETRIC_DEFAULT")
    import_material(kms, key_id, material)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    deleted = kms.delete_imported_key_material(KeyId=key_id)
    assert deleted["KeyId"].endswith(key_id) and len(deleted["KeyMaterialId"]) == 64
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "PendingImport" and "CurrentKeyMaterialId" not in metadata
    with pytest.raises(ClientError) as excinfo:
        kms.decrypt(CiphertextBlob=blob)
    assert code_of(excinfo) == "KMSInvalidStateException"
    with pytest.raises(ClientError) as excinfo:
        import_material(kms, key_id, make_material("SYMMETRIC_DEFAULT"))
    assert code_of(excinfo) == "IncorrectKeyMaterialException"
    valid_to = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=90)
    again = import_material(kms, key_id, material, "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096",
                            ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    assert again["KeyMaterialId"] == deleted["KeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert abs((metadata["ValidTo"] - valid_to).total_seconds()) < 1


def test_material_of_a_key_generated_here_cannot_be_imported_or_deleted(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for call in (lambda: kms.get_parameters_for_import(KeyId=key_id,
                                                       WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                       WrappingKeySpec="RSA_2048"),
                 lambda: kms.delete_imported_key_material(KeyId=key_id)):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert code_of(excinfo) == "UnsupportedOperationException"
        assert "origin is AWS_KMS" in excinfo.value.response["Error"]["Message"]


def test_expiring_material_needs_a_valid_to(kms):
    key_id = external_key(kms)
    with pytest.raises(ClientError) as excinfo:
        import_material(kms, key_id, make_material("SYMMETRIC_DEFAULT"),
                        ExpirationModel="KEY_MATERIAL_EXPIRES")
    assert code_of(excinfo) == "ValidationException"
    assert "validTo" in excinfo.value.response["Error"]["Message"]


def test_a_user_without_permission_is_refused(kms, live_server, account):
    key_id = external_key(kms)
    nobody = checked(kms_client(live_server, create_access_key(make_user(account, "nobody"))))
    with pytest.raises(ClientError) as excinfo:
        nobody.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                         WrappingKeySpec="RSA_2048")
    assert code_of(excinfo) == "AccessDeniedException"
    with pytest.raises(ClientError) as excinfo:
        nobody.delete_imported_key_material(KeyId=key_id)
    assert code_of(excinfo) == "AccessDeniedException"


def test_an_unsigned_request_is_refused(live_server):
    anonymous = boto3.client("kms", endpoint_url=live_server.url, region_name="us-east-1",
                             config=Config(signature_version=UNSIGNED,
                                           retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as excinfo:
        anonymous.get_parameters_for_import(KeyId="00000000-0000-4000-8000-000000000000",
                                            WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                            WrappingKeySpec="RSA_2048")
    assert code_of(excinfo) == "MissingAuthenticationTokenException"
