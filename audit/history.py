"""Event history services: reading the audit trail through the one door.

Reading the trail is AWS CloudTrail's LookupEvents, so each read here is authorized as
"cloudtrail:LookupEvents" on the account's trails (an IAM identity policy must allow it:
AdministratorAccess does, a key policy cannot) and recorded as one LookupEvents event from
cloudtrail.amazonaws.com, whose requestParameters hold the lookup attributes, the time range and
maxResults the way CloudTrail logs them. A page, an event's detail, a download and the key
detail page's Audit tab (its events and its usage graph together) are one lookup each.
Who read the trail is therefore in the trail too.
"""

import csv
import datetime
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from django.db import transaction

from audit.recording import operation
from grants.authorization import authorize
from grants.principals import Caller
from kmsconsole.errors import ValidationError

from . import selectors, usage
from .models import AuditEvent
from .selectors import PAGE_SIZE, EventFilter, EventPage

CLOUDTRAIL = "cloudtrail.amazonaws.com"
LOOKUP_ACTION = "cloudtrail:LookupEvents"

# The download's columns, those of the CloudTrail console's CSV download.
CSV_COLUMNS = ["Event ID", "Event time", "User name", "Event name", "Event source",
               "Resource type", "Resource name", "AWS access key", "AWS region",
               "Source IP address", "Error code", "Read-only", "Request ID"]
EXPORT_FORMATS = ("jsonl", "csv")
# Rows read per database round trip (a server-side cursor on PostgreSQL), and rows per chunk
# written to the response: memory stays flat whatever the number of events.
EXPORT_FETCH_SIZE = 2000
EXPORT_ROWS_PER_CHUNK = 500
# A spreadsheet treats a cell starting with one of these as a formula (CSV injection); tab and
# carriage return too, as OWASP notes.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class KeyActivity:
    """The key detail page's Audit tab: a page of the key's events and its usage graph."""

    page: EventPage
    usage: usage.KeyUsage


def _authorize_lookup(caller: Caller) -> None:
    authorize(caller, LOOKUP_ACTION, resource_account_id=caller.account_id,
              resource_arn=f"arn:aws:cloudtrail:{caller.region}:{caller.account_id}:trail/*")


def cloudtrail_date(moment: datetime.datetime) -> str:
    """A date as CloudTrail writes dates in requestParameters: "Nov 29, 2026, 5:07:09 AM"."""
    moment = moment.astimezone(datetime.UTC)
    hour = moment.hour % 12 or 12
    return f"{moment:%b} {moment.day}, {moment.year}, {hour}:{moment:%M:%S %p}"


def lookup_parameters(event_filter: EventFilter, *, max_results: int | None) -> dict:
    """LookupEvents' requestParameters for a lookup with `event_filter`."""
    parameters: dict = {"lookupAttributes": event_filter.lookup_attributes()}
    if event_filter.start is not None:
        parameters["startTime"] = cloudtrail_date(event_filter.start)
    if event_filter.end is not None:
        parameters["endTime"] = cloudtrail_date(event_filter.end)
    if max_results is not None:
        parameters["maxResults"] = max_results
    return parameters


@contextmanager
def _lookup(caller: Caller, event_filter: EventFilter, *, max_results: int | None,
            **event_data):
    """One LookupEvents through the one door: authorized, then the body runs, and it is
    recorded as one event. The free text searched goes to additionalEventData rather than
    requestParameters: the free-text filter matches request parameters, so every search would
    otherwise find all the earlier searches for the same words."""
    with operation(caller, "LookupEvents", read_only=True, event_source=CLOUDTRAIL,
                   request_parameters=lookup_parameters(event_filter,
                                                        max_results=max_results)) as op:
        if event_filter.text:
            event_data["searchText"] = event_filter.text
        op.additional_event_data = event_data or None
        _authorize_lookup(caller)
        yield op


def event_search(*, caller: Caller, event_filter: EventFilter, after: str | None = None,
                 limit: int = PAGE_SIZE) -> EventPage:
    """A page of the caller's account's events matching `event_filter`, newest first.
    AccessDeniedError unless cloudtrail:LookupEvents is allowed; an alias that names no key
    (InvalidLookupAttributesException) or a forged token (InvalidNextTokenException) fail."""
    with _lookup(caller, event_filter, max_results=limit):
        return selectors.event_page(account_id=caller.account_id, region=caller.region,
                                    event_filter=event_filter, after=after, limit=limit)


def event_get(*, caller: Caller, event_id: str) -> AuditEvent:
    """One event of the caller's account by its eventID (a lookup by EventId, as CloudTrail's
    console does to show an event); another account's event is NotFound."""
    parameters = {"lookupAttributes": [{"attributeKey": "EventId",
                                        "attributeValue": event_id[:64]}],
                  "maxResults": 1}
    with operation(caller, "LookupEvents", read_only=True, event_source=CLOUDTRAIL,
                   request_parameters=parameters):
        _authorize_lookup(caller)
        return selectors.event_in_account(account_id=caller.account_id, event_id=event_id)


def key_events_search(*, caller: Caller, key_id: str, event_filter: EventFilter,
                      after: str | None = None, limit: int = PAGE_SIZE) -> KeyActivity:
    """The Audit tab of key `key_id`: its events (the filter, scoped to the key) and its
    requests per day by operation for the last 30 days; one lookup, one decision."""
    scoped = replace(event_filter, key=key_id)
    with _lookup(caller, scoped, max_results=limit):
        page = selectors.event_page(account_id=caller.account_id, region=caller.region,
                                    event_filter=scoped, after=after, limit=limit)
        graph = usage.key_usage(account_id=caller.account_id, key_id=key_id)
        return KeyActivity(page=page, usage=graph)


def events_export(*, caller: Caller, event_filter: EventFilter, fmt: str) -> Iterator[str]:
    """Every event matching `event_filter`, newest first, as JSON Lines ("jsonl": one
    CloudTrail record a line) or CSV ("csv"), in chunks of text to stream.

    The download is one LookupEvents event (additionalEventData names the format), recorded
    when the download starts; the rows are read afterwards, while the response streams, a few
    thousand at a time."""
    with _lookup(caller, event_filter, max_results=None, downloadFormat=fmt):
        if fmt not in EXPORT_FORMATS:
            raise ValidationError("The download format must be jsonl or csv.")
        events = selectors.events_matching(account_id=caller.account_id, region=caller.region,
                                           event_filter=event_filter).defer("search_text")
    lines = _jsonl_lines(events) if fmt == "jsonl" else _csv_lines(events)
    return _chunks(lines)


def _rows(events) -> Iterator[AuditEvent]:
    # One transaction (it only reads) for as long as the download streams: inside one,
    # PostgreSQL's server-side cursor hands out rows as it reads them. Outside one (autocommit)
    # Django declares the cursor WITH HOLD, and PostgreSQL computes the whole result before the
    # first row leaves (17 s for a million events). If the client goes away, closing the
    # response closes this generator and the transaction ends.
    with transaction.atomic():
        yield from events.iterator(chunk_size=EXPORT_FETCH_SIZE)


def _jsonl_lines(events) -> Iterator[str]:
    for event in _rows(events):
        yield json.dumps(event.as_record(), separators=(",", ":")) + "\n"


class _Line:
    """A file-like object whose write() returns the line, for csv.writer without a buffer."""

    def write(self, text: str) -> str:
        return text


def neutralize(cell: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a quote first."""
    return f"'{cell}" if cell.startswith(FORMULA_PREFIXES) else cell


def csv_cells(event: AuditEvent) -> list[str]:
    """The CSV download's cells of one event (CSV_COLUMNS), not yet neutralized."""
    resources = event.resources or []
    return [
        str(event.event_id),
        event.event_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        event.user_name,
        event.event_name,
        event.event_source,
        ", ".join(resource.get("type", "") for resource in resources),
        ", ".join(resource.get("ARN", "") for resource in resources),
        event.access_key_id,
        event.aws_region,
        event.source_ip_address,
        event.error_code,
        "true" if event.read_only else "false",
        event.request_id,
    ]


def _csv_lines(events) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for event in _rows(events):
        yield writer.writerow([neutralize(cell) for cell in csv_cells(event)])


def _chunks(lines: Iterable[str]) -> Iterator[str]:
    """Lines joined a few hundred at a time: one write to the client per chunk, not per row."""
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= EXPORT_ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)
