"""Helpers shared by the service tests: making keys through the one door, checking AWS errors.

Keys are always created with keys.services.key_create (never through the ORM), so every test
exercises the same path a console click or an API call takes.
"""

import contextlib

import pytest

from keys import services
from keys.crypto import specs
from kmsconsole.errors import KmsError

# The usage a key spec gets when a test does not say (the first one AWS lists for it).
DEFAULT_USAGE = {
    "SYMMETRIC_DEFAULT": None,
    "RSA_2048": "ENCRYPT_DECRYPT",
    "RSA_3072": "ENCRYPT_DECRYPT",
    "RSA_4096": "ENCRYPT_DECRYPT",
    "ECC_NIST_P256": "SIGN_VERIFY",
    "ECC_NIST_P384": "SIGN_VERIFY",
    "ECC_NIST_P521": "SIGN_VERIFY",
    "ECC_SECG_P256K1": "SIGN_VERIFY",
    "HMAC_224": "GENERATE_VERIFY_MAC",
    "HMAC_256": "GENERATE_VERIFY_MAC",
    "HMAC_384": "GENERATE_VERIFY_MAC",
    "HMAC_512": "GENERATE_VERIFY_MAC",
}
assert set(DEFAULT_USAGE) == set(specs.KEY_SPECS)

RSA_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096"]
ECC_SPECS = ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1"]
HMAC_SPECS = ["HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"]
HMAC_ALGORITHM = {"HMAC_224": "HMAC_SHA_224", "HMAC_256": "HMAC_SHA_256",
                  "HMAC_384": "HMAC_SHA_384", "HMAC_512": "HMAC_SHA_512"}
OAEP_ALGORITHMS = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
RSA_SIGNING_ALGORITHMS = [
    "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
]
ECC_SIGNING_ALGORITHM = {"ECC_NIST_P256": "ECDSA_SHA_256", "ECC_NIST_P384": "ECDSA_SHA_384",
                         "ECC_NIST_P521": "ECDSA_SHA_512", "ECC_SECG_P256K1": "ECDSA_SHA_256"}
DIGEST_LENGTH = {"256": 32, "384": 48, "512": 64}


def digest_length(algorithm: str) -> int:
    return DIGEST_LENGTH[algorithm[-3:]]


def create_key(caller, key_spec: str = "SYMMETRIC_DEFAULT", key_usage: str | None = None,
               **kwargs):
    """A new key through key_create; the usage defaults to the spec's usual one."""
    if key_usage is None:
        key_usage = DEFAULT_USAGE[key_spec]
    return services.key_create(caller=caller, key_spec=key_spec, key_usage=key_usage, **kwargs)


@contextlib.contextmanager
def raises_kms(error_class, message: str | None = None, *, contains: tuple[str, ...] = ()):
    """Expect exactly `error_class` (not a subclass, not another KmsError), with its AWS code.

    Anything else -- another KmsError, a bare Python exception, no exception -- fails the test
    with what actually happened, so a test names the precise deviation.
    """
    try:
        yield
    except KmsError as error:
        assert type(error) is error_class, (
            f"expected {error_class.__name__} ({error_class.code}), got "
            f"{type(error).__name__} ({error.code}): {error.message!r}")
        assert error.code == error_class.code
        if message is not None:
            assert error.message == message
        for fragment in contains:
            assert fragment in error.message, f"{fragment!r} not in {error.message!r}"
    except AssertionError:
        raise
    except Exception as error:  # a bug: the service let a non-AWS error escape
        pytest.fail(f"expected {error_class.__name__} ({error_class.code}), got "
                    f"{type(error).__name__}: {error}")
    else:
        pytest.fail(f"expected {error_class.__name__} ({error_class.code}), nothing was raised")


@pytest.fixture
def sym_key(caller):
    return create_key(caller)


@pytest.fixture
def other_sym_key(caller):
    return create_key(caller, description="another symmetric key")
