"""The console's "Validate integrity" page (/cloudtrail/integrity): GET shows the action,
POST runs it through audit.integrity.integrity_validate (cloudtrail:LookupEvents, one
ValidateLogs event) and shows the result: intact with counts, or the first broken event with
a link to it. Allowed, denied, anonymous, CSRF, htmx."""

import pytest
from django.test import Client
from django.urls import reverse

from audit.chain import EDITED
from audit.models import AuditEvent
from keys import services
from tests.conftest import caller_for, make_user
from tests.web.console_helpers import create_key, elements, names

URL = "/cloudtrail/integrity"


@pytest.fixture
def nobody_client(client, account):
    """Signed in as a user with no policy: cloudtrail:LookupEvents is not allowed."""
    client.force_login(make_user(account, "nobody"))
    return client


@pytest.fixture
def key(admin):
    key = create_key(admin)
    services.key_describe(caller=caller_for(admin), key_id=str(key.id))
    return key


def validate_logs_events():
    return list(AuditEvent.objects.filter(event_name="ValidateLogs").order_by("sequence"))


def test_the_page_offers_the_validate_integrity_button(signed_in):
    response = signed_in.get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert reverse("audit:validate_integrity") == URL
    assert names(html, "h1") == ["Validate integrity"]
    assert "Validate integrity" in names(html, "button", type="submit")
    assert elements(html, "form", method="post", action=URL)
    assert elements(html, "input", name="csrfmiddlewaretoken")
    assert not validate_logs_events()  # showing the button reads nothing


def test_validating_an_intact_trail_shows_success_with_the_counts(signed_in, key):
    before = AuditEvent.objects.count()
    html = signed_in.post(URL).content.decode()
    assert names(html, "h2", **{"class": "alert__header"}) == ["Audit trail integrity validated"]
    assert elements(html, "div", **{"class": "alert alert--success", "role": "status"})
    assert f"{before} events (sequence 1 to {before})" in html


def test_validating_records_a_validate_logs_event_that_the_next_validation_checks(
        signed_in, admin, key):
    before = AuditEvent.objects.count()
    signed_in.post(URL)
    [event] = validate_logs_events()
    assert (event.event_source, event.read_only, event.source, event.principal_arn) == (
        "cloudtrail.amazonaws.com", True, "console", admin.arn)
    assert event.error_code == ""
    # The validation covered the chain as it was when it started, not its own event.
    assert event.additional_event_data == {"valid": True, "eventsChecked": before,
                                           "digestsChecked": 0, "eventsRedacted": 0}
    html = signed_in.post(URL).content.decode()
    assert f"{before + 1} events (sequence 1 to {before + 1})" in html


def test_a_tampered_trail_names_the_broken_event_with_a_link_to_it(signed_in, key):
    tampered = AuditEvent.objects.get(event_name="DescribeKey")
    AuditEvent.objects.filter(pk=tampered.pk).update(user_agent="rewritten")
    response = signed_in.post(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h2", **{"class": "alert__header"}) == [
        "Audit trail integrity validation failed"]
    assert f"The chain breaks at sequence {tampered.sequence}: {EDITED}." in html
    link = reverse("audit:event_detail", args=[tampered.event_id])
    assert names(html, "a", href=link) == [str(tampered.event_id)]
    [event] = validate_logs_events()
    assert event.additional_event_data["brokenSequence"] == tampered.sequence
    assert event.additional_event_data["valid"] is False


def test_validating_is_denied_without_cloudtrail_lookup_events(nobody_client, key):
    response = nobody_client.post(URL)
    html = response.content.decode()
    assert response.status_code == 403
    assert "cloudtrail:LookupEvents" in html
    assert "Audit trail integrity" not in html
    [event] = validate_logs_events()
    assert event.error_code == "AccessDeniedException"
    assert event.additional_event_data is None


def test_anonymous_visitors_are_sent_to_sign_in(client, key):
    for response in (client.get(URL), client.post(URL)):
        assert response.status_code == 302 and response["Location"].startswith("/signin")
    assert not validate_logs_events()


def test_validating_needs_the_csrf_token(admin, key):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post(URL).status_code == 403
    assert not validate_logs_events()


def test_htmx_gets_only_the_result(signed_in, key):
    html = signed_in.post(URL, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in html
    assert html.strip().startswith('<div id="integrity-result">')
    assert "Audit trail integrity validated" in html


def test_other_methods_are_not_allowed(signed_in):
    assert signed_in.put(URL).status_code == 405
