"""The console's "Validate integrity" page (the console side of `aws cloudtrail validate-logs`).

GET shows what validation does and its button; it reads nothing, so it needs no permission.
POST (with the CSRF token) runs audit.integrity.integrity_validate with the signed-in user's
Caller, which needs cloudtrail:LookupEvents and records a ValidateLogs event, and shows the
result: intact with what was checked, or the first broken event with a link to it. A refusal
is the error page that explains the decision. An htmx POST gets only the result fragment.
"""

from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from kmsconsole.console import console_caller, kms_error_page
from kmsconsole.errors import KmsError

from .integrity import integrity_validate

TITLE = "Validate integrity"
BREADCRUMBS = [{"label": "Event history", "url": "audit:event_history"}, {"label": TITLE}]


@require_http_methods(["GET", "POST"])
def validate_integrity(request):
    context = {"title": TITLE, "breadcrumbs": BREADCRUMBS, "result": None}
    if request.method == "POST":
        try:
            context["result"] = integrity_validate(caller=console_caller(request))
        except KmsError as error:
            return kms_error_page(request, error, breadcrumbs=BREADCRUMBS)
    template = "audit/integrity.html"
    if request.htmx and request.method == "POST":
        template += "#integrity-result"
    return render(request, template, context)
