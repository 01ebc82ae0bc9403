"""Backups (docs/deployment.md, "Backups"): a `pg_dump --format=custom` of the database, restored
with `pg_restore` into a fresh database, serves the old keys again under the same root key, and
fails cleanly under another one.

What is under test is the documented procedure itself, with PostgreSQL's own tools: keys and
ciphertexts are made through the one door in the test database (a symmetric Encrypt, an HMAC
MAC, an RSA signature, an access key, a signed audit digest), the database is dumped, the dump
restored into a database of its own, and gunicorn in production mode is pointed at the restored
database with the root key and audit digest key given from files, as an operator restoring a
backup would. boto3 then decrypts and verifies what was made before the dump, and
`manage.py audit_verify` walks the restored trail. With another root key nothing unwraps: every
request gets KMSInternalException, the log says which secret is wrong (no traceback), and
nothing is written but the refused requests' own audit events.

PostgreSQL only (CI runs it there): pg_dump and pg_restore do not apply to SQLite.
"""

import base64
import contextlib
import io
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import psycopg
import pytest
from botocore.config import Config
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from audit.models import AuditChainHead, AuditEvent
from grants.models import Account
from keys import operations
from tests.api.conftest import create_access_key
from tests.conftest import ACCOUNT_ID, REGION, caller_for, make_administrator
from tests.services.conftest import create_key
from tests.services.test_gunicorn_serves_api import free_port, stop, wait_until_serving
from tests.web.test_production_mode import ROOT, production_environment, write_secret

pytestmark = [
    pytest.mark.slow,
    # The backup fixture commits to the test database (pg_dump only sees committed rows);
    # the mark also makes pytest-django set that database up.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="backups are pg_dump/pg_restore of PostgreSQL; set DATABASE_URL=postgres://... "
               "(CI does)"),
]

PLAINTEXT = b"card 4111 1111 1111 1111, dumped and restored"
CONTEXT = {"tenant": "acme", "purpose": "backup-test"}
MESSAGE = b"a message signed and MACed before the backup"
MAC_ALGORITHM = "HMAC_SHA_256"
SIGNING_ALGORITHM = "RSASSA_PSS_SHA_256"
TOOL_TIMEOUT = 120  # seconds for any one pg_dump / pg_restore / manage.py run
UNWRAP_FAILED_LOG = "could not be unwrapped with the configured root key"
# What a refused request may write: its own audit event, chained (audit/chain.py).
AUDIT_TABLES = {AuditEvent._meta.db_table, AuditChainHead._meta.db_table}


@dataclass(frozen=True)
class Backup:
    """A dump of the test database holding an account's keys and what they made."""

    dump: Path
    access_key: tuple[str, str]
    symmetric_blob: bytes
    hmac_key_id: str
    mac: bytes
    rsa_key_id: str
    signature: bytes


def pg_environment() -> dict:
    """libpq's variables for the test database's server, from Django's own connection."""
    database = connection.settings_dict
    env = dict(os.environ, PGHOST=database["HOST"] or "127.0.0.1",
               PGPORT=str(database["PORT"] or 5432), PGUSER=database["USER"] or "postgres")
    if database["PASSWORD"]:
        env["PGPASSWORD"] = database["PASSWORD"]
    return env


def run_tool(*argv: str) -> None:
    done = subprocess.run(argv, env=pg_environment(), capture_output=True, text=True,
                          timeout=TOOL_TIMEOUT)
    assert done.returncode == 0, f"{argv[0]}: {done.stdout}\n{done.stderr}"


def database_url(name: str) -> str:
    env = pg_environment()
    password = f":{env['PGPASSWORD']}" if "PGPASSWORD" in env else ""
    return f"postgres://{env['PGUSER']}{password}@{env['PGHOST']}:{env['PGPORT']}/{name}"


def admin_sql(statement: str) -> None:
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(statement)


def make_keys_and_ciphertexts() -> dict:
    """An administrator with an access key, and one ciphertext, MAC and signature made through
    the one door (each audited), as any client would have made them before the backup."""
    admin = make_administrator(Account.objects.create(id=ACCOUNT_ID, alias="backup"), "admin")
    caller = caller_for(admin)
    symmetric = create_key(caller, description="restored symmetric key")
    hmac_key = create_key(caller, "HMAC_256", description="restored HMAC key")
    rsa_key = create_key(caller, "RSA_2048", "SIGN_VERIFY", description="restored RSA key")
    blob = operations.encrypt(caller=caller, key_id=str(symmetric.id), plaintext=PLAINTEXT,
                              encryption_context=CONTEXT).blob
    mac = operations.generate_mac(caller=caller, key_id=str(hmac_key.id), message=MESSAGE,
                                  mac_algorithm=MAC_ALGORITHM).mac
    signature = operations.sign(caller=caller, key_id=str(rsa_key.id), message=MESSAGE,
                                signing_algorithm=SIGNING_ALGORITHM).signature
    return {"access_key": create_access_key(admin), "symmetric_blob": blob,
            "hmac_key_id": str(hmac_key.id), "mac": mac, "rsa_key_id": str(rsa_key.id),
            "signature": signature}


@pytest.fixture(scope="module")
def backup(django_db_setup, django_db_blocker, tmp_path_factory) -> Backup:
    """Keys and ciphertexts committed to the test database, then `pg_dump --format=custom` of
    it. The test database is flushed afterwards, as after any transactional test."""
    dump = tmp_path_factory.mktemp("backup") / "kmsconsole.pgdump"
    with django_db_blocker.unblock():
        try:
            made = make_keys_and_ciphertexts()
            signed = io.StringIO()
            call_command("audit_digest", stdout=signed)  # restored digests must verify too
            assert "Audit digest signed" in signed.getvalue()
            connection.close()
            run_tool("pg_dump", "--format=custom", "--no-owner", "--file", str(dump),
                     settings.DATABASES["default"]["NAME"])
        finally:
            call_command("flush", interactive=False, verbosity=0)
    return Backup(dump=dump, **made)


@pytest.fixture
def restored(backup):
    """A fresh database with the dump restored into it; dropped at the end."""
    name = f"kms_restore_{os.getpid()}_{secrets.token_hex(4)}"
    admin_sql(f'CREATE DATABASE "{name}"')
    try:
        run_tool("pg_restore", "--no-owner", "--exit-on-error", "--dbname", name,
                 str(backup.dump))
        yield database_url(name)
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def restored_environment(folder: Path, url: str, root_key: str) -> dict:
    """Production mode on the restored database, secrets from files: the audit digest key of
    the backed-up deployment, and `root_key`."""
    secrets_dir = folder / "restored-secrets"
    secrets_dir.mkdir()
    return production_environment(
        folder, DATABASE_URL=url, DJANGO_SECURE_SSL_REDIRECT="0",
        KMS_ROOT_KEY_FILE=write_secret(secrets_dir / "kms_root_key", root_key),
        AUDIT_DIGEST_KEY_FILE=write_secret(secrets_dir / "audit_digest_key",
                                           settings.AUDIT_DIGEST_KEY))


@contextlib.contextmanager
def gunicorn(env: dict, folder: Path):
    """gunicorn serving the restored database; yields (port, log path)."""
    port = free_port()
    log_path = folder / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "kmsconsole.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--timeout", "30"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_serving(process, port, log_path)
        yield port, log_path
    finally:
        stop(process)


def _close(request, **kwargs):
    request.headers["Connection"] = "close"


def kms_client(port: int, credentials: tuple[str, str]):
    client = boto3.client(
        "kms", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
        aws_access_key_id=credentials[0], aws_secret_access_key=credentials[1],
        # One attempt each: a 500 must not be retried, every request is counted below.
        config=Config(retries={"total_max_attempts": 1}))
    client.meta.events.register("before-send.kms.*", _close)
    return client


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TOOL_TIMEOUT)


def table_digests(url: str) -> dict[str, str]:
    """Every table of the database: its row count and an md5 over its rows, to tell whether
    anything at all was written."""
    with psycopg.connect(url) as restored_db:
        tables = [row[0] for row in restored_db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        return {table: restored_db.execute(
            f'SELECT count(*) || \':\' || coalesce(md5(string_agg(t::text, \'|\' '
            f'ORDER BY t::text)), \'\') FROM "{table}" t').fetchone()[0] for table in tables}


def audit_events_since(url: str, sequence_floor: int) -> list[tuple[str, str]]:
    with psycopg.connect(url) as restored_db:
        return restored_db.execute(
            f"SELECT event_name, error_code FROM {AuditEvent._meta.db_table} "
            "WHERE sequence > %s ORDER BY sequence", (sequence_floor,)).fetchall()


def last_sequence(url: str) -> int:
    with psycopg.connect(url) as restored_db:
        return restored_db.execute(
            f"SELECT coalesce(max(sequence), 0) FROM {AuditEvent._meta.db_table}").fetchone()[0]


def test_the_backup_tools_match_the_server():
    """pg_dump refuses a server newer than itself; the documented procedure assumes they match."""
    for tool in ("pg_dump", "pg_restore"):
        assert shutil.which(tool), f"{tool} is not installed"
    with psycopg.connect(database_url("postgres")) as admin:
        server_major = admin.info.server_version // 10000
    dump_version = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True,
                                  timeout=10).stdout
    assert int(dump_version.split()[2].split(".")[0]) >= server_major, dump_version


def test_a_restored_dump_with_the_same_root_key_decrypts_and_verifies_what_was_made_before(
        backup, restored, tmp_path):
    env = restored_environment(tmp_path, restored, settings.KMS_ROOT_KEY)
    floor = last_sequence(restored)
    with gunicorn(env, tmp_path) as (port, log_path):
        kms = kms_client(port, backup.access_key)
        decrypted = kms.decrypt(CiphertextBlob=backup.symmetric_blob, EncryptionContext=CONTEXT)
        assert decrypted["Plaintext"] == PLAINTEXT
        assert kms.verify_mac(KeyId=backup.hmac_key_id, Message=MESSAGE, Mac=backup.mac,
                              MacAlgorithm=MAC_ALGORITHM)["MacValid"] is True
        assert kms.verify(KeyId=backup.rsa_key_id, Message=MESSAGE, Signature=backup.signature,
                          SigningAlgorithm=SIGNING_ALGORITHM)["SignatureValid"] is True
        # The restored keys keep working for new data too.
        blob = kms.encrypt(KeyId=decrypted["KeyId"], Plaintext=b"after the restore")
        assert kms.decrypt(CiphertextBlob=blob["CiphertextBlob"])["Plaintext"] == (
            b"after the restore")
    assert "Traceback" not in log_path.read_text()
    assert audit_events_since(restored, floor) == [
        ("Decrypt", ""), ("VerifyMac", ""), ("Verify", ""), ("Encrypt", ""), ("Decrypt", "")]
    verified = manage(env, "audit_verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout


def test_a_restored_dump_with_another_root_key_fails_cleanly_and_writes_only_the_refusals(
        backup, restored, tmp_path):
    other_root_key = base64.b64encode(os.urandom(32)).decode()
    assert other_root_key != settings.KMS_ROOT_KEY
    env = restored_environment(tmp_path, restored, other_root_key)
    before = table_digests(restored)
    floor = last_sequence(restored)
    with gunicorn(env, tmp_path) as (port, log_path):
        kms = kms_client(port, backup.access_key)
        attempts = [
            lambda: kms.decrypt(CiphertextBlob=backup.symmetric_blob, EncryptionContext=CONTEXT),
            lambda: kms.verify_mac(KeyId=backup.hmac_key_id, Message=MESSAGE, Mac=backup.mac,
                                   MacAlgorithm=MAC_ALGORITHM),
            lambda: kms.verify(KeyId=backup.rsa_key_id, Message=MESSAGE,
                               Signature=backup.signature, SigningAlgorithm=SIGNING_ALGORITHM),
        ]
        for attempt in attempts:
            with pytest.raises(kms.exceptions.KMSInternalException) as refused:
                attempt()
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
            # The caller learns nothing about the server's keys.
            assert refused.value.response["Error"]["Message"] == "An internal error occurred."
    log = log_path.read_text()
    assert "Traceback" not in log
    assert log.count(UNWRAP_FAILED_LOG) == len(attempts)
    assert backup.access_key[1] not in log
    after = table_digests(restored)
    changed = {table for table in before if before[table] != after[table]}
    assert changed == AUDIT_TABLES
    assert set(after) == set(before)
    # Each refused request is audited like any failed one (the design's rule), and the chain
    # of the restored database still verifies: the audit trail needs no root key.
    assert audit_events_since(restored, floor) == [
        ("Decrypt", "KMSInternalException"), ("VerifyMac", "KMSInternalException"),
        ("Verify", "KMSInternalException")]
    verified = manage(env, "audit_verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout
