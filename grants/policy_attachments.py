"""Attaching and detaching managed policies, the flow users and roles share: Add permissions
lists the policies not attached yet (filtered by name) and attaches the ticked ones, one
Attach*Policy each; Remove detaches one. Each owner page says how to list, attach and detach
its policies and how to refuse; this module never touches the ORM.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.shortcuts import redirect, render

from grants.principals import Caller
from kmsconsole.console import act_then_redirect
from kmsconsole.errors import KmsError

from . import managed_policies, services


@dataclass(frozen=True)
class PolicyHolder:
    """How one user's or role's page lists, attaches and detaches its managed policies."""

    kind: str  # "user" | "role", for messages
    caller: Caller
    attached: Callable[[], list]  # the attached policies (List*AttachedPolicies)
    attach: Callable[[str], None]  # Attach*Policy(policy_arn)
    detach: Callable[[str], None]  # Detach*Policy(policy_arn)
    refuse: Callable[[KmsError], object]
    attach_url: str
    done_url: str


def attach_policies(request, holder: PolicyHolder, *, title: str, heading: str,
                    crumbs: list[dict]):
    """Add permissions: GET lists what can be attached; POST attaches the ticked policies."""
    if request.method == "POST":
        chosen = list(dict.fromkeys(request.POST.getlist("policies")))
        chosen = chosen[:services.MAX_ATTACHED_POLICIES]  # more would exceed IAM's quota
        if not chosen:
            messages.error(request, "Select one or more policies to attach.")
            return redirect(holder.attach_url)
        def attach_each():
            for policy_arn in chosen:
                holder.attach(policy_arn)

        return act_then_redirect(
            request, attach_each, refuse=holder.refuse,
            success=f"Policy was successfully attached to {holder.kind}.",
            done=holder.done_url, failed=holder.attach_url)
    name_filter = request.GET.get("name", "").strip()[:128]
    try:
        attached = {policy.arn for policy in holder.attached()}
        available = managed_policies.policy_list(caller=holder.caller,
                                                 name_filter=name_filter)
    except KmsError as error:
        return holder.refuse(error)
    return render(request, "iam/attach_policies.html", {
        "title": title, "heading": heading, "holder": holder,
        "policies": [policy for policy in available if policy.arn not in attached],
        "name_filter": name_filter, "breadcrumbs": crumbs})


def detach_policy(request, holder: PolicyHolder):
    """Remove: detach the posted policy and go back to the owner's page."""
    policy_arn = request.POST.get("policy_arn", "")
    return act_then_redirect(
        request, lambda: holder.detach(policy_arn), refuse=holder.refuse,
        success=f"Policy {policy_arn.rsplit('/', 1)[-1]} removed.", done=holder.done_url)
