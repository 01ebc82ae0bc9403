"""A user's MFA device in the console: Assign MFA device (CreateVirtualMFADevice, then
EnableMFADevice with two consecutive codes) and Remove (DeactivateMFADevice, then
DeleteVirtualMFADevice), as the IAM console's Security credentials tab offers them.

The "Multi-factor authentication (MFA)" container is templates/iam/users/_mfa.html; the user's
Security credentials tab includes it with the context `mfa_context()` returns, and
/iam/users/details/<name>/mfa shows it alone. Its forms carry `next`, the page to return to.

Every page reads the user as the user's detail page does (GetUser, authorized and audited,
grants.user_views.UserPage.open) before anything else. Threat: user-name probing; a caller who
may not read users gets the same 403 whether the name exists or not, and a 404 only once
allowed to read it.

The new device's secret (as text and as a QR code of its otpauth:// URI) is shown once: in the
response to the POST that created the device (never cached), never on a page a GET returns.
Threat: the secret read back later from a browser's history or cache, or by another
administrator, to make codes for the user.
"""

import segno
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kmsconsole.console import console_caller, kms_error_page
from kmsconsole.errors import AccessDeniedError, KmsError

from . import mfa
from .forms import MFADeviceNameForm, MFAEnableForm
from .user_views import UserPage


def mfa_context(request, user) -> dict:
    """What templates/iam/users/_mfa.html needs for `user`: its assigned devices (IAM's
    ListMFADevices, as the signed-in principal) or the refusal to list them."""
    try:
        devices, error = mfa.mfa_device_list(caller=console_caller(request), user=user), None
    except KmsError as refusal:
        devices, error = [], refusal
    return {"mfa_user": user, "mfa_devices": devices, "mfa_error": error,
            "mfa_next": request.get_full_path()}


def _crumbs(user, label: str | None = None) -> list[dict]:
    crumbs = [{"label": "Users", "href": reverse("iam:users")},
              {"label": user.name,
               "href": reverse("iam:user_security_credentials", args=[user.name])},
              {"label": "Multi-factor authentication (MFA)",
               "href": reverse("iam:user_mfa", args=[user.name])}]
    return crumbs + ([{"label": label}] if label else [])


def _user(request, name: str):
    """(user, None) or (None, the error page) for a user of the caller's account, read with
    the caller's permission (GetUser) like every page of a user."""
    page, refusal = UserPage.open(request, name)
    return (page.user if page is not None else None), refusal


def _back(request, user):
    """Where an action returns: the page the form came from, else the user's MFA page."""
    candidate = request.POST.get("next") or request.GET.get("next")
    # Threat: an open redirect; only a path of this site is followed (and only a path: other
    # text would be looked up as a URL name by redirect() and fail).
    if candidate and candidate.startswith("/") and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return candidate
    return reverse("iam:user_mfa", args=[user.name])


@require_GET
def user_mfa(request, name: str):
    user, error_page = _user(request, name)
    if error_page:
        return error_page
    crumbs = _crumbs(user)[:-1] + [{"label": "Multi-factor authentication (MFA)"}]
    context = mfa_context(request, user)
    if isinstance(context["mfa_error"], AccessDeniedError):
        return kms_error_page(request, context["mfa_error"], breadcrumbs=crumbs)
    context.update({"title": f"{user.name}: Multi-factor authentication (MFA)",
                    "breadcrumbs": crumbs})
    return render(request, "iam/mfa/device.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def mfa_assign(request, name: str):
    """Select MFA device (its name) -> CreateVirtualMFADevice -> Set up device (the secret,
    once, and the two codes)."""
    user, error_page = _user(request, name)
    if error_page:
        return error_page
    back = _back(request, user)
    if request.method == "GET":
        form = MFADeviceNameForm(initial={"device_name": user.name})
        return _render_assign(request, user, form, back)
    form = MFADeviceNameForm(request.POST)
    if not form.is_valid():
        return _render_assign(request, user, form, back, status=400)
    try:
        device, secret = mfa.mfa_device_create(caller=console_caller(request), user=user,
                                               device_name=form.cleaned_data["device_name"])
    except AccessDeniedError as error:
        return kms_error_page(request, error, breadcrumbs=_crumbs(user, "Assign MFA device"))
    except KmsError as error:
        return _render_assign(request, user, form, back, service_error=error, status=400)
    uri = mfa.otpauth_uri(device, secret)
    context = {"title": "Set up device", "breadcrumbs": _crumbs(user, "Assign MFA device"),
               "mfa_user": user, "device": device, "secret": secret, "otpauth_uri": uri,
               "qr_code": segno.make(uri, error="m").svg_data_uri(scale=5),
               "form": MFAEnableForm(), "next": back}
    return render(request, "iam/mfa/set_up.html", context)


def _render_assign(request, user, form, back, *, service_error=None, status=200):
    context = {"title": "Select MFA device", "breadcrumbs": _crumbs(user, "Assign MFA device"),
               "mfa_user": user, "form": form, "service_error": service_error, "next": back}
    return render(request, "iam/mfa/assign.html", context, status=status)


@never_cache
@require_POST
def mfa_enable(request, name: str):
    """Add MFA: EnableMFADevice with the two codes. On a wrong code the form comes back
    without the secret (it was shown once); the user retypes codes from the app."""
    user, error_page = _user(request, name)
    if error_page:
        return error_page
    back = _back(request, user)
    form = MFAEnableForm(request.POST)
    service_error = None
    if form.is_valid():
        try:
            mfa.mfa_device_enable(caller=console_caller(request), user=user,
                                  authentication_code_1=form.cleaned_data["code_1"],
                                  authentication_code_2=form.cleaned_data["code_2"])
        except AccessDeniedError as error:
            return kms_error_page(request, error,
                                  breadcrumbs=_crumbs(user, "Assign MFA device"))
        except KmsError as error:
            service_error = error
        else:
            messages.success(request, f"MFA device assigned to user {user.name}. From now on, "
                                      "signing in needs a code from it.")
            return redirect(back)
    context = {"title": "Set up device", "breadcrumbs": _crumbs(user, "Assign MFA device"),
               "mfa_user": user, "form": form, "service_error": service_error, "next": back}
    return render(request, "iam/mfa/set_up.html", context, status=400)


@require_http_methods(["GET", "POST"])
def mfa_remove(request, name: str):
    """Remove MFA device: a confirmation, then DeactivateMFADevice and DeleteVirtualMFADevice
    (each its own event, as the IAM console's Remove makes both calls)."""
    user, error_page = _user(request, name)
    if error_page:
        return error_page
    back = _back(request, user)
    crumbs = _crumbs(user, "Remove MFA device")
    if request.method == "GET":
        context = {"title": "Remove MFA device?", "breadcrumbs": crumbs, "mfa_user": user,
                   "next": back, **mfa_context(request, user)}
        if isinstance(context["mfa_error"], AccessDeniedError):
            # A refusal is the 403 page, as on every IAM page, not a confirmation with a note.
            return kms_error_page(request, context["mfa_error"], breadcrumbs=crumbs)
        return render(request, "iam/mfa/remove.html", context)
    try:
        if mfa.mfa_device_list(caller=console_caller(request), user=user):
            mfa.mfa_device_deactivate(caller=console_caller(request), user=user)
        mfa.mfa_device_delete(caller=console_caller(request), user=user)
    except AccessDeniedError as error:
        return kms_error_page(request, error, breadcrumbs=crumbs)
    except KmsError as error:
        messages.error(request, f"Remove MFA device failed: {error.code}: {error.message}")
        return redirect(back)
    messages.success(request, f"MFA device removed from user {user.name}.")
    return redirect(back)
