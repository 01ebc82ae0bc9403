"""Console sign-in and sign-out: Django's auth with the IAM user backend, CSRF, a message that
never tells which field was wrong, and a ConsoleLogin audit event for success and failure."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from grants.models import User
from tests.conftest import ACCOUNT_ID, make_user
from tests.web.console_helpers import elements, names

PASSWORD = "correct horse battery"
FAILED = "Your authentication information is incorrect. Please try again."


def sign_in(client, account="example", username="admin", password=PASSWORD, **extra):
    return client.post("/signin", {"account": account, "username": username,
                                   "password": password, **extra},
                       HTTP_USER_AGENT="Mozilla/5.0 (console test)")


@pytest.mark.django_db
def test_sign_in_page_has_the_aws_captions_and_a_csrf_token(client):
    response = client.get("/signin")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Sign in as IAM user"]
    assert names(html, "label") == ["Account ID or alias", "IAM user name", "Password"]
    assert names(html, "button") == ["Sign in"]
    assert elements(html, "input", name="csrfmiddlewaretoken")
    assert elements(html, "input", name="password")[0]["attrs"]["type"] == "password"


@pytest.mark.parametrize("account_name", ["example", ACCOUNT_ID])
def test_sign_in_with_account_alias_or_id_opens_the_console(client, admin, account_name):
    response = sign_in(client, account=account_name)
    assert response.status_code == 302
    assert response["Location"] == "/kms/keys"
    assert client.get("/kms/keys").status_code == 200


def test_sign_in_success_is_recorded_as_console_login(client, admin):
    sign_in(client)
    event = AuditEvent.objects.get(event_name="ConsoleLogin")
    record = event.as_record()
    assert record["eventSource"] == "signin.amazonaws.com"
    assert record["eventType"] == "AwsConsoleSignIn"
    assert record["responseElements"] == {"ConsoleLogin": "Success"}
    assert record["userIdentity"]["arn"] == admin.arn
    assert record["userIdentity"]["userName"] == "admin"
    assert record["userAgent"] == "Mozilla/5.0 (console test)"
    assert record["recipientAccountId"] == ACCOUNT_ID
    assert "errorCode" not in record
    assert event.source == "console"
    assert PASSWORD not in str(record)


@pytest.mark.parametrize("fields", [
    {"password": "wrong password here"},
    {"username": "nobody"},
    {"account": "999988887777"},
    {"account": "no-such-alias"},
])
def test_failed_sign_in_shows_one_message_whatever_field_was_wrong(client, admin, fields):
    response = sign_in(client, **fields)
    html = response.content.decode()
    assert response.status_code == 200
    assert [e["text"].strip() for e in elements(html, "div", role="alert")] == [FAILED]
    assert "_auth_user_id" not in client.session
    assert client.get("/kms/keys").status_code == 302


def test_failed_sign_in_is_recorded_without_the_password(client, admin):
    sign_in(client, password="my-secret-typo")
    record = AuditEvent.objects.get(event_name="ConsoleLogin").as_record()
    assert record["errorCode"] == "Failed authentication"
    assert record["errorMessage"] == "Failed authentication"
    assert record["responseElements"] == {"ConsoleLogin": "Failure"}
    assert record["userIdentity"]["userName"] == "admin"
    assert record["recipientAccountId"] == ACCOUNT_ID
    assert "my-secret-typo" not in str(record)


def test_failed_sign_in_of_an_unknown_user_hides_the_typed_name(client, admin):
    """A password typed into the user name field must not end up in the audit trail."""
    sign_in(client, username="Hunter2Password")
    record = AuditEvent.objects.get(event_name="ConsoleLogin").as_record()
    assert record["userIdentity"]["userName"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert "Hunter2Password" not in str(record)


def test_a_deactivated_user_cannot_sign_in(client, account):
    user = make_user(account, "gone")
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = sign_in(client, username="gone")
    assert FAILED in response.content.decode()


def test_missing_fields_are_refused_without_an_attempt(client, admin):
    response = client.post("/signin", {"account": "example", "username": "", "password": ""})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not AuditEvent.objects.filter(event_name="ConsoleLogin").exists()


def test_sign_in_needs_a_csrf_token(admin):
    client = Client(enforce_csrf_checks=True)
    response = sign_in(client)
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_sign_in_goes_on_to_next_but_never_off_site(client, admin):
    response = sign_in(client, next="/kms/aliases")
    assert response["Location"] == "/kms/aliases"
    client.post("/signout")
    response = sign_in(client, next="https://evil.example/phish")
    assert response["Location"] == "/kms/keys"


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/kms/keys", "/kms/defaultKeys", "/kms/aliases",
                                 "/kms/custom-key-stores",
                                 "/kms/keys/0b6a7e4f-0000-4000-8000-000000000000"])
def test_anonymous_visitors_are_sent_to_sign_in_with_next(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/signin?next={url}"


@pytest.mark.django_db
def test_root_get_opens_the_console(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/kms/keys"


def test_sign_out_is_post_only_and_ends_the_session(client, admin):
    sign_in(client)
    assert client.get("/signout").status_code == 405
    assert client.get("/kms/keys").status_code == 200
    response = client.post("/signout", follow=True)
    assert response.redirect_chain[-1][0] == "/signin"
    assert "You have signed out." in response.content.decode()
    assert client.get("/kms/keys").status_code == 302


def test_a_signed_in_user_opening_sign_in_goes_to_the_console(client, admin):
    sign_in(client)
    response = client.get("/signin")
    assert response.status_code == 302
    assert response["Location"] == "/kms/keys"


@pytest.mark.django_db
def test_anonymous_sign_out_goes_to_sign_in(client):
    response = client.post("/signout")
    assert response.status_code == 302
    assert response["Location"].startswith("/signin")
