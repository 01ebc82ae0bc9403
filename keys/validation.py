"""Semantic checks services make, in AWS's ValidationException wording (kms-spec 1.4, 3.4, 3.5).

The API layer validates request shapes against the botocore model before a service runs; these
checks are what the service itself must guarantee for every caller (console included).
"""

import re

from grants.policy.document import Policy, parse_policy_cached
from grants.policy.errors import PolicyError, PolicyTooLargeError
from kmsconsole.errors import (
    LimitExceededError,
    MalformedPolicyDocumentError,
    NotAuthorizedError,
    TagError,
    ValidationError,
)

ALIAS_PATTERN = re.compile(r"[a-zA-Z0-9:/_-]+")
POLICY_CHARS = re.compile(r"[\u0009\u000A\u000D\u0020-\u00FF]+")
MAX_TAGS_PER_KEY = 50
MAX_POLICY_BYTES = 32768
MAX_DESCRIPTION = 8192
MAX_ENCRYPTION_CONTEXT_BYTES = 8192


def constraint_message(path: str, value, rule: str, *, sensitive: bool = False) -> str:
    """AWS's model-constraint message: `1 validation error detected: Value 'v' at 'path' ...`."""
    if sensitive:
        shown = "Value"
    elif value is None:
        shown = "Value null"
    else:
        shown = f"Value '{value}'"
    return (f"1 validation error detected: {shown} at '{path}' failed to satisfy constraint: "
            f"Member must {rule}")


def require_range(path: str, value: int, low: int, high: int) -> None:
    if value < low:
        raise ValidationError(constraint_message(
            path, value, f"have value greater than or equal to {low}"))
    if value > high:
        raise ValidationError(constraint_message(
            path, value, f"have value less than or equal to {high}"))


def require_length(path: str, value, low: int, high: int, *, sensitive: bool = False) -> None:
    # Binary members (plaintexts, ciphertexts, signatures, MACs) are never echoed back.
    sensitive = sensitive or isinstance(value, (bytes, bytearray, memoryview))
    if len(value) < low:
        raise ValidationError(constraint_message(
            path, value, f"have length greater than or equal to {low}", sensitive=sensitive))
    if len(value) > high:
        raise ValidationError(constraint_message(
            path, value, f"have length less than or equal to {high}", sensitive=sensitive))


def require_enum(path: str, value, allowed) -> None:
    if value not in allowed:
        listed = ", ".join(allowed)
        raise ValidationError(constraint_message(
            path, value, f"satisfy enum value set: [{listed}]"))


def validate_alias_name(name: str, *, creating: bool) -> None:
    require_length("aliasName", name, 1, 256)
    if not ALIAS_PATTERN.fullmatch(name):
        raise ValidationError(constraint_message(
            "aliasName", name, "satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"))
    if not name.startswith("alias/") or name == "alias/":
        raise ValidationError('Alias must start with the prefix "alias/". Please see '
                              "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
    if creating and name.startswith("alias/aws/"):
        # Threat: a customer alias shadowing an AWS managed key's name.
        raise NotAuthorizedError(f"{name} is reserved for AWS managed keys.")


def validate_tags(tags: list[tuple[str, str]], *, existing_keys: set[str]) -> None:
    seen: set[str] = set()
    for index, (tag_key, tag_value) in enumerate(tags, start=1):
        require_length(f"tags.{index}.member.tagKey", tag_key, 1, 128)
        require_length(f"tags.{index}.member.tagValue", tag_value, 0, 256)
        if tag_key.lower().startswith("aws:"):
            raise TagError("Tags beginning with aws: are reserved")
        if tag_key in seen:
            raise TagError("Duplicate tag keys")
        seen.add(tag_key)
    if len(existing_keys | seen) > MAX_TAGS_PER_KEY:
        raise TagError("Too many tags")


def validate_description(description: str) -> None:
    require_length("description", description, 0, MAX_DESCRIPTION)


def validate_encryption_context(context: dict | None) -> None:
    if not context:
        return
    size = 0
    for name, value in context.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValidationError("Encryption context keys and values must be strings.")
        try:
            size += len(name.encode()) + len(value.encode())
        except UnicodeEncodeError:
            raise ValidationError("Encryption context keys and values must be valid Unicode "
                                  "text.") from None
    # AWS documents no limit; 8 KB keeps events and AAD bounded (see kms-spec.md 3.4).
    if size > MAX_ENCRYPTION_CONTEXT_BYTES:
        raise ValidationError(
            f"Encryption context must not exceed {MAX_ENCRYPTION_CONTEXT_BYTES} bytes.")


def validate_policy_text(policy: str) -> Policy:
    """A key policy as it may be stored: the model's characters and length, the 32 KB quota,
    and a document grants.policy accepts. Returns the parsed policy."""
    require_length("policy", policy, 1, 131072)
    if not POLICY_CHARS.fullmatch(policy):
        raise ValidationError(constraint_message(
            "policy", "...", "satisfy regular expression pattern: "
            "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"))
    if len(policy.encode("utf-8")) > MAX_POLICY_BYTES:
        raise LimitExceededError(
            f"The key policy exceeds the quota of {MAX_POLICY_BYTES} bytes.")
    try:
        return parse_policy_cached(policy, kind="key", max_size=MAX_POLICY_BYTES)
    except PolicyTooLargeError as error:
        raise LimitExceededError(error.message) from None
    except PolicyError as error:
        raise MalformedPolicyDocumentError(error.message) from None
