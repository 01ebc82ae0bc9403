"""Key actions (kms-spec.md 8.4): Enable, Disable, Schedule key deletion, Cancel key deletion.

From a key's detail page ("Key actions" menu) and from the customer managed keys table (row
checkboxes, then the same menu for all selected keys). Every change is a POST with its CSRF token
that calls one service per key with the signed-in user's Caller, so a click and the API reach the
same decision and the same audit event. Disable and Schedule key deletion first show their
confirmation page (a GET for one key; for selected keys the list's POST answers with it).

Outcomes: success -> redirect with a flash (POST then GET); AccessDenied on one key -> the 403
page with the decision's explanation; any other service error -> a flash with AWS's message.
For several keys, one summary flash lists what worked and what failed.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kmsconsole.console import console_caller, kms_error_page
from kmsconsole.errors import AccessDeniedError, KmsError

from . import services
from .detail_forms import DEFAULT_WAITING_DAYS, ScheduleDeletionForm

CUSTOMER_MANAGED = {"label": "Customer managed keys", "url": "keys:customer_managed_keys"}
MAX_SELECTED = 100  # a page of the key table at most

# action -> (caption, service, past-tense sentence for the flash)
ACTIONS = {
    "enable": ("Enable", services.key_enable, "enabled"),
    "disable": ("Disable", services.key_disable, "disabled"),
    "schedule_deletion": ("Schedule key deletion", services.key_schedule_deletion,
                          "scheduled for deletion"),
    "cancel_deletion": ("Cancel key deletion", services.key_cancel_deletion,
                        "no longer scheduled for deletion"),
}
CONFIRMED_ACTIONS = {"disable", "schedule_deletion"}  # shown a confirmation page first
CANCEL_REMINDER = "The key is now Disabled. To use it again, enable it (Key actions, Enable)."
CANCEL_REMINDER_MANY = ("The keys are now Disabled. To use them again, enable them "
                        "(Key actions, Enable).")


def _detail_url(key_id) -> str:
    return reverse("keys:key_detail", args=[key_id])


def _run(request, action: str, key_ids: list[str], **kwargs) -> list[tuple[str, KmsError | None]]:
    """Call the action's service once per key (each its own transaction and audit event)."""
    service = ACTIONS[action][1]
    results = []
    for key_id in key_ids:
        try:
            service(caller=console_caller(request), key_id=key_id, **kwargs)
            results.append((key_id, None))
        except KmsError as error:
            results.append((key_id, error))
    return results


def _success_text(action: str, key_ids: list[str], days: int | None = None) -> str:
    subject = f"Key {key_ids[0]} was" if len(key_ids) == 1 else \
        f"{len(key_ids)} keys were"
    text = f"{subject} {ACTIONS[action][2]}"
    if action == "schedule_deletion":
        text += f" in {days} days"
    text += "."
    if action == "cancel_deletion":
        text += " " + (CANCEL_REMINDER if len(key_ids) == 1 else CANCEL_REMINDER_MANY)
    return text


def _flash_results(request, action: str, results, days: int | None = None) -> None:
    done = [key_id for key_id, error in results if error is None]
    failed = [(key_id, error) for key_id, error in results if error is not None]
    if done:
        messages.success(request, _success_text(action, done, days))
    for key_id, error in failed:
        messages.error(request, f"{ACTIONS[action][0]} failed for key {key_id}: "
                                f"{error.code}: {error.message}")


def _single(request, action: str, key_id: str, **kwargs):
    """One key from its detail page: 403 page on AccessDenied, else flash and back to it."""
    results = _run(request, action, [key_id], **kwargs)
    error = results[0][1]
    if isinstance(error, AccessDeniedError):
        return kms_error_page(request, error, breadcrumbs=[CUSTOMER_MANAGED, {"label": key_id}])
    _flash_results(request, action, results, kwargs.get("pending_window_days"))
    return redirect(_detail_url(key_id))


def _describe(request, key_id: str):
    """The key for a confirmation page (its title and state), or the error page."""
    try:
        return services.key_describe(caller=console_caller(request), key_id=key_id), None
    except KmsError as error:
        return None, kms_error_page(request, error, breadcrumbs=[CUSTOMER_MANAGED])


def _confirm_context(action: str, key_ids: list[str], form_action: str, cancel_url: str) -> dict:
    return {
        "title": ACTIONS[action][0] if len(key_ids) == 1 else f"{ACTIONS[action][0]} "
                                                               f"({len(key_ids)} keys)",
        "breadcrumbs": [CUSTOMER_MANAGED, {"label": ACTIONS[action][0]}],
        "key_ids": key_ids,
        "form_action": form_action,
        "cancel_url": cancel_url,
        "bulk": form_action == reverse("keys:key_actions"),
    }


def _render_schedule(request, key_ids, form, form_action, cancel_url, status=200):
    context = _confirm_context("schedule_deletion", key_ids, form_action, cancel_url)
    context.update({"form": form, "days": form.days_shown(), "action": "schedule_deletion",
                    "key_count": len(key_ids)})
    return render(request, "keys/actions/schedule_deletion.html", context, status=status)


@require_GET
def deletion_confirmation(request):
    """The Schedule key deletion dialog's confirmation sentence for the waiting period typed so
    far (htmx, as the number changes), unticked: a tick confirms the number it names. It only
    renders text; the deletion itself is authorized when the form is submitted."""
    try:
        key_count = min(max(1, int(request.GET.get("key_count", "1"))), MAX_SELECTED)
    except ValueError:
        key_count = 1
    days = ScheduleDeletionForm(request.GET).days_shown()
    # An unbound form: while typing, no "confirm" error is due yet.
    return render(request, "keys/actions/schedule_deletion.html#deletion-confirmation",
                  {"form": ScheduleDeletionForm(), "days": days, "key_count": key_count})


def _render_disable(request, key_ids, form_action, cancel_url):
    context = _confirm_context("disable", key_ids, form_action, cancel_url)
    context["action"] = "disable"
    return render(request, "keys/actions/disable.html", context)


# --- one key ----------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def key_disable(request, key_id):
    key_id = str(key_id)
    if request.method == "POST":
        return _single(request, "disable", key_id)
    key, error_page = _describe(request, key_id)
    if error_page:
        return error_page
    return _render_disable(request, [key_id], request.path, _detail_url(key_id))


@require_POST
def key_enable(request, key_id):
    return _single(request, "enable", str(key_id))


@require_POST
def key_cancel_deletion(request, key_id):
    return _single(request, "cancel_deletion", str(key_id))


@require_http_methods(["GET", "POST"])
def key_schedule_deletion(request, key_id):
    key_id = str(key_id)
    if request.method == "GET":
        key, error_page = _describe(request, key_id)
        if error_page:
            return error_page
        form = ScheduleDeletionForm(initial={"pending_window_days": DEFAULT_WAITING_DAYS})
        return _render_schedule(request, [key_id], form, request.path, _detail_url(key_id))
    form = ScheduleDeletionForm(request.POST)
    if not form.is_valid():
        return _render_schedule(request, [key_id], form, request.path, _detail_url(key_id),
                                status=400)
    return _single(request, "schedule_deletion", key_id,
                   pending_window_days=form.cleaned_data["pending_window_days"])


# --- selected keys of the table ---------------------------------------------------------------

@require_POST
def key_actions(request):
    """The customer managed keys table's Key actions menu, for every selected row."""
    back = reverse("keys:customer_managed_keys")
    action = request.POST.get("action", "")
    key_ids = list(dict.fromkeys(request.POST.getlist("key")))[:MAX_SELECTED]
    if action not in ACTIONS:
        messages.error(request, "Choose an action from the Key actions menu.")
        return redirect(back)
    if not key_ids:
        messages.error(request, "Select one or more keys first.")
        return redirect(back)
    confirmed = request.POST.get("confirmed") == "yes"
    kwargs, days = {}, None
    if action == "disable" and not confirmed:
        return _render_disable(request, key_ids, request.path, back)
    if action == "schedule_deletion":
        form = ScheduleDeletionForm(request.POST if confirmed else None,
                                    initial={"pending_window_days": DEFAULT_WAITING_DAYS})
        if not confirmed or not form.is_valid():
            return _render_schedule(request, key_ids, form, request.path, back,
                                    status=400 if confirmed else 200)
        days = kwargs["pending_window_days"] = form.cleaned_data["pending_window_days"]
    _flash_results(request, action, _run(request, action, key_ids, **kwargs), days)
    return redirect(back)


# Which actions the detail page's menu offers in each key state (kms-spec.md 3.3, 8.4).
_BY_STATE = {
    "Enabled": ["disable", "schedule_deletion"],
    "Disabled": ["enable", "schedule_deletion"],
    "PendingImport": ["schedule_deletion"],
    "Unavailable": ["schedule_deletion"],
    "Creating": ["schedule_deletion"],
    "PendingDeletion": ["cancel_deletion"],
}


def actions_for(key) -> list[dict]:
    """The Key actions menu of a customer managed key: [{"action", "label"}]."""
    return [{"action": action, "label": ACTIONS[action][0]}
            for action in _BY_STATE.get(key.key_state, [])] + _material_actions(key)


def _material_actions(key) -> list[dict]:
    """Import / Delete key material for a key of origin EXTERNAL (kms-spec.md 8.3): links to
    the Key material tab's flows (keys/import_views.py)."""
    if key.origin != "EXTERNAL":
        return []
    items = []
    if key.key_state != "PendingDeletion":
        items.append({"action": "import_material", "label": "Import key material"})
    if key.current_version is not None:
        items.append({"action": "delete_material", "label": "Delete key material"})
    return items
