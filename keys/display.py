"""How the console words key metadata: AWS's captions for states, usages, origins, key types.

The API speaks enum values (PendingDeletion, ENCRYPT_DECRYPT, AWS_KMS); the AWS console shows
words (Pending deletion, Encrypt and decrypt, AWS KMS). kms-spec.md section 8.1.
"""

STATUS_LABELS = {
    "Enabled": "Enabled",
    "Disabled": "Disabled",
    "PendingDeletion": "Pending deletion",
    "PendingImport": "Pending import",
    "PendingReplicaDeletion": "Pending replica deletion",
    "Unavailable": "Unavailable",
    "Creating": "Creating",
    "Updating": "Updating",
}
# Cloudscape StatusIndicator types (kms-spec.md 8.5: the mapping is a guess AWS does not state).
STATUS_INDICATORS = {
    "Enabled": "success",
    "Disabled": "stopped",
    "PendingDeletion": "pending",
    "PendingImport": "pending",
    "PendingReplicaDeletion": "pending",
    "Unavailable": "error",
    "Creating": "in-progress",
    "Updating": "in-progress",
}
USAGE_LABELS = {
    "ENCRYPT_DECRYPT": "Encrypt and decrypt",
    "SIGN_VERIFY": "Sign and verify",
    "GENERATE_VERIFY_MAC": "Generate and verify MAC",
    "KEY_AGREEMENT": "Key agreement",
    "ENCAPSULATE_DECAPSULATE": "Encapsulate and decapsulate",
}
ORIGIN_LABELS = {
    "AWS_KMS": "AWS KMS",
    "EXTERNAL": "External",
    "AWS_CLOUDHSM": "AWS CloudHSM",
    "EXTERNAL_KEY_STORE": "External key store",
}
KEY_TYPE_LABELS = {"SYMMETRIC": "Symmetric", "ASYMMETRIC": "Asymmetric"}


def status_label(state: str) -> str:
    return STATUS_LABELS.get(state, state)


def status_indicator(state: str) -> str:
    return STATUS_INDICATORS.get(state, "info")


def usage_label(usage: str) -> str:
    return USAGE_LABELS.get(usage, usage)


def origin_label(origin: str) -> str:
    return ORIGIN_LABELS.get(origin, origin)


def key_type(key_spec: str) -> str:
    """SYMMETRIC or ASYMMETRIC as the console shows it (HMAC keys are symmetric)."""
    if key_spec == "SYMMETRIC_DEFAULT" or key_spec.startswith("HMAC_"):
        return "SYMMETRIC"
    return "ASYMMETRIC"


def key_type_label(key_spec: str) -> str:
    return KEY_TYPE_LABELS[key_type(key_spec)]
