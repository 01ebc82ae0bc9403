"""Which operations a key's state allows, with AWS's errors (kms-spec.md section 3.3)."""

from kmsconsole.errors import DisabledError, InvalidStateError

from .models import DISABLED, ENABLED, PENDING_DELETION, PENDING_IMPORT, Key

# Operation groups of the section 3.3 table. Each maps a refused state to its error.
USE = "use"                     # Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, Sign, Verify...
ENABLE_DISABLE = "enable_disable"
SCHEDULE_DELETION = "schedule_deletion"
MODIFY = "modify"               # CreateAlias, TagResource, UntagResource, UpdateKeyDescription
ALIAS_TARGET = "alias_target"   # the new target of CreateAlias / UpdateAlias


def _disabled(key: Key):
    return DisabledError(f"{key.arn} is disabled.")


def _pending_deletion(key: Key):
    return InvalidStateError(f"{key.arn} is pending deletion.")


def _pending_import(key: Key):
    return InvalidStateError(f"{key.arn} is pending import.")


REFUSED = {
    USE: {DISABLED: _disabled, PENDING_DELETION: _pending_deletion,
          PENDING_IMPORT: _pending_import},
    ENABLE_DISABLE: {PENDING_DELETION: _pending_deletion, PENDING_IMPORT: _pending_import},
    SCHEDULE_DELETION: {PENDING_DELETION: _pending_deletion},
    MODIFY: {PENDING_DELETION: _pending_deletion},
    ALIAS_TARGET: {PENDING_DELETION: _pending_deletion},
}


def require_state(key: Key, group: str) -> None:
    refusal = REFUSED[group].get(key.key_state)
    if refusal is not None:
        raise refusal(key)


def require_pending_deletion(key: Key) -> None:
    if key.key_state != PENDING_DELETION:
        raise InvalidStateError(f"{key.arn} is not pending deletion.")


def require_enabled(key: Key) -> None:
    if key.key_state != ENABLED:
        require_state(key, USE)
