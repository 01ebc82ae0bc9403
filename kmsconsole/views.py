"""The root URL: POST is the AWS API (SDKs send every operation to /), GET opens the console.

JSON calls (X-Amz-Target: TrentService.*) are KMS; form-encoded Query-protocol calls
(Action=...) are STS, so boto3's sts client works with the same endpoint_url. A GET goes to the
customer managed keys page, which sends a visitor who is not signed in to the sign-in page.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from api.sts import is_query_request, sts_api
from api.views import kms_api

from .console import safe_next, set_region


@csrf_exempt  # the API authenticates with SigV4; GET only redirects and changes nothing
@login_not_required  # API callers sign each request with SigV4 instead of a session
def root(request):
    if request.method == "POST":
        return sts_api(request) if is_query_request(request) else kms_api(request)
    return redirect("keys:customer_managed_keys")


@require_POST
def region_select(request):
    """The top bar's region selector: remember the region, go back to the page it was on."""
    if not set_region(request, request.POST.get("region", "")):
        messages.error(request, "That region is not offered by this server.")
    next_url = safe_next(request, request.POST.get("next"))
    if request.htmx:
        return HttpResponseClientRedirect(next_url)
    return redirect(next_url)
