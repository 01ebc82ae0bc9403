"""The inline policy editor flow that users and roles share: open (new or existing), validate
without saving, refuse a name already taken when creating, save through the owner's Put*Policy
service, and go back to the owner's page. Each owner page says how to read, list and put its
inline policies and how to render and refuse; this module never touches the ORM.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.shortcuts import redirect

from kmsconsole.errors import AccessDeniedError, KmsError

from .policy_views import NEW_POLICY_DOCUMENT, check_policy_document
from .role_forms import InlinePolicyForm, newline_normalised


@dataclass(frozen=True)
class InlinePolicyOwner:
    """How one user's or role's page reads, lists and puts its inline policies."""

    kind: str  # "user" | "role", for messages
    get_document: Callable[[str], str]
    policy_names: Callable[[], list[str]]
    put: Callable[[str, str], None]  # (policy_name, document)
    render: Callable[..., object]  # (form, text, policy_name, *, result, service_error, status)
    refuse: Callable[[KmsError], object]
    done_url: str


def edit_inline_policy(request, owner: InlinePolicyOwner, *, policy_name: str | None):
    """Create an inline policy (policy_name None) or edit one (Put*Policy either way)."""
    if request.method == "GET":
        text = NEW_POLICY_DOCUMENT
        if policy_name is not None:
            try:
                text = owner.get_document(policy_name)
            except KmsError as error:
                return owner.refuse(error)
        form = InlinePolicyForm(initial={"policy_name": policy_name or "", "policy": text})
        return owner.render(form, text, policy_name)
    data = request.POST.copy()
    if policy_name is not None:
        data["policy_name"] = policy_name  # editing never renames (IAM has no rename)
    form = InlinePolicyForm(data)
    text = newline_normalised(data.get("policy", ""))
    if "validate" in request.POST:
        return owner.render(form, text, policy_name,
                            result=check_policy_document(text, "inline"))
    if not form.is_valid():
        return owner.render(form, text, policy_name, status=400)
    new_name = form.cleaned_data["policy_name"]
    try:
        # Creating must not silently replace: Put*Policy would overwrite a policy of that name.
        if policy_name is None and new_name in owner.policy_names():
            form.add_error("policy_name", f"The {owner.kind} already has a policy named "
                                          f"{new_name}. Choose another name, or edit that policy.")
            return owner.render(form, text, policy_name, status=400)
        owner.put(new_name, text)
    except AccessDeniedError as error:
        return owner.refuse(error)
    except KmsError as error:
        return owner.render(form, text, policy_name, service_error=error, status=400)
    verb = "created" if policy_name is None else "updated"
    messages.success(request, f"Policy {new_name} {verb}.")
    return redirect(owner.done_url)
