"""Django on a fresh PostgreSQL database, in this process, for the in-process benchmarks
(bench/audit_append.py, bench/rotation_sweep.py).

The settings are production mode's (DJANGO_DEBUG=0, so the numbers are not DEBUG's query
logging) with throwaway secrets made here; the database is dropped and created again, then
migrated, so every run starts from the same empty schema.
"""

import base64
import os
import tempfile

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def fresh_django(database: str, *, allowed_host: str = "localhost") -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "kmsconsole.settings",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{database}",
        "KMS_VAR_DIR": tempfile.mkdtemp(prefix=f"{database}-"),
        "KMS_ROOT_KEY": base64.b64encode(os.urandom(32)).decode(),
        "DJANGO_SECRET_KEY": base64.b64encode(os.urandom(48)).decode(),
        "DJANGO_DEBUG": "0",
        # Production mode refuses to start without these (kmsconsole/production.py).
        "DJANGO_ALLOWED_HOSTS": allowed_host,
        "AUDIT_DIGEST_KEY": base64.b64encode(os.urandom(32)).decode(),
        "LOG_LEVEL": "WARNING",
    })
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {database}")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
