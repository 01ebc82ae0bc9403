"""The Key material tab of an EXTERNAL key and its flows (kms-spec.md 8.3): download the wrapping
public key and import token (a zip), upload the wrapped material and token (multipart) with an
expiration, delete key material with confirmation. Allowed, denied (a user with no policy sees
the 403 explanation and nothing changes) and anonymous (sign-in); every change is audited with
source console."""

import datetime
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audit.models import AuditEvent
from keys import imports
from keys.models import ImportParameters, Key
from tests.byok import make_material, wrap_offline
from tests.conftest import caller_for, make_user
from tests.web.console_helpers import create_key, elements, names

pytestmark = pytest.mark.django_db


@pytest.fixture
def external(admin):
    return create_key(admin, alias="alias/byok", origin="EXTERNAL")


def url(key, path="") -> str:
    return f"/kms/keys/{key.id}/key-material{path}"


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).order_by("-id").first()


def flashes(response) -> list[str]:
    return [" ".join(e["text"].split()) for e in elements(response.content.decode(), "div")
            if "flash" in e["attrs"].get("class", "").split()]


def _captions(html: str, css_class: str) -> list[str]:
    return [" ".join(e["text"].split()) for e in elements(html, "a")
            if css_class in e["attrs"].get("class", "").split()]


def tab_names(html: str) -> list[str]:
    return _captions(html, "tabs__tab")


def menu_items(html: str) -> list[str]:
    return _captions(html, "dropdown__item")


def download(client, key, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048") -> dict:
    """The downloaded zip's files: {"wrappingKey": DER, "importToken": bytes, "README": ...}."""
    response = client.post(url(key, "/parameters"), {"wrapping_key_spec": spec,
                                                     "wrapping_algorithm": algorithm})
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="ImportParameters.zip"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name.split("_", 1)[0]: archive.read(name) for name in archive.namelist()}


def upload(client, key, encrypted: bytes, token: bytes, **fields):
    data = {"encrypted_key_material": SimpleUploadedFile("EncryptedKeyMaterial.bin", encrypted),
            "import_token": SimpleUploadedFile("ImportToken.bin", token),
            "expiration": "does_not_expire", **fields}
    return client.post(url(key, "/import"), data)


def test_the_key_material_tab_is_shown_only_for_external_keys(signed_in, admin, external):
    page = signed_in.get(url(external)).content.decode()
    assert "Key material" in tab_names(page)
    assert "This key has no key material yet" in page
    assert "Import key material" in names(page, "a")
    generated = create_key(admin)
    detail = signed_in.get(f"/kms/keys/{generated.id}").content.decode()
    assert "Key material" not in tab_names(detail)


def test_the_key_actions_menu_offers_import_then_delete(signed_in, admin, external):
    page = signed_in.get(f"/kms/keys/{external.id}").content.decode()
    assert "Import key material" in menu_items(page)
    assert "Delete key material" not in menu_items(page)
    _import_through_the_service(admin, external)
    page = signed_in.get(f"/kms/keys/{external.id}").content.decode()
    assert "Delete key material" in menu_items(page)


def test_the_whole_import_flow_enables_the_key(signed_in, admin, external):
    page = signed_in.get(url(external, "/import")).content.decode()
    assert "Download wrapping public key and import token" in names(page, "button")
    files = download(signed_in, external, "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
    assert b"RSA_AES_KEY_WRAP_SHA_256" in files["README"]
    event = last_event("GetParametersForImport")
    assert (event.source, event.error_code) == ("console", "")
    assert event.request_parameters["wrappingKeySpec"] == "RSA_3072"
    encrypted = wrap_offline(files["wrappingKey"], "RSA_AES_KEY_WRAP_SHA_256",
                             make_material("SYMMETRIC_DEFAULT"))
    valid_to = (timezone.now() + datetime.timedelta(days=30)).date()
    response = upload(signed_in, external, encrypted, files["importToken"],
                      expiration="expires", valid_to=valid_to.isoformat())
    assert response.status_code == 302 and response["Location"] == url(external)
    key = Key.objects.get(pk=external.pk)
    assert key.key_state == "Enabled"
    event = last_event("ImportKeyMaterial")
    assert (event.source, event.error_code) == ("console", "")
    assert event.request_parameters["expirationModel"] == "KEY_MATERIAL_EXPIRES"
    page = signed_in.get(response["Location"])
    assert flashes(page) == [f"Key material was imported into key {key.id}."]
    text = page.content.decode()
    assert key.current_material_id() in text and "Expires" in text
    assert valid_to.strftime("%b") in text


def test_a_wrong_token_file_is_shown_on_the_form_and_changes_nothing(signed_in, external):
    files = download(signed_in, external)
    encrypted = wrap_offline(files["wrappingKey"], "RSAES_OAEP_SHA_256",
                             make_material("SYMMETRIC_DEFAULT"))
    response = upload(signed_in, external, encrypted, b"not the token")
    assert response.status_code == 400
    assert "InvalidImportTokenException" in response.content.decode()
    assert Key.objects.get(pk=external.pk).key_state == "PendingImport"


@pytest.mark.parametrize("fields, message", [
    ({"expiration": "expires", "valid_to": ""}, "Enter the expiration date as YYYY-MM-DD."),
    ({"expiration": "sometimes"}, "Choose whether the key material expires."),
])
def test_a_bad_expiration_is_shown_on_the_form(signed_in, external, fields, message):
    response = upload(signed_in, external, b"x", b"y", **fields)
    assert response.status_code == 400 and message in response.content.decode()
    assert last_event("ImportKeyMaterial") is None


def test_missing_files_are_shown_on_the_form(signed_in, external):
    response = signed_in.post(url(external, "/import"), {"expiration": "does_not_expire"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "Choose the wrapped key material file." in page
    assert "Choose the import token file." in page


def test_parameters_for_a_key_of_aws_kms_origin_are_refused_on_the_page(signed_in, admin):
    key = create_key(admin)
    response = signed_in.post(url(key, "/parameters"), {"wrapping_key_spec": "RSA_2048",
                                                        "wrapping_algorithm": "RSAES_OAEP_SHA_1"})
    assert response.status_code == 400
    assert "UnsupportedOperationException" in response.content.decode()
    assert not ImportParameters.objects.exists()


def test_rsaes_oaep_for_an_rsa_key_is_refused_with_aws_s_advice(signed_in, admin):
    key = create_key(admin, key_spec="RSA_2048", key_usage="SIGN_VERIFY", origin="EXTERNAL")
    page = signed_in.get(url(key, "/import")).content.decode()
    checked = [e["attrs"]["value"] for e in elements(page, "input", type="radio")
               if "checked" in e["attrs"]]
    assert "RSA_AES_KEY_WRAP_SHA_256" in checked
    response = signed_in.post(url(key, "/parameters"), {"wrapping_key_spec": "RSA_2048",
                                                        "wrapping_algorithm": "RSAES_OAEP_SHA_1"})
    assert response.status_code == 400 and "RSA_AES_KEY_WRAP" in response.content.decode()


def _import_through_the_service(admin, key) -> None:
    caller = caller_for(admin)
    issued = imports.import_parameters_get(caller=caller, key_id=str(key.id),
                                           wrapping_algorithm="RSAES_OAEP_SHA_256",
                                           wrapping_key_spec="RSA_2048")
    imports.import_key_material(
        caller=caller, key_id=str(key.id), import_token=issued.import_token,
        encrypted_key_material=wrap_offline(issued.public_key, "RSAES_OAEP_SHA_256",
                                            make_material("SYMMETRIC_DEFAULT")),
        expiration_model="KEY_MATERIAL_DOES_NOT_EXPIRE")


def test_delete_key_material_asks_for_confirmation_then_deletes(signed_in, admin, external):
    _import_through_the_service(admin, external)
    assert "Delete key material" in names(signed_in.get(url(external, "/delete")).content
                                          .decode(), "button")
    response = signed_in.post(url(external, "/delete"), {})
    assert response.status_code == 400
    assert "Confirm that you want to delete the key material." in response.content.decode()
    assert Key.objects.get(pk=external.pk).key_state == "Enabled"
    response = signed_in.post(url(external, "/delete"), {"confirm": "on"})
    assert response.status_code == 302
    assert Key.objects.get(pk=external.pk).key_state == "PendingImport"
    event = last_event("DeleteImportedKeyMaterial")
    assert (event.source, event.error_code) == ("console", "")
    assert "The key material of key" in flashes(signed_in.get(response["Location"]))[0]


@pytest.mark.parametrize("method, path, data", [
    ("get", "", None), ("get", "/import", None),
    ("post", "/parameters", {"wrapping_key_spec": "RSA_2048",
                             "wrapping_algorithm": "RSAES_OAEP_SHA_256"}),
    ("post", "/delete", {"confirm": "on"}),
])
def test_a_user_without_permission_sees_the_explanation(nobody_client, external, method, path,
                                                        data):
    response = getattr(nobody_client, method)(url(external, path), data)
    assert response.status_code == 403
    assert "AccessDeniedException" in response.content.decode()
    assert not ImportParameters.objects.exists()


def test_the_import_itself_is_refused_to_a_user_who_may_only_read(client, admin, account,
                                                                   external):
    from grants import services as iam
    from grants.builtin_policies import builtin_policy_arn
    from grants.principals import Caller

    reader = make_user(account, "reader")
    iam.policy_attach_user(caller=Caller.scheduler(account_id=account.id, region="us-east-1"),
                           user=reader, policy_arn=builtin_policy_arn("KMSReadOnly"))
    issued = imports.import_parameters_get(caller=caller_for(admin), key_id=str(external.id),
                                           wrapping_algorithm="RSAES_OAEP_SHA_256",
                                           wrapping_key_spec="RSA_2048")
    client.force_login(reader)
    response = upload(client, external, wrap_offline(issued.public_key, "RSAES_OAEP_SHA_256",
                                                     make_material("SYMMETRIC_DEFAULT")),
                      issued.import_token)
    assert response.status_code == 403
    assert last_event("ImportKeyMaterial").error_code == "AccessDeniedException"
    assert Key.objects.get(pk=external.pk).key_state == "PendingImport"


@pytest.mark.parametrize("method, path", [("get", ""), ("get", "/import"),
                                          ("post", "/parameters"), ("post", "/import"),
                                          ("get", "/delete"), ("post", "/delete")])
def test_an_anonymous_visitor_is_sent_to_sign_in(client, external, method, path):
    response = getattr(client, method)(url(external, path))
    assert response.status_code == 302 and response["Location"].startswith("/signin?next=")
    assert not AuditEvent.objects.filter(event_name__in=[
        "GetParametersForImport", "ImportKeyMaterial", "DeleteImportedKeyMaterial"]).exists()
