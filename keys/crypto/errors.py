"""Exceptions raised by the kmsconsole crypto package.

Every error the package raises on purpose derives from CryptoError, so callers
can map the whole family to API errors in one place. Messages never contain key
material, plaintext, or any other secret bytes: they may end up in logs, audit
records and HTTP responses.
"""

from __future__ import annotations

__all__ = [
    "CryptoError",
    "InvalidCiphertextError",
    "RootKeyError",
    "UnsupportedAlgorithmError",
    "PlaintextTooLargeError",
    "InvalidDigestLengthError",
    "InvalidPublicKeyError",
]


class CryptoError(Exception):
    """Base class for every error raised by keys.crypto."""


class InvalidCiphertextError(CryptoError):
    """A ciphertext could not be parsed or opened.

    Deliberately carries no detail (bad tag, wrong context, truncation and
    unknown format all look the same) so a caller cannot use the error as an
    oracle to learn which check failed.
    """


class RootKeyError(CryptoError):
    """The root key is missing, malformed, badly protected, or failed to unwrap."""


class UnsupportedAlgorithmError(CryptoError):
    """An algorithm was requested that the key spec does not support."""

    @classmethod
    def incompatible(cls, algorithm: str, key_spec: str) -> UnsupportedAlgorithmError:
        """Build the standard message: 'Algorithm X is incompatible with key spec Y'."""
        return cls(f"Algorithm {algorithm} is incompatible with key spec {key_spec}")


class PlaintextTooLargeError(CryptoError):
    """The plaintext exceeds the RSA-OAEP limit for this key spec and algorithm."""

    @classmethod
    def for_limit(cls, algorithm: str, key_spec: str, limit: int) -> PlaintextTooLargeError:
        """Build the exact AWS-style message for an over-long RSA plaintext."""
        return cls(
            f"Algorithm {algorithm} and key spec {key_spec} "
            f"cannot encrypt data larger than {limit} bytes."
        )


class InvalidDigestLengthError(CryptoError):
    """A DIGEST message does not have the hash length of the signing algorithm."""

    @classmethod
    def for_algorithm(cls, algorithm: str) -> InvalidDigestLengthError:
        """Build the exact AWS-style message for a digest of the wrong length."""
        return cls(f"Digest is invalid length for algorithm {algorithm}.")


class InvalidPublicKeyError(CryptoError):
    """A public key supplied from outside could not be parsed or has the wrong type."""
