"""A dump of every table holds none of the key material, data keys or plaintexts the test knows."""

import base64

import pytest
from django.db import connection

from keys import operations, services
from keys.models import KeyMaterial
from keys.vault import unwrap_material

KEY_SPECS = [
    ("SYMMETRIC_DEFAULT", None),
    ("RSA_2048", "ENCRYPT_DECRYPT"),
    ("ECC_NIST_P256", "SIGN_VERIFY"),
    ("HMAC_256", "GENERATE_VERIFY_MAC"),
]


def dump_all_tables() -> bytes:
    """Every value of every row of every table, as bytes (what a pg_dump would reveal)."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, (bytes, bytearray, memoryview)):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode())
    return b"\x00".join(chunks)


def forms(secret: bytes) -> list[bytes]:
    """The ways a secret could appear in a dump: raw, hex, base64."""
    return [secret, secret.hex().encode(), base64.b64encode(secret)]


@pytest.mark.django_db(transaction=True)
def test_database_dump_contains_no_key_material_data_key_or_plaintext(caller):
    secrets = []
    for spec, usage in KEY_SPECS:
        key = services.key_create(caller=caller, key_spec=spec, key_usage=usage)
        row = KeyMaterial.objects.get(key=key, version=1)
        material = unwrap_material(key_arn=key.arn, version=1, wrapped=row.wrapped)
        # For asymmetric keys the DER is mostly structure; its secret part is what must not leak.
        secrets.append(material if len(material) <= 64 else material[-64:])
    symmetric = services.key_create(caller=caller)
    plaintext = b"the quarterly numbers nobody may read"
    blob = operations.encrypt(caller=caller, key_id=str(symmetric.id), plaintext=plaintext,
                              encryption_context={"purpose": "test"}).blob
    decrypted = operations.decrypt(caller=caller, ciphertext_blob=blob,
                                   encryption_context={"purpose": "test"}).plaintext
    data_key = operations.generate_data_key(caller=caller, key_id=str(symmetric.id),
                                            key_spec="AES_256").plaintext
    pair = operations.generate_data_key_pair(caller=caller, key_id=str(symmetric.id),
                                             key_pair_spec="ECC_NIST_P256")
    secrets += [plaintext, decrypted, data_key, pair.private_plaintext[-32:]]

    dump = dump_all_tables()
    assert b"arn:aws:kms" in dump  # the dump really holds the keys' rows
    for secret in secrets:
        for form in forms(secret):
            assert form not in dump
