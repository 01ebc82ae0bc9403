"""The policy simulator page (/iam/policy-simulator): pick a user or role, an action (the KMS
actions, or any other typed in), a key and an encryption context; Run simulation shows Allowed
or Denied with the decision's explanation (grants.simulator).

The form is a GET (a simulation changes nothing, and its result page can be bookmarked or
shared); the simulation itself is still authorized (iam:SimulatePrincipalPolicy) and recorded
by the service. A refusal to simulate shows the 403 page with the decision's explanation; a bad
key, action or context shows on the form.
"""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from kmsconsole.console import console_caller, kms_error_page
from kmsconsole.errors import AccessDeniedError, KmsError

from . import simulator
from .forms import SimulatorForm

CRUMBS = [{"label": "Policy simulator"}]


@require_GET
def policy_simulator(request):
    principals, refusals = simulator.simulator_principals(caller=console_caller(request))
    if len(refusals) == 2:
        # Neither users nor roles may be listed: there is nothing to simulate for.
        return kms_error_page(request, refusals[0], breadcrumbs=CRUMBS)
    bound = "principal" in request.GET
    form = SimulatorForm(request.GET if bound else None, principals=principals,
                         actions=simulator.KMS_ACTIONS, initial={"action": "kms:Encrypt"})
    result, service_error = None, None
    if bound and form.is_valid():
        data = form.cleaned_data
        try:
            result = simulator.policy_simulate(
                caller=console_caller(request), principal_arn=data["principal"],
                action=data["chosen_action"], key_id=data["key_id"],
                encryption_context=data["encryption_context"], mfa_authenticated=data["mfa"])
        except AccessDeniedError as error:
            return kms_error_page(request, error, breadcrumbs=CRUMBS)
        except KmsError as error:
            service_error = error
    context = {"title": "Policy simulator", "breadcrumbs": CRUMBS, "form": form,
               "refusals": refusals, "result": result, "service_error": service_error}
    status = 400 if bound and (form.errors or service_error) else 200
    return render(request, "iam/simulator/simulator.html", context, status=status)
