"""Console pages of the audit trail (CloudTrail's console): Event history with its filter bar and
download, and an event's page with its full record.

Every page is one service call with the signed-in user's Caller (audit.history), so reading the
trail needs cloudtrail:LookupEvents and is itself recorded as a LookupEvents event. A filter
that cannot be used is a message on the page (status 400); a refusal is the error page that
explains the decision. An htmx request of the history gets only its table fragment.
"""

import datetime
import json
from dataclasses import replace

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kmsconsole.console import console_caller, kms_error_page
from kmsconsole.errors import AccessDeniedError, KmsError

from . import history
from .forms import EVENT_NAMES, TIME_RANGES, EventFilterForm

EVENT_HISTORY = {"label": "Event history", "url": "audit:event_history"}
DOWNLOADS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/jsonl; charset=utf-8", "jsonl"),
}


def table_template(request, template: str) -> str:
    """The table fragment for htmx (not for a history restore, which needs the whole page)."""
    if request.htmx and not request.htmx.history_restore_request:
        return f"{template}#event-table"
    return template


def filter_context(request, form: EventFilterForm) -> dict:
    """What the filter bar and the table's links need, on the history and on a key's tab."""
    download_query = request.GET.copy()
    download_query.pop("next", None)
    return {
        "form": form,
        "event_names": EVENT_NAMES,
        "time_ranges": TIME_RANGES,
        "download_query": download_query.urlencode(),
        "filter_errors": filter_errors(form),
    }


def filter_errors(form: EventFilterForm) -> list[str]:
    """Every problem of the filter, each with its field's label. They are shown in the table
    fragment (htmx replaces only the table, not the filter bar)."""
    if not form.is_bound:
        return []
    return [f"{form.fields[name].label}: {error}" if name in form.fields else error
            for name, errors in form.errors.items() for error in errors]


def filter_status(request, *, failed: bool) -> int:
    """400 for a filter that cannot be used, except for htmx, which swaps no error response
    into the page by default: the fragment with its message comes as a 200."""
    return 400 if failed and not request.htmx else 200


def history_context(request, form: EventFilterForm) -> dict:
    return {"title": "Event history", "breadcrumbs": [EVENT_HISTORY], "page": None,
            **filter_context(request, form)}


def principal_events(request, *, caller, principal_arn: str, filter_action: str):
    """A user's or a role's Audit tab: the event history's search, scoped to one principal
    (for a role, its sessions). Returns (context, status); AccessDeniedError propagates for
    the page to show the refusal. The download and "Open in Event history" keep the scope."""
    form = EventFilterForm(request.GET, with_user=False)
    context = {**filter_context(request, form), "page": None, "filter_action": filter_action}
    scoped_query = request.GET.copy()
    scoped_query.pop("next", None)
    scoped_query["user"] = principal_arn
    context["download_query"] = scoped_query.urlencode()
    if not form.is_valid():
        return context, filter_status(request, failed=True)
    try:
        context["page"] = history.event_search(
            caller=caller, event_filter=replace(form.event_filter(), user=principal_arn),
            after=form.cleaned_data["next"] or None)
    except AccessDeniedError:
        raise
    except KmsError as error:
        context["service_error"] = error  # a forged or stale page token
        return context, filter_status(request, failed=True)
    return context, 200


@require_GET
def event_history(request):
    form = EventFilterForm(request.GET)
    context = history_context(request, form)
    template = table_template(request, "audit/event_history.html")
    if not form.is_valid():
        return render(request, template, context, status=filter_status(request, failed=True))
    try:
        context["page"] = history.event_search(caller=console_caller(request),
                                               event_filter=form.event_filter(),
                                               after=form.cleaned_data["next"] or None)
    except AccessDeniedError as error:
        return kms_error_page(request, error, breadcrumbs=[EVENT_HISTORY])
    except KmsError as error:
        context["service_error"] = error
        return render(request, template, context, status=filter_status(request, failed=True))
    return render(request, template, context)


@require_GET
def event_detail(request, event_id):
    breadcrumbs = [EVENT_HISTORY, {"label": str(event_id)}]
    try:
        event = history.event_get(caller=console_caller(request), event_id=str(event_id))
    except KmsError as error:
        return kms_error_page(request, error, breadcrumbs=breadcrumbs)
    return render(request, "audit/event_detail.html", {
        "title": event.event_name,
        "breadcrumbs": breadcrumbs,
        "event": event,
        # Autoescaped in the template: user agents and request parameters are caller-controlled.
        "record": json.dumps(event.as_record(), indent=2),
    })


@require_GET
def events_download(request):
    """Download events: the current filter's events, streamed as CSV or JSON Lines."""
    form = EventFilterForm(request.GET)
    fmt = request.GET.get("format", "")
    if not form.is_valid() or fmt not in DOWNLOADS:
        context = history_context(request, form)
        if form.is_valid():
            context["filter_errors"] = ["Choose CSV or JSON Lines to download events."]
        return render(request, "audit/event_history.html", context, status=400)
    caller = console_caller(request)
    try:
        chunks = history.events_export(caller=caller, event_filter=form.event_filter(),
                                       fmt=fmt)
    except KmsError as error:
        return kms_error_page(request, error, breadcrumbs=[EVENT_HISTORY])
    content_type, extension = DOWNLOADS[fmt]
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="event_history_{caller.account_id}_{stamp}.{extension}"')
    return response
