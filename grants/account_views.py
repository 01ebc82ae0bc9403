"""Account settings in the console (/iam/account-settings): the account alias (Create, Edit,
Delete) and the password policy (view; Edit: IAM default or a custom policy), plus a read-only
note of the server's sign-in lockout settings.

Every read and change is one of grants.account_settings' services with the signed-in principal's
Caller. A refusal for lack of permission shows the 403 page with the decision's explanation; a
value the service refuses (an alias breaking IAM's rules or taken, a length out of range) comes
back on the form that sent it, and nothing changed.
"""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kmsconsole.console import console_caller, kms_error_page
from kmsconsole.errors import AccessDeniedError, KmsError, NoSuchEntityError

from . import account_settings
from .account_settings import PasswordPolicySettings, PasswordRules
from .forms import AccountAliasForm, PasswordPolicyForm

CRUMB = {"label": "Account settings"}


def _crumbs(label: str | None = None) -> list[dict]:
    if label is None:
        return [CRUMB]
    return [{**CRUMB, "href": reverse("iam:account_settings")}, {"label": label}]


def _current_policy(request):
    """The account's custom password policy, or None when it uses IAM's default (IAM answers
    GetAccountPasswordPolicy with NoSuchEntity then)."""
    try:
        return account_settings.password_policy_get(caller=console_caller(request))
    except NoSuchEntityError:
        return None


@require_GET
def account_settings_page(request):
    caller = console_caller(request)
    try:
        aliases = account_settings.account_alias_list(caller=caller)
        policy = _current_policy(request)
    except KmsError as error:
        return kms_error_page(request, error, breadcrumbs=_crumbs())
    return _render(request, aliases=aliases, policy=policy, alias_form=AccountAliasForm(
        initial={"alias": aliases[0] if aliases else ""}))


def _render(request, *, aliases, policy, alias_form, alias_error=None, status=200):
    account_id = console_caller(request).account_id
    alias = aliases[0] if aliases else None
    context = {
        "title": "Account settings", "breadcrumbs": _crumbs(), "account_id": account_id,
        "alias": alias, "alias_form": alias_form, "service_error": alias_error,
        "sign_in_url": request.build_absolute_uri(
            reverse("signin") + f"?account={alias or account_id}"),
        "policy": policy, "default_rules": PasswordRules.default(),
        "lockout_attempts": settings.SIGNIN_LOCKOUT_ATTEMPTS,
        "lockout_minutes": max(1, settings.SIGNIN_LOCKOUT_SECONDS // 60),
    }
    return render(request, "iam/account/settings.html", context, status=status)


@require_POST
def account_alias_save(request):
    """Create or Edit the alias (CreateAccountAlias replaces the one the account had)."""
    form = AccountAliasForm(request.POST)
    if form.is_valid():
        try:
            account_settings.account_alias_create(caller=console_caller(request),
                                                  alias=form.cleaned_data["alias"])
        except AccessDeniedError as error:
            return kms_error_page(request, error, breadcrumbs=_crumbs())
        except KmsError as error:
            return _rerender(request, form, error)
        messages.success(request, f"Account alias {form.cleaned_data['alias']} saved. IAM "
                                  "users can use it in place of the account ID to sign in.")
        return redirect("iam:account_settings")
    return _rerender(request, form, None)


def _rerender(request, form, error):
    try:
        aliases = account_settings.account_alias_list(caller=console_caller(request))
        policy = _current_policy(request)
    except KmsError as refusal:
        return kms_error_page(request, refusal, breadcrumbs=_crumbs())
    return _render(request, aliases=aliases, policy=policy, alias_form=form, alias_error=error,
                   status=400)


@require_POST
def account_alias_delete(request):
    alias = request.POST.get("alias", "")
    try:
        account_settings.account_alias_delete(caller=console_caller(request), alias=alias)
    except AccessDeniedError as error:
        return kms_error_page(request, error, breadcrumbs=_crumbs())
    except KmsError as error:
        messages.error(request, f"Delete alias failed: {error.code}: {error.message}")
        return redirect("iam:account_settings")
    messages.success(request, f"Account alias {alias} deleted. IAM users now sign in with the "
                              "account ID.")
    return redirect("iam:account_settings")


# --- password policy ------------------------------------------------------------------------

def _initial(policy) -> dict:
    if policy is None:
        return {"policy_type": PasswordPolicyForm.DEFAULT, "minimum_password_length": 8}
    return {
        "policy_type": PasswordPolicyForm.CUSTOM,
        "minimum_password_length": policy.minimum_password_length,
        "require_uppercase_characters": policy.require_uppercase_characters,
        "require_lowercase_characters": policy.require_lowercase_characters,
        "require_numbers": policy.require_numbers,
        "require_symbols": policy.require_symbols,
        "expire_passwords": policy.max_password_age is not None,
        "max_password_age": policy.max_password_age,
        "hard_expiry": policy.hard_expiry,
        "allow_users_to_change_password": policy.allow_users_to_change_password,
        "prevent_reuse": policy.password_reuse_prevention is not None,
        "password_reuse_prevention": policy.password_reuse_prevention,
    }


def _settings(data: dict) -> PasswordPolicySettings:
    return PasswordPolicySettings(
        minimum_password_length=data["minimum_password_length"],
        require_symbols=data["require_symbols"], require_numbers=data["require_numbers"],
        require_uppercase_characters=data["require_uppercase_characters"],
        require_lowercase_characters=data["require_lowercase_characters"],
        allow_users_to_change_password=data["allow_users_to_change_password"],
        max_password_age=data["max_password_age"] if data["expire_passwords"] else None,
        password_reuse_prevention=(data["password_reuse_prevention"] if data["prevent_reuse"]
                                   else None),
        hard_expiry=data["hard_expiry"] and data["expire_passwords"])


@require_http_methods(["GET", "POST"])
def password_policy_edit(request):
    """Edit password policy: "IAM default" deletes the custom policy
    (DeleteAccountPasswordPolicy), "Custom" sets it (UpdateAccountPasswordPolicy)."""
    crumbs = _crumbs("Edit password policy")
    try:
        policy = _current_policy(request)
    except KmsError as error:
        return kms_error_page(request, error, breadcrumbs=crumbs)
    if request.method == "GET":
        return _render_policy_form(request, PasswordPolicyForm(initial=_initial(policy)))
    form = PasswordPolicyForm(request.POST)
    if not form.is_valid():
        return _render_policy_form(request, form, status=400)
    caller = console_caller(request)
    try:
        if form.cleaned_data["policy_type"] == PasswordPolicyForm.CUSTOM:
            account_settings.password_policy_update(caller=caller,
                                                    settings=_settings(form.cleaned_data))
        elif policy is not None:
            account_settings.password_policy_delete(caller=caller)
    except AccessDeniedError as error:
        return kms_error_page(request, error, breadcrumbs=crumbs)
    except KmsError as error:
        return _render_policy_form(request, form, service_error=error, status=400)
    messages.success(request, "Password policy updated. It applies to passwords set from now "
                              "on.")
    return redirect("iam:account_settings")


def _render_policy_form(request, form, *, service_error=None, status=200):
    context = {"title": "Edit password policy", "breadcrumbs": _crumbs("Edit password policy"),
               "form": form, "service_error": service_error}
    return render(request, "iam/account/password_policy_edit.html", context, status=status)
