"""A key's detail page: General configuration, the Key actions menu and the tabs as URLs
(kms-spec.md 8.3): Key policy (view, edit, validate), Cryptographic configuration, Tags (Manage
tags), Aliases (Create alias, Delete), Public key (asymmetric keys; Download as PEM) and Grants
(Create grant, Revoke).

Every read and write is a service call with the signed-in user's Caller. Reads that fail show the
error page (403 with the decision's explanation); a write refused with AccessDenied shows that
page too; any other refusal of a write (a malformed policy, an invalid alias name, a tag rule)
is shown on the tab it came from, and nothing was changed. AWS managed keys are read-only.
"""

from cryptography.hazmat.primitives import serialization
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit import history
from audit.forms import EventFilterForm
from audit.views import filter_context, filter_status
from grants import kms_grants
from grants.selectors import principals_of_account
from kmsconsole.console import act_then_redirect, console_caller, kms_error_page
from kmsconsole.errors import AccessDeniedError, KmsError

from . import actions, operations, policy_default_view, services, validation
from .crypto import specs
from .detail_forms import AliasForm, GrantForm, tag_changes, tag_rows
from .display import key_type
from .models import MANAGER_AWS

CUSTOMER_MANAGED = {"label": "Customer managed keys", "url": "keys:customer_managed_keys"}
AWS_MANAGED = {"label": "AWS managed keys", "url": "keys:aws_managed_keys"}
TABS = [
    ("policy", "Key policy", "keys:key_policy"),
    ("crypto", "Cryptographic configuration", "keys:key_crypto"),
    ("tags", "Tags", "keys:key_tags"),
    ("rotation", "Key rotation", "keys:key_rotation"),
    ("aliases", "Aliases", "keys:key_aliases"),
    ("key-material", "Key material", "keys:key_material"),
    ("public-key", "Public key", "keys:key_public_key"),
    ("grants", "Grants", "keys:key_grants"),
    ("audit", "Audit", "keys:key_audit"),
]
INERT_WARNING = ("has no effect: a key policy statement needs both an Action (or NotAction) "
                 "and a Resource (or NotResource).")


class KeyPage:
    """What every tab shows around itself: the key, its aliases, the caller that read them."""

    def __init__(self, request, key_id):
        self.request = request
        self.caller = console_caller(request)
        self.key_id = str(key_id)
        self.key = services.key_describe(caller=self.caller, key_id=self.key_id)
        self.aliases, _ = services.alias_list(caller=self.caller, key_id=str(self.key.id),
                                              limit=100)

    @property
    def read_only(self) -> bool:
        return self.key.key_manager == MANAGER_AWS

    def tabs(self) -> list[dict]:
        asymmetric = key_type(self.key.key_spec) == "ASYMMETRIC"
        # Only symmetric encryption keys have a rotation status (kms-spec.md 8.3).
        symmetric = self.key.key_spec == "SYMMETRIC_DEFAULT"
        return [{"slug": slug, "label": label, "url": reverse(name, args=[self.key.id])}
                for slug, label, name in TABS
                if (slug != "public-key" or asymmetric) and (slug != "rotation" or symmetric)
                and (slug != "key-material" or self.key.origin == "EXTERNAL")]

    def render(self, tab: str, context: dict | None = None, status: int = 200):
        section = AWS_MANAGED if self.read_only else CUSTOMER_MANAGED
        page = {
            "title": self.aliases[0].name if self.aliases else str(self.key.id),
            "key": self.key,
            "aliases": self.aliases,
            "read_only": self.read_only,
            "key_actions": [] if self.read_only else actions.actions_for(self.key),
            "tabs": self.tabs(),
            "tab": tab,
            "tab_template": f"keys/tabs/{tab.replace('-', '_')}.html",
            "section": section,
            "breadcrumbs": [section, {"label": str(self.key.id)}],
        }
        page.update(context or {})
        return render(self.request, "keys/key_detail.html", page, status=status)


def _error(request, error: KmsError, key_id=None):
    crumbs = [CUSTOMER_MANAGED] + ([{"label": str(key_id)}] if key_id else [])
    return kms_error_page(request, error, breadcrumbs=crumbs)


def _open(request, key_id):
    """(KeyPage, None) or (None, the error page) when the key cannot be read."""
    try:
        return KeyPage(request, key_id), None
    except KmsError as error:
        return None, _error(request, error, key_id)


def _tab_url(name: str, key_id) -> str:
    return reverse(f"keys:{name}", args=[key_id])


# --- Key policy -------------------------------------------------------------------------------

def check_policy(text: str) -> dict:
    """Errors and warnings of a key policy document, as PutKeyPolicy would judge its text
    (characters, 32 KB quota, grammar); whether its principals exist is the service's check.
    Pure: it reads nothing, so it may run on every keystroke."""
    try:
        parsed = validation.validate_policy_text(text)
    except KmsError as error:
        return {"checked": True, "errors": [f"{error.code}: {error.message}"], "warnings": []}
    warnings = [f"{statement.label} {INERT_WARNING}" for statement in parsed.inert_statements()]
    return {"checked": True, "errors": [], "warnings": warnings}


@require_GET
def key_policy(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    try:
        policy = services.key_get_policy(caller=page.caller, key_id=str(page.key.id))
    except KmsError as error:
        return _error(request, error, key_id)
    # The default view when the policy is the console's template, unless "Switch to policy
    # view" asked for the document (?view=policy); otherwise the policy view is the only one.
    parts = policy_default_view.parts_of(page.key, policy)
    if parts is not None and request.GET.get("view") != "policy":
        return page.render("policy", policy_default_view.context(page.key, parts))
    return page.render("policy", {"policy": policy, "editing": False,
                                  "default_view_available": parts is not None,
                                  "not_template": policy_default_view.NOT_TEMPLATE})


@require_POST
def key_policy_default(request, key_id):
    """A change in the default view (Add / Remove, Key deletion, Other AWS accounts): the
    policy is regenerated from the new choices and saved through PutKeyPolicy."""
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    policy_url = _tab_url("key_policy", page.key.id)
    if page.read_only:
        return redirect(policy_url)
    try:
        policy = services.key_get_policy(caller=page.caller, key_id=str(page.key.id))
    except KmsError as error:
        return _error(request, error, key_id)
    parts = policy_default_view.parts_of(page.key, policy)
    if parts is None:  # changed since the page was shown
        messages.error(request, policy_default_view.NOT_TEMPLATE)
        return redirect(f"{policy_url}?view=policy")
    principals = principals_of_account(page.key.account_id)
    shown = policy_default_view.context(page.key, parts, principals)
    shown["values"] = {"account_id": request.POST.get("account_id", "")[:64]}
    try:
        changed = policy_default_view.change(parts, request.POST,
                                             account_id=page.key.account_id,
                                             known={principal.arn for principal in principals})
    except policy_default_view.ChangeError as error:
        return page.render("policy", {**shown, "errors": {error.field: error.message}},
                           status=400)
    try:
        services.key_put_policy(caller=page.caller, key_id=str(page.key.id),
                                policy=policy_default_view.policy_for(page.key, changed))
    except AccessDeniedError as error:
        return _error(request, error, key_id)
    except KmsError as error:
        return page.render("policy", {**shown, "service_error": error}, status=400)
    messages.success(request, "The key policy was saved.")
    return redirect(policy_url)


def _render_editor(page, text: str, *, result=None, service_error=None, status=200):
    return page.render("policy", {"policy": text, "editing": True, "result": result or {},
                                  "service_error": service_error}, status=status)


@require_http_methods(["GET", "POST"])
def key_policy_edit(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    if page.read_only:
        return redirect(_tab_url("key_policy", page.key.id))
    if request.method == "GET":
        try:
            policy = services.key_get_policy(caller=page.caller, key_id=str(page.key.id))
        except KmsError as error:
            return _error(request, error, key_id)
        return _render_editor(page, policy)
    text = request.POST.get("policy", "")
    if "validate" in request.POST:
        return _render_editor(page, text, result=check_policy(text))
    try:
        services.key_put_policy(caller=page.caller, key_id=str(page.key.id), policy=text)
    except AccessDeniedError as error:
        return _error(request, error, key_id)
    except KmsError as error:
        return _render_editor(page, text, service_error=error, status=400)
    messages.success(request, "The key policy was saved.")
    return redirect(_tab_url("key_policy", page.key.id))


@require_POST
def key_policy_validate(request, key_id):
    """Validate as you type: htmx posts the editor here and gets the result fragment; without
    JavaScript the editor's Validate button posts to the editor itself (same answer, whole
    page), and a plain post here is answered with that whole page too."""
    text = request.POST.get("policy", "")
    result = check_policy(text)
    if request.htmx:
        return render(request, "keys/tabs/policy.html#policy-validation", {"result": result})
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    return _render_editor(page, text, result=result)


# --- Cryptographic configuration -------------------------------------------------------------

def algorithms(key) -> list[tuple[str, list[str]]]:
    """The algorithm lists the Cryptographic configuration tab shows for this key."""
    lists = [
        ("Encryption algorithms", specs.encryption_algorithms(key.key_spec, key.key_usage)),
        ("Signing algorithms", specs.signing_algorithms(key.key_spec, key.key_usage)),
        ("MAC algorithms", specs.mac_algorithms(key.key_spec, key.key_usage)),
    ]
    return [(label, values) for label, values in lists if values]


@require_GET
def key_crypto(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    return page.render("crypto", {"algorithms": algorithms(page.key)})


# --- Tags -------------------------------------------------------------------------------------

def _tags(page):
    tags, _ = services.key_list_tags(caller=page.caller, key_id=str(page.key.id), limit=50)
    return tags


@require_GET
def key_tags(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    try:
        tags = _tags(page)
    except KmsError as error:
        return _error(request, error, key_id)
    return page.render("tags", {"tags": tags, "editing": False})


def _render_tag_editor(page, rows, *, errors=(), status=200):
    return page.render("tags", {"editing": True, "rows": rows, "errors": list(errors)},
                       status=status)


@require_http_methods(["GET", "POST"])
def key_tags_edit(request, key_id):
    """Manage tags: every tag a row (key, value, Remove), "Add tag" adds an empty row,
    "Save changes" tags what is new or changed and untags what was removed or renamed."""
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    if page.read_only:
        return redirect(_tab_url("key_tags", page.key.id))
    if request.method == "GET":
        try:
            tags = _tags(page)
        except KmsError as error:
            return _error(request, error, key_id)
        rows = [{"original": t.tag_key, "key": t.tag_key, "value": t.tag_value, "remove": False}
                for t in tags]
        return _render_tag_editor(page, rows + [_empty_row()])
    rows = tag_rows(request.POST)
    if "add_tag" in request.POST:
        return _render_tag_editor(page, rows + [_empty_row()])
    missing = [row for row in rows if not row["key"] and row["value"] and not row["remove"]]
    if missing:
        return _render_tag_editor(page, rows, errors=["Enter a key for every tag with a value."],
                                  status=400)
    to_set, to_remove = tag_changes(rows)
    try:
        if to_set:
            services.key_tag(caller=page.caller, key_id=str(page.key.id), tags=to_set)
        if to_remove:
            services.key_untag(caller=page.caller, key_id=str(page.key.id), tag_keys=to_remove)
    except AccessDeniedError as error:
        return _error(request, error, key_id)
    except KmsError as error:
        return _render_tag_editor(page, rows, errors=[f"{error.code}: {error.message}"],
                                  status=400)
    messages.success(request, "The tags were saved.")
    return redirect(_tab_url("key_tags", page.key.id))


def _empty_row() -> dict:
    return {"original": "", "key": "", "value": "", "remove": False}


# --- Aliases ----------------------------------------------------------------------------------

@require_GET
def key_aliases(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    return page.render("aliases", {"form": AliasForm()})


@require_POST
def key_alias_create(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    form = AliasForm(request.POST)
    if not form.is_valid():
        return page.render("aliases", {"form": form}, status=400)
    try:
        alias = services.alias_create(caller=page.caller, alias_name=form.full_name(),
                                      target_key_id=str(page.key.id))
    except AccessDeniedError as error:
        return _error(request, error, key_id)
    except KmsError as error:
        return page.render("aliases", {"form": form, "service_error": error}, status=400)
    messages.success(request, f"The alias {alias.name} was created.")
    return redirect(_tab_url("key_aliases", page.key.id))


@require_POST
def key_alias_delete(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    name = request.POST.get("alias_name", "")
    if name not in {alias.name for alias in page.aliases}:
        # Only this key's aliases are offered here; another name is a forged or stale form.
        messages.error(request, "That alias does not point to this key.")
        return redirect(_tab_url("key_aliases", page.key.id))
    return act_then_redirect(
        request, lambda: services.alias_delete(caller=page.caller, alias_name=name),
        refuse=lambda error: _error(request, error, key_id),
        success=f"The alias {name} was deleted.", done=_tab_url("key_aliases", page.key.id))


# --- Public key -------------------------------------------------------------------------------

def _public_key_pem(page) -> str:
    _, der = operations.get_public_key(caller=page.caller, key_id=str(page.key.id))
    public_key = serialization.load_der_public_key(der)
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@require_GET
def key_public_key(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    try:
        pem = _public_key_pem(page)
    except KmsError as error:
        return _error(request, error, key_id)
    return page.render("public-key", {"pem": pem})


@require_GET
def key_public_key_download(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    try:
        pem = _public_key_pem(page)
    except KmsError as error:
        return _error(request, error, key_id)
    response = HttpResponse(pem, content_type="application/x-pem-file")
    response["Content-Disposition"] = f'attachment; filename="{page.key.id}.pem"'
    return response


# --- Grants -----------------------------------------------------------------------------------

def _render_grants(page, form, *, service_error=None, status=200):
    try:
        grants, _ = kms_grants.grant_list(caller=page.caller, key_id=str(page.key.id), limit=100)
    except KmsError as error:
        return _error(page.request, error, page.key.id)
    principals = [] if page.read_only else principals_of_account(page.key.account_id)
    return page.render("grants", {"grants": grants, "form": form, "principals": principals,
                                  "service_error": service_error}, status=status)


def _grant_form(page, data=None) -> GrantForm:
    return GrantForm(data, operations=kms_grants.grant_operations_for(page.key))


@require_GET
def key_grants(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    return _render_grants(page, _grant_form(page))


@require_POST
def key_grant_create(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    form = _grant_form(page, request.POST)
    if not form.is_valid():
        return _render_grants(page, form, status=400)
    data = form.cleaned_data
    try:
        grant, _token = kms_grants.grant_create(
            caller=page.caller, key_id=str(page.key.id),
            grantee_principal=data["grantee_principal"].strip(),
            operations=list(data["operations"]), constraints=data["constraints"],
            name=data["name"] or None)
    except AccessDeniedError as error:
        return _error(request, error, key_id)
    except KmsError as error:
        return _render_grants(page, form, service_error=error, status=400)
    messages.success(request, f"The grant {grant.grant_id} was created.")
    return redirect(_tab_url("key_grants", page.key.id))


@require_POST
def key_grant_revoke(request, key_id):
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    grant_id = request.POST.get("grant_id", "")
    return act_then_redirect(
        request, lambda: kms_grants.grant_revoke(caller=page.caller, key_id=str(page.key.id),
                                                 grant_id=grant_id),
        refuse=lambda error: _error(request, error, key_id),
        success=f"The grant {grant_id} was revoked.", done=_tab_url("key_grants", page.key.id))


# --- Audit ------------------------------------------------------------------------------------

@require_GET
def key_audit(request, key_id):
    """The key's events (the event history's search, scoped to this key) and its requests per
    day by operation for the last 30 days: one LookupEvents lookup, so reading them needs
    cloudtrail:LookupEvents besides the kms:DescribeKey every tab needs. An htmx request of
    the filter or of a page gets the events table only."""
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    form = EventFilterForm(request.GET, with_key=False)
    context = {**filter_context(request, form), "page": None, "usage": None,
               "filter_action": _tab_url("key_audit", page.key.id)}
    # The download is the event history's, with this key as its key filter.
    download_query = request.GET.copy()
    download_query.pop("next", None)
    download_query["key"] = str(page.key.id)
    context["download_query"] = download_query.urlencode()
    failed = not form.is_valid()
    if not failed:
        try:
            activity = history.key_events_search(
                caller=page.caller, key_id=str(page.key.id), event_filter=form.event_filter(),
                after=form.cleaned_data["next"] or None)
        except AccessDeniedError as error:
            return _error(request, error, key_id)
        except KmsError as error:
            context["service_error"] = error
            failed = True
        else:
            context.update(page=activity.page, usage=activity.usage,
                           chart=activity.usage.chart())
    status = filter_status(request, failed=failed)
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "keys/tabs/audit.html#event-table", context, status=status)
    return page.render("audit", context, status=status)


# --- Description (the header's Edit) ---------------------------------------------------------

@require_http_methods(["GET", "POST"])
def key_description_edit(request, key_id):
    """Edit description: UpdateKeyDescription as the signed-in user; a key pending deletion
    refuses it (the service's KMSInvalidStateException is shown on the form)."""
    page, error_page = _open(request, key_id)
    if error_page:
        return error_page
    detail_url = _tab_url("key_detail", page.key.id)
    if page.read_only:
        return redirect(detail_url)
    description = page.key.description
    service_error = None
    if request.method == "POST":
        description = request.POST.get("description", "").replace("\r\n", "\n")
        try:
            services.key_update_description(caller=page.caller, key_id=str(page.key.id),
                                            description=description)
        except AccessDeniedError as error:
            return _error(request, error, key_id)
        except KmsError as error:
            service_error = error
        else:
            messages.success(request, "The description was saved.")
            return redirect(detail_url)
    section = CUSTOMER_MANAGED
    return render(request, "keys/key_description_edit.html", {
        "title": "Edit description", "key": page.key, "description": description,
        "service_error": service_error, "detail_url": detail_url,
        "breadcrumbs": [section, {"label": str(page.key.id)}, {"label": "Edit description"}],
    }, status=400 if service_error else 200)
