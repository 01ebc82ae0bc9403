"""Console requests over 1 MiB (kmsconsole.middleware.RefuseOversizedBodyMiddleware) get a 413
page from their Content-Length, before a view, the CSRF check or Django's upload handlers read
(or spool to disk) the body; nothing changes and the page says why. Requests under the limit
reach their views as before; POST / (the API) keeps its own limit and AWS's error shape
(tests/api/test_oversized_bodies.py)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from keys.models import Key
from kmsconsole.middleware import RefuseOversizedBodyMiddleware
from tests.web.console_helpers import create_key, elements

pytestmark = pytest.mark.django_db

LIMIT = RefuseOversizedBodyMiddleware.MAX_BODY_BYTES
MESSAGE = "The request is too large: a console request can carry at most 1 MiB."


def page_text(response) -> str:
    return " ".join(response.content.decode().split())


def test_an_upload_over_the_limit_is_refused_before_the_import_view(signed_in, admin):
    external = create_key(admin, origin="EXTERNAL")
    events_before = AuditEvent.objects.count()
    response = signed_in.post(f"/kms/keys/{external.id}/key-material/import", {
        "encrypted_key_material": SimpleUploadedFile("EncryptedKeyMaterial.bin",
                                                     b"\x00" * (2 * LIMIT)),
        "import_token": SimpleUploadedFile("ImportToken.bin", b"token"),
        "expiration": "does_not_expire"})
    assert response.status_code == 413
    assert MESSAGE in page_text(response)
    assert Key.objects.get(pk=external.pk).key_state == "PendingImport"
    assert AuditEvent.objects.count() == events_before  # no view ran, no request was made


def test_an_anonymous_sign_in_post_over_the_limit_is_refused(client):
    response = client.post("/signin", {"account": "example", "username": "x",
                                       "password": "p" * (LIMIT + 1)})
    assert response.status_code == 413
    assert MESSAGE in page_text(response)
    assert not AuditEvent.objects.filter(event_name="ConsoleLogin").exists()


def test_a_request_under_the_limit_reaches_its_view(signed_in, admin):
    key = create_key(admin)
    response = signed_in.post(f"/kms/keys/{key.id}/description/edit",
                              {"description": "d" * (LIMIT // 2)})
    assert response.status_code == 400  # the form's own refusal: too long for a description
    assert elements(response.content.decode(), "div", role="alert")
    assert MESSAGE not in page_text(response)
    assert Key.objects.get(pk=key.pk).description == ""
