"""Reading keys: resolve a KeyId in any of its forms, list keys and aliases a page at a time.

KeyId forms (kms-spec.md 1.6): key id, key ARN, alias name, alias ARN. Management operations
accept only the first two. Lookups are always partitioned by region: a key of another region is
invisible, exactly as in AWS.
"""

import re
import uuid

from django.core import signing

from kmsconsole.errors import InvalidArnError, InvalidMarkerError, NotFoundError

from .models import Alias, Key

KEY_ARN = re.compile(
    r"arn:aws:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/(?P<key_id>[^/]+)")
ALIAS_ARN = re.compile(
    r"arn:aws:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<alias>alias/.+)")


def _parse_uuid(value: str) -> uuid.UUID | None:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed if str(parsed) == value.lower() else None


def _key_in(account_id: str, region: str, key_id: uuid.UUID, shown: str) -> Key:
    key = Key.objects.filter(id=key_id, account_id=account_id, region=region).first()
    if key is None:
        raise NotFoundError(f"Key '{shown}' does not exist")
    return key


def _alias_target(account_id: str, region: str, alias_name: str) -> Key:
    alias = (Alias.objects.select_related("target_key")
             .filter(account_id=account_id, region=region, name=alias_name).first())
    if alias is None or alias.target_key is None:
        raise NotFoundError(
            f"Alias arn:aws:kms:{region}:{account_id}:{alias_name} is not found.")
    return alias.target_key


def key_resolve(*, account_id: str, region: str, key_id: str, allow_alias: bool = True) -> Key:
    """The key `key_id` names as seen from (account, region); NotFoundError/InvalidArnError."""
    if key_id.startswith("arn:"):
        return _resolve_arn(account_id, region, key_id, allow_alias)
    if key_id.startswith("alias/"):
        if not allow_alias:
            raise NotFoundError(f"Invalid keyId '{key_id}'")
        return _alias_target(account_id, region, key_id)
    parsed = _parse_uuid(key_id)
    if parsed is None:
        raise NotFoundError(f"Invalid keyId '{key_id}'")
    return _key_in(account_id, region, parsed,
                   f"arn:aws:kms:{region}:{account_id}:key/{parsed}")


def _resolve_arn(account_id: str, region: str, arn: str, allow_alias: bool) -> Key:
    match = KEY_ARN.fullmatch(arn)
    if match:
        if match["region"] != region:
            raise NotFoundError(f"Invalid arn {match['region']}")
        parsed = _parse_uuid(match["key_id"])
        if parsed is None:
            raise NotFoundError(f"Invalid keyId '{arn}'")
        # Another account's key by ARN: found here, the authorization decides.
        return _key_in(match["account"], region, parsed, arn)
    match = ALIAS_ARN.fullmatch(arn)
    if match and allow_alias:
        if match["region"] != region:
            raise NotFoundError(f"Invalid arn {match['region']}")
        return _alias_target(match["account"], region, match["alias"])
    if match:
        raise NotFoundError(f"Invalid keyId '{arn}'")
    raise InvalidArnError(f"Invalid arn {arn}")


def key_ring(*, key: Key) -> dict[int, bytes]:
    """Wrapped material of every version of `key`, by version."""
    return {m.version: bytes(m.wrapped) for m in key.materials.all()}


def paginate(queryset, *, listing: str, order_field: str, limit: int, marker: str | None):
    """Keyset pagination: rows after `marker`, `limit` at a time, ordered by `order_field`.

    Returns (rows, next_marker); next_marker is None on the last page. A marker is the last row's
    sort value signed for this `listing` (Django's signing, keyed by SECRET_KEY), so clients see
    an opaque token as with AWS, and a marker we did not issue for this listing is refused instead
    of silently restarting or skipping rows.
    """
    signer = signing.Signer(salt=f"kms-marker:{listing}")
    if marker is not None:
        queryset = queryset.filter(**{f"{order_field}__gt": _decode_marker(signer, marker)})
    rows = list(queryset.order_by(order_field)[: limit + 1])
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, signer.sign_object(str(getattr(rows[-1], order_field)))
    return rows, None


def _decode_marker(signer: signing.Signer, marker: str) -> str:
    try:
        value = signer.unsign_object(marker)
    except (signing.BadSignature, ValueError, UnicodeError):
        raise InvalidMarkerError("The marker is not valid.") from None
    if not isinstance(value, str):
        raise InvalidMarkerError("The marker is not valid.")
    return value


def key_list(*, account_id: str, region: str, limit: int, marker: str | None):
    keys = Key.objects.filter(account_id=account_id, region=region)
    return paginate(keys, listing=f"keys:{account_id}:{region}", order_field="id", limit=limit,
                    marker=marker)


def alias_list(*, account_id: str, region: str, key: Key | None, limit: int, marker: str | None):
    aliases = Alias.objects.filter(account_id=account_id, region=region)
    if key is not None:
        aliases = aliases.filter(target_key=key)
    return paginate(aliases, listing=f"aliases:{account_id}:{region}:{key.id if key else ''}",
                    order_field="name", limit=limit, marker=marker)
