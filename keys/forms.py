"""The key tables' GET parameters: filters, sorting and paging, validated by a plain form.

Anything that does not validate (a made-up status, page "x") is dropped, never an error page:
these values come from links and a filter form, and a stale bookmark should still open.
"""

from django import forms

from .crypto.specs import KEY_SPECS
from .display import KEY_TYPE_LABELS, STATUS_LABELS
from .preferences import TABLE_COLUMNS
from .selectors import DEFAULT_KEY_SORT, KEY_SORTS, PAGE_SIZES, KeyFilter


def _choices(pairs):
    return [("", "Any")] + list(pairs)


class KeyTableForm(forms.Form):
    alias = forms.CharField(required=False, max_length=256, label="Alias")
    key_id = forms.CharField(required=False, max_length=64, label="Key ID")
    key_type = forms.ChoiceField(required=False, label="Key type",
                                 choices=_choices(KEY_TYPE_LABELS.items()))
    key_spec = forms.ChoiceField(required=False, label="Key spec",
                                 choices=_choices((spec, spec) for spec in KEY_SPECS))
    status = forms.ChoiceField(required=False, label="Status",
                               choices=_choices(STATUS_LABELS.items()))
    tag = forms.CharField(required=False, max_length=385, label="Tag",
                          help_text="tag-key=tag-value, or tag-key alone")
    operation = forms.ChoiceField(required=False, label="Match",
                                  choices=[("and", "All filters (and)"),
                                           ("or", "Any filter (or)")])
    sort = forms.ChoiceField(required=False, choices=[(name, name) for name in KEY_SORTS])
    order = forms.ChoiceField(required=False, choices=[("asc", "asc"), ("desc", "desc")])
    page = forms.IntegerField(required=False, min_value=1)
    page_size = forms.TypedChoiceField(required=False, coerce=int, label="Page size",
                                       choices=[(size, size) for size in PAGE_SIZES])


def key_table_params(data, *, aws_managed: bool = False) -> dict:
    """Keyword arguments for keys.listing.key_table from a request's GET parameters. The AWS
    managed keys table filters by alias and key id only, as in the AWS console. page_size is
    None unless the request names one (the user's Preferences decide then)."""
    form = KeyTableForm(data)
    form.is_valid()
    clean = {name: value for name, value in form.cleaned_data.items()}
    clean.update({name: "" for name in form.errors})  # invalid values filter nothing
    fields = ("alias", "key_id") if aws_managed else ("alias", "key_id", "key_type",
                                                       "key_spec", "status", "tag")
    return {
        "key_filter": KeyFilter(**{name: (clean.get(name) or "").strip() for name in fields},
                                match_any=clean.get("operation") == "or"),
        "sort": clean.get("sort") or DEFAULT_KEY_SORT,
        "descending": clean.get("order") == "desc",
        "page": clean.get("page") or 1,
        "page_size": clean.get("page_size") or None,
    }


class KeyTablePreferencesForm(forms.Form):
    """The Preferences dialog (gear) of a key table."""

    table = forms.ChoiceField(choices=[(name, name) for name in TABLE_COLUMNS])
    page_size = forms.TypedChoiceField(coerce=int, label="Page size",
                                       choices=[(size, f"{size} keys") for size in PAGE_SIZES])
    wrap_lines = forms.BooleanField(required=False, label="Wrap lines")
    columns = forms.MultipleChoiceField(
        required=False, label="Select visible columns",
        choices=sorted({(c.slug, c.label) for cs in TABLE_COLUMNS.values() for c in cs}))
    next = forms.CharField(required=False, max_length=2048)
