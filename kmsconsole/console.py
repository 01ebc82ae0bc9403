"""What every console page shares: the Caller of a signed-in request, the region, error pages.

The signed-in IAM user is the actor of every console action: `console_caller(request)` turns the
request into the Caller that services take (design.md "one door"), so a console click and an API
call reach the same policy decision and the same audit event, only `source` and the user agent
differ. The region is the one chosen in the top bar's region selector, kept in the session.
"""

import uuid
from collections.abc import Callable
from dataclasses import replace

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from grants.principals import SOURCE_CONSOLE, Caller, Principal
from grants.switch_role import console_role_principal
from kmsconsole.errors import AccessDeniedError, KmsError, NotFoundError
from kmsconsole.logs import current_request_id

REGION_SESSION_KEY = "kms_region"
# Set by grants.views at a sign-in that passed an MFA code: aws:MultiFactorAuthPresent.
MFA_SESSION_KEY = "kms_mfa_authenticated"


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def user_agent(request) -> str:
    return request.headers.get("User-Agent", "")[:1024]


def new_request_id() -> str:
    """The id of the request being served (kmsconsole/logs.py), so its audit events, its log
    lines and its X-Request-Id header agree; a new one outside a request."""
    return current_request_id() or str(uuid.uuid4())


def current_region(request) -> str:
    """The region chosen in the region selector, or the default. A value that is no longer in
    KMS_REGIONS (settings changed since) falls back to the default instead of failing."""
    region = request.session.get(REGION_SESSION_KEY)
    return region if region in settings.KMS_REGIONS else settings.KMS_DEFAULT_REGION


def set_region(request, region: str) -> bool:
    """Remember `region` for this session; False (and nothing changes) if it is not offered."""
    if region not in settings.KMS_REGIONS:
        return False
    request.session[REGION_SESSION_KEY] = region
    return True


def safe_next(request, candidate: str | None) -> str:
    """`candidate` if it is a path on this site, else the console's first page.
    Threat: an open redirect (a sign-in link that sends the user on to a look-alike site).
    Only a path (leading "/") is taken: redirect() would try any other text as a URL name and
    fail with a 500 (found by tests/web/test_console_forms_fuzz.py)."""
    if candidate and candidate.startswith("/") and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return candidate
    return reverse("keys:customer_managed_keys")


def console_caller(request, *, as_signed_in_user: bool = False) -> Caller:
    """The Caller for a request of the signed-in user (LoginRequiredMiddleware guarantees one),
    or of the role session the user switched to (grants.switch_role) unless
    `as_signed_in_user` (switching roles itself acts as the user, as in AWS's console)."""
    role_principal = None if as_signed_in_user else console_role_principal(request)
    mfa = bool(request.session.get(MFA_SESSION_KEY))
    principal = role_principal or Principal.for_user(request.user)
    return Caller(
        principal=replace(principal, mfa_authenticated=True) if mfa else principal,
        region=current_region(request),
        source=SOURCE_CONSOLE,
        source_ip=client_ip(request),
        user_agent=user_agent(request),
        request_id=new_request_id(),
        secure_transport=request.is_secure(),
        mfa_authenticated=mfa,
    )


def layout(request) -> dict:
    """Context processor: what the top bar needs (region selector, who is signed in)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "console_regions": settings.KMS_REGIONS,
        "console_region": current_region(request),
        "console_user": request.user,
    }


ERROR_TITLES = {403: "Access denied", 404: "Not found", 400: "Request failed"}


def kms_error_page(request, error: KmsError, *, breadcrumbs=None):
    """The page for a service error: AccessDenied says which permission is missing and why
    (the decision's own explanation), other errors show their AWS message. Never a traceback;
    an internal error shows only the generic message the service gave it."""
    if isinstance(error, AccessDeniedError):
        status = 403
    elif isinstance(error, NotFoundError):
        status = 404
    else:
        status = error.status if 400 <= error.status < 500 else 500
    context = {
        "error": error,
        "error_title": ERROR_TITLES.get(status, "Something went wrong"),
        "breadcrumbs": breadcrumbs or [],
    }
    return render(request, "console/error.html", context, status=status)


def act_then_redirect(request, act: Callable[[], object], *,
                      refuse: Callable[[KmsError], HttpResponse], success: str, done: str,
                      failed: str | None = None) -> HttpResponse:
    """A console action without a form of its own (a button: delete, revoke, rotate now): call
    the service, then go back with the outcome. A refusal (AccessDenied) is `refuse`'s error
    page, with the decision's explanation; any other service error is a flash message on
    `failed` (default `done`), and nothing changed; success is the `success` message on `done`
    (a URL or URL name)."""
    try:
        act()
    except AccessDeniedError as error:
        return refuse(error)
    except KmsError as error:
        messages.error(request, f"{error.code}: {error.message}")
        return redirect(failed or done)
    messages.success(request, success)
    return redirect(done)
