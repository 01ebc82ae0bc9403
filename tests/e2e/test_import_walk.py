"""Importing key material through the console in a real browser (issue 8, "Done when"): sign in,
open an EXTERNAL key (Pending import), Key actions > Import key material, choose the wrapping
key spec and algorithm, download the wrapping public key and import token (ImportParameters.zip,
a browser download), wrap the material offline with `cryptography`, upload the wrapped material
and the token, choose "expires" with a date, Import: the key is Enabled and its Key material tab
shows the imported material. Then Delete key material (confirmed): Pending import again.
"""

import datetime
import zipfile

import pytest
from playwright.sync_api import Page, expect

from grants.models import Account
from keys.models import Key
from tests.byok import make_material, wrap_offline
from tests.conftest import ACCOUNT_ID, make_administrator
from tests.web.console_helpers import create_key

PASSWORD = "correct horse battery"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin(db):
    account = Account.objects.create(id=ACCOUNT_ID, alias="example")
    return make_administrator(account, "admin")


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, accept_downloads=True,
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def sign_in(page: Page) -> None:
    page.goto("/signin")
    page.get_by_label("Account ID or alias").fill("example")
    page.get_by_label("IAM user name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)


def test_key_material_is_imported_and_deleted_through_the_console(page, admin, tmp_path,
                                                                 artifacts):
    key = create_key(admin, alias="alias/byok-walk", origin="EXTERNAL")
    sign_in(page)
    page.goto(f"/kms/keys/{key.id}")
    expect(page.get_by_text("Pending import").first).to_be_visible()
    page.get_by_text("Key actions").click()
    page.get_by_role("link", name="Import key material").click()
    expect(page.get_by_role("heading", name="Import key material", level=1)).to_be_visible()

    page.get_by_label("RSA_3072").check()
    page.get_by_label("RSA_AES_KEY_WRAP_SHA_256").check()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download wrapping public key and import token").click()
    download = download_info.value
    assert download.suggested_filename == "ImportParameters.zip"
    archive_path = tmp_path / "ImportParameters.zip"
    download.save_as(archive_path)
    with zipfile.ZipFile(archive_path) as archive:
        files = {name.split("_", 1)[0]: archive.read(name) for name in archive.namelist()}

    # Offline, as the key owner: wrap fresh material under the downloaded public key.
    wrapped = tmp_path / "EncryptedKeyMaterial.bin"
    wrapped.write_bytes(wrap_offline(files["wrappingKey"], "RSA_AES_KEY_WRAP_SHA_256",
                                     make_material("SYMMETRIC_DEFAULT")))
    token = tmp_path / "ImportToken.bin"
    token.write_bytes(files["importToken"])

    page.get_by_label("Wrapped key material", exact=True).set_input_files(str(wrapped))
    page.get_by_label("Import token", exact=True).set_input_files(str(token))
    page.get_by_label("Key material expires", exact=True).check()
    valid_to = datetime.date.today() + datetime.timedelta(days=30)
    page.get_by_label("Expiration date").fill(valid_to.isoformat())
    page.screenshot(path=str(artifacts / "import-key-material.png"), full_page=True)
    page.get_by_role("button", name="Import key material").click()

    expect(page.get_by_role("status").filter(
        has_text=f"Key material was imported into key {key.id}.")).to_be_visible()
    key.refresh_from_db()
    assert key.key_state == "Enabled"
    expect(page.get_by_text(key.current_material_id())).to_be_visible()
    expect(page.get_by_text("Imported", exact=True)).to_be_visible()
    expect(page.get_by_text("Expires", exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts / "key-material-tab.png"), full_page=True)

    page.get_by_role("link", name="Delete key material").first.click()
    page.get_by_label("Confirm that you want to delete the key material").check()
    page.get_by_role("button", name="Delete key material").click()
    expect(page.get_by_role("status").filter(has_text="was deleted")).to_be_visible()
    assert Key.objects.get(pk=key.pk).key_state == "PendingImport"
