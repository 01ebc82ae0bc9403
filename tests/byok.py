"""What a key owner does offline in a BYOK import, with `cryptography` only (as AWS's docs do
it with OpenSSL): make key material and wrap it under the downloaded wrapping public key."""

import os

from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

_HASHES = {"SHA_1": hashes.SHA1, "SHA_256": hashes.SHA256}
_CURVES = {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1,
           "ECC_NIST_P521": ec.SECP521R1, "ECC_SECG_P256K1": ec.SECP256K1}
_RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_HMAC_BYTES = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}


def make_material(key_spec: str) -> bytes:
    """Key material for `key_spec`: 32 random bytes, HMAC key bytes or a DER PKCS#8 key."""
    if key_spec == "SYMMETRIC_DEFAULT":
        return os.urandom(32)
    if key_spec in _HMAC_BYTES:
        return os.urandom(_HMAC_BYTES[key_spec])
    if key_spec in _RSA_BITS:
        private = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[key_spec])
    else:
        private = ec.generate_private_key(_CURVES[key_spec]())
    return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


def wrap_offline(public_key_der: bytes, wrapping_algorithm: str, material: bytes) -> bytes:
    """EncryptedKeyMaterial: RSA-OAEP over the material, or (RSA_AES_KEY_WRAP_*) a fresh
    256-bit AES key RSA-OAEP-encrypted, followed by the material under AES Key Wrap with
    padding (RFC 5649)."""
    public_key = serialization.load_der_public_key(public_key_der)
    hash_cls = _HASHES["SHA_" + wrapping_algorithm.rsplit("_SHA_", 1)[1]]
    oaep = padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None)
    if wrapping_algorithm.startswith("RSAES_OAEP_"):
        return public_key.encrypt(material, oaep)
    aes_key = os.urandom(32)
    return public_key.encrypt(aes_key, oaep) + keywrap.aes_key_wrap_with_padding(aes_key,
                                                                                  material)
