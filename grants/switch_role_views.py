"""Switch role and Switch back, from the top bar's user menu (grants.switch_role explains the
model). The form asks what AWS's Switch Role page asks: account (id or alias), role and an
optional display name; a link from a role's summary fills it in (?account=&roleName=).

Switching acts as the signed-in IAM user (console_caller(..., as_signed_in_user=True)), never
as a role session already active. A refusal is AssumeRole's own AccessDenied, shown on the error
page with the decision's explanation, and recorded like any refused AssumeRole.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from kmsconsole.console import console_caller, kms_error_page, safe_next
from kmsconsole.errors import AccessDeniedError, KmsError

from .role_forms import SwitchRoleForm
from .switch_role import forget_switched_role, remember_switched_role, role_switch

BREADCRUMBS = [{"label": "Switch role"}]


@require_http_methods(["GET", "POST"])
def switch_role(request):
    if request.method == "GET":
        form = SwitchRoleForm(initial={
            "account": request.GET.get("account", "")[:63],
            "role": request.GET.get("roleName", "")[:576],
            "display_name": request.GET.get("displayName", "")[:64]})
        return _render(request, form)
    form = SwitchRoleForm(request.POST)
    if not form.is_valid():
        return _render(request, form, status=400)
    data = form.cleaned_data
    try:
        switched = role_switch(caller=console_caller(request, as_signed_in_user=True),
                               account=data["account"], role_name=data["role"],
                               display_name=data["display_name"])
    except AccessDeniedError as error:
        return kms_error_page(request, error, breadcrumbs=BREADCRUMBS)
    except KmsError as error:
        return _render(request, form, service_error=error, status=400)
    remember_switched_role(request, switched)
    messages.success(request, f"You are now using the role {switched.role_name} in account "
                              f"{switched.account}.")
    return redirect("keys:customer_managed_keys")


@require_POST
def switch_back(request):
    """Back to the IAM user. AWS records nothing for it (no API call), nor does this."""
    if forget_switched_role(request):
        messages.success(request, f"You switched back to {request.user.name}.")
    return redirect(safe_next(request, request.POST.get("next")))


def _render(request, form, *, service_error=None, status=200):
    return render(request, "iam/roles/switch_role.html", {
        "title": "Switch role", "form": form, "service_error": service_error,
        "breadcrumbs": BREADCRUMBS}, status=status)
