"""Switch role in the console: the top bar's Switch role -> the form (account id or alias, role,
display name) -> AssumeRole through grants.sts.role_assume (trust policy evaluated, the event
recorded); console actions then act as the assumed-role session (recorded with the AssumedRole
userIdentity and its sessionContext) until Switch back (which records nothing, as in AWS) or
until the one-hour console session expires, when the console falls back to the IAM user with a
flash message.

Shown allowed, denied (a trust policy that does not name the user: 403 with the explanation and
a failed AssumeRole event) and anonymous; CSRF enforced; the display name rendered inert.
"""

import datetime
import json

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from grants import services
from grants.builtin_policies import builtin_policy_arn
from grants.models import SessionCredential
from grants.switch_role import SESSION_KEY
from keys.models import Key
from tests.conftest import ACCOUNT_ID, caller_for, make_user
from tests.web.console_helpers import create_key, elements, names

SCRIPT = "<script>alert('x')</script>"


def trust(principal: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).latest("id")


def flashes(response) -> list[str]:
    html = response.content.decode()
    return [" ".join(e["text"].split()) for e in elements(html, "div")
            if "flash" in e["attrs"].get("class", "").split()]


def top_bar_user(html: str) -> str:
    return " ".join(names(html, "span", **{"class": "top-navigation__user-name"}))


@pytest.fixture
def alice(account):
    """A user with no permissions of her own: what she can do, she does as the role."""
    return make_user(account, "alice")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def ops_role(admin, alice):
    role = services.role_create(caller=caller_for(admin), name="ops",
                                trust_policy=trust(alice.arn))
    services.policy_attach_role(caller=caller_for(admin), role=role,
                                policy_arn=builtin_policy_arn("AdministratorAccess"))
    return role


@pytest.fixture
def key(admin):
    return create_key(admin, alias="alias/payments")


def switch(client, **changes):
    data = {"account": "example", "role": "ops", "display_name": "Ops"}
    data.update(changes)
    return client.post("/iam/switch-role", data, follow=True)


def test_the_top_bar_offers_switch_role(alice_client):
    html = alice_client.get("/kms/keys").content.decode()
    menu = html.split('aria-label="User menu"', 1)[1].split("</ul>", 1)[0]
    assert names("<ul" + menu, "a") == ["Switch role", "Change password"]
    assert names("<ul" + menu, "button") == ["Sign out"]
    assert elements(html, "a", href="/iam/switch-role")


def test_the_form_asks_for_account_role_and_display_name_and_is_filled_from_a_link(
        alice_client):
    html = alice_client.get("/iam/switch-role", {"account": ACCOUNT_ID,
                                                 "roleName": "ops"}).content.decode()
    assert names(html, "label")[-3:] == ["Account ID or alias", "IAM role name",
                                          "Display name"]
    values = {e["attrs"]["name"]: e["attrs"].get("value") for e in elements(html, "input")}
    assert (values["account"], values["role"], values["display_name"]) == (ACCOUNT_ID, "ops",
                                                                            "")
    assert "Switch Role" in names(html, "button")


def test_switching_assumes_the_role_and_the_top_bar_shows_it(alice_client, alice, ops_role):
    response = switch(alice_client)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == "/kms/keys"
    assert flashes(response) == ["You are now using the role ops in account example."]
    assert top_bar_user(html) == "Ops / ops @ example"
    assert "Switch back" in names(html, "button")
    event = last_event("AssumeRole")
    assert (event.event_source, event.source, event.principal_arn, event.error_code) == (
        "sts.amazonaws.com", "console", alice.arn, "")
    assert event.request_parameters == {"roleArn": ops_role.arn, "roleSessionName": "alice",
                                        "durationSeconds": 3600}
    session = SessionCredential.objects.get()
    assert alice_client.session[SESSION_KEY]["access_key_id"] == session.access_key_id
    assert "secret" not in json.dumps(alice_client.session[SESSION_KEY]).lower()


def test_the_console_role_session_lasts_one_hour(alice_client, ops_role):
    switch(alice_client)
    session = SessionCredential.objects.get()
    lasts = session.expires_at - session.created_at
    assert datetime.timedelta(minutes=59) < lasts <= datetime.timedelta(hours=1)


def test_the_display_name_defaults_to_role_at_account(alice_client, ops_role):
    html = switch(alice_client, display_name="", account=ACCOUNT_ID).content.decode()
    assert top_bar_user(html) == f"ops @ {ACCOUNT_ID}"
    assert alice_client.session[SESSION_KEY]["display_name"] == f"ops @ {ACCOUNT_ID}"


def test_actions_while_switched_are_recorded_as_the_assumed_role(alice_client, alice,
                                                                 ops_role, key):
    switch(alice_client)
    response = alice_client.post(f"/kms/keys/{key.id}/disable", follow=True)
    assert flashes(response) == [f"Key {key.id} was disabled."]
    assert Key.objects.get(pk=key.pk).key_state == "Disabled"
    identity = last_event("DisableKey").user_identity
    assert identity["type"] == "AssumedRole"
    assert identity["arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/ops/alice"
    assert identity["sessionContext"]["sessionIssuer"] == {
        "type": "Role", "principalId": ops_role.unique_id, "arn": ops_role.arn,
        "accountId": ACCOUNT_ID, "userName": "ops"}
    assert identity["accessKeyId"] == SessionCredential.objects.get().access_key_id


def test_switch_back_returns_to_the_user_and_records_nothing(alice_client, alice, ops_role,
                                                             key):
    switch(alice_client)
    before = AuditEvent.objects.count()
    response = alice_client.post("/iam/switch-role/back", {"next": "/iam/switch-role"},
                                 follow=True)
    assert AuditEvent.objects.count() == before  # AWS records nothing for switching back
    assert response.redirect_chain[-1][0] == "/iam/switch-role"
    assert flashes(response) == ["You switched back to alice."]
    assert top_bar_user(response.content.decode()) == "alice"
    assert SESSION_KEY not in alice_client.session
    # As herself again, alice may not disable keys.
    assert alice_client.post(f"/kms/keys/{key.id}/disable").status_code == 403
    assert last_event("DisableKey").user_identity["type"] == "IAMUser"


def test_an_expired_role_session_falls_back_to_the_user_with_a_message(alice_client, alice,
                                                                       ops_role):
    switch(alice_client)
    SessionCredential.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    response = alice_client.get("/iam/roles")
    assert flashes(response) == [
        "Your role session has expired. You are signed in as your IAM user again; switch "
        "role to continue as the role."]
    assert response.status_code == 403  # alice herself may not list roles
    assert last_event("ListRoles").principal_arn == alice.arn
    assert top_bar_user(response.content.decode()) == "alice"
    assert SESSION_KEY not in alice_client.session


def test_deleting_the_role_ends_the_console_session(alice_client, admin, alice, ops_role):
    switch(alice_client)
    services.policy_detach_role(caller=caller_for(admin), role=ops_role,
                                policy_arn=builtin_policy_arn("AdministratorAccess"))
    services.role_delete(caller=caller_for(admin), role=ops_role)
    response = alice_client.get("/kms/keys")
    assert len(flashes(response)) == 1 and "expired" in flashes(response)[0]
    assert top_bar_user(response.content.decode()) == "alice"


def test_another_users_session_is_never_used(client, account, alice, ops_role):
    other = make_user(account, "bob")
    alice_client = Client()
    alice_client.force_login(alice)
    switch(alice_client)
    client.force_login(other)
    session = client.session
    session[SESSION_KEY] = alice_client.session[SESSION_KEY]  # a forged copy
    session.save()
    client.get("/iam/roles")
    assert last_event("ListRoles").user_identity["type"] == "IAMUser"
    assert last_event("ListRoles").principal_arn == other.arn


def test_switching_to_a_role_whose_trust_policy_does_not_name_the_user_is_refused(
        client, account, alice, ops_role):
    mallory = make_user(account, "mallory")
    client.force_login(mallory)
    response = client.post("/iam/switch-role", {"account": ACCOUNT_ID, "role": "ops"})
    html = response.content.decode()
    assert response.status_code == 403
    assert "AccessDeniedException" in html and "sts:AssumeRole" in html
    event = last_event("AssumeRole")
    assert (event.principal_arn, event.error_code) == (mallory.arn, "AccessDenied")
    assert SESSION_KEY not in client.session and not SessionCredential.objects.exists()


def test_an_unknown_account_or_role_is_refused_like_a_denied_one(alice_client, ops_role):
    for data in ({"account": "nowhere", "role": "ops"},
                 {"account": "example", "role": "ghost"}):
        response = alice_client.post("/iam/switch-role", data)
        assert response.status_code == 403
        assert last_event("AssumeRole").error_code == "AccessDenied"


def test_bad_input_is_explained_on_the_form(alice_client):
    response = alice_client.post("/iam/switch-role", {"account": "", "role": "a b"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "This field is required." in html and "Enter a role name" in html
    assert not AuditEvent.objects.filter(event_name="AssumeRole").exists()


def test_switching_while_switched_acts_as_the_user_not_the_role(alice_client, alice, admin,
                                                                ops_role):
    services.role_create(caller=caller_for(admin), name="audit", trust_policy=trust(alice.arn))
    switch(alice_client)
    html = switch(alice_client, role="audit", display_name="Audit").content.decode()
    assert top_bar_user(html) == "Audit / audit @ example"
    assert last_event("AssumeRole").principal_arn == alice.arn  # no role chaining


def test_the_display_name_is_rendered_inert(alice_client, ops_role):
    html = switch(alice_client, display_name=SCRIPT).content.decode()
    assert SCRIPT not in html and "&lt;script&gt;" in html


def test_switch_role_enforces_csrf(alice, ops_role):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/iam/switch-role", {"account": "example", "role": "ops"})
    assert response.status_code == 403
    assert not SessionCredential.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("method, url", [("get", "/iam/switch-role"),
                                         ("post", "/iam/switch-role"),
                                         ("post", "/iam/switch-role/back")])
def test_switch_role_sends_anonymous_visitors_to_sign_in(client, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 302 and response["Location"].startswith("/signin")
