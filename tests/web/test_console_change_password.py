"""Password expiry, forced reset and Change password (IAM's ChangePassword) in the console.

A password older than the policy's MaxPasswordAge, or a user whose administrator asked for a
new password at next sign-in, signs in (ConsoleLogin Success, as AWS records it) and is sent to
Change password; until it is changed no other console page is served. Under HardExpiry the
expired password signs nothing in and the page says to contact the administrator. A signed-in
user changes their own password from the top bar's link when the password policy lets users
change their own password or their policies allow iam:ChangePassword; the change is a
ChangePassword event from iam.amazonaws.com holding no password.
"""

import datetime
import json

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from grants import mfa, services
from grants.middleware import PASSWORD_CHANGE_SESSION_KEY
from grants.models import PasswordPolicy, User
from grants.principals import Caller
from tests.conftest import REGION, caller_for, make_user
from tests.web.console_helpers import elements, enabled_mfa_device, names

OLD = "correct horse battery"
NEW = "Correct-Horse-9-battery"
EXPIRED_MESSAGE = ("Your password has expired. Contact your administrator to reset your "
                   "password, then sign in again.")
CHANGE_URL = "/iam/change-password"


def sign_in(client, username="alice", password=OLD, **extra):
    return client.post("/signin", {"account": "example", "username": username,
                                   "password": password, **extra})


def change(client, old=OLD, new=NEW, confirm=None, **extra):
    return client.post(CHANGE_URL, {"old_password": old, "new_password": new,
                                    "confirm_password": new if confirm is None else confirm,
                                    **extra})


def events(name: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_name=name).order_by("id"))


def alerts(response) -> list[str]:
    return [" ".join(e["text"].split()) for e in elements(response.content.decode(), "div",
                                                          role="alert")]


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def policy(account, **fields) -> PasswordPolicy:
    return PasswordPolicy.objects.create(account=account, **fields)


def age_password(user: User, days: int) -> None:
    User.objects.filter(pk=user.pk).update(
        password_changed_at=timezone.now() - datetime.timedelta(days=days))


@pytest.fixture
def alice(account):
    return make_user(account, "alice")


@pytest.fixture
def expiring(account, alice):
    """Passwords last 30 days and users may change their own; alice's is 31 days old."""
    policy(account, max_password_age=30, allow_users_to_change_password=True)
    age_password(alice, 31)
    return alice


# --- expiry at sign-in --------------------------------------------------------------------------

def test_an_expired_password_signs_in_to_the_change_password_page(client, expiring):
    response = sign_in(client, next="/kms/aliases")
    assert response.status_code == 302
    assert response["Location"] == f"{CHANGE_URL}?next=%2Fkms%2Faliases"
    assert signed_in(client) and client.session[PASSWORD_CHANGE_SESSION_KEY] is True
    [login] = events("ConsoleLogin")
    record = login.as_record()
    # What AWS records for the sign-in itself: it succeeded; the change follows.
    assert record["responseElements"] == {"ConsoleLogin": "Success"}
    assert set(record["additionalEventData"]) == {"LoginTo", "MobileVersion", "MFAUsed"}
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert names(html, "h1") == ["Change password"]
    assert names(html, "label") == ["Old password", "New password", "Confirm new password"]
    assert "You must change your password to continue." in html
    assert not elements(html, "nav", aria_label="Side navigation")
    assert "Sign out" in names(html, "button")


def test_a_password_within_its_maximum_age_signs_in_as_usual(client, account, alice):
    policy(account, max_password_age=30)
    age_password(alice, 29)
    response = sign_in(client)
    assert response["Location"] == "/kms/keys"
    assert PASSWORD_CHANGE_SESSION_KEY not in client.session


def test_a_password_without_a_change_date_ages_from_the_users_creation(client, account, alice):
    policy(account, max_password_age=30)
    User.objects.filter(pk=alice.pk).update(
        password_changed_at=None, created_at=timezone.now() - datetime.timedelta(days=40))
    assert sign_in(client)["Location"].startswith(CHANGE_URL)


@pytest.mark.parametrize("path", ["/kms/keys", "/iam/users", "/iam/users/create",
                                  "/iam/switch-role", "/cloudtrail/events"])
def test_no_other_console_page_is_served_until_the_password_is_changed(client, expiring,
                                                                       path):
    sign_in(client)
    since = AuditEvent.objects.count()
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{CHANGE_URL}?next=")
    assert client.post(path, {}).status_code == 302
    assert AuditEvent.objects.count() == since  # nothing behind the pages ran


def test_an_htmx_request_is_sent_to_the_change_page_as_a_whole_page(client, expiring):
    sign_in(client)
    response = client.get("/kms/keys", HTTP_HX_REQUEST="true")
    assert response.headers["HX-Redirect"].startswith(CHANGE_URL)


def test_changing_the_expired_password_opens_the_console(client, expiring):
    sign_in(client, next="/kms/aliases")
    response = change(client, next="/kms/aliases")
    assert response.status_code == 302 and response["Location"] == "/kms/aliases"
    assert PASSWORD_CHANGE_SESSION_KEY not in client.session
    # The session survived the change and the console is served (alice may list no keys).
    assert client.get("/kms/keys").status_code == 403
    alice = User.objects.get(pk=expiring.pk)
    assert alice.check_password(NEW) and not alice.password_reset_required
    assert timezone.now() - alice.password_changed_at < datetime.timedelta(minutes=1)
    [event] = events("ChangePassword")
    record = event.as_record()
    assert (record["eventSource"], record["userIdentity"]["arn"]) == ("iam.amazonaws.com",
                                                                      alice.arn)
    assert "errorCode" not in record and record["readOnly"] is False
    assert OLD not in json.dumps(record) and NEW not in json.dumps(record)


def test_a_wrong_old_password_is_refused_on_the_form_and_recorded(client, expiring):
    sign_in(client)
    response = change(client, old="not my password")
    assert response.status_code == 400
    assert "The old password is incorrect." in response.content.decode()
    assert events("ChangePassword")[0].error_code == "InvalidUserType"
    assert client.session[PASSWORD_CHANGE_SESSION_KEY] is True
    assert User.objects.get(pk=expiring.pk).check_password(OLD)


def test_a_new_password_the_policy_refuses_is_a_policy_violation(client, account, alice):
    policy(account, max_password_age=30, allow_users_to_change_password=True,
           minimum_password_length=30)
    age_password(alice, 31)
    sign_in(client)
    response = change(client)
    assert response.status_code == 400
    assert "Password should have a minimum length of 30." in response.content.decode()
    assert events("ChangePassword")[0].error_code == "PasswordPolicyViolation"


def test_the_old_password_cannot_come_back(client, expiring):
    sign_in(client)
    response = change(client, new=OLD)
    assert response.status_code == 400
    assert "must be different from the old password" in response.content.decode()


def test_reuse_prevention_refuses_an_earlier_password(client, account, alice):
    policy(account, allow_users_to_change_password=True, password_reuse_prevention=3)
    client.force_login(alice)
    assert change(client).status_code == 302
    response = change(client, old=NEW, new=OLD)
    assert response.status_code == 400
    assert "previous passwords" in response.content.decode()


def test_confirmation_must_match_and_records_nothing(client, expiring):
    sign_in(client)
    response = change(client, confirm="Something-else-1")
    assert response.status_code == 400
    assert "The passwords do not match." in response.content.decode()
    assert events("ChangePassword") == []


def test_sign_out_stays_open_while_the_password_must_change(client, expiring):
    sign_in(client)
    assert client.post("/signout").status_code == 302
    assert not signed_in(client)


# --- HardExpiry -----------------------------------------------------------------------------------

def test_a_hard_expired_password_cannot_sign_in(client, account, alice):
    policy(account, max_password_age=30, hard_expiry=True, allow_users_to_change_password=True)
    age_password(alice, 31)
    response = sign_in(client)
    assert response.status_code == 200 and not signed_in(client)
    assert alerts(response) == [EXPIRED_MESSAGE]
    [login] = events("ConsoleLogin")
    record = login.as_record()
    assert record["responseElements"] == {"ConsoleLogin": "Failure"}
    assert record["errorCode"] == "Failed authentication"
    assert "HardExpiry" in record["errorMessage"]
    assert record["userIdentity"]["arn"] == alice.arn
    # The password was right: nothing counts towards the lockout.
    assert User.objects.get(pk=alice.pk).failed_signin_count == 0


def test_a_hard_expired_password_reset_by_the_administrator_signs_in_again(client, account,
                                                                          admin, alice):
    policy(account, max_password_age=30, hard_expiry=True)
    age_password(alice, 31)
    services.user_set_password(caller=caller_for(admin), user=alice, password=NEW)
    assert sign_in(client, password=NEW)["Location"] == "/kms/keys"


@pytest.fixture
def alice_mfa_secret(alice):
    return enabled_mfa_device(alice)


def test_with_mfa_expiry_is_checked_after_the_code(client, expiring, alice_mfa_secret):
    response = sign_in(client)
    assert names(response.content.decode(), "h1") == ["Multi-factor authentication"]
    response = client.post("/signin", {"step": "mfa", "mfa_code": mfa.totp_code(
        alice_mfa_secret, mfa.current_step())})
    assert response["Location"].startswith(CHANGE_URL)
    assert events("ConsoleLogin")[0].as_record()["additionalEventData"]["MFAUsed"] == "Yes"


def test_with_mfa_a_hard_expired_password_is_refused_after_the_code(client, account, alice,
                                                                    alice_mfa_secret):
    policy(account, max_password_age=30, hard_expiry=True)
    age_password(alice, 31)
    sign_in(client)
    response = client.post("/signin", {"step": "mfa", "mfa_code": mfa.totp_code(
        alice_mfa_secret, mfa.current_step())})
    assert response.status_code == 200 and not signed_in(client)
    assert alerts(response) == [EXPIRED_MESSAGE]


# --- "Users must create a new password at next sign-in" ------------------------------------------

@pytest.fixture
def admin_client(admin):
    client = Client()
    client.force_login(admin)
    return client


def test_create_user_can_require_a_new_password_at_next_sign_in(admin_client, account):
    response = admin_client.post("/iam/users/create", {
        "name": "carol", "console_access": "on", "password_type": "custom",
        "password": NEW, "password_reset_required": "on"})
    assert response.status_code == 200
    assert User.objects.get(name="carol").password_reset_required
    [event] = events("CreateLoginProfile")
    assert event.request_parameters == {"userName": "carol", "passwordResetRequired": True}
    # As in AWS's console, carol gets IAMUserChangePassword, so no password policy is needed.
    [attached] = [e for e in events("AttachUserPolicy")
                  if (e.request_parameters or {}).get("userName") == "carol"]
    assert attached.request_parameters == {
        "userName": "carol", "policyArn": "arn:aws:iam::aws:policy/IAMUserChangePassword"}
    carol = Client()
    assert sign_in(carol, username="carol", password=NEW)["Location"].startswith(CHANGE_URL)
    assert change(carol, old=NEW, new="Another-9-password").status_code == 302
    assert not User.objects.get(name="carol").password_reset_required
    assert carol.get("/kms/keys").status_code == 403  # served (carol may list no keys)


def test_a_console_password_reset_can_require_a_new_password(admin_client, account, alice):
    html = admin_client.get(f"/iam/users/details/{alice.name}/console-access").content.decode()
    assert "Users must create a new password at next sign-in - recommended" in names(html,
                                                                                 "label")
    response = admin_client.post(f"/iam/users/details/{alice.name}/console-access", {
        "console_access": "enable", "password_type": "custom", "password": NEW,
        "password_reset_required": "on"})
    assert response.status_code == 302
    [event] = events("UpdateLoginProfile")
    assert event.request_parameters == {"userName": "alice", "passwordResetRequired": True}
    assert User.objects.get(pk=alice.pk).password_reset_required
    def attached_to_alice() -> list[str]:
        return [e.request_parameters["policyArn"] for e in events("AttachUserPolicy")
                if (e.request_parameters or {}).get("userName") == "alice"]

    assert attached_to_alice() == ["arn:aws:iam::aws:policy/IAMUserChangePassword"]
    assert sign_in(Client(), password=NEW)["Location"].startswith(CHANGE_URL)
    admin_client.post(f"/iam/users/details/{alice.name}/console-access", {
        "console_access": "enable", "password_type": "custom", "password": NEW + "x",
        "password_reset_required": "on"})
    assert len(attached_to_alice()) == 1  # attached already: not again


def test_the_create_user_page_ticks_the_new_password_requirement_at_first(admin_client):
    html = admin_client.get("/iam/users/create").content.decode()
    [checkbox] = elements(html, "input", name="password_reset_required")
    assert "checked" in checkbox["attrs"]


def test_without_the_checkbox_no_reset_is_required(admin_client, alice):
    admin_client.post(f"/iam/users/details/{alice.name}/console-access", {
        "console_access": "enable", "password_type": "custom", "password": NEW})
    assert not User.objects.get(pk=alice.pk).password_reset_required
    assert events("UpdateLoginProfile")[0].request_parameters["passwordResetRequired"] is False


# --- Change password from the top bar (allowed, denied, anonymous) ------------------------------

def test_the_top_bar_links_to_change_password(client, alice):
    client.force_login(alice)
    html = client.get("/kms/aliases").content.decode()
    menu = html.split('aria-label="User menu"', 1)[1].split("</ul>", 1)[0]
    [link] = elements("<ul" + menu, "a", href=f"{CHANGE_URL}?next=/kms/aliases")
    assert link["text"] == "Change password"
    html = client.get(link["attrs"]["href"]).content.decode()
    assert "You must change your password" not in html
    assert [e["attrs"]["href"] for e in elements(html, "a") if e["text"] == "Cancel"] == [
        "/kms/aliases"]


def test_the_password_policy_lets_users_change_their_own_password(client, account, alice):
    policy(account, allow_users_to_change_password=True)
    client.force_login(alice)  # no identity policy at all
    response = change(client, next="/iam/users")
    assert response.status_code == 302 and response["Location"] == "/iam/users"
    assert User.objects.get(pk=alice.pk).check_password(NEW)
    assert events("ChangePassword")[0].error_code == ""


def test_an_identity_policy_allowing_change_password_is_enough(client, account, alice):
    allow_own = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "iam:ChangePassword",
        "Resource": "arn:aws:iam::*:user/${aws:username}"}]}
    services.user_put_inline_policy(caller=Caller.scheduler(account_id=account.id,
                                                            region=REGION),
                                    user=alice, policy_name="self", document=json.dumps(
                                        allow_own))
    client.force_login(alice)
    assert change(client).status_code == 302
    assert User.objects.get(pk=alice.pk).check_password(NEW)


def test_change_password_is_denied_without_permission(client, alice):
    client.force_login(alice)
    response = change(client)
    assert response.status_code == 403
    assert "iam:ChangePassword" in response.content.decode()
    [event] = events("ChangePassword")
    assert event.error_code == "AccessDenied"
    assert User.objects.get(pk=alice.pk).check_password(OLD)


def test_an_explicit_deny_overrides_the_password_policy(client, account, alice):
    policy(account, allow_users_to_change_password=True)
    deny = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": "iam:ChangePassword", "Resource": "*"}]}
    services.user_put_inline_policy(caller=Caller.scheduler(account_id=account.id,
                                                            region=REGION),
                                    user=alice, policy_name="no", document=json.dumps(deny))
    client.force_login(alice)
    assert change(client).status_code == 403
    assert User.objects.get(pk=alice.pk).check_password(OLD)


def test_the_password_policy_does_not_let_a_user_change_anothers_password(account, alice):
    from grants.passwords import password_change_allowed

    policy(account, allow_users_to_change_password=True)
    bob = make_user(account, "bob")
    allowed, _decision = password_change_allowed(caller_for(bob), alice)
    assert not allowed


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_visitors_are_sent_to_sign_in(client, method):
    response = getattr(client, method)(CHANGE_URL)
    assert response.status_code == 302
    assert response["Location"] == f"/signin?next={CHANGE_URL}"
    assert not AuditEvent.objects.exists()
