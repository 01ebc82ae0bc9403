"""The key tables' Preferences (gear: page size, wrap lines, visible columns), kept per user, and
the filter's "and"/"or" match (kms-spec.md 8.1)."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from keys.models import KeyTablePreferences
from tests.conftest import make_administrator, make_user
from tests.web.console_helpers import create_key, elements, names, table_rows

PREFERENCES_URL = "/kms/keys/preferences"


def save(client, **fields):
    data = {"table": "customer_managed_keys", "page_size": "25", "next": "/kms/keys"}
    data.update(fields)
    return client.post(PREFERENCES_URL, data)


def test_the_gear_opens_preferences_with_aws_captions(signed_in, admin):
    create_key(admin, alias="alias/one")
    html = signed_in.get("/kms/keys").content.decode()
    assert "Preferences" in names(html, "summary")
    assert names(html, "legend") == ["Page size", "Wrap lines", "Select visible columns"]
    assert names(html, "button")[-1] == "Confirm"
    assert "Cancel" in names(html, "a")
    columns = [e for e in elements(html, "input", name="columns")]
    assert [c["attrs"]["value"] for c in columns] == [
        "aliases", "key_id", "status", "key_type", "key_spec", "key_usage", "created", "origin",
        "regionality"]
    key_id_box = next(c for c in columns if c["attrs"]["value"] == "key_id")
    assert "disabled" in key_id_box["attrs"]  # the Key ID is the row's link: always shown


def test_visible_columns_and_page_size_are_kept_and_reapplied(signed_in, admin):
    for index in range(12):
        create_key(admin, alias=f"alias/k{index:02}")
    response = save(signed_in, page_size="10", columns=["aliases", "status", "regionality"])
    assert response.status_code == 302 and response["Location"] == "/kms/keys"
    html = signed_in.get("/kms/keys").content.decode()
    assert names(html, "th") == ["Aliases", "Key ID", "Status", "Regionality"]
    assert len(table_rows(html)) == 10
    assert table_rows(html)[0][3] == "Single-Region"
    # A new sign-in of the same user gets them back: they are stored per user, not per session.
    again = Client()
    again.force_login(admin)
    assert names(again.get("/kms/keys").content.decode(), "th") == [
        "Aliases", "Key ID", "Status", "Regionality"]
    # A page size in the URL (a shared link) still wins.
    assert len(table_rows(again.get("/kms/keys?page_size=25").content.decode())) == 12


def test_preferences_are_per_user(signed_in, admin, account):
    create_key(admin, alias="alias/one")
    save(signed_in, columns=["status"])
    other = Client()
    other.force_login(make_administrator(account, "second-admin"))
    assert names(other.get("/kms/keys").content.decode(), "th") == [
        "Aliases", "Key ID", "Status", "Key type", "Key spec", "Key usage", "Creation date",
        "Origin"]


def test_wrap_lines_switches_the_tables_wrapping(signed_in, admin):
    create_key(admin, alias="alias/one")
    assert "table--nowrap" in elements(signed_in.get("/kms/keys").content.decode(),
                                       "table")[0]["attrs"]["class"]
    save(signed_in, wrap_lines="on", columns=["aliases"])
    assert "table--nowrap" not in elements(signed_in.get("/kms/keys").content.decode(),
                                           "table")[0]["attrs"]["class"]


def test_the_row_checkbox_stays_when_the_aliases_column_is_hidden(signed_in, admin):
    key = create_key(admin, alias="alias/one")
    save(signed_in, columns=["status"])
    html = signed_in.get("/kms/keys").content.decode()
    assert [b["attrs"]["value"] for b in elements(html, "input", form="key-actions")] == [
        str(key.id)]


def test_aws_managed_keys_have_their_own_preferences(signed_in, admin):
    save(signed_in, table="aws_managed_keys", columns=["aliases", "key_spec"],
         next="/kms/defaultKeys")
    html = signed_in.get("/kms/defaultKeys").content.decode()
    assert names(html, "th") == ["Aliases", "Key ID", "Key spec"]
    assert len(names(signed_in.get("/kms/keys").content.decode(), "th")) == 8


def test_made_up_columns_or_page_sizes_are_refused_and_nothing_is_saved(signed_in, admin):
    response = save(signed_in, page_size="1000", columns=["aliases"])
    assert response.status_code == 302
    flash = signed_in.get("/kms/keys").content.decode()
    assert "The preferences were not saved" in flash
    assert not KeyTablePreferences.objects.exists()
    save(signed_in, columns=["aliases", "<script>"])
    assert not KeyTablePreferences.objects.exists()


def test_confirm_goes_back_only_to_this_site(signed_in):
    response = save(signed_in, next="https://evil.example/phish")
    assert response["Location"] == "/kms/keys"


def test_preferences_are_not_kms_requests_and_record_no_audit_event(signed_in):
    # They change only how this user's own table looks; no AWS API call is behind them.
    before = AuditEvent.objects.count()
    save(signed_in, columns=["status"])
    assert AuditEvent.objects.count() == before


def test_a_user_without_kms_permissions_may_keep_preferences_but_still_sees_no_keys(
        client, account, admin):
    create_key(admin, alias="alias/one")
    client.force_login(make_user(account, "nobody"))
    assert save(client, columns=["status"]).status_code == 302
    assert client.get("/kms/keys").status_code == 403


def test_anonymous_preferences_go_to_sign_in(client, account):
    response = save(client)
    assert response.status_code == 302 and response["Location"].startswith("/signin")
    assert not KeyTablePreferences.objects.exists()


def test_preferences_need_the_csrf_token(admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert save(client).status_code == 403
    assert not KeyTablePreferences.objects.exists()


def test_get_is_not_allowed_on_preferences(signed_in):
    assert signed_in.get(PREFERENCES_URL).status_code == 405


# --- "and" / "or" --------------------------------------------------------------------------------

@pytest.fixture
def mixed(admin):
    return {
        "payments": create_key(admin, alias="alias/payments"),
        "signing": create_key(admin, alias="alias/signing", key_spec="RSA_2048",
                              key_usage="SIGN_VERIFY", tags=[("team", "identity")]),
        "other": create_key(admin, alias="alias/other"),
    }


def ids(client, query: str) -> set[str]:
    rows = table_rows(client.get(f"/kms/keys?{query}").content.decode())
    return {row[1] for row in rows if len(row) > 1}


def test_filters_match_all_by_default_and_any_with_or(signed_in, mixed):
    query = "alias=payments&tag=team%3Didentity"
    assert ids(signed_in, query) == set()
    assert ids(signed_in, query + "&operation=and") == set()
    assert ids(signed_in, query + "&operation=or") == {str(mixed["payments"].id),
                                                       str(mixed["signing"].id)}
    assert ids(signed_in, "key_type=ASYMMETRIC&alias=other&operation=or") == {
        str(mixed["signing"].id), str(mixed["other"].id)}


def test_or_without_filters_lists_every_key(signed_in, mixed):
    assert len(ids(signed_in, "operation=or")) == 3


def test_the_match_select_keeps_its_choice(signed_in, mixed):
    html = signed_in.get("/kms/keys?alias=x&operation=or").content.decode()
    selected = [e for e in elements(html, "option") if "selected" in e["attrs"]]
    assert "Any filter (or)" in [e["text"] for e in selected]
