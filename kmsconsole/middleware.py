"""Console-wide checks and response headers."""

from django.utils.cache import patch_vary_headers

from kmsconsole.console import kms_error_page
from kmsconsole.errors import ValidationError


class VaryOnHtmxMiddleware:
    """Add `Vary: HX-Request` to every response.

    Many console URLs answer an htmx request with a fragment (the events table, a tab's table)
    and a plain request with the whole page. Without Vary, the browser's cache keys both on the
    URL alone, and Back to a page whose filter htmx applied (hx-push-url) shows the cached bare
    fragment instead of the page (found by the audit walk in tests/e2e/test_audit_walk.py).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response


class RefuseNulCharacterMiddleware:
    """Answer a console request whose query or form fields contain U+0000 with a 400 page.

    PostgreSQL text and jsonb cannot hold U+0000: a key description, tag or alias with it
    failed the service's save and then its audit record (a 500, found on PostgreSQL by
    tests/web/test_console_forms_fuzz.py). Django's form fields refuse it, but several actions
    read request.POST directly; one check in front of every console view covers them all, as
    api/views.py does for the API. Views open without sign-in (the API, sign-in, probes) are
    not checked here: they read forms or refuse the character themselves.
    """

    MESSAGE = "The request contains the NUL character (U+0000), which no field accepts."

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not getattr(view_func, "login_required", True):
            return None
        if _has_nul(request.GET) or (request.method == "POST" and _has_nul(request.POST)):
            return kms_error_page(request, ValidationError(self.MESSAGE))
        return None


def _has_nul(query) -> bool:
    return any("\x00" in name or any("\x00" in value for value in values)
               for name, values in query.lists())


class RefuseOversizedBodyMiddleware:
    """Answer a console request whose body is over MAX_BODY_BYTES with a 413 page, unread.

    Threat: a client (signed in or not: the sign-in form takes a POST) streaming a huge body.
    Django keeps form fields to DATA_UPLOAD_MAX_MEMORY_SIZE but spools uploaded files over
    2.5 MB to temporary files with no limit of its own, so the Import key material form's
    uploads could fill the server's disk before the view saw their size. The largest real
    console request (a 32 KB key policy, or two 6 KB import files) is far below the limit. The
    body is judged by its Content-Length before anything reads it (Django reads no more than
    that). POST / is the API, which refuses oversized bodies itself with AWS's error shape
    (api/views.py), with the same limit.
    """

    MAX_BODY_BYTES = 1024 * 1024
    MESSAGE = "The request is too large: a console request can carry at most 1 MiB."

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != "/" and _content_length(request) > self.MAX_BODY_BYTES:
            response = kms_error_page(request, ValidationError(self.MESSAGE))
            response.status_code = 413
            return response
        return self.get_response(request)


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # Django reads no body without a valid length either
