"""Reading the audit trail: the event history's search (CloudTrail's LookupEvents with the
console's extra filters), one event, the rows of an export, and a key's newest use.

Every read is scoped to one account (recipient_account_id): an account sees its own trail and
nothing else. Pages are keyset pages, newest first by id (by event time, then id, when a time
range is set: see _order): a page is "after the token's position" and the next LIMIT rows, so
page 20,000 costs what page 1 costs, and no total is ever counted.

Why each filter is an equality (or a plain substring match) on one column: each such column has
an index together with -id (audit/models.py), so "the newest 50 with event_name = X" is read
from the start of one index, whatever the size of the trail. The free-text filter is
`search_text LIKE '%term%'` on the lower-cased text record() stored, which PostgreSQL answers
with the trigram index (`icontains` would compare UPPER(...) and miss it).
"""

import datetime
import re
import uuid
from dataclasses import dataclass

from django.core import signing

from keys.selectors import ALIAS_ARN, KEY_ARN, key_resolve
from kmsconsole.errors import ClientError, NotFoundError

from .models import AuditEvent

# An IAM role's ARN (with or without a path): the role acts only through its sessions, whose
# records carry arn:aws:sts::<account>:assumed-role/<name>/<session>.
ROLE_ARN = re.compile(r"arn:aws:iam::(?P<account>\d{12}):role/(?:[^/]+/)*(?P<name>[^/]+)")

PAGE_SIZE = 50
ACCESS_DENIED = "AccessDeniedException"
# A refusal as each service records it: KMS's AccessDeniedException, IAM's and STS's
# AccessDenied (kmsconsole.errors.recorded_error_code). "Denied only" and the alerts count both.
DENIED_CODES = (ACCESS_DENIED, "AccessDenied")
# The columns the event history table shows (the others stay in the database).
LISTED_FIELDS = ("id", "event_id", "event_time", "event_name", "event_source", "user_name",
                 "resources", "error_code")

CRYPTOGRAPHIC_OPERATIONS = [
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "Sign", "Verify",
    "GenerateMac", "VerifyMac", "DeriveSharedSecret",
]


# CloudTrail's own errors for a lookup it cannot run (LookupEvents' documented exceptions).

class InvalidLookupAttributesError(ClientError):
    code = "InvalidLookupAttributesException"


class InvalidTimeRangeError(ClientError):
    code = "InvalidTimeRangeException"


class InvalidNextTokenError(ClientError):
    code = "InvalidNextTokenException"


@dataclass(frozen=True)
class EventFilter:
    """What the event history is filtered by; every filter set must match ("and").

    Empty strings and None filter nothing. `user` is a user name, or a principal ARN when it
    starts with "arn:" (a role's ARN stands for every session of the role); `key` is a key id,
    key ARN, alias name or alias ARN (resolved by `lookup_key_id`); `denied_only` keeps the
    requests refused (DENIED_CODES); `text` is matched anywhere in the record's
    searchable text, ignoring case.
    """

    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    event_name: str = ""
    user: str = ""
    key: str = ""
    access_key_id: str = ""
    read_only: bool | None = None
    error_code: str = ""
    denied_only: bool = False
    source_ip: str = ""
    text: str = ""

    def lookup_attributes(self) -> list[dict]:
        """The filters as CloudTrail lookup attributes (how a LookupEvents event records them);
        CloudTrail's own attribute keys where it has one, the same style for the others. The
        time range is startTime/endTime and the free text additionalEventData (audit.history)."""
        user_key = "PrincipalArn" if self.user.startswith("arn:") else "Username"
        pairs = [
            ("EventName", self.event_name), (user_key, self.user), ("ResourceName", self.key),
            ("AccessKeyId", self.access_key_id),
            ("ReadOnly", "" if self.read_only is None else str(self.read_only).lower()),
            ("ErrorCode", self.error_code),
            ("ErrorCode", ACCESS_DENIED if self.denied_only else ""),
            ("SourceIPAddress", self.source_ip),
        ]
        return [{"attributeKey": key, "attributeValue": value} for key, value in pairs if value]


@dataclass
class EventPage:
    """One page of events, newest first, and the token of the next page (None on the last)."""

    events: list[AuditEvent]
    next_token: str | None
    first: bool


def _parse_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def lookup_key_id(*, account_id: str, region: str, key: str) -> str:
    """The key id a key filter names, as events store it (AuditEvent.key_id).

    A key id or key ARN names its key directly, even one deleted since: its events outlive it.
    An alias (name or ARN) names the key it points to now, in the caller's account and region
    only; another account's alias is not looked up. Threat: probing which aliases another
    account has by the answer's wording.
    """
    match = KEY_ARN.fullmatch(key)
    key_id = _parse_uuid(match["key_id"] if match else key)
    if key_id:
        return key_id
    match = ALIAS_ARN.fullmatch(key)
    alias_name = match["alias"] if match else key
    if not alias_name.startswith("alias/"):
        raise InvalidLookupAttributesError(
            "Enter a key ID, a key ARN, an alias name (alias/...) or an alias ARN.")
    not_found = InvalidLookupAttributesError(
        f"There is no alias {alias_name} in this account in {region}.")
    if match and (match["account"] != account_id or match["region"] != region):
        raise not_found
    try:
        return str(key_resolve(account_id=account_id, region=region, key_id=alias_name).id)
    except NotFoundError:
        raise not_found from None


def events_matching(*, account_id: str, region: str, event_filter: EventFilter):
    """The account's events that match every filter set, newest first (a lazy QuerySet)."""
    f = event_filter
    events = AuditEvent.objects.filter(recipient_account_id=account_id)
    if f.start is not None:
        events = events.filter(event_time__gte=f.start)
    if f.end is not None:
        events = events.filter(event_time__lte=f.end)
    if f.event_name:
        events = events.filter(event_name=f.event_name)
    if f.user:
        events = _by_principal(events, f.user)
    if f.key:
        events = events.filter(key_id=lookup_key_id(account_id=account_id, region=region,
                                                    key=f.key))
    if f.access_key_id:
        events = events.filter(access_key_id=f.access_key_id)
    if f.read_only is not None:
        events = events.filter(read_only=f.read_only)
    if f.error_code:
        events = events.filter(error_code=f.error_code)
    if f.denied_only:
        events = events.filter(error_code__in=DENIED_CODES)
    if f.source_ip:
        events = events.filter(source_ip_address=f.source_ip)
    if f.text:
        events = events.filter(search_text__contains=f.text.lower())
    return events.order_by(*_order(f))


def _by_principal(events, user: str):
    """Events of a user name, a principal ARN, or a role's sessions for a role ARN.

    A role's sessions record the role's name as their user name (sessionIssuer.userName), so
    the user_name index finds them; the ARN prefix keeps out an IAM user of the same name and
    another account's role of that name.
    """
    role = ROLE_ARN.fullmatch(user)
    if role:
        sessions = f"arn:aws:sts::{role['account']}:assumed-role/{role['name']}/"
        return events.filter(user_name=role["name"], principal_arn__startswith=sessions)
    if user.startswith("arn:"):
        return events.filter(principal_arn=user)
    return events.filter(user_name=user)


def _by_time(event_filter: EventFilter) -> bool:
    return event_filter.start is not None or event_filter.end is not None


def _order(event_filter: EventFilter) -> tuple[str, ...]:
    """Newest first: by id, or with a time range by event_time (then id).

    Why two orders: with a time range, PostgreSQL answers "ORDER BY id DESC LIMIT 51" by
    walking the primary key backwards from the newest event and filtering on the time, as if
    the range's events were spread evenly; for a range weeks in the past it first walks through
    every newer event (0.7 s at a million). Ordered by time, it starts at the range's end in
    the event_time index. Ids and times agree except for events written at nearly the same
    moment (record() stamps the time, then waits for the chain's lock); the id breaks ties.
    """
    return ("-event_time", "-id") if _by_time(event_filter) else ("-id",)


def _token_signer(account_id: str) -> signing.Signer:
    # Salted per account: a token is an opaque, unforgeable position in this account's trail.
    return signing.Signer(salt=f"audit-events:{account_id}")


def _token(account_id: str, event: AuditEvent) -> str:
    """The position after `event`: its id and its time (for pages ordered by time)."""
    return _token_signer(account_id).sign(f"{event.id}/{event.event_time.isoformat()}")


def _after(events, event_filter: EventFilter, account_id: str, token: str):
    """`events` after the position `token`, in the page's order."""
    try:
        position, moment = _token_signer(account_id).unsign(token).split("/", 1)
        position, moment = int(position), datetime.datetime.fromisoformat(moment)
    except (signing.BadSignature, ValueError):
        raise InvalidNextTokenError("The next page token is not valid.") from None
    if not _by_time(event_filter):
        return events.filter(id__lt=position)
    # (event_time, id) < (moment, position), written so that the event_time index bounds it.
    return (events.filter(event_time__lte=moment)
            .exclude(event_time=moment, id__gte=position))


def event_page(*, account_id: str, region: str, event_filter: EventFilter,
               after: str | None = None, limit: int = PAGE_SIZE) -> EventPage:
    """A page of the events matching `event_filter`, newest first, after the token `after`."""
    events = events_matching(account_id=account_id, region=region, event_filter=event_filter)
    if after:
        events = _after(events, event_filter, account_id, after)
    rows = list(events.only(*LISTED_FIELDS)[: limit + 1])
    next_token = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_token = _token(account_id, rows[-1])
    return EventPage(events=rows, next_token=next_token, first=not after)


def event_in_account(*, account_id: str, event_id: str) -> AuditEvent:
    """The event with CloudTrail eventID `event_id`; NotFoundError unless it is the account's
    (another account's event is as unknown as one that never existed)."""
    parsed = _parse_uuid(event_id)
    event = (AuditEvent.objects.filter(recipient_account_id=account_id, event_id=parsed).first()
             if parsed else None)
    if event is None:
        raise NotFoundError(f"Event {event_id} does not exist.")
    return event


def last_cryptographic_use(*, key_id: str) -> AuditEvent | None:
    """The newest successful cryptographic operation on the key (GetKeyLastUsage)."""
    return (AuditEvent.objects
            .filter(key_id=key_id, event_name__in=CRYPTOGRAPHIC_OPERATIONS, error_code="")
            .order_by("-id").first())
