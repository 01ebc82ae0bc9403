"""CloudTrail records of symmetric key use name the key material the request used
(additionalEventData.keyMaterialId; ReEncrypt: destinationKeyMaterialId and sourceKeyMaterialId),
as AWS's records do since 2025 (developer guide, ct-encrypt, ct-decrypt, ct-reencrypt,
ct-generatedatakey). After a rotation this is how an admin tells which requests still used the
old material. An asymmetric key's single material has no id, so its records have none."""

import pytest

from audit import history
from audit.models import AuditEvent
from audit.selectors import EventFilter
from keys import operations, rotation
from keys.models import Key
from kmsconsole.errors import InvalidCiphertextError

from .conftest import create_key

pytestmark = pytest.mark.django_db

CONTEXT = {"purpose": "material-ids"}


def last_record(name: str) -> dict:
    return AuditEvent.objects.filter(event_name=name).order_by("-id").first().as_record()


def current_material(key) -> str:
    return Key.objects.get(pk=key.pk).current_material_id()


def test_each_symmetric_use_names_the_material_it_used_across_a_rotation(caller, sym_key):
    first = current_material(sym_key)
    old = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"before",
                             encryption_context=CONTEXT)
    assert last_record("Encrypt")["additionalEventData"] == {"keyMaterialId": first}

    rotation.key_rotate_on_demand(caller=caller, key_id=str(sym_key.id))
    second = current_material(sym_key)
    assert second != first

    operations.decrypt(caller=caller, ciphertext_blob=old.blob, encryption_context=CONTEXT)
    assert last_record("Decrypt")["additionalEventData"] == {"keyMaterialId": first}

    operations.re_encrypt(caller=caller, ciphertext_blob=old.blob,
                          source_encryption_context=CONTEXT,
                          destination_key_id=str(sym_key.id))
    assert last_record("ReEncrypt")["additionalEventData"] == {
        "destinationKeyMaterialId": second, "sourceKeyMaterialId": first}

    operations.generate_data_key(caller=caller, key_id=str(sym_key.id), key_spec="AES_256")
    assert last_record("GenerateDataKey")["additionalEventData"] == {"keyMaterialId": second}
    operations.generate_data_key_pair(caller=caller, key_id=str(sym_key.id),
                                      key_pair_spec="ECC_NIST_P256", with_plaintext=False)
    assert last_record("GenerateDataKeyPairWithoutPlaintext")["additionalEventData"] == {
        "keyMaterialId": second}


def test_an_asymmetric_key_and_a_failed_request_name_no_material(caller, sym_key):
    rsa = create_key(caller, "RSA_2048", "ENCRYPT_DECRYPT")
    operations.encrypt(caller=caller, key_id=str(rsa.id), plaintext=b"x",
                       encryption_algorithm="RSAES_OAEP_SHA_256")
    assert "additionalEventData" not in last_record("Encrypt")

    with pytest.raises(InvalidCiphertextError):
        operations.decrypt(caller=caller, ciphertext_blob=b"\x01" * 64)
    record = last_record("Decrypt")
    assert record["errorCode"] == "InvalidCiphertextException"
    assert "additionalEventData" not in record


def test_the_free_text_search_finds_the_requests_a_material_served(caller, sym_key):
    first = current_material(sym_key)
    operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"old")
    rotation.key_rotate_on_demand(caller=caller, key_id=str(sym_key.id))
    operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"new")
    page = history.event_search(caller=caller, event_filter=EventFilter(text=first),
                                after=None, limit=50)
    assert [event.event_name for event in page.events] == ["Encrypt"]
    assert page.events[0].additional_event_data == {"keyMaterialId": first}
