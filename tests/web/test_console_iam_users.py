"""The console's IAM Users pages: the list (console access, MFA, access keys, last activity,
filter), Create user (console password, access key and policies at once, with its one-time
"Retrieve password" page), a user's detail page (Summary; Permissions with attach/detach and
inline policies; Security credentials with the console password, the MFA container and access
keys; Access: the keys that name the user; Audit: the user's requests) and Delete user, which
removes the user's credentials and policies first.

Each page is shown allowed (the administrator; every change asserts its IAM audit event),
denied (a signed-in user without permission: 403 with the explanation and a failed event) and
anonymous (sent to sign in); forms enforce CSRF and user text is rendered inert.
"""

import csv
import io
import json
from urllib.parse import unquote

import pytest
from django.test import Client

from audit.models import AuditEvent
from grants import mfa, services, users
from grants.builtin_policies import builtin_policy_arn
from grants.models import AccessKey, PasswordPolicy, User
from grants.principals import Caller
from keys import services as key_services
from tests.api.helpers import signed_post
from tests.conftest import ACCOUNT_ID, REGION, caller_for, make_user
from tests.web.console_helpers import create_key, elements, name_of, names, table_rows

SCRIPT = "<script>alert('x')</script>"
READ_ONLY = builtin_policy_arn("KMSReadOnly")
ADMIN_ACCESS = builtin_policy_arn("AdministratorAccess")
KEY_ADMIN = builtin_policy_arn("KMSKeyAdministrator")
CHANGE_PASSWORD = builtin_policy_arn("IAMUserChangePassword")
STRONG_PASSWORD = "Tr0ub4dor&3-horse"


def document(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=4)


def allow(action="kms:DescribeKey", resource="*") -> str:
    return document({"Effect": "Allow", "Action": action, "Resource": resource})


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).latest("id")


def event_names_of(request_id: str) -> list[str]:
    return list(AuditEvent.objects.filter(request_id=request_id).order_by("id")
                .values_list("event_name", flat=True))


def flashes(response) -> list[str]:
    html = response.content.decode()
    return [" ".join(e["text"].split()) for e in elements(html, "div")
            if "flash" in e["attrs"].get("class", "").split()]


def text_of(html: str, tag: str, **attrs) -> str:
    return " ".join(elements(html, tag, **attrs)[0]["text"].split())


def csv_rows(html: str) -> list[list[str]]:
    """The rows of the page's "Download .csv file" (a data: URL)."""
    link = next(e for e in elements(html, "a") if "download" in e["attrs"])
    href = link["attrs"]["href"]
    assert href.startswith("data:text/csv;charset=utf-8,")
    return list(csv.reader(io.StringIO(unquote(href.split(",", 1)[1]))))


def scheduler() -> Caller:
    return Caller.scheduler(account_id=ACCOUNT_ID, region=REGION)


@pytest.fixture
def nobody(account):
    return make_user(account, "nobody")


@pytest.fixture
def nobody_client(client, nobody):
    client.force_login(nobody)
    return client


@pytest.fixture
def reader_client(client, account):
    """A user who may read IAM (iam:Get*, iam:List*) but change nothing."""
    reader = make_user(account, "reader")
    services.user_put_inline_policy(caller=scheduler(), user=reader, policy_name="read-iam",
                                    document=allow(["iam:Get*", "iam:List*"]))
    client.force_login(reader)
    return client


@pytest.fixture
def alice(account):
    """A user with a console password, one access key and a policy."""
    user = make_user(account, "alice", STRONG_PASSWORD)
    services.policy_attach_user(caller=scheduler(), user=user, policy_arn=READ_ONLY)
    return user


@pytest.fixture
def alice_key(alice):
    return services.access_key_create(caller=scheduler(), user=alice)


def use_access_key(client, credentials) -> None:
    """A real API request signed with the key (ListKeys), so the key has been used."""
    response = signed_post(client, "ListKeys", {}, credentials)
    assert response.status_code in (200, 400)


def user_row(html: str, name: str) -> list[str]:
    return next(row for row in table_rows(html) if row[0] == name)


# --- the list -----------------------------------------------------------------------------------

def test_the_users_list_shows_console_access_mfa_access_keys_and_last_activity(
        signed_in, admin, alice, alice_key, account):
    use_access_key(Client(), (alice_key[0].access_key_id, alice_key[1]))
    services.user_create(caller=caller_for(admin), name="build-bot")
    response = signed_in.get("/iam/users")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Users (3)"]
    assert [row[0] for row in table_rows(html)] == ["admin", "alice", "build-bot"]
    name, path, console, mfa_column, keys, signin, activity, created = user_row(html, "alice")
    assert (path, console, mfa_column, keys, signin) == ("/", "Enabled", "Not assigned",
                                                         "1 (1 active)", "Never")
    assert activity.endswith("ago") and created.endswith("UTC")
    assert user_row(html, "build-bot")[2:7] == ["Disabled", "Not assigned", "-", "-", "Never"]
    assert elements(html, "a", href="/iam/users/details/alice")
    assert "Create user" in names(html, "a")
    event = last_event("ListUsers")
    assert (event.event_source, event.source, event.error_code) == (
        "iam.amazonaws.com", "console", "")


def test_the_users_list_shows_an_assigned_mfa_device_and_the_last_sign_in(
        signed_in, alice):
    device, secret = mfa.mfa_device_create(caller=scheduler(), user=alice, device_name="alice")
    step = mfa.current_step()
    mfa.mfa_device_enable(caller=scheduler(), user=alice,
                          authentication_code_1=mfa.totp_code(secret, step - 1),
                          authentication_code_2=mfa.totp_code(secret, step))
    User.objects.filter(pk=alice.pk).update(last_signin_at=device.created_at)
    row = user_row(signed_in.get("/iam/users").content.decode(), "alice")
    assert row[3] == "Assigned"
    assert row[5].endswith("ago") and row[6].endswith("ago")


def test_the_users_list_filters_by_name_and_answers_htmx_with_the_table(signed_in, alice):
    html = signed_in.get("/iam/users", {"name": "LIC"}).content.decode()
    assert [row[0] for row in table_rows(html)] == ["alice"]
    fragment = signed_in.get("/iam/users", {"name": "ali"}, HTTP_HX_REQUEST="true")
    text = fragment.content.decode()
    assert text.lstrip().startswith('<section id="user-table"')
    assert [row[0] for row in table_rows(text)] == ["alice"]
    empty = signed_in.get("/iam/users", {"name": "zzz"}).content.decode()
    assert "No users match the filter." in empty


def test_the_users_filter_is_rendered_inert(signed_in):
    html = signed_in.get("/iam/users", {"name": SCRIPT}).content.decode()
    assert SCRIPT not in html and "&lt;script&gt;" in html


def test_the_users_list_is_refused_to_a_user_without_permission(nobody_client, nobody):
    response = nobody_client.get("/iam/users")
    html = response.content.decode()
    assert response.status_code == 403
    assert "AccessDeniedException" in html and "iam:ListUsers" in html
    assert "<tbody>" not in html
    event = last_event("ListUsers")
    assert (event.principal_arn, event.error_code) == (nobody.arn, "AccessDenied")


def test_the_side_navigation_links_to_users(signed_in):
    html = signed_in.get("/iam/users").content.decode()
    current = elements(html, "a", aria_current="page")
    assert [name for name in names(html, "a") if name == "Users"]
    assert any(e["attrs"]["href"] == "/iam/users" for e in current)


ANONYMOUS_URLS = [
    ("get", "/iam/users"),
    ("get", "/iam/users/create"),
    ("post", "/iam/users/create"),
    ("get", "/iam/users/details/alice"),
    ("post", "/iam/users/details/alice/attach"),
    ("post", "/iam/users/details/alice/detach"),
    ("post", "/iam/users/details/alice/inline/create"),
    ("post", "/iam/users/details/alice/inline/p/edit"),
    ("post", "/iam/users/details/alice/inline/p/delete"),
    ("get", "/iam/users/details/alice/security-credentials"),
    ("post", "/iam/users/details/alice/console-access"),
    ("post", "/iam/users/details/alice/access-keys/create"),
    ("post", "/iam/users/details/alice/access-keys/AKIAEXAMPLE000000001/status"),
    ("post", "/iam/users/details/alice/access-keys/AKIAEXAMPLE000000001/delete"),
    ("get", "/iam/users/details/alice/access"),
    ("get", "/iam/users/details/alice/audit"),
    ("post", "/iam/users/details/alice/delete"),
]


@pytest.mark.parametrize("method, url", ANONYMOUS_URLS)
def test_users_pages_send_anonymous_visitors_to_sign_in(client, alice, method, url):
    before = AuditEvent.objects.count()
    response = getattr(client, method)(url)
    assert response.status_code == 302 and response["Location"].startswith("/signin")
    assert User.objects.filter(name="alice").exists()
    assert AuditEvent.objects.count() == before  # nothing ran, nothing was recorded


# --- Create user --------------------------------------------------------------------------------

def create_data(**changes) -> dict:
    data = {"name": "carol", "console_access": "on", "password_type": "autogenerated",
            "password": "", "create_access_key": "on", "policies": [READ_ONLY]}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_create_user_page_offers_console_access_access_key_and_every_policy(signed_in):
    html = signed_in.get("/iam/users/create").content.decode()
    assert names(html, "h1") == ["Create user"]
    assert "Provide user access to the AWS Management Console" in html
    radios = [e["attrs"]["value"] for e in elements(html, "input", type="radio",
                                                       name="password_type")]
    assert radios == ["autogenerated", "custom"]
    assert elements(html, "input", type="checkbox", name="create_access_key")
    policies = [e["attrs"]["value"] for e in elements(html, "input", name="policies")]
    assert policies == [ADMIN_ACCESS, CHANGE_PASSWORD, KEY_ADMIN, READ_ONLY]
    labelled = {e["attrs"]["for"] for e in elements(html, "label") if "for" in e["attrs"]}
    fields = [e for e in elements(html, "input")
              if e["attrs"].get("type") in ("text", "password")]
    assert fields and all(e["attrs"]["id"] in labelled for e in fields)
    checkboxes = [e for e in elements(html, "input", type="checkbox")]
    assert all(e["attrs"].get("aria-label") or e["attrs"]["name"] in (
        "console_access", "password_reset_required", "create_access_key")
        for e in checkboxes)


def test_create_user_shows_the_password_and_the_secret_once_with_a_csv(signed_in, account):
    response = signed_in.post("/iam/users/create", create_data())
    html = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert names(html, "h1") == ["Retrieve password"]
    user = User.objects.get(name="carol")
    access_key = AccessKey.objects.get(user=user)
    password = text_of(html, "span", id="console-password")
    secret = text_of(html, "dd", id="secret-access-key")
    assert user.check_password(password) and access_key.secret() == secret
    assert text_of(html, "dd", id="access-key-id") == access_key.access_key_id
    sign_in = "http://testserver/signin?account=example"
    assert elements(html, "a", href=sign_in)
    assert csv_rows(html) == [
        ["User name", "Password", "Access key ID", "Secret access key", "Console sign-in link"],
        ["carol", password, access_key.access_key_id, secret, sign_in]]
    download = next(e for e in elements(html, "a") if "download" in e["attrs"])
    assert download["attrs"]["download"] == "carol_credentials.csv"
    assert names(html, "a").count("Download .csv file") == 1
    assert list(user.attached_policies.values_list("arn", flat=True)) == [READ_ONLY]


def test_create_user_records_each_step_as_its_own_iam_event(signed_in, admin):
    signed_in.post("/iam/users/create", create_data())
    # One console request: the page's ListPolicies, then each step of the creation.
    steps = ["CreateUser", "CreateLoginProfile", "AttachUserPolicy", "CreateAccessKey"]
    assert event_names_of(last_event("CreateUser").request_id) == ["ListPolicies", *steps]
    for name in steps:
        event = last_event(name)
        assert (event.event_source, event.principal_arn, event.error_code, event.source) == (
            "iam.amazonaws.com", admin.arn, "", "console")
    assert last_event("AttachUserPolicy").request_parameters == {
        "userName": "carol", "policyArn": READ_ONLY}


def test_create_user_without_console_access_or_access_key(signed_in):
    response = signed_in.post("/iam/users/create", create_data(
        console_access=None, create_access_key=None, policies=[]))
    html = response.content.decode()
    assert response.status_code == 200
    user = User.objects.get(name="carol")
    assert not user.has_usable_password() and not user.access_keys.exists()
    assert "Disabled" in html and "secret-access-key" not in html
    assert csv_rows(html)[1] == ["carol", "", "", "", ""]
    assert event_names_of(last_event("CreateUser").request_id) == ["ListPolicies",
                                                                   "CreateUser"]


def test_create_user_with_a_custom_password_does_not_show_it(signed_in):
    response = signed_in.post("/iam/users/create", create_data(
        password_type="custom", password=STRONG_PASSWORD, create_access_key=None))
    html = response.content.decode()
    assert response.status_code == 200
    assert User.objects.get(name="carol").check_password(STRONG_PASSWORD)
    assert STRONG_PASSWORD not in html
    assert "The custom password you chose (not shown)" in html


def test_a_password_the_policy_refuses_creates_nothing_and_stays_audited(signed_in, account):
    PasswordPolicy.objects.create(account=account, minimum_password_length=20)
    response = signed_in.post("/iam/users/create", create_data(
        password_type="custom", password=STRONG_PASSWORD))
    html = response.content.decode()
    assert response.status_code == 400
    assert "Password should have a minimum length of 20." in html
    assert STRONG_PASSWORD not in html
    assert not User.objects.filter(name="carol").exists()
    assert not AccessKey.objects.filter(user__name="carol").exists()
    failed = last_event("CreateLoginProfile")
    assert failed.error_code == "ValidationError"
    # The rolled-back CreateUser left no event; the refused step's event was kept.
    assert event_names_of(failed.request_id) == ["ListPolicies", "CreateLoginProfile"]


def test_an_autogenerated_password_meets_a_strict_password_policy(signed_in, account):
    PasswordPolicy.objects.create(
        account=account, minimum_password_length=24, require_symbols=True,
        require_numbers=True, require_uppercase_characters=True,
        require_lowercase_characters=True)
    response = signed_in.post("/iam/users/create", create_data())
    assert response.status_code == 200
    password = text_of(response.content.decode(), "span", id="console-password")
    assert len(password) >= 24
    assert User.objects.get(name="carol").check_password(password)


def test_a_user_name_that_a_spreadsheet_would_run_is_quoted_in_the_csv(signed_in):
    response = signed_in.post("/iam/users/create", create_data(name="=1+1", policies=[]))
    assert response.status_code == 200
    assert csv_rows(response.content.decode())[1][0] == "'=1+1"  # text, not a formula


def test_a_custom_password_must_be_typed(signed_in):
    response = signed_in.post("/iam/users/create", create_data(password_type="custom"))
    assert response.status_code == 400
    assert "Enter a custom password." in response.content.decode()
    assert not User.objects.filter(name="carol").exists()


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "slash/inside", SCRIPT])
def test_a_user_name_must_follow_iam_rules(signed_in, name):
    response = signed_in.post("/iam/users/create", create_data(name=name))
    html = response.content.decode()
    assert response.status_code == 400
    assert SCRIPT not in html
    assert elements(html, "input", id="user-name")[0]["attrs"].get("aria-invalid") == "true"
    assert User.objects.count() == 1  # the admin only


def test_a_taken_user_name_is_refused_on_the_form(signed_in, alice):
    response = signed_in.post("/iam/users/create", create_data(name="alice"))
    html = response.content.decode()
    assert response.status_code == 400
    assert "AlreadyExistsException" in html and "User with name alice already exists." in html
    assert alice.access_keys.count() == 0


def test_create_user_is_refused_to_a_user_who_may_only_read(reader_client):
    response = reader_client.post("/iam/users/create", create_data())
    assert response.status_code == 403
    assert "iam:CreateUser" in response.content.decode()
    assert last_event("CreateUser").error_code == "AccessDenied"
    assert not User.objects.filter(name="carol").exists()


def test_the_create_user_page_is_refused_without_permission(nobody_client):
    response = nobody_client.get("/iam/users/create")
    assert response.status_code == 403
    assert last_event("ListPolicies").error_code == "AccessDenied"


def test_create_user_enforces_csrf(admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post("/iam/users/create", create_data())
    assert response.status_code == 403
    assert not User.objects.filter(name="carol").exists()


def test_policy_descriptions_on_the_create_page_are_rendered_inert(signed_in, admin):
    services.managed_policy_create(caller=caller_for(admin), name="ops", document=allow(),
                                   description=SCRIPT)
    html = signed_in.get("/iam/users/create").content.decode()
    assert SCRIPT not in html and "&lt;script&gt;alert" in html


# --- the detail page: Summary and Permissions ---------------------------------------------------

def test_the_permissions_tab_lists_managed_and_inline_policies(signed_in, admin, alice):
    services.user_put_inline_policy(caller=caller_for(admin), user=alice,
                                    policy_name="describe", document=allow())
    response = signed_in.get("/iam/users/details/alice")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["alice"]
    assert alice.arn in html
    tabs = [name_of(e) for e in elements(html, "a")
            if e["attrs"].get("class") == "tabs__tab"]
    assert tabs == ["Permissions", "Security credentials", "Access", "Audit"]
    assert [row[:3] for row in table_rows(html.split('id="user-permissions"')[1])] == [
        ["KMSReadOnly", "AWS managed", "Directly"], ["describe", "Customer inline", "Inline"]]
    assert "Remove KMSReadOnly" in names(html, "button")
    for name in ("GetUser", "ListAttachedUserPolicies", "ListUserPolicies"):
        assert last_event(name).error_code == ""


def test_the_summary_shows_console_access_and_access_keys(signed_in, alice, alice_key):
    html = signed_in.get("/iam/users/details/alice").content.decode()
    summary = html.split('aria-labelledby="user-summary"')[1].split("</section>")[0]
    assert "Enabled without MFA" in summary
    assert alice_key[0].access_key_id in summary and "Never used." in summary


def test_a_missing_user_is_a_404_page(signed_in):
    response = signed_in.get("/iam/users/details/nobody-here")
    assert response.status_code == 404
    assert "The user with name nobody-here cannot be found." in response.content.decode()


def test_a_user_is_not_shown_to_a_user_without_permission(nobody_client, nobody, alice):
    response = nobody_client.get("/iam/users/details/alice")
    assert response.status_code == 403
    assert "iam:GetUser" in response.content.decode()
    event = last_event("GetUser")
    assert (event.principal_arn, event.error_code) == (nobody.arn, "AccessDenied")


def test_a_denied_user_cannot_tell_a_missing_user_from_a_hidden_one(nobody_client, alice):
    hidden = nobody_client.get("/iam/users/details/alice")
    missing = nobody_client.get("/iam/users/details/nobody-here")
    assert hidden.status_code == missing.status_code == 403


def test_attach_policies_lists_what_is_not_attached_and_attaches(signed_in, admin, alice):
    html = signed_in.get("/iam/users/details/alice/attach").content.decode()
    offered = [e["attrs"]["value"] for e in elements(html, "input", name="policies")]
    assert offered == [ADMIN_ACCESS, CHANGE_PASSWORD, KEY_ADMIN]
    response = signed_in.post("/iam/users/details/alice/attach", {"policies": [KEY_ADMIN]},
                              follow=True)
    assert response.redirect_chain[-1][0] == "/iam/users/details/alice"
    assert flashes(response) == ["Policy was successfully attached to user."]
    assert alice.attached_policies.filter(arn=KEY_ADMIN).exists()
    event = last_event("AttachUserPolicy")
    assert (event.principal_arn, event.request_parameters) == (
        admin.arn, {"userName": "alice", "policyArn": KEY_ADMIN})


def test_attach_without_a_choice_says_so(signed_in, alice):
    response = signed_in.post("/iam/users/details/alice/attach", {}, follow=True)
    assert flashes(response) == ["Select one or more policies to attach."]


def test_an_unknown_policy_is_not_attached_and_says_why(signed_in, alice):
    arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/missing"
    response = signed_in.post("/iam/users/details/alice/attach", {"policies": [arn]}, follow=True)
    assert flashes(response) == [f"NoSuchEntity: Policy {arn} does not exist or is not "
                                 "attachable."]
    assert last_event("AttachUserPolicy").error_code == "NoSuchEntity"


def test_detach_removes_the_policy(signed_in, admin, alice):
    response = signed_in.post("/iam/users/details/alice/detach", {"policy_arn": READ_ONLY},
                              follow=True)
    assert flashes(response) == ["Policy KMSReadOnly removed."]
    assert not alice.attached_policies.exists()
    event = last_event("DetachUserPolicy")
    assert (event.error_code, event.request_parameters["policyArn"]) == ("", READ_ONLY)


def test_attach_and_detach_are_refused_to_a_reader(reader_client, alice):
    response = reader_client.post("/iam/users/details/alice/attach", {"policies": [ADMIN_ACCESS]})
    assert response.status_code == 403 and "iam:AttachUserPolicy" in response.content.decode()
    assert last_event("AttachUserPolicy").error_code == "AccessDenied"
    response = reader_client.post("/iam/users/details/alice/detach", {"policy_arn": READ_ONLY})
    assert response.status_code == 403
    assert last_event("DetachUserPolicy").error_code == "AccessDenied"
    assert list(alice.attached_policies.values_list("arn", flat=True)) == [READ_ONLY]


def test_attach_and_detach_enforce_csrf(admin, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post("/iam/users/details/alice/attach",
                       {"policies": [ADMIN_ACCESS]}).status_code == 403
    assert client.post("/iam/users/details/alice/detach",
                       {"policy_arn": READ_ONLY}).status_code == 403
    assert list(alice.attached_policies.values_list("arn", flat=True)) == [READ_ONLY]


# --- Permissions: inline policies ---------------------------------------------------------------

def test_create_inline_policy_uses_the_policy_editor_and_saves(signed_in, admin, alice):
    html = signed_in.get("/iam/users/details/alice/inline/create").content.decode()
    editor = elements(html, "textarea", id="inline-policy")[0]
    assert editor["attrs"]["hx-post"] == "/iam/policies/validate"
    assert "Policy editor" in names(html, "label")
    assert "inline policies together can have up to 2,048 characters" in html
    assert 'action="/iam/users/details/alice/inline/create"' in html
    response = signed_in.post("/iam/users/details/alice/inline/create",
                              {"policy_name": "use-keys", "policy": allow("kms:Encrypt")},
                              follow=True)
    assert response.redirect_chain[-1][0] == "/iam/users/details/alice"
    assert flashes(response) == ["Policy use-keys created."]
    assert json.loads(alice.inline_policies.get(name="use-keys").document)[
        "Statement"][0]["Action"] == "kms:Encrypt"
    event = last_event("PutUserPolicy")
    assert (event.principal_arn, event.request_parameters["policyName"]) == (
        admin.arn, "use-keys")


def test_the_inline_editor_validates_without_saving(signed_in, alice):
    response = signed_in.post("/iam/users/details/alice/inline/create",
                              {"policy_name": "p", "policy": '{"Version": "2012-10-17"',
                               "validate": "1"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "MalformedPolicyDocumentException" in html
    assert not alice.inline_policies.exists()
    fragment = signed_in.post("/iam/policies/validate",
                              {"policy": allow(), "kind": "inline",
                               "validation_id": "inline-policy-validation"},
                              HTTP_HX_REQUEST="true")
    assert "The policy document is valid." in fragment.content.decode()


def test_a_malformed_inline_policy_is_explained_and_not_saved(signed_in, alice):
    response = signed_in.post("/iam/users/details/alice/inline/create",
                              {"policy_name": "p", "policy": document({"Effect": "Maybe"})})
    assert response.status_code == 400
    assert "MalformedPolicyDocumentException" in response.content.decode()
    assert not alice.inline_policies.exists()
    assert last_event("PutUserPolicy").error_code == "MalformedPolicyDocument"


def test_inline_policies_together_stay_within_iam_user_quota(signed_in, alice):
    big = allow(["kms:" + "Describe" * 40 + str(n) for n in range(8)])
    response = signed_in.post("/iam/users/details/alice/inline/create",
                              {"policy_name": "big", "policy": big})
    assert response.status_code == 400
    assert "LimitExceededException" in response.content.decode()
    assert not alice.inline_policies.exists()


def test_creating_never_replaces_an_inline_policy_of_the_same_name(signed_in, admin, alice):
    services.user_put_inline_policy(caller=caller_for(admin), user=alice, policy_name="p",
                                    document=allow())
    response = signed_in.post("/iam/users/details/alice/inline/create",
                              {"policy_name": "p", "policy": allow("kms:Encrypt")})
    assert response.status_code == 400
    assert "The user already has a policy named p." in response.content.decode()
    assert "kms:DescribeKey" in alice.inline_policies.get(name="p").document


def test_edit_and_delete_an_inline_policy(signed_in, admin, alice):
    services.user_put_inline_policy(caller=caller_for(admin), user=alice, policy_name="p",
                                    document=allow())
    html = signed_in.get("/iam/users/details/alice/inline/p/edit").content.decode()
    assert "kms:DescribeKey" in text_of(html, "textarea", id="inline-policy")
    assert last_event("GetUserPolicy").error_code == ""
    response = signed_in.post("/iam/users/details/alice/inline/p/edit",
                              {"policy_name": "renamed", "policy": allow("kms:Decrypt")},
                              follow=True)
    assert flashes(response) == ["Policy p updated."]
    assert list(alice.inline_policies.values_list("name", flat=True)) == ["p"]
    assert "kms:Decrypt" in alice.inline_policies.get(name="p").document
    response = signed_in.post("/iam/users/details/alice/inline/p/delete", follow=True)
    assert flashes(response) == ["Policy p removed."]
    assert not alice.inline_policies.exists()
    assert last_event("DeleteUserPolicy").error_code == ""


def test_an_inline_policy_document_is_rendered_inert(signed_in, admin, alice):
    services.user_put_inline_policy(caller=caller_for(admin), user=alice, policy_name="p",
                                    document=allow(resource=f"arn:aws:kms:::{SCRIPT}"))
    html = signed_in.get("/iam/users/details/alice/inline/p/edit").content.decode()
    assert SCRIPT not in html and "&lt;script&gt;" in html


def test_inline_policy_changes_are_refused_to_a_reader(reader_client, admin, alice):
    services.user_put_inline_policy(caller=caller_for(admin), user=alice, policy_name="p",
                                    document=allow())
    response = reader_client.post("/iam/users/details/alice/inline/create",
                                  {"policy_name": "q", "policy": allow()})
    assert response.status_code == 403
    assert last_event("PutUserPolicy").error_code == "AccessDenied"
    response = reader_client.post("/iam/users/details/alice/inline/p/delete")
    assert response.status_code == 403
    assert last_event("DeleteUserPolicy").error_code == "AccessDenied"
    assert list(alice.inline_policies.values_list("name", flat=True)) == ["p"]


def test_inline_policy_forms_enforce_csrf(admin, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post("/iam/users/details/alice/inline/create",
                           {"policy_name": "q", "policy": allow()})
    assert response.status_code == 403 and not alice.inline_policies.exists()


# --- Security credentials -----------------------------------------------------------------------

def test_the_security_credentials_tab_shows_password_mfa_and_access_keys_with_last_use(
        signed_in, alice, alice_key):
    access_key, secret = alice_key
    use_access_key(Client(), (access_key.access_key_id, secret))
    response = signed_in.get("/iam/users/details/alice/security-credentials")
    html = response.content.decode()
    assert response.status_code == 200
    assert secret not in html
    assert elements(html, "a", href="http://testserver/signin?account=example")
    assert "Multi-factor authentication (MFA) (0)" in names(html, "h2")
    assert "Assign MFA device" in names(html, "a")
    keys_table = html.split('id="access-keys"')[1]
    row = table_rows(keys_table)[0]
    assert row[:2] == [access_key.access_key_id, "Active"]
    assert row[2].endswith("ago") and row[3] == f"kms in {REGION}"
    assert f"Make inactive {access_key.access_key_id}" in names(html, "button")
    assert f"Delete {access_key.access_key_id}" not in names(html, "a")  # active: not yet
    assert last_event("ListAccessKeys").error_code == ""


def test_a_request_with_a_bad_signature_does_not_count_as_use(signed_in, alice, alice_key):
    access_key, _ = alice_key
    signed_post(Client(), "ListKeys", {}, (access_key.access_key_id, "W" * 40))
    html = signed_in.get("/iam/users/details/alice/security-credentials").content.decode()
    assert table_rows(html.split('id="access-keys"')[1])[0][2] == "Never"


def test_create_access_key_shows_the_secret_once_with_a_csv(signed_in, admin, alice):
    page = signed_in.get("/iam/users/details/alice/access-keys/create")
    assert page.status_code == 200 and "Create access key" in names(page.content.decode(),
                                                                    "button")
    response = signed_in.post("/iam/users/details/alice/access-keys/create")
    html = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert names(html, "h1") == ["Retrieve access keys"]
    access_key = alice.access_keys.get()
    secret = text_of(html, "dd", id="secret-access-key")
    assert access_key.secret() == secret
    assert csv_rows(html) == [["Access key ID", "Secret access key"],
                              [access_key.access_key_id, secret]]
    download = next(e for e in elements(html, "a") if "download" in e["attrs"])
    assert download["attrs"]["download"] == "alice_accessKeys.csv"
    event = last_event("CreateAccessKey")
    assert (event.principal_arn, event.error_code) == (admin.arn, "")
    assert secret not in json.dumps(event.as_record())
    after = signed_in.get("/iam/users/details/alice/security-credentials").content.decode()
    assert secret not in after and access_key.access_key_id in after


def test_a_third_access_key_is_refused_on_the_page(signed_in, alice):
    services.access_key_create(caller=scheduler(), user=alice)
    services.access_key_create(caller=scheduler(), user=alice)
    html = signed_in.get("/iam/users/details/alice/security-credentials").content.decode()
    assert "Create access key" not in names(html, "a")  # the quota is reached
    response = signed_in.post("/iam/users/details/alice/access-keys/create")
    assert response.status_code == 400
    assert "Cannot exceed quota for AccessKeysPerUser: 2" in response.content.decode()
    assert alice.access_keys.count() == 2


def test_make_inactive_and_activate_an_access_key(signed_in, admin, alice, alice_key):
    access_key, _ = alice_key
    url = f"/iam/users/details/alice/access-keys/{access_key.access_key_id}/status"
    response = signed_in.post(url, {"status": "Inactive"}, follow=True)
    assert flashes(response) == [f"Access key {access_key.access_key_id} deactivated."]
    access_key.refresh_from_db()
    assert access_key.status == "Inactive"
    event = last_event("UpdateAccessKey")
    assert (event.principal_arn, event.request_parameters) == (admin.arn, {
        "userName": "alice", "accessKeyId": access_key.access_key_id, "status": "Inactive"})
    html = response.content.decode()
    assert f"Delete {access_key.access_key_id}" in names(html, "a")
    response = signed_in.post(url, {"status": "Active"}, follow=True)
    assert flashes(response) == [f"Access key {access_key.access_key_id} activated."]
    access_key.refresh_from_db()
    assert access_key.status == "Active"


def test_an_inactive_access_key_signs_no_request(signed_in, alice, alice_key):
    access_key, secret = alice_key
    signed_in.post(f"/iam/users/details/alice/access-keys/{access_key.access_key_id}/status",
                   {"status": "Inactive"})
    response = signed_post(Client(), "ListKeys", {}, (access_key.access_key_id, secret))
    assert response.status_code == 400
    assert json.loads(response.content)["__type"] == "UnrecognizedClientException"


def test_an_unknown_status_is_refused(signed_in, alice, alice_key):
    access_key, _ = alice_key
    response = signed_in.post(
        f"/iam/users/details/alice/access-keys/{access_key.access_key_id}/status",
        {"status": "Paused"}, follow=True)
    assert flashes(response)[0].startswith("ValidationException: 1 validation error detected")
    access_key.refresh_from_db()
    assert access_key.status == "Active"


def test_an_active_access_key_is_not_deleted(signed_in, alice, alice_key):
    access_key, _ = alice_key
    url = f"/iam/users/details/alice/access-keys/{access_key.access_key_id}/delete"
    html = signed_in.get(url).content.decode()
    assert "Make the access key inactive first" in html
    assert "Delete" not in names(html, "button")
    response = signed_in.post(url, {"confirmation": access_key.access_key_id})
    assert response.status_code == 400
    assert AccessKey.objects.filter(pk=access_key.pk).exists()
    assert not AuditEvent.objects.filter(event_name="DeleteAccessKey").exists()


def test_delete_an_inactive_access_key_after_typing_its_id(signed_in, admin, alice,
                                                           alice_key):
    access_key, _ = alice_key
    users.access_key_update_status(caller=scheduler(), user=alice,
                                   access_key_id=access_key.access_key_id, status="Inactive")
    url = f"/iam/users/details/alice/access-keys/{access_key.access_key_id}/delete"
    html = signed_in.get(url).content.decode()
    assert ("To confirm deletion, enter the access key ID in the text input field."
            in names(html, "label"))
    mistyped = signed_in.post(url, {"confirmation": "AKIA-WRONG"})
    assert mistyped.status_code == 400
    assert "Enter the access key ID exactly as shown to confirm." in mistyped.content.decode()
    assert AccessKey.objects.filter(pk=access_key.pk).exists()
    response = signed_in.post(url, {"confirmation": access_key.access_key_id}, follow=True)
    assert flashes(response) == [f"Access key {access_key.access_key_id} deleted."]
    assert not AccessKey.objects.filter(pk=access_key.pk).exists()
    event = last_event("DeleteAccessKey")
    assert (event.principal_arn, event.error_code) == (admin.arn, "")


def test_deleting_an_unknown_access_key_says_so(signed_in, alice):
    response = signed_in.get("/iam/users/details/alice/access-keys/AKIAEXAMPLE000000001/delete",
                             follow=True)
    assert flashes(response) == ["The access key AKIAEXAMPLE000000001 does not exist."]


def test_access_key_changes_are_refused_to_a_reader(reader_client, alice, alice_key):
    access_key, _ = alice_key
    response = reader_client.post("/iam/users/details/alice/access-keys/create")
    assert response.status_code == 403 and "iam:CreateAccessKey" in response.content.decode()
    assert last_event("CreateAccessKey").error_code == "AccessDenied"
    response = reader_client.post(
        f"/iam/users/details/alice/access-keys/{access_key.access_key_id}/status",
        {"status": "Inactive"})
    assert response.status_code == 403
    assert last_event("UpdateAccessKey").error_code == "AccessDenied"
    users.access_key_update_status(caller=scheduler(), user=alice,
                                   access_key_id=access_key.access_key_id, status="Inactive")
    response = reader_client.post(
        f"/iam/users/details/alice/access-keys/{access_key.access_key_id}/delete",
        {"confirmation": access_key.access_key_id})
    assert response.status_code == 403
    assert last_event("DeleteAccessKey").error_code == "AccessDenied"
    assert alice.access_keys.count() == 1


def test_the_security_credentials_tab_is_refused_without_permission(nobody_client, alice):
    response = nobody_client.get("/iam/users/details/alice/security-credentials")
    assert response.status_code == 403
    assert last_event("GetUser").error_code == "AccessDenied"


def test_access_key_forms_enforce_csrf(admin, alice, alice_key):
    access_key, _ = alice_key
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post("/iam/users/details/alice/access-keys/create").status_code == 403
    url = f"/iam/users/details/alice/access-keys/{access_key.access_key_id}/status"
    assert client.post(url, {"status": "Inactive"}).status_code == 403
    access_key.refresh_from_db()
    assert alice.access_keys.count() == 1 and access_key.status == "Active"


# --- Security credentials: console password -----------------------------------------------------

def test_enable_console_access_with_an_autogenerated_password_shows_it_once(signed_in, admin,
                                                                            account):
    user = services.user_create(caller=caller_for(admin), name="dave")
    page = signed_in.get("/iam/users/details/dave/console-access").content.decode()
    assert names(page, "h1") == ["Manage console access"]
    response = signed_in.post("/iam/users/details/dave/console-access",
                              {"console_access": "enable", "password_type": "autogenerated"})
    html = response.content.decode()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    password = text_of(html, "dd", id="console-password")
    user.refresh_from_db()
    assert user.check_password(password)
    event = last_event("CreateLoginProfile")
    assert (event.principal_arn, event.error_code) == (admin.arn, "")
    assert password not in json.dumps(event.as_record())
    after = signed_in.get("/iam/users/details/dave/security-credentials").content.decode()
    assert password not in after


def test_reset_a_console_password_to_a_custom_one(signed_in, alice):
    response = signed_in.post("/iam/users/details/alice/console-access",
                              {"console_access": "enable", "password_type": "custom",
                               "password": "N3w-Passw0rd!now"}, follow=True)
    assert flashes(response) == ["Console password set for alice."]
    alice.refresh_from_db()
    assert alice.check_password("N3w-Passw0rd!now")
    assert last_event("UpdateLoginProfile").error_code == ""


def test_a_refused_console_password_is_explained_on_the_form(signed_in, alice):
    response = signed_in.post("/iam/users/details/alice/console-access",
                              {"console_access": "enable", "password_type": "custom",
                               "password": "short"})
    assert response.status_code == 400
    assert "Password should have a minimum length of 8." in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(STRONG_PASSWORD)


def test_disable_console_access_removes_the_password(signed_in, admin, alice):
    response = signed_in.post("/iam/users/details/alice/console-access",
                              {"console_access": "disable"},
                              follow=True)
    assert flashes(response) == ["Console access disabled for alice."]
    alice.refresh_from_db()
    assert not alice.has_usable_password()
    event = last_event("DeleteLoginProfile")
    assert (event.principal_arn, event.error_code) == (admin.arn, "")
    again = signed_in.post("/iam/users/details/alice/console-access", {"console_access": "disable"})
    assert again.status_code == 400
    assert "Login Profile for User alice cannot be found." in again.content.decode()


def test_console_password_changes_are_refused_to_a_reader(reader_client, alice):
    response = reader_client.post("/iam/users/details/alice/console-access",
                                  {"console_access": "disable"})
    assert response.status_code == 403
    assert last_event("DeleteLoginProfile").error_code == "AccessDenied"
    response = reader_client.post("/iam/users/details/alice/console-access",
                                  {"console_access": "enable", "password_type": "autogenerated"})
    assert response.status_code == 403
    assert last_event("UpdateLoginProfile").error_code == "AccessDenied"
    alice.refresh_from_db()
    assert alice.check_password(STRONG_PASSWORD)


def test_console_access_enforces_csrf(admin, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post("/iam/users/details/alice/console-access", {"console_access": "disable"})
    assert response.status_code == 403
    alice.refresh_from_db()
    assert alice.has_usable_password()


# --- Access -------------------------------------------------------------------------------------

def test_the_access_tab_lists_the_keys_whose_policy_or_grants_name_the_user(
        signed_in, admin, alice):
    from grants import kms_grants

    named = create_key(admin, alias="alias/named", description="named")
    policy = json.loads(key_services.key_get_policy(caller=caller_for(admin),
                                                    key_id=str(named.id)))
    policy["Statement"].append({"Sid": "Alice encrypts", "Effect": "Allow",
                                "Principal": {"AWS": alice.arn}, "Action": "kms:Encrypt",
                                "Resource": "*"})
    key_services.key_put_policy(caller=caller_for(admin), key_id=str(named.id),
                                policy=json.dumps(policy))
    granted = create_key(admin, alias="alias/granted")
    kms_grants.grant_create(caller=caller_for(admin), key_id=str(granted.id),
                            grantee_principal=alice.arn, operations=["Decrypt"])
    create_key(admin, alias="alias/unrelated")
    response = signed_in.get("/iam/users/details/alice/access")
    html = response.content.decode()
    assert response.status_code == 200
    rows = table_rows(html.split('id="user-access"')[1])
    assert [row[0] for row in rows] == [str(named.id), str(granted.id)]
    assert rows[0][2] == 'Statement[1] "Alice encrypts"' and rows[0][3] == "-"
    assert rows[1][2] == "-" and rows[1][3].endswith(": Decrypt")
    assert elements(html, "a", href=f"/kms/keys/{named.id}")
    assert last_event("ListKeys").error_code == ""


def test_the_access_tab_is_refused_without_kms_list_keys(reader_client, alice):
    response = reader_client.get("/iam/users/details/alice/access")
    assert response.status_code == 403 and "kms:ListKeys" in response.content.decode()
    assert last_event("ListKeys").error_code == "AccessDeniedException"


# --- Audit --------------------------------------------------------------------------------------

def test_the_audit_tab_shows_the_users_own_requests(signed_in, alice, alice_key):
    access_key, secret = alice_key
    use_access_key(Client(), (access_key.access_key_id, secret))
    response = signed_in.get("/iam/users/details/alice/audit")
    html = response.content.decode()
    assert response.status_code == 200
    rows = table_rows(html.split('id="event-table"')[1])
    assert [row[0] for row in rows] == ["ListKeys"]  # alice's, not the admin's
    assert rows[0][2] == "alice"
    lookup = last_event("LookupEvents")
    assert lookup.request_parameters["lookupAttributes"] == [
        {"attributeKey": "PrincipalArn", "attributeValue": alice.arn}]
    fragment = signed_in.get("/iam/users/details/alice/audit", HTTP_HX_REQUEST="true")
    assert fragment.content.decode().lstrip().startswith('<section id="event-table"')


def test_a_forged_page_token_is_a_message_not_a_500(signed_in, alice):
    response = signed_in.get("/iam/users/details/alice/audit", {"next": "forged"})
    assert response.status_code == 400
    assert "InvalidNextTokenException" in response.content.decode()


def test_the_audit_tab_is_refused_without_cloudtrail_lookup(reader_client, alice):
    response = reader_client.get("/iam/users/details/alice/audit")
    assert response.status_code == 403
    assert "cloudtrail:LookupEvents" in response.content.decode()
    assert last_event("LookupEvents").error_code == "AccessDeniedException"


# --- Delete user --------------------------------------------------------------------------------

def test_delete_lists_what_goes_first_and_asks_for_the_name(signed_in, admin, alice,
                                                            alice_key):
    services.user_put_inline_policy(caller=caller_for(admin), user=alice, policy_name="p",
                                    document=allow())
    html = signed_in.get("/iam/users/details/alice/delete").content.decode()
    listed = [" ".join(e["text"].split()) for e in elements(html, "li")
              if "deleted" in e["text"] or "detached" in e["text"]]
    assert listed == [f"Access key {alice_key[0].access_key_id} (Active), deleted",
                      "Console password, deleted", "KMSReadOnly (managed policy), detached",
                      "p (inline policy), deleted"]
    assert ("To confirm deletion, enter the user name in the text input field."
            in names(html, "label"))
    mistyped = signed_in.post("/iam/users/details/alice/delete", {"confirmation": "alicia"})
    assert mistyped.status_code == 400
    assert User.objects.filter(name="alice").exists()
    assert not AuditEvent.objects.filter(event_name="DeleteUser").exists()


def test_delete_removes_credentials_and_policies_first_each_with_its_event(
        signed_in, admin, alice, alice_key):
    device, secret = mfa.mfa_device_create(caller=scheduler(), user=alice, device_name="alice")
    step = mfa.current_step()
    mfa.mfa_device_enable(caller=scheduler(), user=alice,
                          authentication_code_1=mfa.totp_code(secret, step - 1),
                          authentication_code_2=mfa.totp_code(secret, step))
    services.user_put_inline_policy(caller=caller_for(admin), user=alice, policy_name="p",
                                    document=allow())
    response = signed_in.post("/iam/users/details/alice/delete", {"confirmation": "alice"},
                              follow=True)
    assert response.redirect_chain[-1][0] == "/iam/users"
    assert flashes(response) == ["User alice deleted."]
    assert not User.objects.filter(name="alice").exists()
    deleted = last_event("DeleteUser")
    assert deleted.error_code == "" and deleted.principal_arn == admin.arn
    assert event_names_of(deleted.request_id)[-7:] == [
        "DeleteAccessKey", "DeleteLoginProfile", "DeactivateMFADevice",
        "DeleteVirtualMFADevice", "DetachUserPolicy", "DeleteUserPolicy", "DeleteUser"]


def test_delete_is_refused_to_a_reader_and_stops_at_the_first_refusal(reader_client, alice,
                                                                      alice_key):
    response = reader_client.post("/iam/users/details/alice/delete", {"confirmation": "alice"})
    assert response.status_code == 403
    assert "iam:DeleteAccessKey" in response.content.decode()
    assert last_event("DeleteAccessKey").error_code == "AccessDenied"
    assert User.objects.filter(name="alice").exists() and alice.access_keys.exists()


def test_delete_enforces_csrf(admin, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post("/iam/users/details/alice/delete", {"confirmation": "alice"})
    assert response.status_code == 403
    assert User.objects.filter(name="alice").exists()


# --- a user named like a page of the list -------------------------------------------------------

@pytest.mark.parametrize("tab", ["", "/security-credentials", "/access", "/audit", "/mfa"])
def test_a_user_named_create_has_every_page_and_the_create_page_stays(signed_in, account,
                                                                      tab):
    """User pages sit under /iam/users/details/<name>: a user named "create" cannot hide the
    Create user page, nor the other way round."""
    make_user(account, "create")
    response = signed_in.get(f"/iam/users/details/create{tab}")
    assert response.status_code == 200
    assert "create" in names(response.content.decode(), "h1")[0]
    html = signed_in.get("/iam/users/create").content.decode()
    assert names(html, "h1") == ["Create user"]
    list_html = signed_in.get("/iam/users").content.decode()
    assert elements(list_html, "a", href="/iam/users/details/create")
