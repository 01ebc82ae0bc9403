"""Key actions in the console (kms-spec.md 8.4): Disable (confirmation first), Enable, Schedule
key deletion (waiting period and the required confirmation), Cancel key deletion (the key is left
Disabled), from a key's detail page and for keys selected in the customer managed keys table.
Each is allowed (state changes, the service's audit event has source console), denied (a user
with no policy sees the 403 explanation and nothing changes) and anonymous (sign-in)."""

import pytest

from audit.models import AuditEvent
from keys.models import Key
from tests.web.console_helpers import create_key, elements, names


@pytest.fixture
def key(admin):
    return create_key(admin, alias="alias/payments")


def state(key) -> str:
    return Key.objects.get(pk=key.pk).key_state


def flashes(response) -> list[str]:
    html = response.content.decode()
    return [" ".join(e["text"].split()) for e in elements(html, "div")
            if "flash" in e["attrs"].get("class", "").split()]


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).order_by("-id").first()


def menu_items(html: str) -> list[str]:
    menu = html.split('class="dropdown"', 1)[1].split("</details>", 1)[0]
    return names("<ul" + menu.split("<ul", 1)[1], "a") + names(
        "<ul" + menu.split("<ul", 1)[1], "button")


# --- the detail page's menu -------------------------------------------------------------------

def test_the_key_actions_menu_offers_what_the_keys_state_allows(signed_in, admin, key):
    html = signed_in.get(f"/kms/keys/{key.id}").content.decode()
    assert names(html, "summary") == ["Key actions"]
    assert sorted(menu_items(html)) == ["Disable", "Schedule key deletion"]
    signed_in.post(f"/kms/keys/{key.id}/disable")
    html = signed_in.get(f"/kms/keys/{key.id}").content.decode()
    assert sorted(menu_items(html)) == ["Enable", "Schedule key deletion"]
    signed_in.post(f"/kms/keys/{key.id}/schedule-deletion",
                   {"pending_window_days": "7", "confirm": "on"})
    html = signed_in.get(f"/kms/keys/{key.id}").content.decode()
    assert menu_items(html) == ["Cancel key deletion"]


def test_an_aws_managed_key_has_no_key_actions(signed_in, admin):
    from keys.access import resolve_key
    from tests.conftest import caller_for
    managed = resolve_key(caller_for(admin), "alias/aws/ebs")
    html = signed_in.get(f"/kms/keys/{managed.id}").content.decode()
    assert names(html, "summary") == []


# --- Disable / Enable -------------------------------------------------------------------------

def test_disable_asks_for_confirmation_then_disables(signed_in, admin, key):
    page = signed_in.get(f"/kms/keys/{key.id}/disable")
    html = page.content.decode()
    assert page.status_code == 200
    assert state(key) == "Enabled"  # a GET changes nothing
    assert "Disable key" in names(html, "button")
    assert elements(html, "input", name="csrfmiddlewaretoken")
    response = signed_in.post(f"/kms/keys/{key.id}/disable", follow=True)
    assert response.redirect_chain[-1][0] == f"/kms/keys/{key.id}"
    assert state(key) == "Disabled"
    assert flashes(response) == [f"Key {key.id} was disabled."]
    event = last_event("DisableKey")
    assert (event.source, event.principal_arn, event.error_code) == ("console", admin.arn, "")


def test_enable_enables_a_disabled_key(signed_in, key):
    signed_in.post(f"/kms/keys/{key.id}/disable", follow=True)
    response = signed_in.post(f"/kms/keys/{key.id}/enable", follow=True)
    assert state(key) == "Enabled"
    assert flashes(response) == [f"Key {key.id} was enabled."]
    assert last_event("EnableKey").source == "console"


def test_enable_is_post_only(signed_in, key):
    assert signed_in.get(f"/kms/keys/{key.id}/enable").status_code == 405


@pytest.mark.parametrize("path, data", [
    ("disable", {}),
    ("enable", {}),
    ("schedule-deletion", {"pending_window_days": "7", "confirm": "on"}),
    ("cancel-deletion", {}),
])
def test_a_user_without_permission_sees_the_explanation_and_nothing_changes(
        nobody_client, key, path, data):
    response = nobody_client.post(f"/kms/keys/{key.id}/{path}", data)
    html = response.content.decode()
    assert response.status_code == 403
    assert "AccessDeniedException" in html and "nobody" in html
    assert state(key) == "Enabled"


@pytest.mark.parametrize("path", ["disable", "schedule-deletion"])
def test_confirmation_pages_are_denied_without_permission(nobody_client, key, path):
    response = nobody_client.get(f"/kms/keys/{key.id}/{path}")
    assert response.status_code == 403
    assert "kms:DescribeKey" in response.content.decode()


@pytest.mark.parametrize("method, path", [
    ("get", "disable"), ("post", "disable"), ("post", "enable"), ("get", "schedule-deletion"),
    ("post", "schedule-deletion"), ("post", "cancel-deletion")])
def test_anonymous_users_are_sent_to_sign_in(client, key, method, path):
    response = getattr(client, method)(f"/kms/keys/{key.id}/{path}")
    assert response.status_code == 302
    assert response["Location"].startswith("/signin")
    assert state(key) == "Enabled"


def test_an_invalid_state_is_a_message_not_an_error_page(signed_in, admin):
    key = create_key(admin, origin="EXTERNAL")  # PendingImport: cannot be enabled
    response = signed_in.post(f"/kms/keys/{key.id}/enable", follow=True)
    assert response.status_code == 200
    assert flashes(response) == [f"Enable failed for key {key.id}: KMSInvalidStateException: "
                                 f"{key.arn} is pending import."]


def test_the_csrf_token_is_required(admin, key):
    from django.test import Client
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post(f"/kms/keys/{key.id}/disable").status_code == 403
    assert state(key) == "Enabled"


# --- Schedule key deletion ----------------------------------------------------------------------

def test_schedule_deletion_page_has_aws_captions_and_defaults(signed_in, key):
    html = signed_in.get(f"/kms/keys/{key.id}/schedule-deletion").content.decode()
    assert names(html, "h1") == ["Schedule key deletion"]
    assert "Waiting period (in days)" in names(html, "label")
    assert "Confirm you want to schedule this key for deletion in 30 days." in names(html, "label")
    days = elements(html, "input", name="pending_window_days")[0]["attrs"]
    assert (days["value"], days["min"], days["max"]) == ("30", "7", "30")
    assert names(html, "button")[-1:] == ["Schedule deletion"]
    assert "Cancel" in names(html, "a")
    assert "irreversible" in html


def test_schedule_deletion_schedules_with_the_waiting_period(signed_in, key):
    response = signed_in.post(f"/kms/keys/{key.id}/schedule-deletion",
                              {"pending_window_days": "7", "confirm": "on"}, follow=True)
    stored = Key.objects.get(pk=key.pk)
    assert (stored.key_state, stored.pending_window_days) == ("PendingDeletion", 7)
    assert flashes(response) == [f"Key {key.id} was scheduled for deletion in 7 days."]
    html = response.content.decode()
    assert "Scheduled deletion date" in names(html, "dt")
    event = last_event("ScheduleKeyDeletion")
    assert event.source == "console"
    assert event.request_parameters["pendingWindowInDays"] == 7


@pytest.mark.parametrize("data, message", [
    ({"pending_window_days": "6", "confirm": "on"}, "from 7 to 30"),
    ({"pending_window_days": "31", "confirm": "on"}, "from 7 to 30"),
    ({"pending_window_days": "", "confirm": "on"}, "from 7 to 30"),
    ({"pending_window_days": "10"}, "Confirm that you want to schedule key deletion."),
])
def test_schedule_deletion_errors_stay_on_the_page(signed_in, key, data, message):
    AuditEvent.objects.all().delete()
    response = signed_in.post(f"/kms/keys/{key.id}/schedule-deletion", data)
    html = response.content.decode()
    assert response.status_code == 400
    assert names(html, "h1") == ["Schedule key deletion"]
    assert any(message in error for error in names(html, "p", **{"class": "form-field__error"}))
    assert state(key) == "Enabled"
    assert not AuditEvent.objects.filter(event_name="ScheduleKeyDeletion").exists()


def test_the_confirmation_names_the_days_entered(signed_in, key):
    html = signed_in.post(f"/kms/keys/{key.id}/schedule-deletion",
                          {"pending_window_days": "12"}).content.decode()
    assert "Confirm you want to schedule this key for deletion in 12 days." in names(html, "label")


def test_the_waiting_period_input_refreshes_the_sentence_through_htmx(signed_in, key):
    html = signed_in.get(f"/kms/keys/{key.id}/schedule-deletion").content.decode()
    [days_input] = elements(html, "input", name="pending_window_days")
    assert days_input["attrs"]["hx-get"] == "/kms/keys/deletion-confirmation?key_count=1"
    assert days_input["attrs"]["hx-target"] == "#deletion-confirmation"
    response = signed_in.get("/kms/keys/deletion-confirmation?key_count=1&pending_window_days=9",
                             headers={"HX-Request": "true"})
    fragment = response.content.decode()
    assert response.status_code == 200
    assert names(fragment, "label") == [
        "Confirm you want to schedule this key for deletion in 9 days."]
    assert elements(fragment, "input", name="confirmed_days")[0]["attrs"]["value"] == "9"
    [box] = elements(fragment, "input", name="confirm")
    assert "checked" not in box["attrs"]  # a tick confirms the number the sentence names
    assert not names(fragment, "p", **{"class": "form-field__error"})
    assert "<html" not in fragment


def test_the_sentence_fragment_handles_several_keys_and_bad_numbers(signed_in, key):
    fragment = signed_in.get("/kms/keys/deletion-confirmation?key_count=3"
                             "&pending_window_days=99").content.decode()
    # An out-of-range number shows the default; the form's own error appears on submit.
    assert names(fragment, "label") == [
        "Confirm you want to schedule these keys for deletion in 30 days."]
    junk = signed_in.get("/kms/keys/deletion-confirmation?key_count=x&pending_window_days=y")
    assert junk.status_code == 200


def test_the_sentence_fragment_needs_a_signed_in_user(client, key):
    response = client.get("/kms/keys/deletion-confirmation?pending_window_days=9")
    assert response.status_code == 302 and response["Location"].startswith("/signin")


# --- Cancel key deletion ------------------------------------------------------------------------

def test_cancel_deletion_leaves_the_key_disabled_and_says_so(signed_in, key):
    signed_in.post(f"/kms/keys/{key.id}/schedule-deletion",
                   {"pending_window_days": "30", "confirm": "on"}, follow=True)
    response = signed_in.post(f"/kms/keys/{key.id}/cancel-deletion", follow=True)
    assert state(key) == "Disabled"
    [flash] = flashes(response)
    assert "no longer scheduled for deletion" in flash and "now Disabled" in flash
    assert "enable it" in flash
    assert last_event("CancelKeyDeletion").source == "console"


# --- selected keys in the table -------------------------------------------------------------------

@pytest.fixture
def three(admin):
    return [create_key(admin, alias=f"alias/k{n}") for n in range(3)]


def test_the_table_has_row_checkboxes_and_a_key_actions_menu(signed_in, three):
    html = signed_in.get("/kms/keys").content.decode()
    boxes = elements(html, "input", type="checkbox", form="key-actions")
    assert {b["attrs"]["value"] for b in boxes} == {str(k.id) for k in three}
    assert names(html, "summary") == ["Key actions", "Preferences"]
    form = elements(html, "form", id="key-actions")[0]
    assert form["attrs"]["method"] == "post"
    assert {"Enable", "Disable", "Schedule key deletion", "Cancel key deletion"} <= set(
        names(html, "button"))


def test_disable_three_selected_keys_after_confirmation(signed_in, three):
    ids = [str(k.id) for k in three]
    confirm = signed_in.post("/kms/keys/actions", {"action": "disable", "key": ids})
    assert confirm.status_code == 200
    assert all(state(k) == "Enabled" for k in three)
    html = confirm.content.decode()
    assert {e["attrs"]["value"] for e in elements(html, "input", name="key")} == set(ids)
    response = signed_in.post("/kms/keys/actions", {"action": "disable", "key": ids,
                                                    "confirmed": "yes"}, follow=True)
    assert all(state(k) == "Disabled" for k in three)
    assert flashes(response) == ["3 keys were disabled."]
    assert AuditEvent.objects.filter(event_name="DisableKey", source="console").count() == 3


def test_schedule_and_cancel_deletion_of_three_keys_with_a_summary(signed_in, admin, three):
    ids = [str(k.id) for k in three]
    page = signed_in.post("/kms/keys/actions", {"action": "schedule_deletion", "key": ids})
    assert "Confirm you want to schedule these keys for deletion in 30 days." in names(
        page.content.decode(), "label")
    bad = signed_in.post("/kms/keys/actions", {"action": "schedule_deletion", "key": ids,
                                               "confirmed": "yes", "pending_window_days": "31",
                                               "confirm": "on"})
    assert bad.status_code == 400 and all(state(k) == "Enabled" for k in three)
    signed_in.post("/kms/keys/actions", {"action": "schedule_deletion", "key": ids,
                                         "confirmed": "yes", "pending_window_days": "9",
                                         "confirm": "on"}, follow=True)
    assert all(state(k) == "PendingDeletion" for k in three)
    # One key is no longer pending deletion: the summary lists the successes and the failure.
    signed_in.post(f"/kms/keys/{ids[0]}/cancel-deletion", follow=True)
    response = signed_in.post("/kms/keys/actions", {"action": "cancel_deletion", "key": ids},
                              follow=True)
    assert all(state(k) == "Disabled" for k in three)
    done, failed = flashes(response)
    assert done.startswith("2 keys were no longer scheduled for deletion.")
    assert failed == (f"Cancel key deletion failed for key {ids[0]}: KMSInvalidStateException: "
                      f"{three[0].arn} is not pending deletion.")
    enable = signed_in.post("/kms/keys/actions", {"action": "enable", "key": ids}, follow=True)
    assert all(state(k) == "Enabled" for k in three)
    assert flashes(enable) == ["3 keys were enabled."]


def test_selected_keys_denied_are_listed_as_failures(nobody_client, three):
    ids = [str(k.id) for k in three]
    response = nobody_client.post("/kms/keys/actions", {"action": "enable", "key": ids},
                                  follow=True)
    assert response.status_code == 403  # back to the table, which this user may not list
    failed = flashes(response)
    assert len(failed) == 3 and all("AccessDeniedException" in text for text in failed)
    assert AuditEvent.objects.filter(event_name="EnableKey",
                                     error_code="AccessDeniedException").count() == 3


def test_no_selection_or_unknown_action_is_a_message(signed_in, three):
    response = signed_in.post("/kms/keys/actions", {"action": "disable"}, follow=True)
    assert flashes(response) == ["Select one or more keys first."]
    response = signed_in.post("/kms/keys/actions", {"action": "explode",
                                                    "key": [str(three[0].id)]}, follow=True)
    assert flashes(response) == ["Choose an action from the Key actions menu."]


def test_selected_keys_anonymous_is_sent_to_sign_in(client, three):
    response = client.post("/kms/keys/actions", {"action": "disable",
                                                 "key": [str(three[0].id)], "confirmed": "yes"})
    assert response.status_code == 302 and response["Location"].startswith("/signin")
    assert state(three[0]) == "Enabled"


def test_a_malformed_key_id_in_the_selection_is_a_message(signed_in):
    response = signed_in.post("/kms/keys/actions", {"action": "enable", "key": ["<script>"]},
                              follow=True)
    assert response.status_code == 200
    [flash] = flashes(response)
    assert "Enable failed for key <script>" in flash
    assert "<script>" not in response.content.decode()


def test_a_tick_that_confirmed_another_waiting_period_is_asked_again(signed_in, key):
    # The sentence ticked named 30 days (the page showed the default) but 7 were entered:
    # nothing is scheduled, and the page now names the 7 days.
    response = signed_in.post(f"/kms/keys/{key.id}/schedule-deletion",
                           {"pending_window_days": "7", "confirm": "on", "confirmed_days": "30"})
    assert response.status_code == 400
    assert b"You confirmed deletion in 30 days, but the waiting period is 7 days." in (
        response.content)
    assert b"for deletion in 7 days." in response.content
    key.refresh_from_db()
    assert key.key_state == "Enabled"
