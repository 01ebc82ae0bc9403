"""Keep the console closed while a signed-in user must change the password first.

grants.views marks the session at a sign-in whose password expired (MaxPasswordAge) or whose
user must create a new password at next sign-in (PasswordResetRequired); until ChangePassword
succeeds (grants.password_views clears the mark) every console page answers with a redirect
to Change password. Threat: an expired or administrator-reset password used as a full console
session by typing a page's URL directly.

It is one check in front of every view rather than one in console_caller, because not every
page asks for a Caller (the region selector, the wizard's steps) and a page that forgot to
must not slip through. Views that stay open are marked with @password_change_exempt (the
Change password page and sign-out); views open without sign-in (@login_not_required: the
sign-in page, /healthz, the SigV4 API) are not this middleware's business.
"""

from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

# The session's mark: the password must be changed before anything else.
PASSWORD_CHANGE_SESSION_KEY = "iam_password_change_required"


def password_change_exempt(view):
    """Serve `view` even while the session must change its password (outermost decorator)."""
    view.password_change_exempt = True
    return view


class PasswordChangeRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not getattr(view_func, "login_required", True):
            return None
        if getattr(view_func, "password_change_exempt", False):
            return None
        if not request.user.is_authenticated or not request.session.get(
                PASSWORD_CHANGE_SESSION_KEY):
            return None
        target = f"{reverse('iam:change_password')}?{urlencode({'next': request.get_full_path()})}"
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(target)  # a whole page, not a fragment
        return redirect(target)
