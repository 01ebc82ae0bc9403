"""Console sign-in (password, then the MFA code for users with an MFA device) and sign-out.

Threats handled here: an open redirect through `next` (only same-site paths are followed),
session fixation (login() issues a new session key), cross-site sign-in or sign-out (CSRF;
sign-out is POST only), passwords in logs or audit (sensitive_post_parameters; the audit event
never holds it), telling which field was wrong (one message for every failure), and a half-done
sign-in becoming a session (a right password of an MFA user starts no session: only the user's
id waits in the anonymous session, for SIGNIN_MFA_STEP_SECONDS, for the code step), and an
expired or administrator-reset password used for anything but changing it (the session is marked
and grants.middleware serves only the Change password page until it is changed).
"""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from kmsconsole.console import (
    MFA_SESSION_KEY,
    REGION_SESSION_KEY,
    client_ip,
    current_region,
    kms_error_page,
    new_request_id,
    safe_next,
    user_agent,
)
from kmsconsole.errors import KmsError

from .forms import MFACodeForm, SignInForm
from .middleware import PASSWORD_CHANGE_SESSION_KEY, password_change_exempt
from .signin import SignInAttempt, SignInFailedError, console_sign_in, console_sign_in_mfa

SIGNIN_FAILED_MESSAGE = "Your authentication information is incorrect. Please try again."
SIGNIN_LOCKED_MESSAGE = ("Too many failed sign-in attempts: sign-in for this user is "
                         "temporarily locked. Try again later.")
# HardExpiry: only an administrator can help, so the page says so (the password was right).
PASSWORD_EXPIRED_MESSAGE = ("Your password has expired. Contact your administrator to reset "
                            "your password, then sign in again.")
MFA_TIMED_OUT_MESSAGE = "Your sign-in timed out before the MFA code was entered. Sign in again."
# The anonymous session's note of a right password waiting for its MFA code.
PENDING_MFA_KEY = "signin_pending_mfa"
BACKEND = "grants.backends.IAMUserBackend"


@login_not_required
@sensitive_post_parameters("password", "mfa_code")
@never_cache
@require_http_methods(["GET", "POST"])
def signin(request):
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET":
        if request.user.is_authenticated:
            return redirect(next_url)
        # Opening the page starts over: a pending MFA step is dropped (its Cancel link).
        request.session.pop(PENDING_MFA_KEY, None)
        # Account settings' sign-in URL names the account (?account=<alias or id>).
        form = SignInForm(initial={"account": request.GET.get("account", "")[:63]})
        return _password_page(request, form, next_url)
    if request.POST.get("step") == "mfa":
        return _mfa_step(request, next_url)
    return _password_step(request, next_url)


def _password_step(request, next_url: str):
    form = SignInForm(request.POST)
    if not form.is_valid():
        return _password_page(request, form, next_url)
    try:
        result = console_sign_in(
            account=form.cleaned_data["account"], user_name=form.cleaned_data["username"],
            password=form.cleaned_data["password"], attempt=_attempt(request, next_url))
    except SignInFailedError as error:
        return _password_page(request, form, next_url, failure=error)
    if result.mfa_required:
        request.session[PENDING_MFA_KEY] = {
            "user_id": result.user.pk,
            "expires_at": time.time() + settings.SIGNIN_MFA_STEP_SECONDS}
        return _mfa_page(request, MFACodeForm(), next_url)
    return _start_session(request, result, next_url, mfa=False)


def _mfa_step(request, next_url: str):
    pending = _pending_mfa(request)
    if pending is None:
        return _password_page(request, SignInForm(), next_url, notice=MFA_TIMED_OUT_MESSAGE)
    form = MFACodeForm(request.POST)
    if not form.is_valid():
        return _mfa_page(request, form, next_url)
    try:
        result = console_sign_in_mfa(user_id=pending["user_id"],
                                     code=form.cleaned_data["mfa_code"],
                                     attempt=_attempt(request, next_url))
    except SignInFailedError as error:
        if error.password_expired:
            request.session.pop(PENDING_MFA_KEY, None)
            return _password_page(request, SignInForm(), next_url, failure=error)
        return _mfa_page(request, MFACodeForm(), next_url, failure=error)
    except KmsError as error:
        # A server fault (the device's secret unreadable under this root key): the error page;
        # the sign-in starts over once an operator has fixed it.
        request.session.pop(PENDING_MFA_KEY, None)
        return kms_error_page(request, error)
    request.session.pop(PENDING_MFA_KEY, None)
    return _start_session(request, result, next_url, mfa=True)


def _pending_mfa(request) -> dict | None:
    """The sign-in waiting for its MFA code, unless there is none or it timed out."""
    pending = request.session.get(PENDING_MFA_KEY)
    if not isinstance(pending, dict) or pending.get("expires_at", 0) < time.time():
        request.session.pop(PENDING_MFA_KEY, None)
        return None
    return pending


def _start_session(request, result, next_url: str, *, mfa: bool):
    region = current_region(request)
    login(request, result.user, backend=BACKEND)  # a fresh session key: no session fixation
    request.session[REGION_SESSION_KEY] = region
    if mfa:
        request.session[MFA_SESSION_KEY] = True
    if result.password_change_required:
        request.session[PASSWORD_CHANGE_SESSION_KEY] = True
        return redirect(f"{reverse('iam:change_password')}?{urlencode({'next': next_url})}")
    return redirect(next_url)


def _attempt(request, next_url: str) -> SignInAttempt:
    return SignInAttempt(region=current_region(request), source_ip=client_ip(request),
                         user_agent=user_agent(request), request_id=new_request_id(),
                         secure_transport=request.is_secure(),
                         login_to=request.build_absolute_uri(next_url))


def _failure_context(failure: SignInFailedError | None) -> dict:
    expired = failure is not None and failure.password_expired
    return {"failed": failure is not None and not expired,
            "failed_message": SIGNIN_FAILED_MESSAGE,
            "locked": failure is not None and failure.locked_until is not None,
            "locked_message": SIGNIN_LOCKED_MESSAGE,
            "password_expired": expired, "password_expired_message": PASSWORD_EXPIRED_MESSAGE}


def _password_page(request, form, next_url: str, *, failure=None, notice: str = ""):
    context = {"form": form, "next": next_url, "notice": notice, **_failure_context(failure)}
    return render(request, "grants/signin.html", context)


def _mfa_page(request, form, next_url: str, *, failure=None):
    context = {"form": form, "next": next_url, "title": "Multi-factor authentication",
               **_failure_context(failure)}
    return render(request, "grants/signin_mfa.html", context)


@password_change_exempt
@require_POST
def signout(request):
    logout(request)
    messages.success(request, "You have signed out.")
    return redirect("signin")
