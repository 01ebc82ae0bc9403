"""The Create key wizard's page (kms-spec.md 8.2): five steps, one URL, plain forms.

GET /kms/keys/create starts a run and shows step 1; `?run=<id>&step=<n>` shows a step of a run.
Every button posts the step's form: Next checks the step and moves on, Previous keeps what was
entered and goes back, "Add tag" / "Add another AWS account" / "Filter" re-render the step, Cancel
forgets the run, and Finish calls one service (keys.services.key_create_with_alias) with the
signed-in user's Caller, so the console and the API reach the same decision and audit events.
A moved step answers with a redirect (POST then GET); a step with errors is shown again with
them. A user without kms:CreateKey may look at the steps and is refused, with the decision's
explanation, at Finish.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from grants.selectors import principals_of_account
from kmsconsole.console import console_caller, kms_error_page
from kmsconsole.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    KmsError,
    LimitExceededError,
    MalformedPolicyDocumentError,
    NotAuthorizedError,
    ValidationError,
)

from . import create_wizard as wizard
from . import services
from .display import origin_label, usage_label

CUSTOMER_MANAGED = {"label": "Customer managed keys", "url": "keys:customer_managed_keys"}
BREADCRUMBS = [CUSTOMER_MANAGED, {"label": "Create key"}]
ROW_ACTIONS = {"add_tag", "remove_tag", "filter", "add_account", "remove_account"}


def _step_url(run: str, step: int, **extra) -> str:
    return f"{reverse('keys:create_key')}?{urlencode({'run': run, 'step': step, **extra})}"


def _as_step(value, state: dict) -> int:
    """The step asked for, within 1..the furthest step this run has reached."""
    try:
        step = int(value)
    except (TypeError, ValueError):
        step = 1
    return max(1, min(step, state["reached"], wizard.LAST_STEP))


@require_http_methods(["GET", "POST"])
def create_key(request):
    if request.method == "POST":
        return _post(request)
    run = request.GET.get("run", "")
    state = wizard.load(request.session, run)
    if state is None:
        return redirect(_step_url(wizard.start(request.session), 1))
    step = _as_step(request.GET.get("step"), state)
    if "filter" in request.GET and step in (3, 4):
        # The filter also works as a plain GET form (a bookmarkable, shareable table view).
        state["admin_filter" if step == 3 else "user_filter"] = request.GET["filter"][:256]
        wizard.save(request.session, run, state)
    return _render(request, run, state, step)


def _post(request):
    run = request.POST.get("run", "")
    state = wizard.load(request.session, run)
    if state is None:
        messages.error(request, "This Create key wizard has expired or was finished. "
                                "Start again.")
        return redirect("keys:create_key")
    step = _as_step(request.POST.get("step"), state)
    # Row buttons say which row they act on: "remove_tag:2".
    action, _, row = request.POST.get("action", "next").partition(":")
    if action == "cancel":
        wizard.discard(request.session, run)
        return redirect("keys:customer_managed_keys")
    errors = _parse_step(request, state, step)
    if action in ROW_ACTIONS:
        _row_action(state, action, row)
        wizard.save(request.session, run, state)
        return redirect(_step_url(run, step) + ("#tags" if "tag" in action else ""))
    if action == "previous":
        wizard.save(request.session, run, state)
        return redirect(_step_url(run, max(step - 1, 1)))
    wizard.save(request.session, run, state)
    if errors:
        return _render(request, run, state, step, errors=errors)
    if action == "finish" and step == wizard.LAST_STEP:
        return _finish(request, run, state)
    state["reached"] = max(state["reached"], min(step + 1, wizard.LAST_STEP))
    wizard.save(request.session, run, state)
    return redirect(_step_url(run, min(step + 1, wizard.LAST_STEP)))


def _account_id(request) -> str:
    return request.user.account_id


def _known_principals(request) -> set[str]:
    return {p.arn for p in principals_of_account(_account_id(request))}


def _parse_step(request, state: dict, step: int) -> dict:
    data = request.POST
    if step == 1:
        return wizard.parse_configure(data, state)
    if step == 2:
        return wizard.parse_labels(data, state)
    if step == 3:
        return wizard.parse_admins(data, state, _known_principals(request))
    if step == 4:
        return wizard.parse_users(data, state, _known_principals(request))
    wizard.parse_review(data, state, _account_id(request))
    return {}


def _row_action(state: dict, action: str, row: str) -> None:
    if action == "add_tag":
        wizard.add_tag_row(state)
    elif action == "remove_tag":
        wizard.remove_tag_row(state, row)
    elif action == "add_account":
        wizard.add_account_row(state)
    elif action == "remove_account":
        wizard.remove_account_row(state, row)
    # "filter": the step's parse already stored the filter text.


def _finish(request, run: str, state: dict):
    caller = console_caller(request)
    policy = wizard.policy_text(state, _account_id(request))
    try:
        key, alias = services.key_create_with_alias(
            caller=caller, alias_name=wizard.alias_name(state),
            description=state["description"], key_spec=state["key_spec"],
            key_usage=state["key_usage"], origin=state["origin"],
            tags=wizard.tags_of(state), policy=policy)
    except AccessDeniedError as error:
        return kms_error_page(request, error, breadcrumbs=BREADCRUMBS)
    except (AlreadyExistsError, NotAuthorizedError) as error:
        # The alias was taken (or is reserved) since step 2: back there, next to the alias.
        state["reached"] = 2
        wizard.save(request.session, run, state)
        return _render(request, run, state, 2, errors={"alias": error.message})
    except (MalformedPolicyDocumentError, LimitExceededError) as error:
        return _render(request, run, state, wizard.LAST_STEP, errors={"policy": error.message})
    except ValidationError as error:
        # The policy's characters or length; anything else belongs to the whole request.
        where = "policy" if "'policy'" in error.message else "finish"
        shown = error.message if where == "policy" else f"{error.code}: {error.message}"
        return _render(request, run, state, wizard.LAST_STEP, errors={where: shown})
    except KmsError as error:
        return _render(request, run, state, wizard.LAST_STEP,
                       errors={"finish": f"{error.code}: {error.message}"})
    wizard.discard(request.session, run)
    messages.success(request, f"Your AWS KMS key was created with alias {state['alias']} "
                              f"and key ID {key.id}.")
    return redirect("keys:customer_managed_keys")


def _render(request, run: str, state: dict, step: int, *, errors=None):
    title = dict(wizard.STEPS)[step]
    context = {
        "title": f"Create key: {title}",
        "breadcrumbs": BREADCRUMBS,
        "run": run,
        "step": step,
        "step_title": title,
        "steps": [{"number": n, "title": t, "reachable": n <= state["reached"]}
                  for n, t in wizard.STEPS],
        "state": state,
        "errors": errors or {},
        "last_step": wizard.LAST_STEP,
    }
    context.update(_step_context(request, state, step))
    return render(request, "keys/create_key.html", context)


def _step_context(request, state: dict, step: int) -> dict:
    if step == 1:
        return {
            "key_types": wizard.KEY_TYPES,
            "key_usages": wizard.KEY_USAGES[state["key_type"]],
            "key_specs": wizard.spec_choices(state["key_type"], state["key_usage"]),
            "origins": wizard.ORIGINS,
        }
    if step == 2:
        return {"alias_max": 256 - len("alias/")}
    if step in (3, 4):
        filter_text = state["admin_filter" if step == 3 else "user_filter"]
        principals = principals_of_account(_account_id(request))
        return {
            "filter_text": filter_text,
            "principal_rows": wizard.principal_rows(principals, filter_text),
            "principal_count": len(principals),
            "selected": set(state["admins"] if step == 3 else state["users"]),
            "field": "admin" if step == 3 else "user",
        }
    return {
        "key_type_label": dict(wizard.KEY_TYPES)[state["key_type"]],
        "key_usage_label": usage_label(state["key_usage"]),
        "origin_label": origin_label(state["origin"]),
        "alias_name": wizard.alias_name(state),
        "tags": wizard.tags_of(state),
        "other_accounts": wizard.other_accounts(state),
        "policy": wizard.policy_text(state, _account_id(request)),
    }
