"""The root URL: POST is the AWS KMS API (SDKs send every operation to /), GET is the console."""

from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from api.views import kms_api


@csrf_exempt  # the API authenticates with SigV4; GET renders a page and changes nothing
def root(request):
    if request.method == "POST":
        return kms_api(request)
    return render(request, "home.html")
