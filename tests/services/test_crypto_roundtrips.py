"""Cryptographic round trips through the services (kms-spec.md section 4).

Every key spec the service implements is used for what it is for: Encrypt/Decrypt, Sign/Verify
(every signing algorithm, RAW and DIGEST), GenerateMac/VerifyMac. The interoperability tests use
`cryptography` directly with nothing but what the services hand out (the public key, a data key),
which is how a real client of AWS KMS works offline.
"""

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keys import operations, services
from keys.crypto import envelope, specs
from keys.crypto.material import generate_key_material
from keys.materials import add_material
from kmsconsole.errors import ValidationError

from .conftest import (
    ECC_SIGNING_ALGORITHM,
    ECC_SPECS,
    HMAC_ALGORITHM,
    HMAC_SPECS,
    OAEP_ALGORITHMS,
    RSA_SIGNING_ALGORITHMS,
    RSA_SPECS,
    create_key,
    raises_kms,
)

pytestmark = pytest.mark.django_db

# kms-spec.md 3.4: RSA OAEP plaintext limits (modulus - 2 * hashLen - 2).
OAEP_LIMIT = {
    ("RSA_2048", "RSAES_OAEP_SHA_1"): 214, ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
    ("RSA_3072", "RSAES_OAEP_SHA_1"): 342, ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
    ("RSA_4096", "RSAES_OAEP_SHA_1"): 470, ("RSA_4096", "RSAES_OAEP_SHA_256"): 446,
}
HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
CURVES = {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1,
          "ECC_NIST_P521": ec.SECP521R1, "ECC_SECG_P256K1": ec.SECP256K1}
RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
MAC_LENGTH = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}
OAEP_HASH = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}
MESSAGE = b"the quick brown fox jumps over the lazy dog"


def _hash_of(algorithm: str) -> hashes.HashAlgorithm:
    return HASHES[algorithm[-3:]]()


def _digest(algorithm: str, message: bytes) -> bytes:
    return hashlib.new(f"sha{algorithm[-3:]}", message).digest()


def _message_for(algorithm: str, message_type: str) -> bytes:
    return MESSAGE if message_type == "RAW" else _digest(algorithm, MESSAGE)


def _key_forms(caller, key) -> dict[str, str]:
    """The four spellings of KeyId crypto operations accept (kms-spec.md 1.6)."""
    name = f"alias/form-{key.id}"
    services.alias_create(caller=caller, alias_name=name, target_key_id=str(key.id))
    return {"id": str(key.id), "arn": key.arn, "alias": name,
            "alias_arn": f"arn:aws:kms:{key.region}:{key.account_id}:{name}"}


# --- symmetric ------------------------------------------------------------------------------

@pytest.mark.parametrize("plaintext", [b"x", b"hello world", bytes(range(256)), os.urandom(4096)],
                         ids=["1-byte", "text", "all-byte-values", "4096-bytes"])
@pytest.mark.parametrize("context", [None, {"purpose": "test"},
                                     {"tenant": "ünïcode ☃", "a": "", "": "empty key"}],
                         ids=["no-context", "one-pair", "unicode-pairs"])
def test_symmetric_encrypt_then_decrypt_returns_the_plaintext(caller, sym_key, plaintext, context):
    sealed = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=plaintext,
                                encryption_context=context)
    assert sealed.algorithm == "SYMMETRIC_DEFAULT"
    assert sealed.key.pk == sym_key.pk
    assert sealed.material_id == sym_key.materials.get(version=1).material_id
    if len(plaintext) >= 8:  # shorter ones may occur in random bytes by chance
        assert plaintext not in sealed.blob
    opened = operations.decrypt(caller=caller, ciphertext_blob=sealed.blob,
                                encryption_context=context)
    assert opened.plaintext == plaintext
    assert opened.key.pk == sym_key.pk
    assert opened.algorithm == "SYMMETRIC_DEFAULT"
    assert opened.material_id == sealed.material_id


@pytest.mark.parametrize("encrypt_form", ["id", "arn", "alias", "alias_arn"])
@pytest.mark.parametrize("decrypt_form", [None, "id", "arn", "alias", "alias_arn"])
def test_symmetric_round_trip_accepts_every_key_id_form(caller, sym_key, encrypt_form,
                                                        decrypt_form):
    forms = _key_forms(caller, sym_key)
    sealed = operations.encrypt(caller=caller, key_id=forms[encrypt_form], plaintext=b"secret")
    opened = operations.decrypt(caller=caller, ciphertext_blob=sealed.blob,
                                key_id=forms[decrypt_form] if decrypt_form else None)
    assert opened.plaintext == b"secret"


def test_encryption_context_pair_order_does_not_matter(caller, sym_key):
    sealed = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"p",
                                encryption_context={"a": "1", "b": "2", "c": "3"})
    opened = operations.decrypt(caller=caller, ciphertext_blob=sealed.blob,
                                encryption_context={"c": "3", "a": "1", "b": "2"})
    assert opened.plaintext == b"p"


def test_empty_context_and_no_context_are_the_same(caller, sym_key):
    sealed = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"p",
                                encryption_context={})
    assert operations.decrypt(caller=caller, ciphertext_blob=sealed.blob).plaintext == b"p"


def test_encrypting_twice_gives_different_blobs_naming_the_key_and_version(caller, sym_key):
    first = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"same")
    second = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"same")
    assert first.blob != second.blob
    for blob in (first.blob, second.blob):
        header = envelope.read_header(blob)
        assert header.key_id == sym_key.id
        assert header.version == 1


# --- RSA encryption -------------------------------------------------------------------------

@pytest.mark.parametrize("key_spec", RSA_SPECS)
def test_rsa_encrypt_then_decrypt_with_both_oaep_algorithms(caller, key_spec):
    key = create_key(caller, key_spec, "ENCRYPT_DECRYPT")
    for algorithm in OAEP_ALGORITHMS:
        limit = OAEP_LIMIT[key_spec, algorithm]
        assert specs.rsa_oaep_max_plaintext(key_spec, algorithm) == limit
        for plaintext in (b"x", os.urandom(limit)):
            sealed = operations.encrypt(caller=caller, key_id=key.arn, plaintext=plaintext,
                                        encryption_algorithm=algorithm)
            assert sealed.algorithm == algorithm
            assert len(sealed.blob) == RSA_BITS[key_spec] // 8
            opened = operations.decrypt(caller=caller, ciphertext_blob=sealed.blob,
                                        key_id=str(key.id), encryption_algorithm=algorithm)
            assert opened.plaintext == plaintext, (algorithm, len(plaintext))
            assert opened.algorithm == algorithm
            assert opened.key.pk == key.pk


@pytest.mark.parametrize("key_spec", RSA_SPECS)
def test_rsa_ciphertext_made_offline_with_the_public_key_decrypts(caller, key_spec):
    key = create_key(caller, key_spec, "ENCRYPT_DECRYPT")
    got_key, public_der = operations.get_public_key(caller=caller, key_id=key.arn)
    assert got_key.pk == key.pk
    public_key = serialization.load_der_public_key(public_der)
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == RSA_BITS[key_spec]
    for algorithm in OAEP_ALGORITHMS:
        plaintext = os.urandom(OAEP_LIMIT[key_spec, algorithm])
        hash_cls = OAEP_HASH[algorithm]
        blob = public_key.encrypt(plaintext, padding.OAEP(
            mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None))
        opened = operations.decrypt(caller=caller, ciphertext_blob=blob, key_id=key.arn,
                                    encryption_algorithm=algorithm)
        assert opened.plaintext == plaintext, algorithm


# --- signing --------------------------------------------------------------------------------

def _verify_offline(public_der: bytes, key_spec: str, algorithm: str, message_type: str,
                    message: bytes, signature: bytes) -> None:
    """Verify with nothing but the DER public key, using AWS's documented parameters (4.2)."""
    public_key = serialization.load_der_public_key(public_der)
    hash_alg = _hash_of(algorithm)
    data_hash = hash_alg if message_type == "RAW" else Prehashed(hash_alg)
    if algorithm.startswith("ECDSA"):
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        assert public_key.curve.name == CURVES[key_spec].name
        # DER Ecdsa-Sig-Value, not raw r||s: it parses and re-encodes to the same bytes.
        r, s = decode_dss_signature(signature)
        assert encode_dss_signature(r, s) == signature
        public_key.verify(signature, message, ec.ECDSA(data_hash))
        return
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == RSA_BITS[key_spec]
    assert len(signature) == RSA_BITS[key_spec] // 8
    if "PSS" in algorithm:
        # Salt length = digest length, MGF1 with the same hash. OpenSSL checks a fixed salt
        # length exactly, so a signature with another salt length would fail here.
        pad = padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
    else:
        pad = padding.PKCS1v15()
    public_key.verify(signature, message, pad, data_hash)


def _sign_verify_all(caller, key, key_spec: str, algorithms: list[str]) -> None:
    _, public_der = operations.get_public_key(caller=caller, key_id=str(key.id))
    for algorithm in algorithms:
        for message_type in ("RAW", "DIGEST"):
            message = _message_for(algorithm, message_type)
            signed = operations.sign(caller=caller, key_id=key.arn, message=message,
                                     signing_algorithm=algorithm, message_type=message_type)
            assert signed.algorithm == algorithm
            assert signed.key.pk == key.pk
            checked = operations.verify(caller=caller, key_id=str(key.id), message=message,
                                        signature=signed.signature, signing_algorithm=algorithm,
                                        message_type=message_type)
            assert checked.key.pk == key.pk
            _verify_offline(public_der, key_spec, algorithm, message_type, message,
                            signed.signature)


@pytest.mark.parametrize("key_spec", RSA_SPECS)
def test_rsa_signatures_of_every_algorithm_verify_in_service_and_with_the_public_key(
        caller, key_spec):
    key = create_key(caller, key_spec, "SIGN_VERIFY")
    assert specs.signing_algorithms(key_spec, "SIGN_VERIFY") == RSA_SIGNING_ALGORITHMS
    _sign_verify_all(caller, key, key_spec, RSA_SIGNING_ALGORITHMS)


@pytest.mark.parametrize("message_type", ["RAW", "DIGEST"])
@pytest.mark.parametrize("key_spec", ECC_SPECS)
def test_ecdsa_signatures_verify_in_service_and_with_the_public_key(caller, key_spec,
                                                                    message_type):
    key = create_key(caller, key_spec, "SIGN_VERIFY")
    algorithm = ECC_SIGNING_ALGORITHM[key_spec]
    assert specs.signing_algorithms(key_spec, "SIGN_VERIFY") == [algorithm]
    message = _message_for(algorithm, message_type)
    signed = operations.sign(caller=caller, key_id=key.arn, message=message,
                             signing_algorithm=algorithm, message_type=message_type)
    operations.verify(caller=caller, key_id=key.arn, message=message,
                      signature=signed.signature, signing_algorithm=algorithm,
                      message_type=message_type)
    _, public_der = operations.get_public_key(caller=caller, key_id=key.arn)
    _verify_offline(public_der, key_spec, algorithm, message_type, message, signed.signature)


@pytest.mark.parametrize("key_spec", ["ECC_NIST_P384", "RSA_2048"])
def test_a_raw_signature_verifies_as_a_signature_over_the_messages_digest(caller, key_spec):
    """RAW hashes the message once: the same signature verifies as DIGEST of that hash."""
    key = create_key(caller, key_spec, "SIGN_VERIFY")
    algorithm = "ECDSA_SHA_384" if key_spec == "ECC_NIST_P384" else "RSASSA_PSS_SHA_256"
    signed = operations.sign(caller=caller, key_id=key.arn, message=MESSAGE,
                             signing_algorithm=algorithm, message_type="RAW")
    operations.verify(caller=caller, key_id=key.arn, message=_digest(algorithm, MESSAGE),
                      signature=signed.signature, signing_algorithm=algorithm,
                      message_type="DIGEST")


@pytest.mark.parametrize("key_spec", ["RSA_2048", "ECC_NIST_P256"])
def test_public_key_is_der_subject_public_key_info_of_the_signing_key(caller, key_spec):
    key = create_key(caller, key_spec, "SIGN_VERIFY")
    _, first = operations.get_public_key(caller=caller, key_id=str(key.id))
    _, again = operations.get_public_key(caller=caller, key_id=key.arn)
    assert first == again
    public_key = serialization.load_der_public_key(first)
    assert public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo) == first


# --- HMAC -----------------------------------------------------------------------------------

@pytest.mark.parametrize("message", [b"m", MESSAGE, os.urandom(4096)], ids=["1", "text", "4096"])
@pytest.mark.parametrize("key_spec", HMAC_SPECS)
def test_generate_mac_then_verify_mac(caller, key_spec, message):
    key = create_key(caller, key_spec, "GENERATE_VERIFY_MAC")
    algorithm = HMAC_ALGORITHM[key_spec]
    tag = operations.generate_mac(caller=caller, key_id=key.arn, message=message,
                                  mac_algorithm=algorithm)
    assert tag.algorithm == algorithm
    assert len(tag.mac) == MAC_LENGTH[key_spec]
    again = operations.generate_mac(caller=caller, key_id=str(key.id), message=message,
                                    mac_algorithm=algorithm)
    assert again.mac == tag.mac  # HMAC is deterministic
    checked = operations.verify_mac(caller=caller, key_id=str(key.id), message=message,
                                    mac_value=tag.mac, mac_algorithm=algorithm)
    assert checked.key.pk == key.pk


def test_two_hmac_keys_give_different_macs(caller):
    first = create_key(caller, "HMAC_256")
    second = create_key(caller, "HMAC_256")
    macs = {operations.generate_mac(caller=caller, key_id=str(key.id), message=MESSAGE,
                                    mac_algorithm="HMAC_SHA_256").mac for key in (first, second)}
    assert len(macs) == 2


# --- data keys ------------------------------------------------------------------------------

@pytest.mark.parametrize("request_size, expected_length", [
    ({"key_spec": "AES_256"}, 32), ({"key_spec": "AES_128"}, 16),
    ({"number_of_bytes": 1}, 1), ({"number_of_bytes": 64}, 64),
    ({"number_of_bytes": 1024}, 1024),
])
def test_generate_data_key_plaintext_matches_its_ciphertext_blob(caller, sym_key, request_size,
                                                                 expected_length):
    data_key = operations.generate_data_key(caller=caller, key_id=sym_key.arn,
                                            encryption_context={"file": "a.txt"},
                                            **request_size)
    assert len(data_key.plaintext) == expected_length
    assert data_key.key.pk == sym_key.pk
    assert data_key.material_id == sym_key.materials.get(version=1).material_id
    opened = operations.decrypt(caller=caller, ciphertext_blob=data_key.ciphertext,
                                encryption_context={"file": "a.txt"})
    assert opened.plaintext == data_key.plaintext


@pytest.mark.parametrize("key_spec", ["AES_256", "AES_128"])
def test_data_key_works_for_local_aes_gcm(caller, sym_key, key_spec):
    data_key = operations.generate_data_key(caller=caller, key_id=str(sym_key.id),
                                            key_spec=key_spec)
    nonce = os.urandom(12)
    local = AESGCM(data_key.plaintext).encrypt(nonce, b"a large file", b"header")
    # Later: only the blob is kept; KMS gives the data key back to open the file.
    recovered = operations.decrypt(caller=caller, ciphertext_blob=data_key.ciphertext).plaintext
    assert AESGCM(recovered).decrypt(nonce, local, b"header") == b"a large file"


@pytest.mark.parametrize("request_size, expected_length", [
    ({"key_spec": "AES_256"}, 32), ({"number_of_bytes": 100}, 100),
])
def test_generate_data_key_without_plaintext_returns_only_the_blob(caller, sym_key, request_size,
                                                                   expected_length):
    data_key = operations.generate_data_key(caller=caller, key_id=str(sym_key.id),
                                            with_plaintext=False, **request_size)
    assert data_key.plaintext is None
    opened = operations.decrypt(caller=caller, ciphertext_blob=data_key.ciphertext)
    assert len(opened.plaintext) == expected_length


def _check_key_pair(private_der: bytes, public_der: bytes, key_pair_spec: str) -> None:
    private_key = serialization.load_der_private_key(private_der, password=None)
    assert private_key.private_bytes(serialization.Encoding.DER,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()) == private_der
    assert private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == public_der
    if key_pair_spec in RSA_BITS:
        assert isinstance(private_key, rsa.RSAPrivateKey)
        assert private_key.key_size == RSA_BITS[key_pair_spec]
    else:
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        assert private_key.curve.name == CURVES[key_pair_spec].name


@pytest.mark.parametrize("key_pair_spec", list(specs.DATA_KEY_PAIR_SPECS))
def test_generate_data_key_pair_private_key_matches_public_key_and_blob(caller, sym_key,
                                                                        key_pair_spec):
    pair = operations.generate_data_key_pair(caller=caller, key_id=sym_key.arn,
                                             key_pair_spec=key_pair_spec,
                                             encryption_context={"use": "pair"})
    assert pair.key_pair_spec == key_pair_spec
    _check_key_pair(pair.private_plaintext, pair.public_key, key_pair_spec)
    opened = operations.decrypt(caller=caller, ciphertext_blob=pair.private_ciphertext,
                                encryption_context={"use": "pair"})
    assert opened.plaintext == pair.private_plaintext


@pytest.mark.parametrize("key_pair_spec", ["ECC_NIST_P256", "RSA_2048"])
def test_generate_data_key_pair_without_plaintext_returns_no_private_key(caller, sym_key,
                                                                         key_pair_spec):
    pair = operations.generate_data_key_pair(caller=caller, key_id=str(sym_key.id),
                                             key_pair_spec=key_pair_spec, with_plaintext=False)
    assert pair.private_plaintext is None
    private_der = operations.decrypt(caller=caller,
                                     ciphertext_blob=pair.private_ciphertext).plaintext
    _check_key_pair(private_der, pair.public_key, key_pair_spec)


# --- ReEncrypt ------------------------------------------------------------------------------

def test_re_encrypt_moves_a_ciphertext_to_another_symmetric_key(caller, sym_key, other_sym_key):
    sealed = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"payload",
                                encryption_context={"from": "a"})
    source, result = operations.re_encrypt(
        caller=caller, ciphertext_blob=sealed.blob, source_encryption_context={"from": "a"},
        destination_key_id=other_sym_key.arn, destination_encryption_context={"to": "b"})
    assert source.key.pk == sym_key.pk
    assert result.key.pk == other_sym_key.pk
    assert result.algorithm == "SYMMETRIC_DEFAULT"
    assert envelope.read_header(result.blob).key_id == other_sym_key.id
    opened = operations.decrypt(caller=caller, ciphertext_blob=result.blob,
                                encryption_context={"to": "b"})
    assert opened.plaintext == b"payload"
    assert opened.key.pk == other_sym_key.pk
    # The source ciphertext is untouched and still opens under the source key.
    assert operations.decrypt(caller=caller, ciphertext_blob=sealed.blob,
                              encryption_context={"from": "a"}).plaintext == b"payload"


@pytest.mark.parametrize("algorithm", OAEP_ALGORITHMS)
def test_re_encrypt_to_an_rsa_key_needs_and_uses_the_destination_algorithm(caller, sym_key,
                                                                           algorithm):
    rsa_key = create_key(caller, "RSA_2048", "ENCRYPT_DECRYPT")
    sealed = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"payload")
    with raises_kms(ValidationError):
        operations.re_encrypt(caller=caller, ciphertext_blob=sealed.blob,
                              destination_key_id=rsa_key.arn)
    _, result = operations.re_encrypt(caller=caller, ciphertext_blob=sealed.blob,
                                      destination_key_id=rsa_key.arn,
                                      destination_encryption_algorithm=algorithm)
    assert result.algorithm == algorithm
    assert result.key.pk == rsa_key.pk
    opened = operations.decrypt(caller=caller, ciphertext_blob=result.blob, key_id=rsa_key.arn,
                                encryption_algorithm=algorithm)
    assert opened.plaintext == b"payload"


def test_re_encrypt_from_an_rsa_key_to_a_symmetric_key(caller, sym_key):
    rsa_key = create_key(caller, "RSA_2048", "ENCRYPT_DECRYPT")
    sealed = operations.encrypt(caller=caller, key_id=rsa_key.arn, plaintext=b"payload",
                                encryption_algorithm="RSAES_OAEP_SHA_256")
    source, result = operations.re_encrypt(
        caller=caller, ciphertext_blob=sealed.blob, source_key_id=rsa_key.arn,
        source_encryption_algorithm="RSAES_OAEP_SHA_256", destination_key_id=str(sym_key.id))
    assert source.key.pk == rsa_key.pk
    assert operations.decrypt(caller=caller,
                              ciphertext_blob=result.blob).plaintext == b"payload"


# --- material versions ----------------------------------------------------------------------

def _add_version(key, version: int) -> None:
    add_material(key, version=version, material=generate_key_material("SYMMETRIC_DEFAULT"))
    key.save()


def test_ciphertext_from_before_a_new_material_version_still_decrypts(caller, sym_key):
    old = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"old",
                             encryption_context={"v": "1"})
    assert envelope.read_header(old.blob).version == 1
    _add_version(sym_key, 2)

    new = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"new",
                             encryption_context={"v": "2"})
    assert envelope.read_header(new.blob).version == 2
    assert new.material_id == sym_key.materials.get(version=2).material_id
    assert new.material_id != old.material_id

    opened_old = operations.decrypt(caller=caller, ciphertext_blob=old.blob,
                                    encryption_context={"v": "1"})
    assert opened_old.plaintext == b"old"
    assert opened_old.material_id == old.material_id
    opened_new = operations.decrypt(caller=caller, ciphertext_blob=new.blob,
                                    encryption_context={"v": "2"})
    assert opened_new.plaintext == b"new"
    assert opened_new.material_id == new.material_id


def test_every_material_version_keeps_decrypting_after_several_versions(caller, sym_key):
    blobs = {}
    for version in range(1, 5):
        if version > 1:
            _add_version(sym_key, version)
        sealed = operations.encrypt(caller=caller, key_id=sym_key.arn,
                                    plaintext=f"v{version}".encode())
        assert envelope.read_header(sealed.blob).version == version
        blobs[version] = sealed.blob
    for version, blob in blobs.items():
        assert operations.decrypt(caller=caller,
                                  ciphertext_blob=blob).plaintext == f"v{version}".encode()


def test_re_encrypt_to_the_same_key_moves_an_old_ciphertext_to_the_new_version(caller, sym_key):
    old = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"refresh me")
    _add_version(sym_key, 2)
    _, result = operations.re_encrypt(caller=caller, ciphertext_blob=old.blob,
                                      destination_key_id=str(sym_key.id))
    assert envelope.read_header(result.blob).version == 2
    assert operations.decrypt(caller=caller,
                              ciphertext_blob=result.blob).plaintext == b"refresh me"
