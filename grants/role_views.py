"""Console pages for IAM roles (IAM console, "Roles"): the list with its filter, Create role,
and a role's detail page: Summary (ARN, maximum session duration with Edit, the link to switch
roles in the console) and the tabs as URLs, Permissions (attach and detach managed policies;
create, edit and delete inline policies with the policy editor) and Trust relationships (edit
the trust policy); Delete role, which detaches and deletes its policies first, after a
confirmation, as AWS's console does.

Every read and write is a service call with the console's Caller (grants.roles,
grants.services, grants.managed_policies). A refusal (AccessDenied) shows the error page with
the decision's explanation; any other refusal of a write is shown on the form it came from
(400), and nothing was changed.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kmsconsole.console import act_then_redirect, console_caller
from kmsconsole.errors import AccessDeniedError, KmsError

from . import managed_policies, principal_pages, roles, services
from .policy_views import check_policy_document
from .principal_pages import PrincipalPage
from .role_forms import (
    ANOTHER_ACCOUNT,
    ENTITY_CUSTOM,
    RoleCreateForm,
    RoleEditForm,
    duration_label,
    newline_normalised,
)

# --- the list -------------------------------------------------------------------------------

@require_GET
def roles_list(request):
    name_filter = request.GET.get("name", "").strip()[:64]
    try:
        summaries = roles.role_list(caller=console_caller(request), name_filter=name_filter)
    except KmsError as error:
        return RolePage.error_page(request, error)
    template = "iam/roles/list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#role-table"
    return render(request, template, {"title": "Roles", "breadcrumbs": [{"label": "Roles"}],
                                      "roles": summaries, "name_filter": name_filter})


# --- Create role ----------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def role_create(request):
    caller = console_caller(request)
    try:
        policies = managed_policies.policy_list(caller=caller)
    except KmsError as error:
        return RolePage.error_page(request, error)
    choices = [(policy.arn, policy.name) for policy in policies]
    context = {"title": "Create role", "policies": policies, "account_id": caller.account_id,
               "breadcrumbs": RolePage.list_crumbs({"label": "Create role"})}
    if request.method == "GET":
        text = roles.trust_policy_for_account(caller.account_id)
        form = RoleCreateForm(policy_choices=choices, initial={"trust_policy": text})
        return render(request, "iam/roles/create.html", {**context, "form": form,
                                                          "trust_text": text})
    form = RoleCreateForm(request.POST, policy_choices=choices)
    context.update({"form": form,
                    "trust_text": newline_normalised(request.POST.get("trust_policy", "")),
                    "selected": set(request.POST.getlist("policies"))})
    if "validate" in request.POST:
        context["result"] = check_policy_document(context["trust_text"], "trust")
        return render(request, "iam/roles/create.html", context)
    if not form.is_valid():
        return render(request, "iam/roles/create.html", context, status=400)
    data = form.cleaned_data
    try:
        role = services.role_create(
            caller=caller, name=data["name"], trust_policy=_trust_policy(caller, data),
            description=newline_normalised(data["description"]),
            max_session_duration=data["max_session_duration"])
    except AccessDeniedError as error:
        return RolePage.error_page(request, error)
    except KmsError as error:
        return render(request, "iam/roles/create.html", {**context, "service_error": error},
                      status=400)
    _attach(request, caller, role, data["policies"])
    messages.success(request, f"Role {role.name} created.")
    return redirect("iam:role_detail", name=role.name)


def _trust_policy(caller, data: dict) -> str:
    if data["trusted_entity_type"] == ENTITY_CUSTOM:
        return newline_normalised(data["trust_policy"])
    account_id = (data["account_id"] if data["account_choice"] == ANOTHER_ACCOUNT
                  else caller.account_id)
    return roles.trust_policy_for_account(account_id)


def _attach(request, caller, role, policy_arns) -> None:
    """Attach each policy (one AttachRolePolicy each, as AWS's console sends them); a refusal
    is a flash message, since the role itself exists by now."""
    for policy_arn in policy_arns:
        try:
            services.policy_attach_role(caller=caller, role=role, policy_arn=policy_arn)
        except KmsError as error:
            messages.error(request, f"The policy {policy_arn} was not attached: "
                                    f"{error.code}: {error.message}")


# --- a role's detail page -------------------------------------------------------------------

class RolePage(PrincipalPage):
    """What every tab of a role shows around itself: the role's summary, read with the
    caller (GetRole)."""

    kind = "role"
    list_label = "Roles"
    list_url_name = "iam:roles"
    entity_name = "role"
    template_dir = "iam/roles"
    tabs = (
        ("permissions", "Permissions", "iam:role_detail"),
        ("trust", "Trust relationships", "iam:role_trust"),
        ("audit", "Audit", "iam:role_audit"),
    )
    attach_title = "Attach policy to {name}"
    attach_heading = "Other permissions policies"
    attach_crumb = "Attach policy"
    inline_policy_help = ("A role's inline policies together can have up to 10,240 characters, "
                          "not counting white space.")

    def read(self, name: str):
        return roles.role_get_detail(caller=self.caller, name=name)

    def entity_of(self, summary):
        return summary.role

    @property
    def role(self):
        return self.entity

    def switch_role_link(self) -> str:
        """AWS's "Link to switch roles in console": the Switch role form, filled in."""
        query = urlencode({"roleName": self.role.name, "account": self.role.account_id})
        return self.request.build_absolute_uri(f"{reverse('iam:switch_role')}?{query}")

    def summary_context(self) -> dict:
        return {"switch_role_link": self.switch_role_link(),
                "max_session_label": duration_label(self.role.max_session_duration)}

    def attached_policies(self) -> list:
        return roles.role_attached_policies(caller=self.caller, role=self.role)

    def attach_policy(self, policy_arn: str) -> None:
        services.policy_attach_role(caller=self.caller, role=self.role, policy_arn=policy_arn)

    def detach_policy(self, policy_arn: str) -> None:
        services.policy_detach_role(caller=self.caller, role=self.role, policy_arn=policy_arn)

    def inline_policies(self) -> list:
        return roles.role_inline_policies(caller=self.caller, role=self.role)

    def inline_policy_document(self, policy_name: str) -> str:
        return roles.role_inline_policy_get(caller=self.caller, role=self.role,
                                            policy_name=policy_name).document

    def put_inline_policy(self, policy_name: str, document: str) -> None:
        services.role_put_inline_policy(caller=self.caller, role=self.role,
                                        policy_name=policy_name, document=document)

    def delete_inline_policy(self, policy_name: str) -> None:
        services.role_delete_inline_policy(caller=self.caller, role=self.role,
                                           policy_name=policy_name)


@require_GET
def role_detail(request, name: str):
    return principal_pages.permissions_tab(RolePage, request, name)


@require_GET
def role_trust(request, name: str):
    page, refusal = RolePage.open(request, name)
    if refusal:
        return refusal
    return page.render("trust")


@require_GET
def role_audit(request, name: str):
    return principal_pages.audit_tab(RolePage, request, name)


@require_http_methods(["GET", "POST"])
def role_edit(request, name: str):
    """The summary's Edit: description and maximum session duration (UpdateRole)."""
    page, refusal = RolePage.open(request, name)
    if refusal:
        return refusal
    role = page.role
    if request.method == "GET":
        form = RoleEditForm(current_duration=role.max_session_duration, initial={
            "description": role.description,
            "max_session_duration": str(role.max_session_duration)})
        return _render_edit(page, form)
    form = RoleEditForm(request.POST, current_duration=role.max_session_duration)
    if not form.is_valid():
        return _render_edit(page, form, status=400)
    try:
        roles.role_update(caller=page.caller, role=role,
                          max_session_duration=form.cleaned_data["max_session_duration"],
                          description=newline_normalised(form.cleaned_data["description"]))
    except AccessDeniedError as error:
        return page.error(error)
    except KmsError as error:
        return _render_edit(page, form, service_error=error, status=400)
    messages.success(request, f"Role {role.name} updated.")
    return redirect(page.url())


def _render_edit(page, form, *, service_error=None, status=200):
    return render(page.request, "iam/roles/edit.html", {
        "title": f"Edit {page.role.name}", "role": page.role, "page": page, "form": form,
        "service_error": service_error, "breadcrumbs": page.crumbs("Edit")}, status=status)


# --- Trust relationships --------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def role_trust_edit(request, name: str):
    """Edit trust policy (UpdateAssumeRolePolicy), with the policy editor."""
    page, refusal = RolePage.open(request, name)
    if refusal:
        return refusal
    if request.method == "GET":
        return _render_trust_editor(page, page.role.trust_policy)
    text = newline_normalised(request.POST.get("policy", ""))
    if "validate" in request.POST:
        return _render_trust_editor(page, text, result=check_policy_document(text, "trust"))
    try:
        services.role_update_trust_policy(caller=page.caller, role=page.role,
                                          trust_policy=text)
    except AccessDeniedError as error:
        return page.error(error)
    except KmsError as error:
        return _render_trust_editor(page, text, service_error=error, status=400)
    messages.success(request, "Trust policy updated.")
    return redirect(page.url("role_trust"))


def _render_trust_editor(page, text, *, result=None, service_error=None, status=200):
    return render(page.request, "iam/roles/trust_edit.html", {
        "title": "Edit trust policy", "role": page.role, "page": page, "text": text,
        "result": result or {}, "service_error": service_error,
        "breadcrumbs": page.crumbs("Edit trust policy")}, status=status)


# --- Permissions ----------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def role_attach(request, name: str):
    return principal_pages.attach(RolePage, request, name)


@require_POST
def role_detach(request, name: str):
    return principal_pages.detach(RolePage, request, name)


@require_http_methods(["GET", "POST"])
def role_inline_create(request, name: str):
    return principal_pages.inline_editor(RolePage, request, name, policy_name=None)


@require_http_methods(["GET", "POST"])
def role_inline_edit(request, name: str, policy_name: str):
    return principal_pages.inline_editor(RolePage, request, name, policy_name=policy_name)


@require_POST
def role_inline_delete(request, name: str, policy_name: str):
    return principal_pages.inline_delete(RolePage, request, name, policy_name)


# --- Delete ---------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def role_delete(request, name: str):
    """Delete role: AWS's console asks to type the role's name, then removes its policies and
    deletes it (IAM itself refuses to delete a role that still has policies)."""
    page, refusal = RolePage.open(request, name)
    if refusal:
        return refusal
    mistyped = request.method == "POST" and request.POST.get("confirmation", "") != name
    if request.method == "GET" or mistyped:
        try:
            attached = roles.role_attached_policies(caller=page.caller, role=page.role)
            inline = roles.role_inline_policies(caller=page.caller, role=page.role)
        except KmsError as error:
            return page.error(error)
        return render(request, "iam/roles/delete.html", {
            "title": f"Delete {page.role.name}?", "role": page.role, "page": page,
            "attached": attached, "inline": inline, "mistyped": mistyped,
            "breadcrumbs": page.crumbs("Delete")}, status=400 if mistyped else 200)
    return act_then_redirect(
        request, lambda: roles.role_delete_with_policies(caller=page.caller, role=page.role),
        refuse=page.error, success=f"Role {page.role.name} deleted.", done="iam:roles",
        failed=page.url())
