"""Change password: the signed-in IAM user changes their own console password (IAM's
ChangePassword, grants.passwords). Reached from the top bar's user menu, and forced after a
sign-in whose password expired or was reset by an administrator (grants.middleware then
serves no other page; this page shows without the console's navigation, as AWS's does).

The change acts as the signed-in user even while a role is active (ChangePassword has no
target but the caller). A refusal (no iam:ChangePassword and the password policy does not let
users change their own password) is the 403 page with the decision's explanation; a wrong old
password or one the password policy refuses comes back on the form (400). The session survives
the change (update_session_auth_hash): Django ends sessions whose password hash changed, which
is what the user's other sessions should do.
"""

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from kmsconsole.console import console_caller, kms_error_page, safe_next
from kmsconsole.errors import AccessDeniedError, KmsError

from . import passwords
from .account_settings import password_rules_for
from .forms import ChangePasswordForm
from .middleware import PASSWORD_CHANGE_SESSION_KEY, password_change_exempt

BREADCRUMBS = [{"label": "Change password"}]
CHANGED_MESSAGE = "Your password has been changed."


@password_change_exempt
@never_cache
@sensitive_post_parameters("old_password", "new_password", "confirm_password")
@require_http_methods(["GET", "POST"])
def change_password(request):
    forced = bool(request.session.get(PASSWORD_CHANGE_SESSION_KEY))
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = ChangePasswordForm(request.POST if request.method == "POST" else None)
    if not form.is_bound or not form.is_valid():
        return _render(request, form, next_url, forced=forced,
                       status=400 if form.is_bound else 200)
    try:
        user = passwords.password_change(
            caller=console_caller(request, as_signed_in_user=True),
            old_password=form.cleaned_data["old_password"],
            new_password=form.cleaned_data["new_password"])
    except AccessDeniedError as error:
        return kms_error_page(request, error, breadcrumbs=BREADCRUMBS)
    except KmsError as error:
        return _render(request, ChangePasswordForm(), next_url, forced=forced,
                       service_error=error, status=400)
    update_session_auth_hash(request, user)  # this session goes on with the new password
    request.session.pop(PASSWORD_CHANGE_SESSION_KEY, None)
    messages.success(request, CHANGED_MESSAGE)
    return redirect(next_url)


def _render(request, form, next_url: str, *, forced: bool, service_error=None, status=200):
    return render(request, "grants/change_password.html", {
        "title": "Change password", "form": form, "next": next_url, "forced": forced,
        "rules": password_rules_for(request.user.account_id),
        "service_error": service_error, "breadcrumbs": BREADCRUMBS}, status=status)
