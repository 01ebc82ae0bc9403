"""The Alerts pages (audit/alert_views.py): the list (open / archived), an alert's page with its
triggering events, and Archive. Each is allowed (AdministratorAccess), denied (a user with no
policy: the 403 page, recorded) and anonymous (sign-in); listing is recorded as GuardDuty's
ListFindings, an alert's page as GetFindings and archiving as ArchiveFindings. The page scans
before it lists, so an alert shows without waiting for beat. Caller-controlled text (a policy
statement's Sid, a principal) is rendered inert."""

import json

import pytest

from audit import alerts
from audit.models import Alert, AuditEvent
from grants import services as grants_services
from grants.models import User
from grants.principals import Caller
from keys import services
from keys.policies import api_default_policy
from kmsconsole.errors import AccessDeniedError
from tests.conftest import ACCOUNT_ID, OTHER_ACCOUNT_ID, REGION, caller_for, make_user
from tests.web.console_helpers import create_key, elements, name_of, names, table_rows

pytestmark = pytest.mark.django_db

ALERTS_URL = "/cloudtrail/alerts"
DETECTOR_ARN = f"arn:aws:guardduty:{REGION}:{ACCOUNT_ID}:detector/kmsconsole"
XSS = '<script>alert("x")</script>'


@pytest.fixture
def nobody(account):
    return make_user(account, "nobody")


@pytest.fixture
def nobody_client(client, nobody):
    client.force_login(nobody)
    return client


@pytest.fixture
def key(admin):
    return create_key(admin, alias="alias/payments")


@pytest.fixture
def burst(nobody, key):
    """Ten DescribeKey requests refused within a minute: an AccessDenied burst, not scanned."""
    for _ in range(10):
        with pytest.raises(AccessDeniedError):
            services.key_describe(caller=caller_for(nobody), key_id=str(key.id))


@pytest.fixture
def deletion_alert(admin, key) -> Alert:
    """A key scheduled for deletion, scanned: one open alert."""
    services.key_schedule_deletion(caller=caller_for(admin), key_id=str(key.id))
    alerts.alerts_scan()
    return Alert.objects.get(rule=alerts.DELETION_SCHEDULED)


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).order_by("-sequence").first()


def reader_of_findings(account) -> User:
    """A user allowed to read alerts (ListFindings, GetFindings) but not to archive them."""
    user = make_user(account, "auditor")
    document = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["guardduty:ListFindings", "guardduty:GetFindings"],
        "Resource": "*"}]})
    grants_services.user_put_inline_policy(
        caller=Caller.scheduler(account_id=account.id, region=REGION), user=user,
        policy_name="read-findings", document=document)
    return User.objects.get(pk=user.pk)


# --- the list ------------------------------------------------------------------------------------

def test_the_alerts_page_scans_first_and_lists_a_burst_of_denied_requests(
        signed_in, nobody, burst):
    response = signed_in.get(ALERTS_URL)
    html = response.content.decode()
    assert response.status_code == 200
    [row] = table_rows(html)
    assert row[0] == "Medium Burst of denied requests"
    assert row[2] == nobody.arn
    assert row[3] == "-"
    assert f"{nobody.arn} was denied 10 requests" in row[4]
    assert row[5].startswith("Open")
    alert = Alert.objects.get(rule=alerts.DENIED_BURST)
    assert f"Archive alert {alert.id}" in names(html, "button")


def test_listing_alerts_is_recorded_as_a_read_only_list_findings_event(signed_in, admin):
    signed_in.get(ALERTS_URL)
    event = last_event("ListFindings")
    assert event.event_source == "guardduty.amazonaws.com"
    assert event.read_only is True
    assert event.error_code == ""
    assert event.principal_arn == admin.arn
    assert event.source == "console"
    assert event.request_parameters["detectorId"] == "kmsconsole"
    assert event.request_parameters["findingCriteria"] == {
        "criterion": {"service.archived": {"eq": ["false"]}}}


def test_an_alert_links_its_triggering_events_and_its_key(signed_in, deletion_alert, key):
    html = signed_in.get(ALERTS_URL).content.decode()
    event = AuditEvent.objects.get(event_name="ScheduleKeyDeletion")
    links = {e["attrs"]["href"] for e in elements(html, "a")}
    assert f"/cloudtrail/events/{event.event_id}" in links
    assert f"/kms/keys/{key.id}" in links
    assert f"/cloudtrail/alerts/{deletion_alert.id}" in links
    assert f"Triggering event {event.sequence}: ScheduleKeyDeletion" in names(html, "a")


def test_a_user_without_permission_is_refused_and_the_refusal_recorded(
        nobody_client, nobody, deletion_alert):
    response = nobody_client.get(ALERTS_URL)
    html = response.content.decode()
    assert response.status_code == 403
    assert "guardduty:ListFindings" in html
    assert deletion_alert.message not in html
    event = last_event("ListFindings")
    assert (event.principal_arn, event.error_code) == (nobody.arn, "AccessDeniedException")


def test_a_refused_user_does_not_make_the_server_scan(nobody_client, burst):
    nobody_client.get(ALERTS_URL)
    assert Alert.objects.count() == 0


def test_anonymous_visitors_are_sent_to_sign_in(client, deletion_alert):
    response = client.get(ALERTS_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/signin")


def test_the_archived_tab_lists_archived_alerts_only(signed_in, admin, deletion_alert):
    alerts.alert_archive(caller=caller_for(admin), alert_id=deletion_alert.id)
    open_html = signed_in.get(ALERTS_URL).content.decode()
    assert "No open alerts" in open_html
    archived = signed_in.get(f"{ALERTS_URL}?status=archived")
    html = archived.content.decode()
    [row] = table_rows(html)
    assert row[0] == "Medium Key scheduled for deletion"
    assert row[5] == "Archived"
    tabs = [e for e in elements(html, "a") if e["attrs"].get("class") == "tabs__tab"]
    assert [(name_of(tab), tab["attrs"].get("aria-current")) for tab in tabs] == [
        ("Open", None), ("Archived", "page")]
    assert last_event("ListFindings").request_parameters["findingCriteria"] == {
        "criterion": {"service.archived": {"eq": ["true"]}}}


def test_an_unknown_status_is_a_message_on_the_page(signed_in):
    response = signed_in.get(f"{ALERTS_URL}?status=<b>all</b>")
    html = response.content.decode()
    assert response.status_code == 400
    assert "Status: Select a valid choice." in html
    assert "<b>all</b>" not in html


def test_a_forged_page_token_is_a_message_on_the_page(signed_in):
    response = signed_in.get(f"{ALERTS_URL}?next=forged")
    assert response.status_code == 400
    assert "The next page token is not valid." in response.content.decode()


def test_alerts_are_paged_newest_first(signed_in, admin):
    for _ in range(alerts.PAGE_SIZE + 2):
        key = create_key(admin)
        services.key_schedule_deletion(caller=caller_for(admin), key_id=str(key.id))
    html = signed_in.get(ALERTS_URL).content.decode()
    assert len(table_rows(html)) == alerts.PAGE_SIZE
    [next_link] = [e for e in elements(html, "a") if e["attrs"].get("rel") == "next"]
    second = signed_in.get(ALERTS_URL + next_link["attrs"]["href"]).content.decode()
    assert len(table_rows(second)) == 2
    assert "First page" in names(second, "a")


def test_an_htmx_request_gets_only_the_table(signed_in, deletion_alert):
    response = signed_in.get(f"{ALERTS_URL}?status=open", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="alert-table"')
    assert "<html" not in html


def test_the_side_navigation_links_the_alerts_page(signed_in):
    html = signed_in.get(ALERTS_URL).content.decode()
    [link] = [e for e in elements(html, "a") if e["attrs"].get("href") == ALERTS_URL]
    assert link["attrs"].get("aria-current") == "page"


# --- an alert's page ---------------------------------------------------------------------------

def test_an_alerts_page_lists_every_triggering_event(signed_in, nobody, burst):
    alerts.alerts_scan()
    alert = Alert.objects.get(rule=alerts.DENIED_BURST)
    response = signed_in.get(f"{ALERTS_URL}/{alert.id}")
    html = response.content.decode()
    assert response.status_code == 200
    rows = table_rows(html.split('aria-labelledby="alert-events"', 1)[1])
    assert [row[0] for row in rows] == [str(sequence) for sequence in alert.event_sequences]
    assert all(row[1] == "DescribeKey" and row[3] == "AccessDeniedException" for row in rows)
    event_ids = AuditEvent.objects.filter(sequence__in=alert.event_sequences) \
        .values_list("event_id", flat=True)
    links = {e["attrs"]["href"] for e in elements(html, "a")}
    assert {f"/cloudtrail/events/{event_id}" for event_id in event_ids} <= links
    event = last_event("GetFindings")
    assert event.read_only is True
    assert event.request_parameters == {"detectorId": "kmsconsole",
                                        "findingIds": [str(alert.id)]}


def test_an_alerts_page_is_refused_without_permission(nobody_client, deletion_alert):
    response = nobody_client.get(f"{ALERTS_URL}/{deletion_alert.id}")
    assert response.status_code == 403
    assert last_event("GetFindings").error_code == "AccessDeniedException"


def test_an_alerts_page_needs_sign_in(client, deletion_alert):
    response = client.get(f"{ALERTS_URL}/{deletion_alert.id}")
    assert response.status_code == 302
    assert response["Location"].startswith("/signin")


def test_another_accounts_alert_is_not_found(signed_in, outsider):
    other = Alert.objects.create(rule=alerts.DELETION_SCHEDULED, raised_at="2026-11-02T12:00Z",
                                 account_id=OTHER_ACCOUNT_ID, message="theirs")
    response = signed_in.get(f"{ALERTS_URL}/{other.id}")
    assert response.status_code == 404
    assert "theirs" not in response.content.decode()


def test_an_alert_id_beyond_any_stored_is_not_found(signed_in):
    huge = "9" * 25  # beyond PostgreSQL's bigint: still a 404, not a database error
    assert signed_in.get(f"{ALERTS_URL}/{huge}").status_code == 404
    assert signed_in.post(f"{ALERTS_URL}/{huge}/archive").status_code == 404


# --- Archive -----------------------------------------------------------------------------------

def test_archive_is_a_plain_post_that_acknowledges_the_alert(signed_in, admin, deletion_alert):
    response = signed_in.post(f"{ALERTS_URL}/{deletion_alert.id}/archive")
    assert response.status_code == 302
    assert response["Location"] == ALERTS_URL
    deletion_alert.refresh_from_db()
    assert deletion_alert.acknowledged_at is not None
    assert deletion_alert.acknowledged_by == admin.arn
    event = last_event("ArchiveFindings")
    assert event.read_only is False
    assert event.event_source == "guardduty.amazonaws.com"
    assert event.error_code == ""
    assert event.request_parameters == {"detectorId": "kmsconsole",
                                        "findingIds": [str(deletion_alert.id)]}
    html = signed_in.get(ALERTS_URL).content.decode()
    assert f"Alert {deletion_alert.id} was archived." in html
    assert "No open alerts" in html


def test_archiving_an_archived_alert_keeps_the_first_acknowledgement(
        signed_in, admin, deletion_alert):
    signed_in.post(f"{ALERTS_URL}/{deletion_alert.id}/archive")
    deletion_alert.refresh_from_db()
    first = deletion_alert.acknowledged_at
    signed_in.post(f"{ALERTS_URL}/{deletion_alert.id}/archive")
    deletion_alert.refresh_from_db()
    assert deletion_alert.acknowledged_at == first
    assert AuditEvent.objects.filter(event_name="ArchiveFindings", error_code="").count() == 2


def test_archive_is_refused_to_a_reader_of_findings(client, account, deletion_alert):
    reader = reader_of_findings(account)
    client.force_login(reader)
    assert client.get(ALERTS_URL).status_code == 200
    response = client.post(f"{ALERTS_URL}/{deletion_alert.id}/archive")
    assert response.status_code == 403
    assert "guardduty:ArchiveFindings" in response.content.decode()
    deletion_alert.refresh_from_db()
    assert deletion_alert.acknowledged_at is None
    event = last_event("ArchiveFindings")
    assert (event.principal_arn, event.error_code) == (reader.arn, "AccessDeniedException")


def test_archive_is_refused_to_a_user_without_permission(nobody_client, deletion_alert):
    response = nobody_client.post(f"{ALERTS_URL}/{deletion_alert.id}/archive")
    assert response.status_code == 403
    deletion_alert.refresh_from_db()
    assert deletion_alert.acknowledged_at is None


def test_archive_needs_sign_in(client, deletion_alert):
    response = client.post(f"{ALERTS_URL}/{deletion_alert.id}/archive")
    assert response.status_code == 302
    assert response["Location"].startswith("/signin")
    deletion_alert.refresh_from_db()
    assert deletion_alert.acknowledged_at is None


def test_archive_needs_a_post(signed_in, deletion_alert):
    assert signed_in.get(f"{ALERTS_URL}/{deletion_alert.id}/archive").status_code == 405


def test_archive_needs_the_csrf_token(admin, deletion_alert):
    from django.test import Client
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post(f"{ALERTS_URL}/{deletion_alert.id}/archive").status_code == 403
    deletion_alert.refresh_from_db()
    assert deletion_alert.acknowledged_at is None


def test_another_accounts_alert_cannot_be_archived(signed_in, outsider):
    other = Alert.objects.create(rule=alerts.DELETION_SCHEDULED, raised_at="2026-11-02T12:00Z",
                                 account_id=OTHER_ACCOUNT_ID, message="theirs")
    assert signed_in.post(f"{ALERTS_URL}/{other.id}/archive").status_code == 404
    other.refresh_from_db()
    assert other.acknowledged_at is None


# --- caller-controlled text ----------------------------------------------------------------------

def test_a_policy_statement_sid_with_markup_is_rendered_inert(signed_in, admin, key):
    document = json.loads(api_default_policy(ACCOUNT_ID))
    document["Statement"].append({"Sid": XSS, "Effect": "Allow", "Principal": "*",
                                  "Action": "kms:*", "Resource": "*"})
    services.key_put_policy(caller=caller_for(admin), key_id=str(key.id),
                            policy=json.dumps(document))
    html = signed_in.get(ALERTS_URL).content.decode()
    assert XSS not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "Key policy allows everyone" in html


def test_a_principal_and_key_with_markup_are_rendered_inert(signed_in):
    alert = Alert.objects.create(rule="SomeFutureRule", raised_at="2026-11-02T12:00Z",
                                 account_id=ACCOUNT_ID, principal_arn=XSS, key_id="<b>k</b>",
                                 message=XSS, event_sequences=[999999])
    for url in (ALERTS_URL, f"{ALERTS_URL}/{alert.id}"):
        response = signed_in.get(url)
        html = response.content.decode()
        assert response.status_code == 200
        assert XSS not in html
        assert "<b>k</b>" not in html
        assert "&lt;b&gt;k&lt;/b&gt;" in html
        assert "no longer stored" in html.lower()
