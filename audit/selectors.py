"""Reading the audit trail."""

from .models import AuditEvent

CRYPTOGRAPHIC_OPERATIONS = [
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "Sign", "Verify",
    "GenerateMac", "VerifyMac", "DeriveSharedSecret",
]


def last_cryptographic_use(*, key_id: str) -> AuditEvent | None:
    """The newest successful cryptographic operation on the key (GetKeyLastUsage)."""
    return (AuditEvent.objects
            .filter(key_id=key_id, event_name__in=CRYPTOGRAPHIC_OPERATIONS, error_code="")
            .order_by("-id").first())
