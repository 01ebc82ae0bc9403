"""What a user's and a role's console pages share (IAM console, "Users" and "Roles"): the page
around every tab (summary, tabs, breadcrumbs, the error page), the Permissions tab, Add
permissions and Remove (grants/policy_attachments.py), the inline policy editor
(grants/inline_policy_editor.py) and its Remove, and the Audit tab.

A subclass (UserPage in user_views, RolePage in role_views) names its kind, its captions and
its IAM services: ListAttachedUserPolicies or ListAttachedRolePolicies, PutUserPolicy or
PutRolePolicy, and so on. The views here call only those hooks, so a user's page and a role's
page each make their own IAM requests and leave their own audit events, as AWS's console does.
"""

from abc import ABC, abstractmethod

from django.shortcuts import render
from django.urls import reverse

from audit.views import principal_events
from kmsconsole.console import act_then_redirect, console_caller, kms_error_page
from kmsconsole.errors import AccessDeniedError, KmsError

from .inline_policy_editor import InlinePolicyOwner, edit_inline_policy
from .policy_attachments import PolicyHolder, attach_policies, detach_policy


class PrincipalPage(ABC):
    """One user's or role's page, read with the caller's permission (GetUser or GetRole)
    before anything else: a caller who may not read it learns nothing, not even whether the
    name exists (the refusal is the same either way)."""

    kind: str  # "user" | "role": URL names iam:<kind>_detail, ...; messages
    list_label: str  # "Users" | "Roles"
    list_url_name: str  # "iam:users" | "iam:roles"
    entity_name: str  # what templates call the user or role: "iam_user" | "role"
    template_dir: str  # "iam/users" | "iam/roles"
    tabs: tuple[tuple[str, str, str], ...]  # (slug, label, URL name) of each detail tab
    # Add permissions, as the two consoles caption it.
    attach_title: str
    attach_heading: str
    attach_crumb: str
    inline_policy_help: str  # IAM's quota on the inline policies together, under the editor

    def __init__(self, request, name: str):
        self.request = request
        self.caller = console_caller(request)
        self.summary = self.read(name)
        self.entity = self.entity_of(self.summary)

    # --- what a subclass says: its IAM requests ---------------------------------------------

    @abstractmethod
    def read(self, name: str):
        """GetUser or GetRole: the summary the page shows; a KmsError when it may not be read
        or does not exist."""

    @abstractmethod
    def entity_of(self, summary):
        """The user or role of the summary."""

    def summary_context(self) -> dict:
        """What the detail page's Summary shows beyond the summary itself."""
        return {}

    @abstractmethod
    def attached_policies(self) -> list:
        """ListAttached*Policies."""

    @abstractmethod
    def attach_policy(self, policy_arn: str) -> None:
        """Attach*Policy."""

    @abstractmethod
    def detach_policy(self, policy_arn: str) -> None:
        """Detach*Policy."""

    @abstractmethod
    def inline_policies(self) -> list:
        """List*Policies."""

    @abstractmethod
    def inline_policy_document(self, policy_name: str) -> str:
        """Get*Policy's document."""

    @abstractmethod
    def put_inline_policy(self, policy_name: str, document: str) -> None:
        """Put*Policy."""

    @abstractmethod
    def delete_inline_policy(self, policy_name: str) -> None:
        """Delete*Policy."""

    # --- the page ---------------------------------------------------------------------------

    @classmethod
    def open(cls, request, name: str):
        """(page, None), or (None, the error page) when the user or role cannot be read."""
        try:
            return cls(request, name), None
        except KmsError as error:
            return None, cls.error_page(request, error, name)

    @classmethod
    def list_crumbs(cls, *more) -> list[dict]:
        return [{"label": cls.list_label, "href": reverse(cls.list_url_name)}, *more]

    @classmethod
    def error_page(cls, request, error: KmsError, name: str | None = None):
        return kms_error_page(request, error, breadcrumbs=(
            [{"label": cls.list_label, "url": cls.list_url_name}]
            + ([{"label": name}] if name else [])))

    @property
    def name(self) -> str:
        return self.entity.name

    def url(self, view: str = "", *args) -> str:
        """The URL of one of this user's or role's pages (`view` without the iam: prefix)."""
        return reverse(f"iam:{view or self.kind + '_detail'}", args=[self.name, *args])

    def crumbs(self, label: str) -> list[dict]:
        return self.list_crumbs({"label": self.name, "href": self.url()}, {"label": label})

    def error(self, error: KmsError):
        return self.error_page(self.request, error, self.name)

    def context(self, **more) -> dict:
        """What every page of this user or role gives its template."""
        return {"page": self, self.entity_name: self.entity, **more}

    def render(self, tab: str, context: dict | None = None, status: int = 200):
        """The detail page with the tab `tab` (its slug) open."""
        page = self.context(
            title=self.name, summary=self.summary, tab=tab,
            tab_template=f"{self.template_dir}/tabs/{tab.replace('-', '_')}.html",
            tabs=[{"slug": slug, "label": label, "url": reverse(view, args=[self.name])}
                  for slug, label, view in self.tabs],
            breadcrumbs=self.list_crumbs({"label": self.name}),
            **self.summary_context())
        page.update(context or {})
        return render(self.request, f"{self.template_dir}/detail.html", page, status=status)


# --- the views both kinds share ---------------------------------------------------------------
# Each takes the page class first; user_views and role_views bind them to their URLs.

def permissions_tab(page_class: type[PrincipalPage], request, name: str):
    """Permissions: the managed policies attached and the inline policies."""
    page, refusal = page_class.open(request, name)
    if refusal:
        return refusal
    try:
        attached = page.attached_policies()
        inline = page.inline_policies()
    except KmsError as error:
        return page.error(error)
    return page.render("permissions", {"attached": attached, "inline": inline,
                                       "policy_count": len(attached) + len(inline)})


def _policy_holder(page: PrincipalPage) -> PolicyHolder:
    return PolicyHolder(
        kind=page.kind, caller=page.caller, attached=page.attached_policies,
        attach=page.attach_policy, detach=page.detach_policy, refuse=page.error,
        attach_url=page.url(f"{page.kind}_attach"), done_url=page.url())


def attach(page_class: type[PrincipalPage], request, name: str):
    """Add permissions: the policies not attached yet, with checkboxes."""
    page, refusal = page_class.open(request, name)
    if refusal:
        return refusal
    return attach_policies(request, _policy_holder(page),
                           title=page.attach_title.format(name=page.name),
                           heading=page.attach_heading, crumbs=page.crumbs(page.attach_crumb))


def detach(page_class: type[PrincipalPage], request, name: str):
    page, refusal = page_class.open(request, name)
    if refusal:
        return refusal
    return detach_policy(request, _policy_holder(page))


def inline_editor(page_class: type[PrincipalPage], request, name: str, *,
                  policy_name: str | None):
    """Create an inline policy (policy_name None) or edit one (Put*Policy either way), with
    the policy editor the Policies pages use (validated as it is typed)."""
    page, refusal = page_class.open(request, name)
    if refusal:
        return refusal
    owner = InlinePolicyOwner(
        kind=page.kind, get_document=page.inline_policy_document,
        policy_names=lambda: [policy.name for policy in page.inline_policies()],
        put=page.put_inline_policy,
        render=lambda *args, **kwargs: _render_inline(page, *args, **kwargs),
        refuse=page.error, done_url=page.url())
    return edit_inline_policy(request, owner, policy_name=policy_name)


def _render_inline(page: PrincipalPage, form, text, policy_name, *, result=None,
                   service_error=None, status=200):
    title = "Create policy" if policy_name is None else f"Modify permissions in {policy_name}"
    form_action = (page.url(f"{page.kind}_inline_create") if policy_name is None
                   else page.url(f"{page.kind}_inline_edit", policy_name))
    return render(page.request, "iam/inline_policy.html", page.context(
        title=title, form=form, text=text, form_action=form_action,
        editing=policy_name is not None,
        policy_name=policy_name, result=result or {}, service_error=service_error,
        breadcrumbs=page.crumbs(title)), status=status)


def inline_delete(page_class: type[PrincipalPage], request, name: str, policy_name: str):
    page, refusal = page_class.open(request, name)
    if refusal:
        return refusal
    return act_then_redirect(request, lambda: page.delete_inline_policy(policy_name),
                             refuse=page.error, success=f"Policy {policy_name} removed.",
                             done=page.url())


def audit_tab(page_class: type[PrincipalPage], request, name: str):
    """The requests of the user (or of every session of the role), newest first: the event
    history's search scoped to its ARN (one LookupEvents, which needs
    cloudtrail:LookupEvents). An htmx filter or page turn gets the events table only."""
    page, refusal = page_class.open(request, name)
    if refusal:
        return refusal
    try:
        context, status = principal_events(request, caller=page.caller,
                                           principal_arn=page.entity.arn,
                                           filter_action=page.url(f"{page.kind}_audit"))
    except AccessDeniedError as error:
        return page.error(error)
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, f"{page.template_dir}/tabs/audit.html#event-table", context,
                      status=status)
    return page.render("audit", context, status=status)
