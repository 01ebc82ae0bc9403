"""The first steps of every key service: find the key, name it in the audit event, authorize."""

from grants.authorization import authorize
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


def authorize_key(caller: Caller, action: str, key: Key, *, context: dict | None = None,
                  encryption_context: dict | None = None):
    """Authorize `action` on `key` (key policy, identity policies, grants); the Decision."""
    return authorize(caller, action, key=key, context=context,
                     encryption_context=encryption_context)


def open_key(op, caller: Caller, key_id: str, action: str, *, allow_alias=True,
             context: dict | None = None, encryption_context: dict | None = None) -> Key:
    """Resolve `key_id`, add the key to the audit event, authorize `action` on it.

    `context` and `encryption_context` are the operation's condition keys (see authorize());
    kms:RequestAlias is added here when the request named the key by an alias.
    """
    key = resolve_key(caller, key_id, allow_alias=allow_alias)
    op.add_key(key)
    alias = request_alias(key_id)
    if alias:
        context = {**(context or {}), "kms:RequestAlias": alias}
    authorize_key(caller, action, key, context=context, encryption_context=encryption_context)
    return key


def request_alias(key_id: str) -> str | None:
    """The alias name a KeyId names (alias/x or an alias ARN), for kms:RequestAlias."""
    if key_id.startswith("alias/"):
        return key_id
    if key_id.startswith("arn:") and ":alias/" in key_id:
        return key_id[key_id.index(":alias/") + 1:]
    return None


def locked(key: Key) -> Key:
    """Re-read the key under a row lock so that concurrent state changes serialise."""
    return Key.objects.select_for_update().get(pk=key.pk)
