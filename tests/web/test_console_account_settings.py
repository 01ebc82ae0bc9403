"""Account settings in the console: the account alias (IAM's rules, unique, usable at sign-in,
Delete) and the password policy (IAM default or custom, IAM's ranges, enforced when a console
password is set: composition, the user name, reuse prevention). Allowed for an administrator
with the IAM event, denied for a user without IAM permissions, anonymous sent to sign in."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from grants import services
from grants.account_settings import PasswordPolicySettings, password_policy_update
from grants.models import Account, PasswordHistory, PasswordPolicy, User
from kmsconsole.errors import ValidationError
from tests.conftest import caller_for, make_user
from tests.web.console_helpers import elements, names


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).order_by("-id").first()


def flashes(response) -> list[str]:
    return [" ".join(e["text"].split()) for e in elements(response.content.decode(), "div")
            if "flash" in e["attrs"].get("class", "").split()]


def alias_of(account) -> str | None:
    return Account.objects.get(pk=account.pk).alias


CUSTOM = {"policy_type": "custom", "minimum_password_length": "12",
          "require_uppercase_characters": "on", "require_numbers": "on",
          "prevent_reuse": "on", "password_reuse_prevention": "2"}


# --- the page -----------------------------------------------------------------------------------

def test_the_page_shows_account_alias_password_policy_and_lockout(signed_in, account):
    response = signed_in.get("/iam/account-settings")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Account settings"]
    assert {"AWS Account", "Account alias", "Password policy", "Sign-in lockout"} <= set(
        names(html, "h2"))
    assert "http://testserver/signin?account=example" in html
    assert "This AWS account uses the IAM default password policy" in html
    assert "10 wrong passwords or MFA codes in a row" in html
    assert elements(html, "input", name="alias")[0]["attrs"]["value"] == "example"
    assert last_event("ListAccountAliases").read_only
    # IAM answers GetAccountPasswordPolicy with NoSuchEntity while the default applies.
    assert last_event("GetAccountPasswordPolicy").error_code == "NoSuchEntity"
    assert "Account settings" in names(html, "a")


def test_the_page_is_denied_without_iam_permissions(nobody_client):
    response = nobody_client.get("/iam/account-settings")
    assert response.status_code == 403
    assert "iam:ListAccountAliases" in response.content.decode()
    assert last_event("ListAccountAliases").error_code == "AccessDenied"


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/iam/account-settings", "/iam/account-settings/password-policy"])
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/signin?next={url}"


# --- account alias ------------------------------------------------------------------------------

def test_changing_the_alias_makes_it_the_sign_in_name(signed_in, account):
    response = signed_in.post("/iam/account-settings/alias", {"alias": "payments-prod"})
    assert response.status_code == 302
    assert alias_of(account) == "payments-prod"
    event = last_event("CreateAccountAlias")
    assert event.error_code == "" and event.request_parameters == {
        "accountAlias": "payments-prod"}
    assert "Account alias payments-prod saved." in " ".join(
        flashes(signed_in.get(response["Location"])))
    visitor = Client()
    visitor.post("/signin", {"account": "payments-prod", "username": "admin",
                             "password": "correct horse battery"})
    assert "_auth_user_id" in visitor.session


@pytest.mark.parametrize("alias", ["ab", "Upper", "-start", "end-", "two--hyphens",
                                   "under_score", "a" * 64, "123456789012"])
def test_an_alias_breaking_iams_rules_is_refused_on_the_form(signed_in, account, alias):
    response = signed_in.post("/iam/account-settings/alias", {"alias": alias})
    assert response.status_code == 400
    assert "ValidationException" in response.content.decode()
    assert alias_of(account) == "example"
    assert last_event("CreateAccountAlias").error_code == "ValidationError"


def test_an_alias_of_another_account_is_taken(signed_in, account, other_account):
    Account.objects.filter(pk=other_account.pk).update(alias="taken")
    response = signed_in.post("/iam/account-settings/alias", {"alias": "taken"})
    assert response.status_code == 400
    assert "The account alias taken already exists." in response.content.decode()
    assert alias_of(account) == "example"


def test_deleting_the_alias_leaves_the_account_id_for_sign_in(signed_in, account):
    response = signed_in.post("/iam/account-settings/alias/delete", {"alias": "example"})
    assert response.status_code == 302
    assert alias_of(account) is None
    assert last_event("DeleteAccountAlias").error_code == ""
    html = signed_in.get("/iam/account-settings").content.decode()
    assert "http://testserver/signin?account=111122223333" in html


def test_deleting_an_alias_the_account_does_not_have_is_refused(signed_in, account):
    response = signed_in.post("/iam/account-settings/alias/delete", {"alias": "other"},
                              follow=True)
    assert "NoSuchEntity" in " ".join(flashes(response))
    assert alias_of(account) == "example"


def test_alias_changes_are_denied_without_iam_permissions(nobody_client, account):
    assert nobody_client.post("/iam/account-settings/alias",
                              {"alias": "mine"}).status_code == 403
    assert nobody_client.post("/iam/account-settings/alias/delete",
                              {"alias": "example"}).status_code == 403
    assert alias_of(account) == "example"
    assert last_event("CreateAccountAlias").error_code == "AccessDenied"
    assert last_event("DeleteAccountAlias").error_code == "AccessDenied"


def test_alias_changes_need_a_csrf_token(admin, account):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post("/iam/account-settings/alias", {"alias": "csrf"}).status_code == 403
    assert alias_of(account) == "example"


def test_an_alias_with_markup_is_shown_inert(signed_in, account):
    response = signed_in.post("/iam/account-settings/alias", {"alias": "<b>x</b>"})
    html = response.content.decode()
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


# --- password policy ----------------------------------------------------------------------------

def test_a_custom_password_policy_is_saved_and_shown(signed_in, account):
    html = signed_in.get("/iam/account-settings/password-policy").content.decode()
    assert names(html, "h1") == ["Edit password policy"]
    assert "checked" in elements(html, "input", name="policy_type", value="default")[0]["attrs"]
    response = signed_in.post("/iam/account-settings/password-policy", CUSTOM)
    assert response.status_code == 302
    policy = PasswordPolicy.objects.get(account=account)
    assert policy.minimum_password_length == 12
    assert policy.require_uppercase_characters and policy.require_numbers
    assert not policy.require_symbols
    assert policy.password_reuse_prevention == 2 and policy.max_password_age is None
    event = last_event("UpdateAccountPasswordPolicy")
    assert event.error_code == ""
    assert event.request_parameters["minimumPasswordLength"] == 12
    assert event.request_parameters["passwordReusePrevention"] == 2
    page = signed_in.get("/iam/account-settings").content.decode()
    assert "This AWS account uses the following custom password policy" in page
    assert "Remember 2 password(s)" in page
    assert last_event("GetAccountPasswordPolicy").error_code == ""


@pytest.mark.parametrize("field,value,message", [
    ("minimum_password_length", "5", "MinimumPasswordLength must be a whole number from 6 to "
                                     "128."),
    ("minimum_password_length", "129", "MinimumPasswordLength must be a whole number from 6 "
                                       "to 128."),
    ("password_reuse_prevention", "25", "PasswordReusePrevention must be a whole number from "
                                        "1 to 24."),
])
def test_values_out_of_iams_ranges_are_refused(signed_in, account, field, value, message):
    response = signed_in.post("/iam/account-settings/password-policy", {**CUSTOM, field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not PasswordPolicy.objects.exists()
    assert last_event("UpdateAccountPasswordPolicy").error_code == "ValidationError"


def test_password_expiration_out_of_range_is_refused(signed_in, account):
    response = signed_in.post("/iam/account-settings/password-policy",
                              {**CUSTOM, "expire_passwords": "on", "max_password_age": "1096"})
    assert response.status_code == 400
    assert "MaxPasswordAge must be a whole number from 1 to 1095." in response.content.decode()


def test_choosing_iam_default_deletes_the_custom_policy(signed_in, account):
    signed_in.post("/iam/account-settings/password-policy", CUSTOM)
    response = signed_in.post("/iam/account-settings/password-policy",
                              {"policy_type": "default"})
    assert response.status_code == 302
    assert not PasswordPolicy.objects.exists()
    assert last_event("DeleteAccountPasswordPolicy").error_code == ""


def test_password_policy_changes_are_denied_without_iam_permissions(nobody_client, account):
    response = nobody_client.post("/iam/account-settings/password-policy", CUSTOM)
    assert response.status_code == 403
    assert not PasswordPolicy.objects.exists()
    assert last_event("GetAccountPasswordPolicy").error_code == "AccessDenied"


def test_password_policy_changes_need_a_csrf_token(admin, account):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post("/iam/account-settings/password-policy", CUSTOM)
    assert response.status_code == 403
    assert not PasswordPolicy.objects.exists()


# --- enforcement (grants.services.validate_console_password) -------------------------------------

def set_password(caller, user, password):
    return services.user_set_password(caller=caller, user=user, password=password)


def test_the_iam_default_needs_three_kinds_of_characters(caller, account):
    user = make_user(account, "carol")
    with pytest.raises(ValidationError) as refused:
        set_password(caller, user, "onlylowercaseletters")
    assert "at least three of" in refused.value.message
    set_password(caller, user, "Lower and 42")  # a space counts as non-alphanumeric
    assert last_event("UpdateLoginProfile").error_code == ""


def test_the_user_name_is_never_a_password(caller, account):
    user = make_user(account, "Carol-Admin-2026")
    with pytest.raises(ValidationError) as refused:
        set_password(caller, user, "carol-admin-2026")
    assert "Password should not be the user name." in refused.value.message


def test_a_custom_policy_is_enforced(caller, account):
    password_policy_update(caller=caller, settings=PasswordPolicySettings(
        minimum_password_length=14, require_symbols=True, require_uppercase_characters=True))
    user = make_user(account, "dave")
    with pytest.raises(ValidationError) as refused:
        set_password(caller, user, "short one")
    message = refused.value.message
    assert "Password should have a minimum length of 14." in message
    assert "Password should have at least one uppercase letter." in message
    set_password(caller, user, "Long enough passphrase!")


def test_reuse_prevention_remembers_earlier_passwords(caller, account):
    password_policy_update(caller=caller, settings=PasswordPolicySettings(
        minimum_password_length=8, password_reuse_prevention=2))
    user = make_user(account, "erin", password="First pass 1")
    set_password(caller, user, "Second pass 2")
    for reused in ("Second pass 2", "First pass 1"):
        with pytest.raises(ValidationError) as refused:
            set_password(caller, User.objects.get(pk=user.pk), reused)
        assert "one of your 2 previous passwords" in refused.value.message
    set_password(caller, User.objects.get(pk=user.pk), "Third pass 3")
    # Two remembered: the current one and the one before; the first may come back.
    set_password(caller, User.objects.get(pk=user.pk), "First pass 1")
    stored = list(PasswordHistory.objects.filter(user=user).values_list("password", flat=True))
    assert stored and all(not value.startswith("First") for value in stored)


def test_setting_a_password_records_when(caller, account):
    user = make_user(account, "frank")
    set_password(caller, user, "Brand new pass 9")
    assert User.objects.get(pk=user.pk).password_changed_at is not None


def test_a_policy_applies_to_a_user_about_to_be_created(caller, account):
    password_policy_update(caller=caller, settings=PasswordPolicySettings(
        minimum_password_length=20))
    with pytest.raises(ValidationError):
        services.validate_console_password("Fine but short 1", account_id=account.id)
    services.validate_console_password("Fine but short 1")  # no account: Django's rules only


def test_another_accounts_policy_does_not_apply(outsider, account):
    password_policy_update(caller=caller_for(outsider), settings=PasswordPolicySettings(
        minimum_password_length=30))
    services.validate_console_password("Good enough pass 1", account_id=account.id)
