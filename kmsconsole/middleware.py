"""Console-wide response headers."""

from django.utils.cache import patch_vary_headers


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
