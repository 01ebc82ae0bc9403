"""Console sign-in with MFA and the sign-in lockout on the page: a user with an MFA device gives
the password, then a code; the password step alone starts no session; a wrong, replayed or late
code is refused; the MFA session makes aws:MultiFactorAuthPresent true for console actions; a
locked user sees that sign-in is temporarily locked."""

import datetime
import json

import pytest
import time_machine
from django.test import Client

from audit.models import AuditEvent
from grants import mfa, services
from grants.models import MFADevice
from tests.conftest import REGION, make_user
from tests.web.console_helpers import create_key, elements, names

PASSWORD = "correct horse battery"
FAILED = "Your authentication information is incorrect. Please try again."
LOCKED = ("Too many failed sign-in attempts: sign-in for this user is temporarily locked. "
          "Try again later.")


def sign_in(client, username="alice", password=PASSWORD, **extra):
    return client.post("/signin", {"account": "example", "username": username,
                                   "password": password, **extra})


def send_code(client, code, **extra):
    return client.post("/signin", {"step": "mfa", "mfa_code": code, **extra})


def alerts(response) -> list[str]:
    return [" ".join(e["text"].split()) for e in elements(response.content.decode(), "div",
                                                          role="alert")]


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def alice(account):
    return make_user(account, "alice")


@pytest.fixture
def secret(alice):
    device = MFADevice(user=alice, serial_number=mfa.serial_number_for(alice, "alice"),
                       enabled=True)
    value = mfa.new_totp_secret()
    device.set_secret(value)
    device.save()
    return value


def code_now(secret: str) -> str:
    return mfa.totp_code(secret, mfa.current_step())


def wrong_code(secret: str) -> str:
    now = mfa.current_step()
    accepted = {mfa.totp_code(secret, step) for step in range(now - 1, now + 2)}
    return next(c for c in ("000000", "111111", "222222") if c not in accepted)


def test_the_password_step_asks_for_the_mfa_code_and_starts_no_session(client, secret):
    response = sign_in(client)
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Multi-factor authentication"]
    assert names(html, "label") == ["MFA code"]
    assert names(html, "button") == ["Submit"]
    assert elements(html, "input", name="mfa_code")[0]["attrs"]["autocomplete"] == \
        "one-time-code"
    assert not signed_in(client)
    assert client.get("/kms/keys").status_code == 302
    assert not AuditEvent.objects.filter(event_name="ConsoleLogin").exists()


def test_the_right_code_signs_in_and_is_recorded_with_mfa_used(client, alice, secret):
    sign_in(client, next="/kms/aliases")
    response = send_code(client, code_now(secret), next="/kms/aliases")
    assert response.status_code == 302
    assert response["Location"] == "/kms/aliases"
    assert signed_in(client)
    record = AuditEvent.objects.get(event_name="ConsoleLogin").as_record()
    assert record["responseElements"] == {"ConsoleLogin": "Success"}
    assert record["additionalEventData"]["MFAUsed"] == "Yes"
    assert record["userIdentity"]["arn"] == alice.arn


def test_a_code_with_a_space_is_accepted(client, secret):
    sign_in(client)
    code = code_now(secret)
    send_code(client, f"{code[:3]} {code[3:]}")
    assert signed_in(client)


def test_a_wrong_code_is_refused_and_recorded(client, secret):
    sign_in(client)
    response = send_code(client, wrong_code(secret))
    assert alerts(response) == [FAILED]
    assert names(response.content.decode(), "h1") == ["Multi-factor authentication"]
    assert not signed_in(client)
    record = AuditEvent.objects.get(event_name="ConsoleLogin").as_record()
    assert record["errorMessage"] == "Failed authentication"
    assert record["additionalEventData"]["MFAUsed"] == "Yes"
    # The right code still works after a wrong one.
    send_code(client, code_now(secret))
    assert signed_in(client)


def test_a_used_code_cannot_sign_in_again(client, secret):
    code = code_now(secret)
    sign_in(client)
    send_code(client, code)
    assert signed_in(client)
    other = Client()
    sign_in(other)
    response = send_code(other, code)
    assert alerts(response) == [FAILED]
    assert not signed_in(other)


def test_a_code_that_is_not_six_digits_is_a_form_error_without_an_attempt(client, secret):
    sign_in(client)
    response = send_code(client, "12ab")
    assert "Enter the 6-digit code from your MFA device." in response.content.decode()
    assert not AuditEvent.objects.filter(event_name="ConsoleLogin").exists()


def test_a_code_without_a_password_step_goes_back_to_the_password(client, secret):
    response = send_code(client, code_now(secret))
    assert names(response.content.decode(), "h1") == ["Sign in as IAM user"]
    assert not signed_in(client)


def test_the_mfa_step_times_out(client, secret, settings):
    start = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False) as clock:
        sign_in(client)
        clock.shift(datetime.timedelta(seconds=settings.SIGNIN_MFA_STEP_SECONDS + 1))
        response = send_code(client, code_now(secret))
    html = response.content.decode()
    assert names(html, "h1") == ["Sign in as IAM user"]
    assert "Your sign-in timed out before the MFA code was entered." in html
    assert not signed_in(client)


def test_opening_the_sign_in_page_again_drops_the_pending_step(client, secret):
    sign_in(client)
    client.get("/signin")
    response = send_code(client, code_now(secret))
    assert names(response.content.decode(), "h1") == ["Sign in as IAM user"]


def test_the_mfa_step_needs_a_csrf_token(secret):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/signin")
    token = elements(page.content.decode(), "input",
                     name="csrfmiddlewaretoken")[0]["attrs"]["value"]
    mfa_page = sign_in(client, csrfmiddlewaretoken=token)
    assert names(mfa_page.content.decode(), "h1") == ["Multi-factor authentication"]
    assert send_code(client, code_now(secret)).status_code == 403
    assert not signed_in(client)


# --- aws:MultiFactorAuthPresent -----------------------------------------------------------------

MFA_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*",
                   "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}],
}


def test_an_mfa_session_satisfies_aws_multi_factor_auth_present(client, admin, alice, secret):
    key = create_key(admin, alias="alias/payments")
    services.user_put_inline_policy(
        caller=services.Caller.scheduler(account_id=alice.account_id, region=REGION),
        user=alice, policy_name="mfa-only", document=json.dumps(MFA_ONLY))
    sign_in(client)
    send_code(client, code_now(secret))
    assert client.get(f"/kms/keys/{key.id}").status_code == 200
    record = AuditEvent.objects.filter(event_name="DescribeKey").order_by("-id").first()
    assert record.error_code == ""


def test_a_password_only_session_does_not(client, admin, alice):
    key = create_key(admin, alias="alias/payments")
    services.user_put_inline_policy(
        caller=services.Caller.scheduler(account_id=alice.account_id, region=REGION),
        user=alice, policy_name="mfa-only", document=json.dumps(MFA_ONLY))
    sign_in(client)
    assert signed_in(client)
    response = client.get(f"/kms/keys/{key.id}")
    assert response.status_code == 403
    assert "kms:DescribeKey" in response.content.decode()
    event = AuditEvent.objects.filter(event_name="DescribeKey").order_by("-id").first()
    assert event.error_code == "AccessDeniedException"


# --- the lockout on the page --------------------------------------------------------------------

def test_ten_wrong_passwords_lock_sign_in_and_the_page_says_so(client, alice, settings):
    settings.SIGNIN_LOCKOUT_ATTEMPTS = 10
    for _ in range(9):
        response = sign_in(client, password="wrong password!")
        assert alerts(response) == [FAILED]
    response = sign_in(client, password="wrong password!")
    assert alerts(response) == [FAILED, LOCKED]
    response = sign_in(client)
    assert alerts(response) == [FAILED, LOCKED]
    assert not signed_in(client)


def test_wrong_codes_lock_sign_in_on_the_mfa_page(client, secret, settings):
    settings.SIGNIN_LOCKOUT_ATTEMPTS = 3
    sign_in(client)
    send_code(client, wrong_code(secret))
    send_code(client, wrong_code(secret))
    response = send_code(client, wrong_code(secret))
    assert alerts(response) == [FAILED, LOCKED]
    response = send_code(client, code_now(secret))
    assert alerts(response) == [FAILED, LOCKED]
    assert not signed_in(client)


def test_the_sign_in_url_of_account_settings_fills_in_the_account(client, account):
    html = client.get("/signin?account=example").content.decode()
    assert elements(html, "input", name="account")[0]["attrs"]["value"] == "example"
    html = client.get('/signin?account="><script>alert(1)</script>').content.decode()
    assert "<script>alert(1)</script>" not in html


def test_a_role_switched_to_from_an_mfa_session_reports_mfa_authenticated(client, alice,
                                                                          secret):
    """The AssumedRole userIdentity's sessionContext says mfaAuthenticated "true" for console
    actions of a role the user switched to after an MFA sign-in."""
    operator = services.Caller.scheduler(account_id=alice.account_id, region=REGION)
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": alice.arn}, "Action": "sts:AssumeRole"}]}
    role = services.role_create(caller=operator, name="operator",
                                trust_policy=json.dumps(trust))
    services.policy_attach_role(caller=operator, role=role,
                                policy_arn="arn:aws:iam::aws:policy/AdministratorAccess")
    sign_in(client)
    send_code(client, code_now(secret))
    client.post("/iam/switch-role", {"account": "example", "role": "operator"})
    client.get("/kms/keys")
    event = AuditEvent.objects.filter(event_name="ListKeys").order_by("-id").first()
    identity = event.as_record()["userIdentity"]
    assert identity["type"] == "AssumedRole"
    assert identity["sessionContext"]["attributes"]["mfaAuthenticated"] == "true"


def test_a_device_secret_wrapped_under_another_root_key_fails_cleanly(client, secret, settings,
                                                                      caplog):
    # The database restored under the wrong root key (docs/deployment.md): the sign-in is
    # refused with the console's error page and an audited internal error, and the log says
    # which setting to check, without a traceback or the secret.
    import base64
    import os
    settings.KMS_ROOT_KEY = base64.b64encode(os.urandom(32)).decode()
    sign_in(client)
    with caplog.at_level("ERROR"):
        response = send_code(client, code_now(secret))
    assert response.status_code == 500
    assert "An internal error occurred." in response.content.decode()
    assert not signed_in(client)
    assert AuditEvent.objects.filter(event_name="ConsoleLogin").latest("id").error_code == (
        "KMSInternalException")
    assert "could not be unwrapped with the configured root key" in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
    assert secret not in caplog.text
