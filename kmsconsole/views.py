"""The root URL: POST is the AWS API (SDKs send every operation to /), GET is the console.

JSON calls (X-Amz-Target: TrentService.*) are KMS; form-encoded Query-protocol calls
(Action=...) are STS, so boto3's sts client works with the same endpoint_url.
"""

from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from api.sts import is_query_request, sts_api
from api.views import kms_api


@csrf_exempt  # the API authenticates with SigV4; GET renders a page and changes nothing
def root(request):
    if request.method == "POST":
        return sts_api(request) if is_query_request(request) else kms_api(request)
    return render(request, "home.html")
