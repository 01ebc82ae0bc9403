"""No console page can be framed (clickjacking), and no response can be sniffed into another
content type (issue 10).

Every console page, taken from the case table of test_console_audit_every_action.py (which a
test there keeps complete) plus the pages that table leaves to other modules, is fetched as
the signed-in administrator and, where public, anonymously: each answer, whatever its status
(page, redirect, 403, 404, htmx fragment), carries X-Frame-Options: DENY, a
Content-Security-Policy with frame-ancestors 'none', and X-Content-Type-Options: nosniff. The
API's answers are JSON and carry nosniff too.
"""

import json

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from keys import services
from tests.api.conftest import create_access_key
from tests.api.helpers import signed_post
from tests.conftest import caller_for, make_user

from .test_console_audit_every_action import (
    CASES,
    PUBLIC,
    case_context,
    console_patterns,
    send,
)

pytestmark = pytest.mark.django_db

GET_CASES = [case for case in CASES if case.method == "GET"]
POST_CASES = [case for case in CASES if case.method == "POST"]
MISSING_KEY = "00000000-0000-4000-8000-000000000000"
# Console pages the case table leaves to other modules: (url name, path).
OTHER_PAGES = {
    "audit:event_history": "/cloudtrail/events",
    "audit:events_download": "/cloudtrail/events/download",
    "audit:validate_integrity": "/cloudtrail/integrity",
    "audit:alerts": "/cloudtrail/alerts",
    "audit:alert_detail": "/cloudtrail/alerts/1",            # no such alert: 404
    "keys:key_audit": f"/kms/keys/{MISSING_KEY}/audit",         # no such key
    "iam:user_audit": "/iam/users/details/admin/audit",
    "iam:role_audit": "/iam/roles/details/no-such-role/audit",
}


def assert_cannot_be_framed(response, what: str) -> None:
    assert response["X-Frame-Options"] == "DENY", what
    directives = [part.strip() for part in response["Content-Security-Policy"].split(";")]
    assert "frame-ancestors 'none'" in directives, (what, directives)
    assert response["X-Content-Type-Options"] == "nosniff", what


@pytest.mark.parametrize("case", GET_CASES, ids=lambda case: case.id)
def test_every_console_page_denies_framing(client, admin, case):
    ctx = case_context(case, admin, client)
    client.force_login(admin)
    response, _events = send(client, case, ctx)
    assert_cannot_be_framed(response, case.id)


@pytest.mark.parametrize("url_name", sorted(OTHER_PAGES))
def test_the_pages_left_out_of_the_case_table_deny_framing(client, admin, url_name):
    client.force_login(admin)
    response = client.get(OTHER_PAGES[url_name])
    assert response.status_code < 500
    assert_cannot_be_framed(response, url_name)


def test_an_event_detail_page_denies_framing(client, admin):
    services.key_create(caller=caller_for(admin))
    event = AuditEvent.objects.latest("id")
    client.force_login(admin)
    response = client.get(reverse("audit:event_detail", args=[event.event_id]))
    assert response.status_code == 200
    assert_cannot_be_framed(response, "event detail")


def test_every_console_url_is_checked_for_framing():
    checked = {case.url_name for case in GET_CASES} | set(OTHER_PAGES) | {
        "audit:event_detail", "audit:alert_archive"}
    post_only = {case.url_name for case in POST_CASES} - {case.url_name for case in GET_CASES}
    missing = sorted(name for _route, name, _pattern in console_patterns()
                     if name not in checked and name not in post_only)
    assert missing == [], missing


@pytest.mark.parametrize("case", POST_CASES, ids=lambda case: case.id)
def test_every_console_action_answer_denies_framing(client, admin, case):
    ctx = case_context(case, admin, client)
    client.force_login(admin)
    response, _events = send(client, case, ctx)
    assert_cannot_be_framed(response, case.id)


def test_archiving_an_alert_answers_with_framing_denied(client, admin):
    client.force_login(admin)
    response = client.post("/cloudtrail/alerts/1/archive")
    assert response.status_code < 500
    assert_cannot_be_framed(response, "alert archive")


def test_htmx_fragments_deny_framing_too(client, admin):
    client.force_login(admin)
    response = client.get("/kms/keys", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert_cannot_be_framed(response, "htmx fragment")


@pytest.mark.parametrize("path", ["/kms/keys", f"/kms/keys/{MISSING_KEY}", "/iam/users"])
def test_the_sign_in_redirect_and_error_pages_deny_framing(client, admin, path):
    anonymous = client.get(path)
    assert anonymous.status_code == 302
    assert_cannot_be_framed(anonymous, f"anonymous {path}")
    nobody = Client()
    nobody.force_login(make_user(admin.account, "nobody"))
    refused = nobody.get(path)
    assert refused.status_code in (403, 404)
    assert_cannot_be_framed(refused, f"refused {path}")


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_pages_deny_framing_when_signed_out(client, name):
    response = client.get(reverse(name))
    assert response.status_code == PUBLIC[name]
    assert_cannot_be_framed(response, name)


def test_an_unknown_url_denies_framing(client, admin):
    client.force_login(admin)
    response = client.get("/kms/no-such-page")
    assert response.status_code == 404
    assert_cannot_be_framed(response, "404")


@pytest.mark.parametrize("operation, body, status", [
    ("ListKeys", {}, 200),
    ("DescribeKey", {"KeyId": MISSING_KEY}, 400),
    ("NoSuchOperation", {}, 400),
])
def test_api_answers_are_json_that_is_never_sniffed(client, admin, operation, body, status):
    response = signed_post(client, operation, body, create_access_key(admin))
    assert response.status_code == status
    assert response["Content-Type"] == "application/x-amz-json-1.1"
    json.loads(response.content)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_an_unsigned_api_request_is_answered_with_nosniff(client):
    response = client.post("/", data=b"{}", content_type="application/x-amz-json-1.1",
                           HTTP_X_AMZ_TARGET="TrentService.ListKeys")
    assert response.status_code == 400
    assert json.loads(response.content)["__type"] == "MissingAuthenticationTokenException"
    assert response["X-Content-Type-Options"] == "nosniff"
