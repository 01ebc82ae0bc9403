"""Template filters that word key metadata as the AWS console does (keys.display)."""

from django import template

from keys import display

register = template.Library()

register.filter("status_label", display.status_label)
register.filter("status_indicator", display.status_indicator)
register.filter("usage_label", display.usage_label)
register.filter("origin_label", display.origin_label)
register.filter("key_type_label", display.key_type_label)


@register.simple_tag(takes_context=True)
def query_with(context, **changes):
    """The current query string with `changes` applied (None removes a parameter): links for
    sorting and paging that keep the filters, and that work without JavaScript."""
    query = context["request"].GET.copy()
    for name, value in changes.items():
        if value is None or value == "":
            query.pop(name, None)
        else:
            query[name] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"
