"""The key tables' Preferences (the gear of kms-spec.md 8.1): page size, wrap lines and visible
columns, kept per principal and re-applied on every visit.

Preferences change nothing but how one person's table looks, so they are neither authorized nor
audited: there is no AWS API call behind them (the AWS console keeps them in its own settings
store, outside CloudTrail) and no security state they could weaken. A principal reads and writes
only its own, identified by the signed-in session, never by a request parameter.
"""

from dataclasses import dataclass

from grants.principals import Principal

from .models import KeyTablePreferences
from .selectors import DEFAULT_PAGE_SIZE, PAGE_SIZES


@dataclass(frozen=True)
class Column:
    slug: str
    label: str
    sort: str | None  # the keys.selectors.KEY_SORTS name, or None if not sortable
    shown_by_default: bool = True
    always_shown: bool = False  # the Key ID links to the key: hiding it would leave no link


CUSTOMER_MANAGED = "customer_managed_keys"
AWS_MANAGED = "aws_managed_keys"
TABLE_COLUMNS = {
    CUSTOMER_MANAGED: [
        Column("aliases", "Aliases", "alias"),
        Column("key_id", "Key ID", "key_id", always_shown=True),
        Column("status", "Status", "status"),
        Column("key_type", "Key type", "key_type"),
        Column("key_spec", "Key spec", "key_spec"),
        Column("key_usage", "Key usage", "key_usage"),
        Column("created", "Creation date", "created"),
        Column("origin", "Origin", "origin"),
        # Every key here is a single-Region key (no multi-Region replication): the column is
        # offered as in AWS and says so honestly.
        Column("regionality", "Regionality", None, shown_by_default=False),
    ],
    AWS_MANAGED: [
        Column("aliases", "Aliases", "alias"),
        Column("key_id", "Key ID", "key_id", always_shown=True),
        Column("status", "Status", "status"),
        Column("key_spec", "Key spec", "key_spec", shown_by_default=False),
        Column("key_usage", "Key usage", "key_usage", shown_by_default=False),
        Column("created", "Creation date", "created", shown_by_default=False),
    ],
}


@dataclass(frozen=True)
class TablePreferences:
    page_size: int
    wrap_lines: bool
    visible: tuple[str, ...]  # column slugs, in the table's column order

    def columns(self, table: str) -> list[Column]:
        return [column for column in TABLE_COLUMNS[table] if column.slug in self.visible]


def default_preferences(table: str) -> TablePreferences:
    return TablePreferences(
        page_size=DEFAULT_PAGE_SIZE, wrap_lines=False,
        visible=tuple(c.slug for c in TABLE_COLUMNS[table] if c.shown_by_default))


def _owner(principal: Principal) -> str:
    """Whose preferences: the IAM user, or for an assumed-role session the role (a session
    name changes with every sign-in; the role is the identity that persists)."""
    return principal.role_arn or principal.arn


def _clean(table: str, page_size: int, wrap_lines: bool, visible) -> TablePreferences:
    """Preferences that always render: a known page size, known columns in table order, the
    always-shown columns included (a stale stored value never breaks the page)."""
    chosen = set(visible)
    return TablePreferences(
        page_size=page_size if page_size in PAGE_SIZES else DEFAULT_PAGE_SIZE,
        wrap_lines=bool(wrap_lines),
        visible=tuple(c.slug for c in TABLE_COLUMNS[table]
                      if c.slug in chosen or c.always_shown))


def table_preferences_get(*, principal: Principal, table: str) -> TablePreferences:
    stored = KeyTablePreferences.objects.filter(owner_arn=_owner(principal), table=table).first()
    if stored is None:
        return default_preferences(table)
    return _clean(table, stored.page_size, stored.wrap_lines, stored.visible_columns)


def table_preferences_set(*, principal: Principal, table: str, page_size: int, wrap_lines: bool,
                          visible_columns) -> TablePreferences:
    preferences = _clean(table, page_size, wrap_lines, visible_columns)
    KeyTablePreferences.objects.update_or_create(
        owner_arn=_owner(principal), table=table,
        defaults={"page_size": preferences.page_size, "wrap_lines": preferences.wrap_lines,
                  "visible_columns": list(preferences.visible)})
    return preferences
