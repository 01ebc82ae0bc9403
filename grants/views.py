"""Console sign-in and sign-out.

Threats handled here: an open redirect through `next` (only same-site paths are followed),
session fixation (login() issues a new session key), cross-site sign-in or sign-out (CSRF;
sign-out is POST only), passwords in logs or audit (sensitive_post_parameters; the audit event
never holds it), and telling which field was wrong (one message for every failure).
"""

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from kmsconsole.console import (
    REGION_SESSION_KEY,
    client_ip,
    current_region,
    new_request_id,
    safe_next,
    user_agent,
)

from .forms import SignInForm
from .signin import SignInFailedError, console_sign_in

SIGNIN_FAILED_MESSAGE = "Your authentication information is incorrect. Please try again."


@login_not_required
@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def signin(request):
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET" and request.user.is_authenticated:
        return redirect(next_url)
    form = SignInForm(request.POST if request.method == "POST" else None)
    failed = False
    if form.is_bound and form.is_valid():
        try:
            user = console_sign_in(
                account=form.cleaned_data["account"], user_name=form.cleaned_data["username"],
                password=form.cleaned_data["password"], region=current_region(request),
                source_ip=client_ip(request), user_agent=user_agent(request),
                request_id=new_request_id(), secure_transport=request.is_secure(),
                login_to=request.build_absolute_uri(next_url))
        except SignInFailedError:
            failed = True
        else:
            region = current_region(request)
            login(request, user)  # a fresh session key: no session fixation
            request.session[REGION_SESSION_KEY] = region
            return redirect(next_url)
    return render(request, "grants/signin.html",
                  {"form": form, "next": next_url, "failed": failed,
                   "failed_message": SIGNIN_FAILED_MESSAGE},
                  status=200)


@require_POST
def signout(request):
    logout(request)
    messages.success(request, "You have signed out.")
    return redirect("signin")
