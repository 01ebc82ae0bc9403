"""The first steps of every key service: find the key, name it in the audit event, authorize."""

from grants import authorize
from grants.principals import Caller

from . import selectors
from .models import Key


def resolve_key(caller: Caller, key_id: str, *, allow_alias: bool = True) -> Key:
    return selectors.key_resolve(account_id=caller.account_id, region=caller.region,
                                 key_id=key_id, allow_alias=allow_alias)


def authorize_key(caller: Caller, action: str, key: Key) -> None:
    authorize(caller, action, resource_arn=key.arn, resource_account_id=key.account_id)


def open_key(op, caller: Caller, key_id: str, action: str, *, allow_alias=True) -> Key:
    """Resolve `key_id`, add the key to the audit event, authorize `action` on it."""
    key = resolve_key(caller, key_id, allow_alias=allow_alias)
    op.add_key(key)
    authorize_key(caller, action, key)
    return key


def locked(key: Key) -> Key:
    """Re-read the key under a row lock so that concurrent state changes serialise."""
    return Key.objects.select_for_update().get(pk=key.pk)
