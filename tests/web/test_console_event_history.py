"""The audit trail in the console: Event history (filter bar, table, pages, download), an
event's page with its full record, and a key's Audit tab with its usage graph.

Every page: allowed, denied (a signed-in user without cloudtrail:LookupEvents sees the 403
explanation), anonymous (sign-in); every read is one LookupEvents event with source console;
htmx gets the table fragment, a plain GET the page; caller-controlled text is escaped."""

import csv
import datetime
import io
import json

import pytest
import time_machine
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from audit import history
from audit.models import AuditEvent
from audit.recording import Operation, record
from grants import services as iam
from grants.builtin_policies import builtin_policy_arn
from grants.principals import Caller, Principal
from keys import operations
from kmsconsole.errors import AccessDeniedError
from tests.conftest import ACCOUNT_ID, REGION, caller_for, make_user
from tests.web.console_helpers import create_key, elements, names, table_rows

XSS = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"


@pytest.fixture
def key_reader_client(client, account):
    """A user who may read keys (KMSReadOnly) but not the trail."""
    reader = make_user(account, "reader")
    iam.policy_attach_user(caller=Caller.scheduler(account_id=ACCOUNT_ID, region=REGION),
                           user=reader, policy_arn=builtin_policy_arn("KMSReadOnly"))
    client.force_login(reader)
    return client


@pytest.fixture
def key(admin):
    return create_key(admin, alias="alias/payments")


def record_event(caller, name, *, key=None, error=None, params=None, read_only=True):
    op = Operation(caller, name, read_only, params)
    if key is not None:
        op.add_key(key)
    return record(op, error=error)


def last_event() -> AuditEvent:
    return AuditEvent.objects.order_by("-id").first()


def event_names_in(html: str) -> list[str]:
    return [row[0] for row in table_rows(html)]


def assert_lookup_recorded(user_name: str, *, error_code: str = "") -> AuditEvent:
    event = last_event()
    assert (event.event_name, event.event_source, event.source, event.user_name,
            event.error_code) == ("LookupEvents", "cloudtrail.amazonaws.com", "console",
                                  user_name, error_code)
    return event


def page_urls(key, event) -> list[str]:
    return ["/cloudtrail/events", f"/cloudtrail/events/{event.event_id}",
            "/cloudtrail/events/download?format=csv", f"/kms/keys/{key.id}/audit"]


# --- every page: allowed / denied / anonymous ---------------------------------------------------

def test_event_history_lists_the_accounts_events_newest_first(signed_in, key):
    response = signed_in.get("/cloudtrail/events")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Event history"]
    assert [name for name in names(html, "th")] == [
        "Event name", "Event time", "User name", "Event source", "Resource type",
        "Resource name", "Error code"]
    rows = table_rows(html)
    assert [row[0] for row in rows[:2]] == ["CreateAlias", "CreateKey"]
    assert rows[1][2:6] == ["admin", "kms.amazonaws.com", "AWS::KMS::Key", key.arn]
    assert_lookup_recorded("admin")


@pytest.mark.parametrize("page", range(4))
def test_every_page_is_denied_without_lookup_events(nobody_client, admin, key, page):
    event = AuditEvent.objects.filter(event_name="CreateKey").first()
    response = nobody_client.get(page_urls(key, event)[page])
    assert response.status_code == 403
    # The key tab stops at the key (kms:DescribeKey); the trail's pages at the trail.
    assert ("kms:DescribeKey" if page == 3 else "cloudtrail:LookupEvents") in (
        response.content.decode())


@pytest.mark.parametrize("page", range(3))
def test_the_trails_pages_are_denied_with_the_lookup_recorded(nobody_client, key, page):
    event = AuditEvent.objects.filter(event_name="CreateKey").first()
    nobody_client.get(page_urls(key, event)[page])
    assert_lookup_recorded("nobody", error_code="AccessDeniedException")


def test_the_key_audit_tab_needs_lookup_events_besides_reading_the_key(key_reader_client, key):
    response = key_reader_client.get(f"/kms/keys/{key.id}/audit")
    assert response.status_code == 403
    assert "cloudtrail:LookupEvents" in response.content.decode()
    assert_lookup_recorded("reader", error_code="AccessDeniedException")


@pytest.mark.parametrize("page", range(4))
def test_every_page_sends_anonymous_users_to_sign_in(client, key, page):
    event = AuditEvent.objects.filter(event_name="CreateKey").first()
    response = client.get(page_urls(key, event)[page])
    assert response.status_code == 302 and response["Location"].startswith("/signin")


def test_the_side_navigation_has_the_audit_section(signed_in, account):
    html = signed_in.get("/cloudtrail/events").content.decode()
    assert names(html, "a", aria_current="page") == ["Event history"]
    assert "Audit" in names(html, "span", id="side-navigation-audit")


def test_validate_integrity_is_offered_when_the_page_exists(signed_in, account):
    html = signed_in.get("/cloudtrail/events").content.decode()
    try:
        url = reverse("audit:validate_integrity")
    except NoReverseMatch:
        url = None
    offered = elements(html, "a", href=url) if url else []
    assert [e["text"] for e in offered] == (["Validate integrity"] if url else [])


# --- filters: plain GET, htmx fragment, invalid values -------------------------------------------

def test_a_plain_get_filters_and_keeps_the_values_in_the_form(signed_in, key):
    response = signed_in.get("/cloudtrail/events", {"event_name": "CreateKey",
                                                    "key": "alias/payments", "range": "1d"})
    html = response.content.decode()
    assert event_names_in(html) == ["CreateKey"]
    assert elements(html, "input", name="event_name")[0]["attrs"]["value"] == "CreateKey"
    assert elements(html, "input", name="key")[0]["attrs"]["value"] == "alias/payments"
    assert "selected" in elements(html, "option", value="1d")[0]["attrs"]
    lookup = assert_lookup_recorded("admin")
    assert lookup.request_parameters["lookupAttributes"] == [
        {"attributeKey": "EventName", "attributeValue": "CreateKey"},
        {"attributeKey": "ResourceName", "attributeValue": "alias/payments"}]
    assert "startTime" in lookup.request_parameters


def test_every_filter_has_a_labelled_control(signed_in, account):
    html = signed_in.get("/cloudtrail/events").content.decode()
    labels = {e["attrs"].get("for") for e in elements(html, "label")}
    for field in ("range", "start", "end", "event_name", "user", "key", "access_key_id",
                  "read_only", "error_code", "source_ip", "text"):
        control = (elements(html, "input", name=field) or elements(html, "select", name=field))
        assert control and control[0]["attrs"]["id"] in labels, field
    assert names(html, "label", **{"for": None}) == ["Denied requests only"]


def test_an_htmx_request_gets_only_the_table_fragment(signed_in, key):
    response = signed_in.get("/cloudtrail/events", {"event_name": "CreateAlias"},
                             HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="event-table"')
    assert "<html" not in html and 'role="search"' not in html
    assert event_names_in(html) == ["CreateAlias"]


def test_an_htmx_history_restore_gets_the_whole_page(signed_in, key):
    html = signed_in.get("/cloudtrail/events", HTTP_HX_REQUEST="true",
                         HTTP_HX_HISTORY_RESTORE_REQUEST="true").content.decode()
    assert "<html" in html and names(html, "h1") == ["Event history"]


@pytest.mark.parametrize("query, message", [
    ({"range": "custom", "start": "soon"}, "Start (UTC): Enter a valid date/time."),
    ({"start": "2026-11-02T00:00", "end": "2026-11-01T00:00"},
     "The start of the time range must be before its end."),
    ({"text": "ab"}, "Search text: Enter at least 3 characters to search the text of events."),
    ({"read_only": "maybe"},
     "Read-only: Select a valid choice. maybe is not one of the available choices."),
])
def test_an_invalid_filter_is_a_message_on_the_page(signed_in, account, query, message):
    before = AuditEvent.objects.count()
    response = signed_in.get("/cloudtrail/events", query)
    html = response.content.decode()
    assert response.status_code == 400
    alert = elements(html, "div", role="alert")[0]
    assert message in " ".join(alert["text"].split())
    assert AuditEvent.objects.count() == before  # nothing was looked up
    # htmx swaps no error response by default: the fragment with the message is a 200.
    fragment = signed_in.get("/cloudtrail/events", query, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and message in fragment.content.decode().replace(
        "&#x27;", "'")


def test_an_unknown_alias_is_a_message_and_a_failed_lookup(signed_in, account):
    response = signed_in.get("/cloudtrail/events", {"key": "alias/missing"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "There is no alias alias/missing in this account in us-east-1." in html
    assert_lookup_recorded("admin", error_code="InvalidLookupAttributesException")


def test_a_forged_next_token_is_a_message(signed_in, account):
    response = signed_in.get("/cloudtrail/events", {"next": "9999:forged"})
    assert response.status_code == 400
    assert "InvalidNextTokenException" in response.content.decode()


def test_next_page_walks_the_events_fifty_at_a_time(signed_in, admin, key):
    caller = caller_for(admin)
    for _ in range(60):
        record_event(caller, "Encrypt", key=key)
    first = signed_in.get("/cloudtrail/events", {"event_name": "Encrypt"}).content.decode()
    assert event_names_in(first) == ["Encrypt"] * 50
    link = elements(first, "a", rel="next")[0]["attrs"]["href"]
    assert "event_name=Encrypt" in link
    second = signed_in.get("/cloudtrail/events" + link).content.decode()
    assert event_names_in(second) == ["Encrypt"] * 10
    assert not elements(second, "a", rel="next")
    assert [e["text"] for e in elements(second, "a") if e["text"] == "First page"]


# --- an event's page -----------------------------------------------------------------------------

def test_an_events_page_shows_the_summary_and_the_full_record(signed_in, admin, key):
    alice = make_user(key.account, "alice")
    caller = Caller(principal=Principal.for_user(alice, access_key_id="AKIAALICE00000000001"),
                    region=REGION, source_ip="198.51.100.7", user_agent="aws-cli/2")
    event = record_event(caller, "Decrypt", key=key, error=AccessDeniedError("not allowed"))
    response = signed_in.get(f"/cloudtrail/events/{event.event_id}")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Decrypt"]
    summary = dict(zip(names(html, "dt"), names(html, "dd"), strict=True))
    assert summary["User name"] == "alice"
    assert summary["AWS access key"] == "AKIAALICE00000000001"
    assert summary["Event source"] == "kms.amazonaws.com"
    assert summary["Request ID"] == event.request_id
    assert summary["Event ID"] == str(event.event_id)
    assert summary["Source IP address"] == "198.51.100.7"
    assert summary["Error code"] == "AccessDeniedException"
    assert summary["Event time"].endswith("UTC")
    assert json.loads(elements(html, "pre")[0]["text"]) == event.as_record()
    assert table_rows(html) == [["AWS::KMS::Key", key.arn, ACCOUNT_ID]]
    lookup = assert_lookup_recorded("admin")
    assert lookup.request_parameters["lookupAttributes"] == [
        {"attributeKey": "EventId", "attributeValue": str(event.event_id)}]


def test_each_row_links_to_its_events_page(signed_in, key):
    html = signed_in.get("/cloudtrail/events", {"event_name": "CreateKey"}).content.decode()
    event = AuditEvent.objects.get(event_name="CreateKey")
    assert elements(html, "a", href=f"/cloudtrail/events/{event.event_id}")[0]["text"] == (
        "CreateKey")


def test_another_accounts_event_is_not_visible(signed_in, key, outsider):
    theirs = create_key(outsider)
    event = AuditEvent.objects.get(event_name="CreateKey", key_id=str(theirs.id))
    response = signed_in.get(f"/cloudtrail/events/{event.event_id}")
    assert response.status_code == 404
    assert str(theirs.id) not in signed_in.get("/cloudtrail/events").content.decode()
    assert str(theirs.id) not in b"".join(signed_in.get(
        "/cloudtrail/events/download?format=jsonl").streaming_content).decode()


# --- download ------------------------------------------------------------------------------------

def test_download_json_lines_streams_the_filtered_records(signed_in, admin, key):
    response = signed_in.get("/cloudtrail/events/download",
                             {"format": "jsonl", "key": "alias/payments"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("application/jsonl")
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="event_history_{ACCOUNT_ID}_')
    assert response["Content-Disposition"].endswith('.jsonl"')
    records = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [r["eventName"] for r in records] == ["CreateAlias", "CreateKey"]
    assert records[1] == AuditEvent.objects.get(event_name="CreateKey").as_record()
    lookup = assert_lookup_recorded("admin")
    assert lookup.additional_event_data == {"downloadFormat": "jsonl"}


def test_download_csv_streams_cloudtrails_columns(signed_in, key):
    response = signed_in.get("/cloudtrail/events/download",
                             {"format": "csv", "event_name": "CreateKey"})
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].endswith('.csv"')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == history.CSV_COLUMNS
    assert [row[3] for row in rows[1:]] == ["CreateKey"]
    assert rows[1][6] == key.arn


def test_the_download_links_carry_the_current_filter(signed_in, key):
    html = signed_in.get("/cloudtrail/events", {"event_name": "CreateKey", "range": "1w"}
                         ).content.decode()
    links = [e["attrs"]["href"] for e in elements(html, "a", **{"class": "dropdown__item"})]
    assert links == [
        "/cloudtrail/events/download?event_name=CreateKey&range=1w&format=csv",
        "/cloudtrail/events/download?event_name=CreateKey&range=1w&format=jsonl"]
    assert names(html, "summary") == ["Download events"]


def test_csv_injection_is_neutralized_in_the_download(signed_in, account):
    for name in ("=1+2", "@cmd", "-2+3", "+9"):
        record_event(caller_for(make_user(account, name)), "Encrypt")
    response = signed_in.get("/cloudtrail/events/download",
                             {"format": "csv", "event_name": "Encrypt"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(row[2] for row in rows[1:]) == ["'+9", "'-2+3", "'=1+2", "'@cmd"]


def test_a_download_without_a_format_is_a_message(signed_in, account):
    response = signed_in.get("/cloudtrail/events/download", {"format": "xlsx"})
    assert response.status_code == 400
    assert "Choose CSV or JSON Lines to download events." in response.content.decode()


# --- XSS: caller-controlled text is inert everywhere --------------------------------------------

def test_xss_in_filters_user_agent_and_request_parameters_is_inert(client, signed_in, admin, key):
    console = Caller(principal=Principal.for_user(admin), region=REGION, source="console",
                     user_agent=XSS, source_ip="192.0.2.1")
    event = record_event(console, "Encrypt", key=key,
                         params={"keyId": "alias/payments", "encryptionContext": {"x": XSS}})
    pages = [
        signed_in.get("/cloudtrail/events", {"key": f"alias/{XSS}", "text": XSS}),
        signed_in.get("/cloudtrail/events", {"text": XSS, "user": XSS}),
        signed_in.get(f"/cloudtrail/events/{event.event_id}"),
        signed_in.get(f"/kms/keys/{key.id}/audit", {"text": XSS}),
        signed_in.get(f"/kms/keys/{key.id}/audit", {"event_name": XSS[:60]},
                      HTTP_HX_REQUEST="true"),
    ]
    for response in pages:
        html = response.content.decode()
        assert XSS not in html and "<script>" not in html
    assert ESCAPED in pages[0].content.decode()  # the alias typed, in the error message
    record_text = elements(pages[2].content.decode(), "pre")[0]["text"]
    assert json.loads(record_text)["userAgent"] == XSS  # shown as text, intact


# --- a key's Audit tab -------------------------------------------------------------------------

def test_the_audit_tab_lists_the_keys_events_and_records_one_lookup(signed_in, admin, key):
    other = create_key(admin)
    operations.encrypt(caller=caller_for(admin), key_id=str(other.id), plaintext=b"x")
    operations.encrypt(caller=caller_for(admin), key_id=str(key.id), plaintext=b"x")
    before = AuditEvent.objects.count()
    response = signed_in.get(f"/kms/keys/{key.id}/audit")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "a", aria_current="page") == ["Audit"]
    assert event_names_in(html.split('id="event-table"', 1)[1]) == [
        "ListAliases", "DescribeKey", "Encrypt", "CreateAlias", "CreateKey"]
    new = list(AuditEvent.objects.filter(id__gt=AuditEvent.objects.order_by("id")[before - 1].id)
               .order_by("id"))
    assert [e.event_name for e in new] == ["DescribeKey", "ListAliases", "LookupEvents"]
    assert {"attributeKey": "ResourceName", "attributeValue": str(key.id)} in (
        new[-1].request_parameters["lookupAttributes"])
    assert not elements(html, "input", name="key")  # scoped to the key already


def test_the_audit_tab_filters_and_answers_htmx_with_the_table(signed_in, admin, key):
    response = signed_in.get(f"/kms/keys/{key.id}/audit", {"event_name": "CreateAlias"},
                             HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="event-table"')
    assert event_names_in(html) == ["CreateAlias"]
    links = [e["attrs"]["href"] for e in elements(html, "a", **{"class": "dropdown__item"})]
    assert links[0] == f"/cloudtrail/events/download?event_name=CreateAlias&key={key.id}&format=csv"


def test_the_usage_graph_counts_requests_per_day_by_operation(signed_in, admin, key):
    caller = caller_for(admin)
    at_noon = datetime.datetime.combine(timezone.now().date(), datetime.time(12),
                                        tzinfo=datetime.UTC)
    with time_machine.travel(at_noon - datetime.timedelta(days=2), tick=False):
        for _ in range(4):
            record_event(caller, "Decrypt", key=key)
    for _ in range(3):
        record_event(caller, "Encrypt", key=key)
    html = signed_in.get(f"/kms/keys/{key.id}/audit").content.decode()
    svg = elements(html, "svg", role="img")[0]
    assert svg["attrs"]["aria-labelledby"] == "usage-chart-title usage-chart-desc"
    assert names(html, "title", id="usage-chart-title") == [
        "Requests per day by operation, last 30 days"]
    usage_table = html.split('<table class="visually-hidden">', 1)[1].split("</table>", 1)[0]
    headers = names(usage_table, "th", scope="col")
    assert headers[0] == "Day" and headers[-1] == "Total"
    rows = {e["text"]: e for e in elements(usage_table, "th", scope="row")}
    assert len(rows) == 30
    body = usage_table.split("<tbody>", 1)[1]
    lines = [[cell["text"] for cell in elements("<tr" + row, "td")]
             for row in body.split("<tr")[1:]]
    by_name = [dict(zip(headers[1:], line, strict=True)) for line in lines]
    assert by_name[-1]["Encrypt"] == "3" and by_name[-1]["Decrypt"] == "0"
    assert by_name[-3]["Decrypt"] == "4"
    # Today: 3 Encrypt, the key's CreateKey and CreateAlias, and the tab's own DescribeKey and
    # ListAliases (recorded before the lookup reads the trail).
    assert by_name[-1]["Total"] == "7"
    segments = [e for e in elements(html, "rect") if e["attrs"].get("fill") and e["text"]]
    assert "Decrypt: 4 on " in " ".join(e["text"] for e in segments)

