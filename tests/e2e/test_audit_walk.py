"""The audit trail walked in a real browser (issue 6, "Done when"): search the event history by
event name and by key (alias), open an event and read its full record, export the current
filter as JSON Lines, validate the trail's integrity, and see the alert a burst of denied
requests raised (mallory, with no permissions, calls the API through boto3 until the burst
rule fires; the Alerts page runs the rules before it lists them).

Elements are found by role and accessible name, with the console's captions. Screenshots go to
tests/e2e/artifacts/audit-*.png.
"""

import json

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from grants import services
from grants.models import Account
from grants.principals import Caller
from keys import operations
from keys import services as key_services
from tests.api.helpers import make_client
from tests.conftest import ACCOUNT_ID, REGION, caller_for, make_administrator, make_user

PASSWORD = "correct horse battery"
ALIAS = "alias/orders"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(db, live_server):
    """An admin; two keys, one of them alias/orders, each used to encrypt; mallory, a user
    with an access key and no permission at all, who makes a burst of denied requests."""
    account = Account.objects.create(id=ACCOUNT_ID, alias="example")
    admin = make_administrator(account, "admin")
    admin.set_password(PASSWORD)
    admin.save()
    orders = key_services.key_create(caller=caller_for(admin), description="orders")
    key_services.alias_create(caller=caller_for(admin), alias_name=ALIAS,
                              target_key_id=str(orders.id))
    other = key_services.key_create(caller=caller_for(admin), description="other")
    for key in (orders, other):
        operations.encrypt(caller=caller_for(admin), key_id=str(key.id), plaintext=b"audit")
    mallory = make_user(account, "mallory")
    access_key, secret = services.access_key_create(
        caller=Caller.scheduler(account_id=ACCOUNT_ID, region=REGION), user=mallory)
    client = make_client(live_server, (access_key.access_key_id, secret))
    for _ in range(settings.AUDIT_ALERT_DENIED_BURST_COUNT):
        with pytest.raises(client.exceptions.ClientError) as raised:
            client.list_keys()
        assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    return {"orders": orders, "other": other, "mallory": mallory}


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, accept_downloads=True,
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def shot(page: Page, artifacts, name: str) -> None:
    page.screenshot(path=str(artifacts / f"audit-{name}.png"), full_page=True)


def sign_in(page: Page) -> None:
    page.goto("/signin")
    page.get_by_label("Account ID or alias").fill("example")
    page.get_by_label("IAM user name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)


def event_rows(page: Page):
    return page.get_by_role("table", name="Events, newest first").locator("tbody tr")


def apply_filters(page: Page, **fields: str) -> None:
    page.get_by_role("link", name="Clear filters").click()
    for label, value in fields.items():
        # The Event name box suggests names (a combobox), the others are search boxes.
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Apply filters").click()


def test_the_audit_walk(world, page, artifacts, tmp_path):
    sign_in(page)
    page.get_by_role("link", name="Event history").click()
    expect(page.get_by_role("heading", level=1, name="Event history")).to_be_visible()

    # By event name: the two Encrypt requests only.
    apply_filters(page, **{"Event name": "Encrypt"})
    expect(event_rows(page)).to_have_count(2)
    for row in event_rows(page).all():
        expect(row.get_by_role("cell").first).to_have_text("Encrypt")
    shot(page, artifacts, "1-by-event-name")

    # By key, named by its alias: the orders key's CreateKey, CreateAlias and Encrypt.
    apply_filters(page, **{"Key ID or alias": ALIAS})
    expect(event_rows(page)).to_have_count(3)
    expect(event_rows(page).get_by_role("link", name="CreateAlias")).to_have_count(1)
    shot(page, artifacts, "2-by-key")

    # Open an event: its page shows the full CloudTrail record.
    event_rows(page).get_by_role("link", name="Encrypt").click()
    expect(page.get_by_role("heading", level=1, name="Encrypt")).to_be_visible()
    record = json.loads(page.locator("pre.code-block").inner_text())
    assert record["eventName"] == "Encrypt"
    assert record["resources"][0]["ARN"] == world["orders"].arn
    assert record["userIdentity"]["userName"] == "admin"
    shot(page, artifacts, "3-event")

    # Export the current filter (the orders key) as JSON Lines.
    page.go_back()
    expect(event_rows(page)).to_have_count(3)
    page.get_by_text("Download events", exact=True).click()  # a <details> dropdown
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as JSON Lines").click()
    path = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(path)
    exported = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(event["eventName"] for event in exported) == [
        "CreateAlias", "CreateKey", "Encrypt"]
    assert all(event["resources"][0]["ARN"] == world["orders"].arn for event in exported)

    # Validate integrity: the untouched chain verifies.
    page.get_by_role("link", name="Validate integrity").click()
    page.get_by_role("button", name="Validate integrity").click()
    result = page.get_by_role("status").filter(has_text="Audit trail integrity validated")
    expect(result).to_be_visible()
    expect(result).to_contain_text("No event was edited, deleted, moved or inserted.")
    shot(page, artifacts, "4-integrity")

    # The burst of denied requests raised an alert naming mallory and its events.
    page.get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", level=1, name="Alerts")).to_be_visible()
    alert = page.get_by_role("row").filter(
        has=page.get_by_role("link", name="Burst of denied requests"))
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text(world["mallory"].arn)
    expect(alert.get_by_role("link", name="Triggering event").first).to_be_visible()
    shot(page, artifacts, "5-alert")
    alert.get_by_role("link", name="Triggering event").first.click()
    record = json.loads(page.locator("pre.code-block").inner_text())
    assert record["eventName"] == "ListKeys"
    assert record["errorCode"] == "AccessDeniedException"
    assert record["userIdentity"]["userName"] == "mallory"
