"""The event history's search (audit.history, audit.selectors, audit.forms): every filter alone
and combined, keyset pages newest first, scoping to the caller's account, aliases resolved to
their current key, invalid input refused with a message, and every read authorized as
cloudtrail:LookupEvents and recorded as one LookupEvents event."""

import csv
import datetime
import io
import json

import pytest
import time_machine
from django.utils import timezone

from api.handlers import HANDLERS
from audit import history
from audit.forms import EVENT_NAMES, EventFilterForm
from audit.models import AuditEvent
from audit.recording import Operation, record
from audit.selectors import (
    EventFilter,
    InvalidLookupAttributesError,
    InvalidNextTokenError,
)
from audit.usage import OTHER, key_usage
from grants import services as iam
from grants.builtin_policies import builtin_policy_arn
from grants.principals import Caller, Principal
from keys import services
from kmsconsole.errors import AccessDeniedError, NotFoundError, ValidationError
from tests.conftest import ACCOUNT_ID, OTHER_ACCOUNT_ID, REGION, caller_for, make_user

from .conftest import create_key, raises_kms

pytestmark = pytest.mark.django_db

ALICE_KEY = "AKIAALICE00000000001"


def user_caller(user, *, access_key_id=None, source_ip="192.0.2.10", user_agent="pytest"):
    return Caller(principal=Principal.for_user(user, access_key_id=access_key_id),
                  region=REGION, source_ip=source_ip, user_agent=user_agent)


def record_event(caller, name, *, key=None, read_only=True, error=None, params=None):
    """An event written by audit.recording.record, the one writer, as a service would."""
    op = Operation(caller, name, read_only, params)
    if key is not None:
        op.add_key(key)
    return record(op, error=error)


def search(caller, limit=50, after=None, **filters):
    return history.event_search(caller=caller, event_filter=EventFilter(**filters),
                                after=after, limit=limit)


def names_of(page) -> list[str]:
    return [event.event_name for event in page.events]


def ids_of(events) -> list[int]:
    return [event.id for event in events]


@pytest.fixture
def alice(account):
    user = make_user(account, "alice")
    iam.policy_attach_user(caller=Caller.scheduler(account_id=ACCOUNT_ID, region=REGION),
                           user=user, policy_arn=builtin_policy_arn("AdministratorAccess"))
    return user


@pytest.fixture
def world(caller, admin, alice, outsider):
    """A small trail: the admin's key and its alias, alice's calls from her own access key and
    address (one denied, one failed), and the outsider's events in another account."""
    key = create_key(caller, description="payments")
    services.alias_create(caller=caller, alias_name="alias/payments", target_key_id=str(key.id))
    other_key = create_key(caller, description="reports")
    alice_caller = user_caller(alice, access_key_id=ALICE_KEY, source_ip="198.51.100.7")
    events = {
        "encrypt": record_event(alice_caller, "Encrypt", key=key,
                                params={"keyId": "alias/payments",
                                        "encryptionContext": {"Department": "Finance"}}),
        "denied": record_event(alice_caller, "Decrypt", key=other_key,
                               error=AccessDeniedError("alice may not decrypt")),
        "failed": record_event(alice_caller, "DisableKey", key=key, read_only=False,
                               error=NotFoundError("no such key")),
        "outsider": record_event(caller_for(outsider), "Encrypt"),
    }
    return {"key": key, "other_key": other_key, "events": events, "alice_caller": alice_caller}


# --- scoping and order ---------------------------------------------------------------------

def test_search_lists_the_accounts_events_newest_first(caller, world):
    page = search(caller)
    assert ids_of(page.events) == sorted(ids_of(page.events), reverse=True)
    assert {event.recipient_account_id for event in page.events} == {ACCOUNT_ID}
    assert world["events"]["outsider"].id not in ids_of(page.events)
    assert page.next_token is None and page.first


def test_another_accounts_events_are_never_found(caller, world, outsider_caller):
    assert world["events"]["outsider"].id not in ids_of(search(caller, event_name="Encrypt").events)
    seen_by_outsider = search(outsider_caller)
    assert {e.recipient_account_id for e in seen_by_outsider.events} == {OTHER_ACCOUNT_ID}
    assert world["events"]["encrypt"].id not in ids_of(seen_by_outsider.events)
    # Not even by the other account's key id.
    by_key = search(outsider_caller, key=str(world["key"].id))
    assert by_key.events == []


# --- each filter alone ---------------------------------------------------------------------

@pytest.mark.parametrize("filters, expected", [
    ({"event_name": "Decrypt"}, ["Decrypt"]),
    ({"user": "alice"}, ["DisableKey", "Decrypt", "Encrypt"]),
    ({"user": f"arn:aws:iam::{ACCOUNT_ID}:user/alice"}, ["DisableKey", "Decrypt", "Encrypt"]),
    ({"access_key_id": ALICE_KEY}, ["DisableKey", "Decrypt", "Encrypt"]),
    ({"source_ip": "198.51.100.7"}, ["DisableKey", "Decrypt", "Encrypt"]),
    ({"error_code": "NotFoundException"}, ["DisableKey"]),
    ({"denied_only": True}, ["Decrypt"]),
    ({"text": "FINANCE"}, ["Encrypt"]),
    ({"text": "may not"}, ["Decrypt"]),
])
def test_each_filter_alone(caller, world, filters, expected):
    assert names_of(search(caller, **filters)) == expected


def test_read_only_true_and_false(caller, world):
    read = search(caller, read_only=True).events
    written = search(caller, read_only=False).events
    assert read and written
    assert all(event.read_only for event in read)
    assert not any(event.read_only for event in written)
    assert "DisableKey" in names_of(search(caller, read_only=False))
    assert "Encrypt" in names_of(search(caller, read_only=True))


@pytest.mark.parametrize("form", ["id", "arn", "alias", "alias_arn"])
def test_the_key_filter_takes_a_key_id_key_arn_alias_or_alias_arn(caller, world, form):
    key = world["key"]
    value = {"id": str(key.id), "arn": key.arn, "alias": "alias/payments",
             "alias_arn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/payments"}[form]
    assert names_of(search(caller, key=value)) == ["DisableKey", "Encrypt", "CreateAlias",
                                                   "CreateKey"]


def test_an_alias_names_the_key_it_points_to_now(caller, world):
    services.alias_update(caller=caller, alias_name="alias/payments",
                          target_key_id=str(world["other_key"].id))
    found = search(caller, key="alias/payments").events
    assert {event.key_id for event in found} == {str(world["other_key"].id)}
    assert "Decrypt" in [event.event_name for event in found]


def test_a_deleted_keys_events_are_found_by_its_id(caller, world):
    # The trail outlives the key: a key id is used as it is, without looking the key up.
    key_id = str(world["key"].id)
    world["key"].delete()
    assert "Encrypt" in names_of(search(caller, key=key_id))


def test_the_time_range_keeps_events_from_start_to_end(caller, alice):
    alice_caller = user_caller(alice)
    moments = [timezone.now() - datetime.timedelta(hours=hours) for hours in (30, 5, 2, 0)]
    for number, moment in enumerate(moments):
        with time_machine.travel(moment, tick=False):
            record_event(alice_caller, f"Event{number}")
    start, end = moments[1] - datetime.timedelta(minutes=1), moments[2]
    assert names_of(search(caller, user="alice", start=start, end=end)) == ["Event2", "Event1"]
    assert names_of(search(caller, user="alice", start=start)) == ["Event3", "Event2", "Event1"]
    assert names_of(search(caller, user="alice", end=end)) == ["Event2", "Event1", "Event0"]


def test_denied_only_finds_kms_iam_and_sts_refusals_each_with_its_services_code(caller, world,
                                                                                alice):
    alice_caller = world["alice_caller"]
    iam_refusal = Operation(alice_caller, "ListUsers", True, None, "iam.amazonaws.com")
    record(iam_refusal, error=AccessDeniedError("alice may not list users"))
    sts_refusal = Operation(alice_caller, "AssumeRole", True, None, "sts.amazonaws.com")
    record(sts_refusal, error=AccessDeniedError("alice may not assume it"))
    page = search(caller, denied_only=True)
    assert [(event.event_name, event.error_code) for event in page.events] == [
        ("AssumeRole", "AccessDenied"), ("ListUsers", "AccessDenied"),
        ("Decrypt", "AccessDeniedException")]


# --- combinations ------------------------------------------------------------------------------

def test_filters_combine_with_and(caller, world):
    assert names_of(search(caller, user="alice", event_name="Encrypt")) == ["Encrypt"]
    assert names_of(search(caller, user="admin", event_name="Decrypt")) == []
    assert names_of(search(caller, key="alias/payments", user="alice")) == [
        "DisableKey", "Encrypt"]
    assert names_of(search(caller, denied_only=True, error_code="NotFoundException")) == []
    assert names_of(search(caller, read_only=False, source_ip="198.51.100.7",
                           text="no such")) == ["DisableKey"]


# --- paging ----------------------------------------------------------------------------------

def test_pages_walk_every_event_once_newest_first(caller, alice):
    alice_caller = user_caller(alice)
    written = [record_event(alice_caller, "Encrypt").id for _ in range(23)]
    seen, after, pages = [], None, 0
    while True:
        page = search(caller, user="alice", limit=10, after=after)
        pages += 1
        seen += ids_of(page.events)
        assert page.first == (after is None)
        if page.next_token is None:
            break
        after = page.next_token
    assert pages == 3
    assert seen == sorted(written, reverse=True)


def test_pages_of_a_time_range_go_by_time_then_id_without_gaps(caller, alice):
    alice_caller = user_caller(alice)
    moment = timezone.now() - datetime.timedelta(days=3)
    written = []
    # Three instants, several events in each: the id orders events of the same instant.
    for offset in (0, 1, 2):
        with time_machine.travel(moment + datetime.timedelta(seconds=offset), tick=False):
            written += [record_event(alice_caller, f"Event{offset}") for _ in range(4)]
    seen, after = [], None
    while True:
        page = search(caller, user="alice", limit=5, after=after,
                      start=moment, end=moment + datetime.timedelta(seconds=2))
        seen += page.events
        after = page.next_token
        if after is None:
            break
    expected = sorted(written, key=lambda e: (e.event_time, e.id), reverse=True)
    assert ids_of(seen) == ids_of(expected)
    assert [e.event_name for e in seen[:4]] == ["Event2"] * 4


def test_a_forged_or_foreign_next_token_is_refused(caller, alice, outsider_caller):
    for _ in range(3):
        record_event(user_caller(alice), "Encrypt")
    token = search(caller, limit=1).next_token
    assert token
    with raises_kms(InvalidNextTokenError):
        search(caller, after=token.replace(":", ":x", 1))
    with raises_kms(InvalidNextTokenError):
        search(caller, after="12345")
    # A token is a position in one account's trail only.
    with raises_kms(InvalidNextTokenError):
        search(outsider_caller, after=token)


# --- invalid lookups -------------------------------------------------------------------------

def test_an_unknown_alias_is_refused_and_the_failed_lookup_recorded(caller, world):
    with raises_kms(InvalidLookupAttributesError,
                    "There is no alias alias/nothing in this account in us-east-1."):
        search(caller, key="alias/nothing")
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.event_name, event.error_code) == ("LookupEvents",
                                                     "InvalidLookupAttributesException")


def test_another_accounts_alias_is_not_looked_up(caller, world, outsider_caller):
    create_key(outsider_caller)
    theirs = f"arn:aws:kms:{REGION}:{OTHER_ACCOUNT_ID}:alias/payments"
    with raises_kms(InvalidLookupAttributesError):
        search(caller, key=theirs)
    with raises_kms(InvalidLookupAttributesError):
        search(outsider_caller, key=f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/payments")


def test_a_key_filter_that_names_no_key_form_is_refused(caller, world):
    with raises_kms(InvalidLookupAttributesError, contains=("key ID",)):
        search(caller, key="payments")


# --- the form --------------------------------------------------------------------------------

NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)


def form_filter(**data) -> EventFilter:
    form = EventFilterForm(data)
    assert form.is_valid(), form.errors
    return form.event_filter(now=NOW)


@pytest.mark.parametrize("preset, hours", [("1h", 1), ("3h", 3), ("12h", 12), ("1d", 24),
                                           ("1w", 168), ("30d", 720)])
def test_a_preset_time_range_ends_now(preset, hours):
    event_filter = form_filter(range=preset, start="2020-01-01T00:00")
    assert event_filter.start == NOW - datetime.timedelta(hours=hours)
    assert event_filter.end is None


def test_the_default_time_range_is_any_time():
    assert form_filter() == EventFilter()


def test_a_custom_range_in_utc():
    event_filter = form_filter(range="custom", start="2026-11-01T08:30", end="2026-11-02T08:30:15")
    assert event_filter.start == datetime.datetime(2026, 11, 1, 8, 30, tzinfo=datetime.UTC)
    assert event_filter.end == datetime.datetime(2026, 11, 2, 8, 30, 15, tzinfo=datetime.UTC)
    # A start or an end alone is a custom range too, even without choosing "Custom range".
    assert form_filter(end="2026-11-02T08:30").start is None


def test_the_form_turns_every_field_into_the_filter():
    event_filter = form_filter(event_name="Decrypt", user="alice", key="alias/a",
                               access_key_id=ALICE_KEY, read_only="false",
                               error_code="X", denied_only="on", source_ip="192.0.2.1",
                               text="finance")
    assert event_filter == EventFilter(event_name="Decrypt", user="alice", key="alias/a",
                                       access_key_id=ALICE_KEY, read_only=False, error_code="X",
                                       denied_only=True, source_ip="192.0.2.1", text="finance")


@pytest.mark.parametrize("data, message", [
    ({"range": "custom", "start": "yesterday"}, "Enter a valid date/time."),
    ({"range": "custom"}, "Enter a start, an end or both for a custom range."),
    ({"start": "2026-11-02T00:00", "end": "2026-11-01T00:00"},
     "The start of the time range must be before its end."),
    ({"range": "2d"}, "Select a valid choice. 2d is not one of the available choices."),
    ({"read_only": "maybe"}, "Select a valid choice. maybe is not one of the available choices."),
    ({"text": "ab"}, "Enter at least 3 characters to search the text of events."),
    ({"event_name": "E" * 65}, "Ensure this value has at most 64 characters (it has 65)."),
])
def test_invalid_filter_values_are_form_errors(data, message):
    form = EventFilterForm(data)
    assert not form.is_valid()
    assert message in [error for errors in form.errors.values() for error in errors]


def test_the_event_names_offered_cover_every_kms_operation():
    assert set(HANDLERS) <= set(EVENT_NAMES)
    assert {"LookupEvents", "AssumeRole", "ConsoleLogin", "CreateUser"} <= set(EVENT_NAMES)


# --- authorization and the LookupEvents event ------------------------------------------------

def test_a_user_without_a_policy_is_denied_and_the_denial_recorded(account, world):
    nobody = make_user(account, "nobody")
    with raises_kms(AccessDeniedError, contains=("cloudtrail:LookupEvents",)):
        search(caller_for(nobody))
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.event_name, event.user_name, event.error_code) == (
        "LookupEvents", "nobody", "AccessDeniedException")


def test_kms_read_only_does_not_allow_reading_the_trail(account, world):
    reader = make_user(account, "reader")
    iam.policy_attach_user(caller=Caller.scheduler(account_id=ACCOUNT_ID, region=REGION),
                           user=reader, policy_arn=builtin_policy_arn("KMSReadOnly"))
    with raises_kms(AccessDeniedError):
        search(caller_for(reader))


def test_an_inline_policy_allowing_lookup_events_is_enough(account, world):
    auditor = make_user(account, "auditor")
    iam.user_put_inline_policy(
        caller=Caller.scheduler(account_id=ACCOUNT_ID, region=REGION), user=auditor,
        policy_name="read-trail", document=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "cloudtrail:LookupEvents",
                "Resource": f"arn:aws:cloudtrail:{REGION}:{ACCOUNT_ID}:trail/*"}]}))
    assert "Encrypt" in names_of(search(caller_for(auditor)))


def test_a_search_is_recorded_as_lookup_events_with_its_attributes(caller, world):
    start = datetime.datetime(2026, 11, 1, 17, 5, 9, tzinfo=datetime.UTC)
    search(caller, start=start, event_name="Decrypt", user="alice", denied_only=True,
           text="may not")
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.event_name, event.event_source, event.read_only, event.error_code) == (
        "LookupEvents", "cloudtrail.amazonaws.com", True, "")
    assert event.request_parameters == {
        "lookupAttributes": [
            {"attributeKey": "EventName", "attributeValue": "Decrypt"},
            {"attributeKey": "Username", "attributeValue": "alice"},
            {"attributeKey": "ErrorCode", "attributeValue": "AccessDeniedException"},
        ],
        "startTime": "Nov 1, 2026, 5:05:09 PM",
        "maxResults": 50,
    }
    assert event.additional_event_data == {"searchText": "may not"}
    assert event.user_name == "admin"


def test_a_free_text_search_does_not_find_earlier_searches_for_the_same_words(caller, world):
    assert names_of(search(caller, text="nothing-has-these-words")) == []
    assert names_of(search(caller, text="nothing-has-these-words")) == []
    assert names_of(search(caller, text="may not")) == ["Decrypt"]


# --- one event -------------------------------------------------------------------------------

def test_event_get_returns_the_accounts_event_and_records_the_lookup(caller, world):
    wanted = world["events"]["encrypt"]
    assert history.event_get(caller=caller, event_id=str(wanted.event_id)) == wanted
    lookup = AuditEvent.objects.order_by("-id").first()
    assert lookup.event_name == "LookupEvents"
    assert lookup.request_parameters == {
        "lookupAttributes": [{"attributeKey": "EventId", "attributeValue": str(wanted.event_id)}],
        "maxResults": 1}


@pytest.mark.parametrize("which", ["foreign", "unknown", "malformed"])
def test_event_get_of_another_accounts_or_no_event_is_not_found(caller, world, which):
    event_id = {"foreign": str(world["events"]["outsider"].event_id),
                "unknown": "00000000-0000-4000-8000-000000000000",
                "malformed": "not-an-id"}[which]
    with raises_kms(NotFoundError):
        history.event_get(caller=caller, event_id=event_id)


def test_event_get_is_denied_without_permission(account, world):
    with raises_kms(AccessDeniedError):
        history.event_get(caller=caller_for(make_user(account, "nobody")),
                          event_id=str(world["events"]["encrypt"].event_id))


# --- export ----------------------------------------------------------------------------------

def test_export_as_json_lines_gives_each_matching_record(caller, world):
    text = "".join(history.events_export(caller=caller, event_filter=EventFilter(user="alice"),
                                         fmt="jsonl"))
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["eventName"] for r in records] == ["DisableKey", "Decrypt", "Encrypt"]
    assert records[2] == world["events"]["encrypt"].as_record()
    lookup = AuditEvent.objects.filter(event_name="LookupEvents").order_by("-id").first()
    assert lookup.additional_event_data == {"downloadFormat": "jsonl"}
    assert "maxResults" not in lookup.request_parameters


def test_export_as_csv_has_cloudtrails_columns(caller, world):
    text = "".join(history.events_export(caller=caller,
                                         event_filter=EventFilter(denied_only=True), fmt="csv"))
    header, row = list(csv.reader(io.StringIO(text)))
    assert header == history.CSV_COLUMNS
    denied = world["events"]["denied"]
    assert dict(zip(header, row, strict=True)) == {
        "Event ID": str(denied.event_id),
        "Event time": denied.event_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "User name": "alice", "Event name": "Decrypt", "Event source": "kms.amazonaws.com",
        "Resource type": "AWS::KMS::Key", "Resource name": world["other_key"].arn,
        "AWS access key": ALICE_KEY, "AWS region": REGION, "Source IP address": "198.51.100.7",
        "Error code": "AccessDeniedException", "Read-only": "true",
        "Request ID": denied.request_id,
    }


def test_export_streams_in_chunks(caller, alice, monkeypatch):
    monkeypatch.setattr(history, "EXPORT_ROWS_PER_CHUNK", 4)
    for _ in range(10):
        record_event(user_caller(alice), "Encrypt")
    chunks = list(history.events_export(caller=caller, event_filter=EventFilter(user="alice"),
                                        fmt="jsonl"))
    assert [chunk.count("\n") for chunk in chunks] == [4, 4, 2]


@pytest.mark.parametrize("cell, shown", [
    ("=1+2", "'=1+2"), ("+9", "'+9"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("alice", "alice"), ("a=1", "a=1"), ("", ""),
])
def test_csv_cells_that_would_start_a_formula_are_neutralized(cell, shown):
    assert history.neutralize(cell) == shown


def test_export_refuses_an_unknown_format_and_denies_without_permission(caller, account):
    with raises_kms(ValidationError):
        list(history.events_export(caller=caller, event_filter=EventFilter(), fmt="xml"))
    with raises_kms(AccessDeniedError):
        history.events_export(caller=caller_for(make_user(account, "nobody")),
                              event_filter=EventFilter(), fmt="csv")


# --- a key's Audit tab -----------------------------------------------------------------------

def test_key_events_search_is_scoped_to_the_key_with_its_usage(caller, world):
    key = world["key"]
    activity = history.key_events_search(caller=caller, key_id=str(key.id),
                                         event_filter=EventFilter(user="alice"))
    assert names_of(activity.page) == ["DisableKey", "Encrypt"]
    usage = {series.name: series.total for series in activity.usage.series}
    assert usage == {"CreateKey": 1, "CreateAlias": 1, "Encrypt": 1, "DisableKey": 1}
    lookup = AuditEvent.objects.order_by("-id").first()
    assert lookup.event_name == "LookupEvents"
    assert {"attributeKey": "ResourceName", "attributeValue": str(key.id)} in (
        lookup.request_parameters["lookupAttributes"])


def test_usage_counts_requests_per_day_by_operation_for_30_days(caller, alice):
    key = create_key(caller)
    alice_caller = user_caller(alice)
    today = timezone.now().date()
    at_noon = datetime.datetime.combine(today, datetime.time(12), tzinfo=datetime.UTC)
    for days_ago, name, count in [(0, "Encrypt", 3), (1, "Decrypt", 2), (29, "Encrypt", 1),
                                  (30, "Encrypt", 5)]:
        with time_machine.travel(at_noon - datetime.timedelta(days=days_ago), tick=False):
            for _ in range(count):
                record_event(alice_caller, name, key=key)
    usage = key_usage(account_id=ACCOUNT_ID, key_id=str(key.id), today=today)
    assert len(usage.days) == 30 and usage.days[-1] == today
    counts = {series.name: series.counts for series in usage.series}
    assert counts["Encrypt"][-1] == 3 and counts["Encrypt"][0] == 1
    assert counts["Decrypt"][-2] == 2
    assert sum(counts["Encrypt"]) == 4  # the day 30 days ago is outside the graph
    assert usage.totals[-1] == 3 + 1  # and today's CreateKey


def test_more_operations_than_colours_are_summed_as_other(caller):
    key = create_key(caller)
    for number in range(9):
        record_event(caller, f"Operation{number}", key=key)
    usage = key_usage(account_id=ACCOUNT_ID, key_id=str(key.id))
    assert [series.name for series in usage.series][-1] == OTHER
    assert len(usage.series) == 8
    assert usage.total == 10  # the nine and CreateKey
