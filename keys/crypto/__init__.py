"""Cryptography for kmsconsole: pure Python on top of `cryptography`, no Django.

Modules:
    errors      exception hierarchy (all derive from CryptoError)
    specs       key specs, usages, algorithm tables and size limits
    rootkey     loading the root key; wrapping stored key material
    envelope    symmetric ciphertext blobs (AES-256-GCM, per-message HKDF key)
    asymmetric  RSA/ECC generation, RSA-OAEP, signatures, public keys
    mac         HMAC generate/verify
    material    key material, data keys, data key pairs, random bytes

The public names of those modules are re-exported here. Note that `encrypt`,
`decrypt` and `read_header` are the *symmetric envelope* functions; RSA uses
`rsa_encrypt` / `rsa_decrypt`.
"""

from . import asymmetric, envelope, errors, mac, material, rootkey, specs
from .asymmetric import (
    generate_private_key,
    public_key_der,
    rsa_decrypt,
    rsa_encrypt,
    sign,
    verify,
)
from .envelope import (
    BLOB_FORMAT,
    HEADER_LEN,
    MIN_BLOB_LEN,
    BlobHeader,
    canonical_context,
    decrypt,
    encrypt,
    read_header,
)
from .errors import (
    CryptoError,
    InvalidCiphertextError,
    InvalidDigestLengthError,
    InvalidPublicKeyError,
    PlaintextTooLargeError,
    RootKeyError,
    UnsupportedAlgorithmError,
)
from .mac import generate_mac, verify_mac
from .material import (
    generate_data_key,
    generate_data_key_pair,
    generate_key_material,
    random_bytes,
)
from .rootkey import ROOT_KEY_BYTES, RootKey, generate_root_key, load_root_key
from .specs import (
    ALL_DATA_KEY_PAIR_SPECS,
    ALL_KEY_SPECS,
    DATA_KEY_PAIR_SPECS,
    DATA_KEY_SPECS,
    ENCRYPTION_ALGORITHMS,
    KEY_SPECS,
    KEY_USAGES,
    MAC_ALGORITHMS,
    MESSAGE_TYPES,
    SIGNING_ALGORITHMS,
    SYMMETRIC_PLAINTEXT_MAX,
    allowed_usages,
    encryption_algorithms,
    key_type,
    mac_algorithms,
    rsa_oaep_max_plaintext,
    signing_algorithms,
)

__all__ = [
    # submodules
    "asymmetric",
    "envelope",
    "errors",
    "mac",
    "material",
    "rootkey",
    "specs",
    # errors
    "CryptoError",
    "InvalidCiphertextError",
    "RootKeyError",
    "UnsupportedAlgorithmError",
    "PlaintextTooLargeError",
    "InvalidDigestLengthError",
    "InvalidPublicKeyError",
    # specs
    "KEY_SPECS",
    "ALL_KEY_SPECS",
    "KEY_USAGES",
    "ENCRYPTION_ALGORITHMS",
    "SIGNING_ALGORITHMS",
    "MAC_ALGORITHMS",
    "DATA_KEY_SPECS",
    "DATA_KEY_PAIR_SPECS",
    "ALL_DATA_KEY_PAIR_SPECS",
    "MESSAGE_TYPES",
    "SYMMETRIC_PLAINTEXT_MAX",
    "allowed_usages",
    "encryption_algorithms",
    "signing_algorithms",
    "mac_algorithms",
    "key_type",
    "rsa_oaep_max_plaintext",
    # rootkey
    "ROOT_KEY_BYTES",
    "generate_root_key",
    "load_root_key",
    "RootKey",
    # envelope
    "BLOB_FORMAT",
    "HEADER_LEN",
    "MIN_BLOB_LEN",
    "BlobHeader",
    "canonical_context",
    "read_header",
    "encrypt",
    "decrypt",
    # asymmetric
    "generate_private_key",
    "public_key_der",
    "rsa_encrypt",
    "rsa_decrypt",
    "sign",
    "verify",
    # mac
    "generate_mac",
    "verify_mac",
    # material
    "generate_key_material",
    "generate_data_key",
    "generate_data_key_pair",
    "random_bytes",
]
