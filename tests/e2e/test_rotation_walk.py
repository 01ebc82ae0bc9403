"""The Key rotation tab walked in a real browser (issue 8, "Done when"): sign in, open a key,
Key rotation: Edit, turn automatic rotation on with a 180-day period, Save, see the period and
the next rotation date; Rotate now, see the confirmation with the on-demand rotations left,
confirm, see the new key material row (On-demand, Current) and the old one Not current.

Elements are found by role and accessible name, with AWS's captions (conftest and fixtures as in
test_console_walk.py). Screenshots go to tests/e2e/artifacts/.
"""

import re

import pytest
from playwright.sync_api import expect

from keys.models import Key
from tests.web.console_helpers import create_key

from .test_console_walk import open_page, shot, sign_in, world  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_enable_rotation_then_rotate_now(world, open_page, artifacts):  # noqa: F811
    key = create_key(world["admin"], alias="alias/rotating")
    first_material = key.current_material_id()
    page = open_page()
    sign_in(page, "example", "admin")
    page.goto(f"/kms/keys/{key.id}")
    page.get_by_role("link", name="Key rotation").click()
    expect(page.get_by_role("heading", name="Automatic key rotation")).to_be_visible()
    rotation_panel = page.locator("#rotation-panel")

    rotation_panel.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit automatic key rotation")).to_be_visible()
    page.get_by_role("checkbox", name="Automatically rotate this KMS key").check()
    page.get_by_role("spinbutton", name="Rotation period (in days)").fill("180")
    shot(page, artifacts, "rotation-1-edit")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("Automatic key rotation is on: every 180 days.")).to_be_visible()
    expect(rotation_panel.get_by_text("180 days")).to_be_visible()
    expect(rotation_panel.locator("dd time")).to_have_text(re.compile(r"\d{4}, .* UTC$"))
    saved = Key.objects.get(pk=key.pk)
    assert (saved.rotation_enabled, saved.rotation_period_days) == (True, 180)

    rotation_panel.get_by_role("link", name="Rotate now").click()
    expect(page.get_by_role("heading", name="Rotate key material now")).to_be_visible()
    expect(page.get_by_text("10 of 10 on-demand rotations remaining.")).to_be_visible()
    shot(page, artifacts, "rotation-2-confirm")
    page.get_by_role("button", name="Rotate key").click()

    expect(page.get_by_text("The key material was rotated.")).to_be_visible()
    expect(page.get_by_text("9 of 10 on-demand rotations remaining.")).to_be_visible()
    table = page.get_by_role("table", name="Key materials")
    new_material = Key.objects.get(pk=key.pk).current_material_id()
    new_row = table.get_by_role("row").filter(has_text=new_material)
    expect(new_row).to_contain_text("On-demand")
    expect(new_row).to_contain_text("Current")
    old_row = table.get_by_role("row").filter(has_text=first_material)
    expect(old_row).to_contain_text("Not current")
    # On-demand rotation leaves the automatic schedule as it was.
    assert Key.objects.get(pk=key.pk).next_rotation_date == saved.next_rotation_date
    shot(page, artifacts, "rotation-3-rotated")
