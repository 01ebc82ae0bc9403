"""Console pages for managed policies (IAM console, "Policies"): the list with its filters,
Create policy (JSON editor validated as it is typed), and a policy's detail page with its tabs
as URLs: Permissions (the default version's document; Edit creates a new default version),
Entities attached (attach to and detach from users and roles) and, for customer managed
policies, Policy versions (view, Set as default, Delete); Delete (detaching it first).

Customer managed policies live at /iam/policies/details/<name> (names are unique per account),
the built-in AWS managed ones at /iam/policies/aws/<name>: those can be read and attached, but
only a customer managed policy can be edited, versioned or deleted.

Every read and write is a service call with the console's Caller (grants.managed_policies,
grants.services). A refusal (AccessDenied) shows the error page with the decision's
explanation; any other refusal of a write is shown where it came from and changes nothing.
"""

import re

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kmsconsole.console import act_then_redirect, console_caller, kms_error_page
from kmsconsole.errors import (
    AccessDeniedError,
    KmsError,
    LimitExceededError,
    MalformedPolicyDocumentError,
    ValidationError,
)

from . import managed_policies, services
from .models import Role
from .policy.document import parse_policy
from .policy.errors import PolicyError, PolicyTooLargeError
from .role_forms import PolicyCreateForm, newline_normalised
from .selectors import principals_of_account, role_get, user_get

POLICIES = {"label": "Policies", "url": "iam:policies"}
# Which quota a document is checked against, by the editor it is typed in.
DOCUMENT_KINDS = {
    "identity": ("identity", services.MAX_MANAGED_POLICY_SIZE),
    "inline": ("identity", services.MAX_ROLE_INLINE_POLICIES_SIZE),
    "trust": ("trust", services.MAX_TRUST_POLICY_SIZE),
}
EDITOR_FIELDS = ("policy", "trust_policy")
VALIDATION_ID = re.compile(r"[a-z][a-z-]{0,40}")
TYPE_FILTERS = [("", "All types"), (managed_policies.AWS_MANAGED, "AWS managed"),
                (managed_policies.CUSTOMER_MANAGED, "Customer managed")]
NEW_POLICY_DOCUMENT = """{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Statement1",
            "Effect": "Allow",
            "Action": [],
            "Resource": []
        }
    ]
}"""
VERSION_LIMIT_HELP = ("Delete a version that is not the default on the Policy versions tab, "
                      "then save your changes again.")


def check_policy_document(text: str, kind: str) -> dict:
    """Errors of a policy document as the service would judge its text (grammar, IAM's size
    quota); whether named principals exist is the service's check. Pure: it reads nothing, so
    it may run on every keystroke."""
    parser_kind, max_size = DOCUMENT_KINDS.get(kind, DOCUMENT_KINDS["identity"])
    try:
        parse_policy(text, kind=parser_kind, max_size=max_size)
    except PolicyTooLargeError as error:
        return {"checked": True, "errors": [f"{LimitExceededError.code}: {error.message}"]}
    except PolicyError as error:
        return {"checked": True,
                "errors": [f"{MalformedPolicyDocumentError.code}: {error.message}"]}
    return {"checked": True, "errors": []}


@require_POST
def policy_validate(request):
    """Validate as you type (htmx): the editor's document -> the result fragment. Without
    JavaScript each editor's Validate button posts to its own page instead."""
    field = request.POST.get("field", "policy")
    field = field if field in EDITOR_FIELDS else "policy"
    validation_id = request.POST.get("validation_id", "")
    result = check_policy_document(newline_normalised(request.POST.get(field, "")),
                                   request.POST.get("kind", "identity"))
    return render(request, "iam/policies/_validation.html", {
        "result": result,
        "validation_id": validation_id if VALIDATION_ID.fullmatch(validation_id) else None})


# --- the list -------------------------------------------------------------------------------

@require_GET
def policies(request):
    name_filter = request.GET.get("name", "").strip()[:128]
    policy_type = request.GET.get("type", "")
    policy_type = policy_type if policy_type in dict(TYPE_FILTERS) else ""
    breadcrumbs = [{"label": "Policies"}]
    try:
        rows = managed_policies.policy_list(caller=console_caller(request),
                                            name_filter=name_filter, policy_type=policy_type)
    except KmsError as error:
        return kms_error_page(request, error, breadcrumbs=[POLICIES])
    template = "iam/policies/list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#policy-table"
    return render(request, template, {
        "title": "Policies", "breadcrumbs": breadcrumbs, "policies": rows,
        "name_filter": name_filter, "policy_type": policy_type, "type_filters": TYPE_FILTERS,
        "filtered": bool(name_filter or policy_type)})


# --- Create policy --------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def policy_create(request):
    caller = console_caller(request)
    context = {"title": "Create policy",
               "breadcrumbs": [{"label": "Policies", "href": reverse("iam:policies")},
                               {"label": "Create policy"}]}
    if request.method == "GET":
        form = PolicyCreateForm(initial={"policy": NEW_POLICY_DOCUMENT})
        return render(request, "iam/policies/create.html", {**context, "form": form,
                                                             "text": NEW_POLICY_DOCUMENT})
    form = PolicyCreateForm(request.POST)
    text = newline_normalised(request.POST.get("policy", ""))
    context.update({"form": form, "text": text})
    if "validate" in request.POST:
        return render(request, "iam/policies/create.html",
                      {**context, "result": check_policy_document(text, "identity")})
    if not form.is_valid():
        return render(request, "iam/policies/create.html", context, status=400)
    try:
        policy = services.managed_policy_create(
            caller=caller, name=form.cleaned_data["name"], document=text,
            description=newline_normalised(form.cleaned_data["description"]))
    except AccessDeniedError as error:
        return kms_error_page(request, error, breadcrumbs=[POLICIES])
    except KmsError as error:
        return render(request, "iam/policies/create.html",
                      {**context, "service_error": error}, status=400)
    messages.success(request, f"Policy {policy.name} created.")
    return redirect("iam:policy_detail", name=policy.name)


# --- a policy's detail page -----------------------------------------------------------------

class PolicyPage:
    """What every tab of a policy shows around itself: the policy, read with the caller."""

    def __init__(self, request, name: str, aws_managed: bool):
        self.request = request
        self.caller = console_caller(request)
        self.name = name
        self.aws_managed = aws_managed
        self.arn = (f"arn:aws:iam::aws:policy/{name}" if aws_managed else
                    managed_policies.customer_policy_arn(account_id=self.caller.account_id,
                                                         name=name))
        self.policy = managed_policies.policy_get(caller=self.caller, policy_arn=self.arn)

    def url(self, tab: str = "") -> str:
        prefix = "iam:aws_policy" if self.aws_managed else "iam:policy"
        return reverse(f"{prefix}_{tab or 'detail'}", args=[self.name])

    def tabs(self) -> list[dict]:
        tabs = [("detail", "Permissions"), ("entities", "Entities attached")]
        if not self.aws_managed:
            tabs.append(("versions", "Policy versions"))
        return [{"slug": slug, "label": label, "url": self.url(slug)} for slug, label in tabs]

    def render(self, tab: str, context: dict | None = None, status: int = 200):
        page = {
            "title": self.policy.name, "policy": self.policy, "tabs": self.tabs(), "tab": tab,
            "tab_template": f"iam/policies/tabs/{tab}.html", "page": self,
            "breadcrumbs": [{"label": "Policies", "href": reverse("iam:policies")},
                            {"label": self.policy.name}],
        }
        page.update(context or {})
        return render(self.request, "iam/policies/detail.html", page, status=status)


def _error(request, error: KmsError, name: str | None = None):
    return kms_error_page(request, error,
                          breadcrumbs=[POLICIES] + ([{"label": name}] if name else []))


def _open(request, name: str, aws_managed: bool = False):
    """(PolicyPage, None) or (None, the error page) when the policy cannot be read."""
    try:
        return PolicyPage(request, name, aws_managed), None
    except KmsError as error:
        return None, _error(request, error, name)


@require_GET
def policy_detail(request, name: str, aws_managed: bool = False):
    """Permissions: the document of the default version (the one in force)."""
    page, error_page = _open(request, name, aws_managed)
    if error_page:
        return error_page
    try:
        version = managed_policies.policy_version_get(
            caller=page.caller, policy_arn=page.arn, version_id=page.policy.default_version_id)
    except KmsError as error:
        return _error(request, error, name)
    return page.render("detail", {"version": version})


@require_http_methods(["GET", "POST"])
def policy_edit(request, name: str):
    """Edit policy: the new document becomes a new version, the default (CreatePolicyVersion
    with SetAsDefault, as AWS's console saves it); at IAM's 5 versions it says what to do."""
    page, error_page = _open(request, name)
    if error_page:
        return error_page
    if request.method == "GET":
        try:
            version = managed_policies.policy_version_get(
                caller=page.caller, policy_arn=page.arn,
                version_id=page.policy.default_version_id)
        except KmsError as error:
            return _error(request, error, name)
        return _render_editor(page, version.document)
    text = newline_normalised(request.POST.get("policy", ""))
    if "validate" in request.POST:
        return _render_editor(page, text, result=check_policy_document(text, "identity"))
    try:
        services.managed_policy_create_version(caller=page.caller, policy_arn=page.arn,
                                               document=text, set_as_default=True)
    except AccessDeniedError as error:
        return _error(request, error, name)
    except KmsError as error:
        return _render_editor(page, text, service_error=error, status=400,
                              version_limit=isinstance(error, LimitExceededError))
    messages.success(request, f"Policy {page.policy.name} updated.")
    return redirect(page.url())


def _render_editor(page, text: str, *, result=None, service_error=None, status=200,
                   version_limit=False):
    return render(page.request, "iam/policies/edit.html", {
        "title": f"Modify permissions in {page.policy.name}", "policy": page.policy,
        "page": page, "text": text, "result": result or {}, "service_error": service_error,
        "version_limit_help": VERSION_LIMIT_HELP if version_limit else "",
        "breadcrumbs": [{"label": "Policies", "href": reverse("iam:policies")},
                        {"label": page.policy.name, "href": page.url()},
                        {"label": "Edit policy"}]}, status=status)


# --- Policy versions ------------------------------------------------------------------------

@require_GET
def policy_versions(request, name: str):
    """The kept versions; ?version=vN shows that version's document below the table."""
    page, error_page = _open(request, name)
    if error_page:
        return error_page
    shown = None
    try:
        versions = managed_policies.policy_versions_list(caller=page.caller,
                                                         policy_arn=page.arn)
        wanted = request.GET.get("version", "")
        if wanted in {version.version_id for version in versions}:
            shown = managed_policies.policy_version_get(caller=page.caller,
                                                        policy_arn=page.arn, version_id=wanted)
    except KmsError as error:
        return _error(request, error, name)
    return page.render("versions", {"versions": versions, "shown": shown,
                                    "max_versions": services.MAX_POLICY_VERSIONS})


@require_POST
def policy_version_default(request, name: str):
    return _version_action(request, name, services.managed_policy_set_default_version,
                           "{version} is now the default version of {policy}.")


@require_POST
def policy_version_delete(request, name: str):
    return _version_action(request, name, services.managed_policy_delete_version,
                           "Version {version} of {policy} deleted.")


def _version_action(request, name: str, service, done: str):
    page, error_page = _open(request, name)
    if error_page:
        return error_page
    version_id = request.POST.get("version_id", "")[:32]
    return act_then_redirect(
        request, lambda: service(caller=page.caller, policy_arn=page.arn, version_id=version_id),
        refuse=lambda error: _error(request, error, name),
        success=done.format(version=version_id, policy=page.policy.name),
        done=page.url("versions"))


# --- Entities attached ----------------------------------------------------------------------

@require_GET
def policy_entities(request, name: str, aws_managed: bool = False):
    page, error_page = _open(request, name, aws_managed)
    if error_page:
        return error_page
    try:
        entities = managed_policies.policy_entities_list(caller=page.caller,
                                                         policy_arn=page.arn)
    except KmsError as error:
        return _error(request, error, name)
    attached = {entity.arn for entity in entities.users + entities.roles}
    candidates = [_candidate(principal)
                  for principal in principals_of_account(page.caller.account_id)
                  if principal.arn not in attached]
    return page.render("entities", {"entities": entities, "candidates": candidates,
                                    "entity_count": len(attached)})


def _candidate(principal) -> dict:
    """A user or role the policy could be attached to, as the Attach checkbox names it."""
    kind = "role" if isinstance(principal, Role) else "user"
    return {"value": f"{kind}:{principal.name}",
            "label": f"{principal.name} (IAM {kind})"}


@require_POST
def policy_entities_attach(request, name: str, aws_managed: bool = False):
    """Attach the policy to each selected user and role (one AttachUserPolicy or
    AttachRolePolicy each, as AWS's console sends them)."""
    page, error_page = _open(request, name, aws_managed)
    if error_page:
        return error_page
    chosen = list(dict.fromkeys(request.POST.getlist("entity")))[:50]
    if not chosen:
        messages.error(request, "Select one or more users or roles to attach the policy to.")
        return redirect(page.url("entities"))

    def attach_each():
        for entity in chosen:
            _entity_call(page, entity, attach=True)

    return act_then_redirect(
        request, attach_each, refuse=lambda error: _error(request, error, name),
        success=f"Policy {page.policy.name} attached.", done=page.url("entities"))


@require_POST
def policy_entities_detach(request, name: str, aws_managed: bool = False):
    page, error_page = _open(request, name, aws_managed)
    if error_page:
        return error_page
    entity = request.POST.get("entity", "")
    return act_then_redirect(
        request, lambda: _entity_call(page, entity, attach=False),
        refuse=lambda error: _error(request, error, name),
        success=f"Policy {page.policy.name} detached from {entity.partition(':')[2]}.",
        done=page.url("entities"))


def _entity_call(page, entity: str, *, attach: bool) -> None:
    """Attach or detach the policy for "user:<name>" or "role:<name>" of the account."""
    kind, _, entity_name = entity.partition(":")
    account_id = page.caller.account_id
    if kind == "user":
        user = user_get(account_id=account_id, name=entity_name)
        service = services.policy_attach_user if attach else services.policy_detach_user
        service(caller=page.caller, user=user, policy_arn=page.arn)
    elif kind == "role":
        role = role_get(account_id=account_id, name=entity_name)
        service = services.policy_attach_role if attach else services.policy_detach_role
        service(caller=page.caller, role=role, policy_arn=page.arn)
    else:
        raise ValidationError("Choose a user or a role.")


# --- Delete ---------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def policy_delete(request, name: str):
    """Delete policy: AWS's console asks to type the policy's name, then detaches it from
    every entity, deletes its other versions and deletes it."""
    page, error_page = _open(request, name)
    if error_page:
        return error_page
    mistyped = request.method == "POST" and request.POST.get("confirmation", "") != name
    if request.method == "GET" or mistyped:
        try:
            entities = managed_policies.policy_entities_list(caller=page.caller,
                                                             policy_arn=page.arn)
        except KmsError as error:
            return _error(request, error, name)
        return render(request, "iam/policies/delete.html", {
            "title": f"Delete {page.policy.name}?", "policy": page.policy, "page": page,
            "entities": entities, "mistyped": mistyped,
            "breadcrumbs": [{"label": "Policies", "href": reverse("iam:policies")},
                            {"label": page.policy.name, "href": page.url()},
                            {"label": "Delete"}]}, status=400 if mistyped else 200)
    return act_then_redirect(
        request, lambda: managed_policies.policy_delete_with_versions(caller=page.caller,
                                                                      policy_arn=page.arn),
        refuse=lambda error: _error(request, error, name),
        success=f"Policy {page.policy.name} deleted.", done="iam:policies",
        failed=page.url())
