"""A database used with another root key than the one that wrapped its values (a restore with
the wrong key): every service that needs a wrapped value fails with KMSInternalException, the
request is audited like any failed one, and the log says which setting to check, once, with no
traceback and nothing of the value (kmsconsole.errors.ROOT_KEY_MISMATCH_LOG)."""

import base64
import os

import pytest

from audit.models import AuditEvent
from keys import materials, operations
from kmsconsole.errors import InternalError

pytestmark = pytest.mark.django_db

MISMATCH = "could not be unwrapped with the configured root key"


@pytest.fixture
def another_root_key(settings):
    def switch():
        settings.KMS_ROOT_KEY = base64.b64encode(os.urandom(32)).decode()
    return switch


def test_using_a_key_wrapped_under_another_root_key_is_an_audited_internal_error(
        caller, sym_key, another_root_key, caplog):
    sealed = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"secret")
    another_root_key()
    materials.forget_opened(sym_key.id)  # as a fresh server process starts
    with caplog.at_level("ERROR"), pytest.raises(InternalError) as refused:
        operations.decrypt(caller=caller, ciphertext_blob=sealed.blob)
    assert refused.value.message == "An internal error occurred."
    event = AuditEvent.objects.filter(event_name="Decrypt").latest("id")
    assert (event.error_code, event.error_message) == (
        "KMSInternalException", "An internal error occurred.")
    assert [record.getMessage() for record in caplog.records if MISMATCH in record.getMessage()
            ] == [f"A value Decrypt needed {MISMATCH} (KMS_ROOT_KEY / KMS_ROOT_KEY_FILE): is it "
                  "the root key this database was written with?"]
    assert all(record.exc_info is None for record in caplog.records)
