"""Console pages for keys: the key tables, aliases, custom key stores (a key's detail page and
its tabs are in keys/detail_views.py, the key actions in keys/actions.py).

Every page calls services with the signed-in user's Caller (kmsconsole.console), so what the
console shows is exactly what that user may see through the API, and every read is audited.
A refusal is a 403 page that explains the decision; no service error becomes a 500.
Tables answer an htmx request with their table fragment only ("page.html#key-table").
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from kmsconsole.console import console_caller, kms_error_page, safe_next
from kmsconsole.errors import KmsError

from . import listing, preferences, services
from .crypto import specs
from .forms import KeyTableForm, KeyTablePreferencesForm, key_table_params
from .selectors import PAGE_SIZES

CUSTOMER_MANAGED = {"label": "Customer managed keys", "url": "keys:customer_managed_keys"}
AWS_MANAGED = {"label": "AWS managed keys", "url": "keys:aws_managed_keys"}


def _table_template(request, template: str) -> str:
    """The table fragment for htmx (not for a history restore, which needs the whole page)."""
    if request.htmx and not request.htmx.history_restore_request:
        return f"{template}#key-table"
    return template


def _key_table_page(request, *, aws_managed: bool):
    section = AWS_MANAGED if aws_managed else CUSTOMER_MANAGED
    table = preferences.AWS_MANAGED if aws_managed else preferences.CUSTOMER_MANAGED
    breadcrumbs = [section]
    caller = console_caller(request)
    chosen = preferences.table_preferences_get(principal=caller.principal, table=table)
    params = key_table_params(request.GET, aws_managed=aws_managed)
    # A page_size in the URL (a shared link) wins over the stored preference.
    params["page_size"] = params["page_size"] or chosen.page_size
    try:
        page = listing.key_table(caller=caller, aws_managed=aws_managed, **params)
    except KmsError as error:
        return kms_error_page(request, error, breadcrumbs=breadcrumbs)
    context = {
        "title": section["label"],
        "section": section,
        "breadcrumbs": breadcrumbs,
        "aws_managed": aws_managed,
        "page": page,
        "filter": params["key_filter"],
        "form": KeyTableForm(request.GET),
        "page_sizes": PAGE_SIZES,
        "table": table,
        "preferences": chosen,
        "columns": chosen.columns(table),
        "all_columns": preferences.TABLE_COLUMNS[table],
        "key_types": [("SYMMETRIC", "Symmetric"), ("ASYMMETRIC", "Asymmetric")],
        "key_specs": specs.KEY_SPECS,
    }
    return render(request, _table_template(request, "keys/key_table_page.html"), context)


@require_GET
def customer_managed_keys(request):
    return _key_table_page(request, aws_managed=False)


@require_GET
def aws_managed_keys(request):
    return _key_table_page(request, aws_managed=True)


@require_POST
def key_table_preferences(request):
    """Confirm in the Preferences dialog: store them and go back to the table."""
    form = KeyTablePreferencesForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The preferences were not saved: choose a page size.")
        return redirect(safe_next(request, request.POST.get("next")))
    preferences.table_preferences_set(
        principal=console_caller(request).principal, table=form.cleaned_data["table"],
        page_size=form.cleaned_data["page_size"], wrap_lines=form.cleaned_data["wrap_lines"],
        visible_columns=form.cleaned_data["columns"])
    return redirect(safe_next(request, form.cleaned_data["next"]))


@require_GET
def aliases(request):
    caller = console_caller(request)
    breadcrumbs = [{"label": "Aliases"}]
    form = KeyTableForm(request.GET)
    form.is_valid()
    page_size = form.cleaned_data.get("page_size") or 50
    marker = request.GET.get("marker") or None
    try:
        rows, next_marker = services.alias_list(caller=caller, limit=page_size, marker=marker)
    except KmsError as error:
        return kms_error_page(request, error, breadcrumbs=breadcrumbs)
    return render(request, "keys/aliases.html", {
        "title": "Aliases", "breadcrumbs": breadcrumbs, "aliases": rows,
        "next_marker": next_marker, "first_page": marker is not None, "page_size": page_size,
        "page_sizes": PAGE_SIZES,
    })


STORE_KINDS = {
    "": "Custom key stores",
    "cloudhsm": "AWS CloudHSM key stores",
    "external": "External key stores",
}


@require_GET
def custom_key_stores(request, kind: str = ""):
    title = STORE_KINDS.get(kind, STORE_KINDS[""])
    breadcrumbs = [{"label": title}]
    try:
        stores = listing.custom_key_store_list(caller=console_caller(request))
    except KmsError as error:
        return kms_error_page(request, error, breadcrumbs=breadcrumbs)
    return render(request, "keys/custom_key_stores.html",
                  {"title": title, "breadcrumbs": breadcrumbs, "stores": stores, "kind": kind})
