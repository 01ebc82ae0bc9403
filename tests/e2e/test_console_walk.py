"""The console walked in a real browser (issue 5, "Done when"): sign in; Keys; Create key
through the wizard (symmetric, RSA_2048 Sign and verify, HMAC_256), each listed with its alias;
open one; Key policy: Edit, save a valid edit, an invalid edit shows its error and is not saved;
add a tag; disable; enable; schedule deletion in 7 days; cancel it (the key stays Disabled). A key
user (named only in "Allow use of the key") cannot schedule deletion and is told why.

Elements are found by role and accessible name, with AWS's captions. Screenshots of the key
list, each wizard step, the detail page and the policy editor go to tests/e2e/artifacts/.
"""

import json
import re

import pytest
from playwright.sync_api import Page, expect

from grants.models import Account
from keys import create_wizard
from keys.models import Key
from tests.conftest import ACCOUNT_ID, make_administrator, make_user
from tests.web.console_helpers import create_key

PASSWORD = "correct horse battery"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(db):
    account = Account.objects.create(id=ACCOUNT_ID, alias="example")
    return {"account": account, "admin": make_administrator(account, "admin"),
            "key_user": make_user(account, "key-user", PASSWORD)}


@pytest.fixture
def open_page(browser, live_server):
    """A new browser context (its own cookies) per signed-in user; closed after the test."""
    contexts = []

    def open_() -> Page:
        context = browser.new_context(base_url=live_server.url,
                                      viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


def sign_in(page: Page, account: str, user: str, password: str = PASSWORD) -> None:
    page.goto("/signin")
    expect(page.get_by_role("heading", name="Sign in as IAM user")).to_be_visible()
    page.get_by_label("Account ID or alias").fill(account)
    page.get_by_label("IAM user name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)


def shot(page: Page, artifacts, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def next_step(page: Page, title: str) -> None:
    page.get_by_role("button", name="Next", exact=True).click()
    expect(page.get_by_role("heading", level=1, name=title)).to_be_visible()


def create_through_wizard(page: Page, artifacts, *, prefix: str, alias: str, choose,
                          tag=None, key_user: str | None = None) -> None:
    page.get_by_role("link", name="Customer managed keys").click()
    page.get_by_role("link", name="Create key").click()
    expect(page.get_by_role("heading", level=1, name="Configure key")).to_be_visible()
    choose(page)
    shot(page, artifacts, f"{prefix}-1-configure-key")
    next_step(page, "Add labels")
    page.get_by_role("textbox", name="Alias", exact=True).fill(alias)
    page.get_by_role("textbox", name="Description").fill(f"e2e {prefix} key")
    if tag:
        page.get_by_label("Tag key 1").fill(tag[0])
        page.get_by_label("Tag value 1").fill(tag[1])
    shot(page, artifacts, f"{prefix}-2-add-labels")
    next_step(page, "Define key administrative permissions")
    page.get_by_role("checkbox", name="admin", exact=True).check()
    expect(page.get_by_role("checkbox", name="Allow key administrators to delete this key")
           ).to_be_checked()
    shot(page, artifacts, f"{prefix}-3-key-administrators")
    next_step(page, "Define key usage permissions")
    if key_user:
        page.get_by_role("checkbox", name=key_user, exact=True).check()
    shot(page, artifacts, f"{prefix}-4-key-users")
    next_step(page, "Review")
    expect(page.get_by_text(f"alias/{alias}", exact=True)).to_be_visible()
    shot(page, artifacts, f"{prefix}-5-review")
    page.get_by_role("button", name="Finish").click()
    expect(page.get_by_role("status").filter(has_text=f"created with alias {alias}")
           ).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=alias)).to_have_count(1)


def choose_symmetric(page: Page) -> None:
    page.get_by_role("radio", name="Symmetric", exact=True).check()
    page.get_by_role("radio", name="Encrypt and decrypt").check()


def choose_rsa_signing(page: Page) -> None:
    page.get_by_role("radio", name="Asymmetric").check()
    # The usages and specs of the new key type come with the step shown again (no JavaScript).
    page.get_by_role("button", name="Next", exact=True).click()
    page.get_by_role("radio", name="Sign and verify").check()
    page.get_by_role("radio", name="RSA_2048").check()


def choose_hmac(page: Page) -> None:
    page.get_by_role("radio", name="Symmetric", exact=True).check()
    page.get_by_role("radio", name="Generate and verify MAC").check()
    page.get_by_role("button", name="Next", exact=True).click()
    page.get_by_role("radio", name="HMAC_256").check()


def open_key_actions(page: Page) -> None:
    page.get_by_text("Key actions", exact=True).click()  # a <details> dropdown's <summary>


def general_status(page: Page):
    return page.get_by_role("definition").filter(has=page.locator(".status")).first


def test_admin_walks_create_policy_tags_and_key_actions(world, open_page, artifacts):
    page = open_page()
    sign_in(page, "example", "admin")
    page.get_by_role("link", name="Customer managed keys").click()
    expect(page.get_by_role("heading", level=1, name=re.compile("Customer managed keys"))
           ).to_be_visible()

    create_through_wizard(page, artifacts, prefix="wizard-symmetric", alias="e2e-symmetric",
                          choose=choose_symmetric, key_user="key-user")
    create_through_wizard(page, artifacts, prefix="wizard-rsa", alias="e2e-rsa-signing",
                          choose=choose_rsa_signing, tag=("team", "e2e"))
    create_through_wizard(page, artifacts, prefix="wizard-hmac", alias="e2e-hmac",
                          choose=choose_hmac)
    rows = page.get_by_role("row")
    for alias, spec, usage in [("e2e-symmetric", "SYMMETRIC_DEFAULT", "Encrypt and decrypt"),
                               ("e2e-rsa-signing", "RSA_2048", "Sign and verify"),
                               ("e2e-hmac", "HMAC_256", "Generate and verify MAC")]:
        row = rows.filter(has_text=alias)
        expect(row).to_contain_text(spec)
        expect(row).to_contain_text(usage)
    expect(page.get_by_role("heading", level=1, name="Customer managed keys (3)")).to_be_visible()
    shot(page, artifacts, "key-list")

    # Preferences (gear): hide the Key spec column; the choice is kept for this user.
    page.locator("summary").filter(has_text="Preferences").click()  # the gear (<details>)
    page.get_by_role("checkbox", name="Key spec", exact=True).uncheck()
    shot(page, artifacts, "key-list-preferences")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("columnheader", name="Key usage")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Key spec")).to_have_count(0)
    assert {k.key_spec for k in Key.objects.all()} == {"SYMMETRIC_DEFAULT", "RSA_2048",
                                                       "HMAC_256"}

    # Open the symmetric key: its detail page opens on the Key policy tab.
    rows.filter(has_text="e2e-symmetric").get_by_role("link").click()
    expect(page.get_by_role("heading", level=1, name="alias/e2e-symmetric")).to_be_visible()
    expect(page.get_by_role("heading", name="General configuration")).to_be_visible()
    shot(page, artifacts, "key-detail")
    page.get_by_role("link", name="Key policy").click()
    # A wizard-made policy opens in the default view (administrators, users, accounts).
    expect(page.get_by_role("heading", name="Key administrators")).to_be_visible()
    shot(page, artifacts, "key-policy-default-view")
    page.get_by_role("link", name="Switch to policy view").click()
    document = page.get_by_label("Key policy document")
    expect(document).to_contain_text("Allow use of the key")

    # Edit: a valid change (a new statement; the admin's access through IAM stays) is saved.
    page.locator("#key-policy").get_by_role("link", name="Edit", exact=True).click()
    editor = page.get_by_label("Policy document")
    policy = json.loads(editor.input_value())
    policy["Statement"].append({
        "Sid": "AllowAuditorsToDescribe", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
        "Action": "kms:DescribeKey", "Resource": "*"})
    editor.fill(json.dumps(policy, indent=2))
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_text("The policy document is valid.")).to_be_visible()
    shot(page, artifacts, "policy-editor")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").filter(has_text="The key policy was saved.")
           ).to_be_visible()
    expect(page.get_by_label("Key policy document")).to_contain_text("AllowAuditorsToDescribe")

    # An invalid policy: the error is on the page and nothing is saved.
    page.locator("#key-policy").get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("Policy document").fill('{"Version": "2012-10-17", "Statement": [')
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert").filter(has_text="MalformedPolicyDocument")).to_be_visible()
    shot(page, artifacts, "policy-editor-invalid")
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_label("Key policy document")).to_contain_text("AllowAuditorsToDescribe")
    key = Key.objects.get(aliases__name="alias/e2e-symmetric")
    assert "AllowAuditorsToDescribe" in key.policy

    # Tags: Manage tags, add one.
    page.get_by_role("link", name="Tags", exact=True).click()
    page.get_by_role("link", name="Manage tags").click()
    page.get_by_label("Tag key 1").fill("environment")
    page.get_by_label("Tag value 1").fill("e2e")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").filter(has_text="The tags were saved.")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="environment")).to_contain_text("e2e")

    # Disable (with its confirmation), then Enable.
    open_key_actions(page)
    page.get_by_role("link", name="Disable", exact=True).click()
    page.get_by_role("button", name="Disable key").click()
    expect(page.get_by_role("status").filter(has_text="was disabled")).to_be_visible()
    expect(general_status(page)).to_have_text("Disabled")
    open_key_actions(page)
    page.get_by_role("button", name="Enable", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="was enabled")).to_be_visible()
    expect(general_status(page)).to_have_text("Enabled")

    # Schedule key deletion in 7 days, with the confirmation checkbox; then cancel it.
    open_key_actions(page)
    page.get_by_role("link", name="Schedule key deletion").click()
    # Wait for the page's load event: an input typed while the page is still parsing comes
    # before htmx has bound its trigger, and no request would re-render the sentence.
    page.wait_for_url(re.compile(r"/schedule-deletion$"))
    page.get_by_label("Waiting period (in days)").fill("7")
    # htmx re-renders the confirmation sentence as the number changes (without JavaScript the
    # server asks again when the tick named another number: tests/web).
    page.get_by_role("checkbox", name=re.compile(
        r"Confirm you want to schedule this key for deletion in 7 days")).check()
    shot(page, artifacts, "schedule-key-deletion")
    page.get_by_role("button", name="Schedule deletion").click()
    expect(page.get_by_role("status").filter(has_text="scheduled for deletion in 7 days")
           ).to_be_visible()
    expect(general_status(page)).to_have_text("Pending deletion")
    expect(page.get_by_text("Scheduled deletion date")).to_be_visible()
    open_key_actions(page)
    page.get_by_role("button", name="Cancel key deletion").click()
    expect(page.get_by_role("status").filter(has_text="The key is now Disabled")).to_be_visible()
    expect(general_status(page)).to_have_text("Disabled")
    expect(page.get_by_text("Scheduled deletion date")).to_have_count(0)
    key.refresh_from_db()
    assert key.key_state == "Disabled"


def test_key_user_cannot_schedule_deletion_and_sees_why(world, open_page, artifacts):
    # The key as the wizard makes it, with key-user named only in "Allow use of the key".
    state = create_wizard.new_state()
    state["admins"] = [world["admin"].arn]
    state["users"] = [world["key_user"].arn]
    policy = create_wizard.policy_text(state, ACCOUNT_ID)
    key = create_key(world["admin"], alias="alias/e2e-shared", policy=policy)
    # make_user attaches no IAM policy: only the key policy speaks for key-user.
    assert world["key_user"].arn in policy

    page = open_page()
    sign_in(page, ACCOUNT_ID, "key-user")
    page.goto(f"/kms/keys/{key.id}/schedule-deletion")
    expect(page.get_by_role("heading", level=1, name="Schedule key deletion")).to_be_visible()
    page.get_by_role("checkbox", name=re.compile(
        r"Confirm you want to schedule this key for deletion in 30 days")).check()
    page.get_by_role("button", name="Schedule deletion").click()
    expect(page.get_by_role("heading", level=1, name="Access denied")).to_be_visible()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("AccessDenied")
    expect(alert).to_contain_text("kms:ScheduleKeyDeletion")
    shot(page, artifacts, "key-user-access-denied")
    key.refresh_from_db()
    assert key.key_state == "Enabled"
