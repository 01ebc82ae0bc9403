"""Test settings: the project's settings with a throwaway var/ folder and root key.

pytest-django imports settings before tests/conftest.py runs, so what must differ from the
development defaults is set here: tests never touch the developer's var/ (database, root key,
Celery queue folders) and each run has its own random root key.
"""

import base64
import os
import tempfile

os.environ.setdefault("KMS_VAR_DIR", tempfile.mkdtemp(prefix="kmsconsole-test-"))

from kmsconsole.settings import *  # noqa: E402,F403

KMS_ROOT_KEY = base64.b64encode(os.urandom(32)).decode()
KMS_CREATE_ROOT_KEY_FILE = False
# Fast hashing: password hashing strength is not what these tests measure.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# live_server threads must not keep database connections open past a request, or PostgreSQL
# refuses to drop the test database at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
