"""The first steps of every key service: find the key, name it in the audit event, authorize."""

from grants import authorize
from grants.principals import Caller
from kmsconsole.errors import NotFoundError

from . import selectors
from .managed import ensure_managed_key
from .models import Key


def resolve_key(caller: Caller, key_id: str, *, allow_alias: bool = True) -> Key:
    try:
        return selectors.key_resolve(account_id=caller.account_id, region=caller.region,
                                     key_id=key_id, allow_alias=allow_alias)
    except NotFoundError:
        # alias/aws/<service> names an AWS managed key that AWS creates on first use.
        alias_name = _own_alias_name(caller, key_id) if allow_alias else None
        key = alias_name and ensure_managed_key(account_id=caller.account_id,
                                                region=caller.region, alias_name=alias_name)
        if not key:
            raise
        return key


def _own_alias_name(caller: Caller, key_id: str) -> str | None:
    """The alias name `key_id` names in the caller's own account and region, if it is one."""
    if key_id.startswith("alias/"):
        return key_id
    prefix = f"arn:aws:kms:{caller.region}:{caller.account_id}:"
    if key_id.startswith(prefix + "alias/"):
        return key_id[len(prefix):]
    return None


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
