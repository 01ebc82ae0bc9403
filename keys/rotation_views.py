"""The key detail page's Key rotation tab (kms-spec.md 8.3): automatic rotation on or off with
its period (Edit -> Save), the next rotation date, Rotate now (a confirmation first) with the
on-demand rotations left, and the table of the key's materials.

Every read and change is a rotation service call (keys/rotation.py) with the signed-in user's
Caller. Each step is a real page (a link, a form POST then a redirect), so the tab works without
JavaScript; with htmx, Edit and Rotate now swap only the tab's panel. A key that is Disabled or
pending deletion shows its setting read-only with the reason; AWS managed keys are read-only.
"""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from kmsconsole.console import act_then_redirect
from kmsconsole.errors import AccessDeniedError, KmsError

from . import rotation
from .detail_views import _error, _open
from .models import DISABLED, ORIGIN_AWS_KMS, PENDING_DELETION

PERIOD_MESSAGE = (f"Enter a rotation period of {rotation.MIN_ROTATION_PERIOD_DAYS} to "
                  f"{rotation.MAX_ROTATION_PERIOD_DAYS} days.")
TYPE_CAPTIONS = {rotation.AUTOMATIC: "Automatic", rotation.ON_DEMAND: "On-demand"}
NOT_ROTATABLE = {
    DISABLED: "This key is disabled. Enable it to change its rotation settings or to rotate "
              "it on demand. KMS does not rotate a disabled key.",
    PENDING_DELETION: "This key is pending deletion. KMS does not rotate it, and its rotation "
                      "settings cannot be changed unless you cancel the deletion.",
}
IMPORTED = ("Automatic and on-demand rotation are not available for keys with imported key "
            "material.")
AWS_MANAGED = "AWS rotates AWS managed keys every year. You cannot change this."


class RotationForm(forms.Form):
    """Edit automatic key rotation: the checkbox, and the period when it is ticked."""

    automatic_rotation = forms.BooleanField(required=False, label="Key rotation")
    rotation_period_days = forms.IntegerField(
        required=False, label="Rotation period (in days)",
        min_value=rotation.MIN_ROTATION_PERIOD_DAYS, max_value=rotation.MAX_ROTATION_PERIOD_DAYS,
        error_messages={"invalid": PERIOD_MESSAGE, "min_value": PERIOD_MESSAGE,
                        "max_value": PERIOD_MESSAGE})

    def clean(self):
        cleaned = super().clean()
        if (cleaned.get("automatic_rotation") and cleaned.get("rotation_period_days") is None
                and "rotation_period_days" not in self.errors):
            self.add_error("rotation_period_days", PERIOD_MESSAGE)
        return cleaned


def _tab_url(key) -> str:
    return reverse("keys:key_rotation", args=[key.id])


def _reason_read_only(page) -> str:
    """Why the controls are not offered, or "" when they are."""
    if page.read_only:
        return AWS_MANAGED
    if page.key.origin != ORIGIN_AWS_KMS:
        return IMPORTED
    return NOT_ROTATABLE.get(page.key.key_state, "")


def _material_rows(key, materials) -> list[dict]:
    """The Key materials table, newest first as the console shows it."""
    rows = [{"material_id": m.material_id,
             "rotation_date": m.created_at if m.rotation_type else None,
             "rotation_type": TYPE_CAPTIONS.get(m.rotation_type, ""),
             "current": m.version == key.current_version} for m in materials]
    return rows[::-1]


def _respond(page, context: dict, status: int = 200):
    """The whole page, or only the tab's panel for htmx (not for a history restore)."""
    request = page.request
    context = {**context, "reason_read_only": _reason_read_only(page),
               "rotation_limit": rotation.ON_DEMAND_ROTATION_LIMIT}
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "keys/tabs/rotation.html#rotation-panel",
                      {"key": page.key, "read_only": page.read_only, **context}, status=status)
    return page.render("rotation", context, status=status)


def _overview(page) -> dict:
    """GetKeyRotationStatus and ListKeyRotations (every material) for the tab."""
    key_id = str(page.key.id)
    _key, status = rotation.key_rotation_status(caller=page.caller, key_id=key_id)
    _key, materials, _marker = rotation.key_rotations_list(
        caller=page.caller, key_id=key_id, include_key_material=rotation.ALL_KEY_MATERIAL,
        limit=1000)
    used = sum(1 for m in materials if m.rotation_type == rotation.ON_DEMAND)
    return {"status": status, "materials": _material_rows(page.key, materials),
            "on_demand_remaining": max(0, rotation.ON_DEMAND_ROTATION_LIMIT - used)}


@require_GET
def key_rotation(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    try:
        context = _overview(page)
    except KmsError as error:
        return _error(request, error, key_id)
    return _respond(page, {**context, "mode": "view"})


def _edit_form(page, status: dict) -> RotationForm:
    period = page.key.rotation_period_days or rotation.DEFAULT_ROTATION_PERIOD_DAYS
    return RotationForm(initial={"automatic_rotation": status["enabled"],
                                 "rotation_period_days": period})


@require_http_methods(["GET", "POST"])
def key_rotation_edit(request, key_id):
    """Edit automatic rotation: Save calls EnableKeyRotation (with the period) when the box is
    ticked, DisableKeyRotation when it is not. A period out of range is refused by the form
    before any call, with the range in the message."""
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    if page.read_only:
        return redirect(_tab_url(page.key))
    if request.method == "GET":
        try:
            _key, status = rotation.key_rotation_status(caller=page.caller,
                                                        key_id=str(page.key.id))
        except KmsError as error:
            return _error(request, error, key_id)
        return _respond(page, {"mode": "edit", "form": _edit_form(page, status)})
    form = RotationForm(request.POST)
    if not form.is_valid():
        return _respond(page, {"mode": "edit", "form": form}, status=400)
    enabled = form.cleaned_data["automatic_rotation"]
    period = form.cleaned_data["rotation_period_days"]
    try:
        if enabled:
            rotation.key_rotation_enable(caller=page.caller, key_id=str(page.key.id),
                                         rotation_period_days=period)
        else:
            rotation.key_rotation_disable(caller=page.caller, key_id=str(page.key.id))
    except AccessDeniedError as error:
        return _error(request, error, key_id)
    except KmsError as error:
        return _respond(page, {"mode": "edit", "form": form, "service_error": error},
                        status=400)
    messages.success(request, f"Automatic key rotation is on: every {period} days."
                     if enabled else "Automatic key rotation is off.")
    return redirect(_tab_url(page.key))


@require_http_methods(["GET", "POST"])
def key_rotate_now(request, key_id):
    """Rotate now: a GET shows the confirmation (with the on-demand rotations left), the POST
    calls RotateKeyOnDemand and goes back to the tab with the outcome."""
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    if page.read_only:
        return redirect(_tab_url(page.key))
    if request.method == "GET":
        try:
            context = _overview(page)
        except KmsError as error:
            return _error(request, error, key_id)
        return _respond(page, {**context, "mode": "confirm"})
    return act_then_redirect(
        request, lambda: rotation.key_rotate_on_demand(caller=page.caller,
                                                       key_id=str(page.key.id)),
        refuse=lambda error: _error(request, error, key_id),
        success=("The key material was rotated. New encryptions use the new key material; "
                 "data encrypted before still decrypts."),
        done=_tab_url(page.key))
