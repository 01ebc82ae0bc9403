"""The Alerts pages (audit/alerts.py): the account's suspicious-activity findings, open or
archived, each linking to the events that triggered it and to its key, and the Archive action.

Every page is one service call with the signed-in user's Caller, authorized and recorded as
GuardDuty's ListFindings / GetFindings / ArchiveFindings (the module docstring of audit/alerts.py
says why). Archive is a plain POST with its CSRF token, then a redirect with a flash, so it works
without JavaScript; the open/archived tabs and the paging links fetch only the table for htmx.
A filter that cannot be used is a message on the page (400); a refusal is the error page that
explains the decision.
"""

import uuid

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from kmsconsole.console import console_caller, kms_error_page
from kmsconsole.errors import AccessDeniedError, KmsError

from . import alerts
from .models import Alert, AuditEvent

ALERTS = {"label": "Alerts", "url": "audit:alerts"}
STATUS_TABS = [("open", "Open"), ("archived", "Archived")]
# Triggering events linked from the table; the alert's page links all of them.
EVENTS_IN_TABLE = 3
# A rule this version does not know (raised by a newer one, say) still shows, plainly.
UNKNOWN_RULE = alerts.Rule("Alert", "Medium")
SEVERITY_INDICATORS = {"High": "error", "Medium": "pending", "Low": "info"}


class AlertFilterForm(forms.Form):
    """The Alerts page's query: which list (open or archived) and the page token."""

    status = forms.ChoiceField(label="Status", choices=STATUS_TABS, required=False)
    next = forms.CharField(label="Page", required=False, max_length=1024)


def _key_url(key_id: str) -> str | None:
    """The key's detail page, for a key id that is one (bursts and Decrypt spikes name none)."""
    try:
        return reverse("keys:key_detail", args=[uuid.UUID(key_id)])
    except ValueError:
        return None


def _event_links(alert: Alert, events: dict[int, AuditEvent], limit: int | None) -> list[dict]:
    """The alert's triggering events: each with its stored event, or None once retention
    has exported and deleted it."""
    sequences = alert.event_sequences if limit is None else alert.event_sequences[:limit]
    return [{"sequence": sequence, "event": events.get(sequence)} for sequence in sequences]


def alert_row(alert: Alert, events: dict[int, AuditEvent], *,
              event_limit: int | None = EVENTS_IN_TABLE) -> dict:
    """What the table (and the alert's page) show of one alert."""
    rule = alerts.RULES.get(alert.rule, UNKNOWN_RULE)
    return {
        "alert": alert,
        "rule": rule,
        "indicator": SEVERITY_INDICATORS[rule.severity],
        "key_url": _key_url(alert.key_id),
        "events": _event_links(alert, events, event_limit),
        "event_count": len(alert.event_sequences),
    }


def _template(request) -> str:
    """The table fragment for htmx (not for a history restore, which needs the whole page)."""
    if request.htmx and not request.htmx.history_restore_request:
        return "audit/alerts.html#alert-table"
    return "audit/alerts.html"


def _failed_status(request) -> int:
    # htmx swaps no error response into the page by default: its fragment comes as a 200.
    return 200 if request.htmx else 400


@require_GET
def alert_list(request):
    form = AlertFilterForm(request.GET)
    context = {"title": "Alerts", "breadcrumbs": [ALERTS], "page": None, "rows": [],
               "status": "open", "status_tabs": STATUS_TABS, "filter_errors": []}
    if not form.is_valid():
        context["filter_errors"] = [f"{form.fields[name].label}: {error}"
                                    for name, errors in form.errors.items() for error in errors]
        return render(request, _template(request), context, status=_failed_status(request))
    context["status"] = form.cleaned_data["status"] or "open"
    try:
        page = alerts.alert_list(caller=console_caller(request),
                                 archived=context["status"] == "archived",
                                 after=form.cleaned_data["next"] or None)
    except AccessDeniedError as error:
        return kms_error_page(request, error, breadcrumbs=[ALERTS])
    except KmsError as error:
        context["service_error"] = error
        return render(request, _template(request), context, status=_failed_status(request))
    context["page"] = page
    context["rows"] = [alert_row(alert, page.events) for alert in page.alerts]
    return render(request, _template(request), context)


@require_GET
def alert_detail(request, alert_id: int):
    breadcrumbs = [ALERTS, {"label": f"Alert {alert_id}"}]
    try:
        detail = alerts.alert_get(caller=console_caller(request), alert_id=alert_id)
    except KmsError as error:
        return kms_error_page(request, error, breadcrumbs=breadcrumbs)
    row = alert_row(detail.alert, detail.events, event_limit=None)
    return render(request, "audit/alerts_detail.html", {
        "title": row["rule"].title, "breadcrumbs": breadcrumbs, "row": row})


@require_POST
def alert_archive(request, alert_id: int):
    """Archive (acknowledge) an alert, then back to the open alerts with a flash."""
    try:
        alerts.alert_archive(caller=console_caller(request), alert_id=alert_id)
    except KmsError as error:
        return kms_error_page(request, error, breadcrumbs=[ALERTS, {"label": f"Alert {alert_id}"}])
    messages.success(request, f"Alert {alert_id} was archived.")
    return redirect("audit:alerts")
