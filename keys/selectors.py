"""Reading keys: resolve a KeyId in any of its forms, list keys and aliases a page at a time.

KeyId forms (kms-spec.md 1.6): key id, key ARN, alias name, alias ARN. Management operations
accept only the first two. Lookups are always partitioned by region: a key of another region is
invisible, exactly as in AWS.
"""

import re
import uuid
from dataclasses import dataclass, field

from django.core import signing
from django.db.models import Case, Exists, F, OuterRef, Prefetch, Q, Subquery, Value, When

from kmsconsole.errors import InvalidArnError, InvalidMarkerError, NotFoundError

from .models import Alias, Key, Tag

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


# --- console listing ------------------------------------------------------------------------

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
# Sortable columns of the key tables: column name -> what it sorts by.
KEY_SORTS = {
    "alias": "first_alias",
    "key_id": "id",
    "status": "key_state",
    "key_type": "key_type_label",
    "key_spec": "key_spec",
    "key_usage": "key_usage",
    "created": "created_at",
    "origin": "origin",
}
DEFAULT_KEY_SORT = "created"
# The console calls HMAC keys symmetric (they are: one secret both sides share).
SYMMETRIC_KEYS = Q(key_spec="SYMMETRIC_DEFAULT") | Q(key_spec__startswith="HMAC_")


@dataclass(frozen=True)
class KeyFilter:
    """What a key table is filtered by; empty strings filter nothing. Matching is
    case-insensitive and by substring for alias and key id, exact for the others; `tag` is
    "key=value" (that tag with that value) or "key" (any value). The filters set combine with
    "and" unless `match_any` ("or")."""

    alias: str = ""
    key_id: str = ""
    key_type: str = ""  # "SYMMETRIC" | "ASYMMETRIC"
    key_spec: str = ""
    status: str = ""
    tag: str = ""
    match_any: bool = False

    @property
    def is_set(self) -> bool:
        return any((self.alias, self.key_id, self.key_type, self.key_spec, self.status,
                    self.tag))


@dataclass
class KeyPage:
    """One page of a key table: its keys (aliases prefetched, by name) and where it stands."""

    keys: list[Key]
    count: int
    number: int
    page_size: int
    sort: str
    descending: bool
    num_pages: int = field(init=False)

    def __post_init__(self):
        self.num_pages = max(1, -(-self.count // self.page_size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def first_index(self) -> int:
        return (self.number - 1) * self.page_size + 1 if self.count else 0

    @property
    def last_index(self) -> int:
        return min(self.number * self.page_size, self.count)


def _filter_conditions(f: KeyFilter) -> list[Q]:
    """One condition per filter the user set."""
    conditions = []
    if f.alias:
        conditions.append(Q(Exists(Alias.objects.filter(
            target_key=OuterRef("pk"), name__icontains=f.alias))))
    if f.key_id:
        conditions.append(Q(id__icontains=f.key_id.strip()))
    if f.key_type == "SYMMETRIC":
        conditions.append(SYMMETRIC_KEYS)
    elif f.key_type == "ASYMMETRIC":
        conditions.append(~SYMMETRIC_KEYS)
    if f.key_spec:
        conditions.append(Q(key_spec=f.key_spec))
    if f.status:
        conditions.append(Q(key_state=f.status))
    if f.tag:
        tag_key, has_value, tag_value = f.tag.partition("=")
        tags = Tag.objects.filter(key=OuterRef("pk"), tag_key=tag_key.strip())
        if has_value:
            tags = tags.filter(tag_value=tag_value.strip())
        conditions.append(Q(Exists(tags)))
    return conditions


def _filtered_keys(queryset, f: KeyFilter):
    """The keys matching all the filters set ("and"), or any of them ("or"), as the AWS
    console's property filter combines its tokens."""
    conditions = _filter_conditions(f)
    if not conditions:
        return queryset
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = (combined | condition) if f.match_any else (combined & condition)
    return queryset.filter(combined)


def _sorted_keys(queryset, sort: str, descending: bool):
    if sort == "alias":
        queryset = queryset.annotate(first_alias=Subquery(
            Alias.objects.filter(target_key=OuterRef("pk")).order_by("name").values("name")[:1]))
    elif sort == "key_type":
        queryset = queryset.annotate(key_type_label=Case(
            When(SYMMETRIC_KEYS, then=Value("Symmetric")), default=Value("Asymmetric")))
    column = F(KEY_SORTS[sort])
    # Keys without an alias sort last either way, as blanks do in the AWS console; the key id
    # breaks ties so pages never overlap or skip a key.
    order = column.desc(nulls_last=True) if descending else column.asc(nulls_last=True)
    return queryset.order_by(order, "id")


def key_page(*, account_id: str, region: str, key_manager: str, key_filter: KeyFilter,
             sort: str = DEFAULT_KEY_SORT, descending: bool = False, page: int = 1,
             page_size: int = DEFAULT_PAGE_SIZE) -> KeyPage:
    """A page of the account's keys in `region` managed by `key_manager` (CUSTOMER or AWS).

    Three queries whatever the number of keys (count, the page, its aliases): the console
    lists thousands of keys. An out-of-range page number shows the nearest page."""
    sort = sort if sort in KEY_SORTS else DEFAULT_KEY_SORT
    page_size = page_size if page_size in PAGE_SIZES else DEFAULT_PAGE_SIZE
    keys = _filtered_keys(Key.objects.filter(account_id=account_id, region=region,
                                             key_manager=key_manager), key_filter)
    count = keys.count()
    number = min(max(1, page), max(1, -(-count // page_size)))
    offset = (number - 1) * page_size
    rows = list(_sorted_keys(keys, sort, descending)
                .prefetch_related(Prefetch("aliases", queryset=Alias.objects.order_by("name")))
                [offset:offset + page_size]) if count else []
    return KeyPage(keys=rows, count=count, number=number, page_size=page_size, sort=sort,
                   descending=descending)
