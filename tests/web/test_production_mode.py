"""Production mode (DJANGO_DEBUG=0) refuses to start without its secrets and allowed hosts, says
everything that is missing in one message, and is clean under `manage.py check --deploy`.

Each case runs `manage.py` in a process of its own: settings are read once per process, and what
is tested is the start-up itself, on kmsconsole.settings (not the test settings).
"""

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Variables that would leak configuration from the test run into the process under test.
INHERITED_CONFIGURATION = {
    "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DATABASE_PASSWORD", "DATABASE_PASSWORD_FILE",
    "REDIS_URL", "KMS_ROOT_KEY", "KMS_ROOT_KEY_FILE", "DJANGO_SECRET_KEY",
    "DJANGO_SECRET_KEY_FILE", "AUDIT_DIGEST_KEY", "AUDIT_DIGEST_KEY_FILE",
    "DJANGO_ALLOWED_HOSTS", "DJANGO_DEBUG",
    # Set by tests/e2e/conftest.py for Playwright's thread; check --deploy rightly refuses it.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}
MISSING = {
    "root key": "a root key: set KMS_ROOT_KEY or KMS_ROOT_KEY_FILE",
    "secret key": "a secret key: set DJANGO_SECRET_KEY or DJANGO_SECRET_KEY_FILE",
    "allowed hosts": "allowed hosts: set DJANGO_ALLOWED_HOSTS",
    "audit digest key": "an audit digest key: set AUDIT_DIGEST_KEY or AUDIT_DIGEST_KEY_FILE",
}


def write_secret(path: Path, value: str) -> str:
    """A secrets file as an operator keeps it: mode 0600."""
    path.write_text(value + "\n")
    path.chmod(0o600)
    return str(path)


def production_environment(folder: Path, **overrides) -> dict:
    """Everything production needs, every secret from a file (as docker-compose gives them)."""
    env = {name: value for name, value in os.environ.items()
           if name not in INHERITED_CONFIGURATION}
    secrets_dir = folder / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    env.update({
        "DJANGO_SETTINGS_MODULE": "kmsconsole.settings",
        "DJANGO_DEBUG": "0",
        "KMS_VAR_DIR": str(folder / "var"),
        "DJANGO_ALLOWED_HOSTS": "kms.example.com,127.0.0.1",
        "KMS_ROOT_KEY_FILE": write_secret(secrets_dir / "kms_root_key",
                                          base64.b64encode(os.urandom(32)).decode()),
        "DJANGO_SECRET_KEY_FILE": write_secret(secrets_dir / "django_secret_key",
                                               secrets.token_urlsafe(50)),
        "AUDIT_DIGEST_KEY_FILE": write_secret(secrets_dir / "audit_digest_key",
                                              secrets.token_urlsafe(32)),
        "LOG_LEVEL": "WARNING",
    })
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_production_mode_without_any_secret_refuses_to_start_and_lists_everything_missing(
        tmp_path):
    env = production_environment(tmp_path, DJANGO_ALLOWED_HOSTS=None, KMS_ROOT_KEY_FILE=None,
                                 DJANGO_SECRET_KEY_FILE=None, AUDIT_DIGEST_KEY_FILE=None)
    done = manage(env, "check")
    assert done.returncode != 0
    assert "kmsconsole is in production mode (DJANGO_DEBUG=0) and refuses to start" in done.stderr
    for line in MISSING.values():
        assert line in done.stderr
    # Nothing was made up in its place: no generated root key or secret key file.
    assert not (tmp_path / "var" / "root.key").exists()
    assert not (tmp_path / "var" / "django_secret_key").exists()


@pytest.mark.parametrize("missing, variable", [
    ("root key", "KMS_ROOT_KEY_FILE"),
    ("secret key", "DJANGO_SECRET_KEY_FILE"),
    ("allowed hosts", "DJANGO_ALLOWED_HOSTS"),
    ("audit digest key", "AUDIT_DIGEST_KEY_FILE"),
])
def test_production_mode_names_exactly_the_one_thing_missing(tmp_path, missing, variable):
    done = manage(production_environment(tmp_path, **{variable: None}), "check")
    assert done.returncode != 0
    assert MISSING[missing] in done.stderr
    assert [name for name, line in MISSING.items() if line in done.stderr] == [missing]


def test_production_mode_refuses_a_root_key_file_that_others_can_read(tmp_path):
    env = production_environment(tmp_path)
    Path(env["KMS_ROOT_KEY_FILE"]).chmod(0o644)
    done = manage(env, "check")
    assert done.returncode != 0
    assert "a usable root key: root key file" in done.stderr
    assert "chmod 600 it" in done.stderr


def test_a_secret_file_that_cannot_be_read_is_named_in_the_error(tmp_path):
    missing_file = tmp_path / "secrets" / "not-there"
    done = manage(production_environment(tmp_path, DJANGO_SECRET_KEY_FILE=str(missing_file)),
                  "check")
    assert done.returncode != 0
    assert f"DJANGO_SECRET_KEY_FILE names {missing_file}, which cannot be read" in done.stderr


def test_the_error_never_shows_a_secret_value(tmp_path):
    """A malformed root key is reported by the variable that holds it, not by its value."""
    not_a_key = "c2VjcmV0LWJ1dC10b28tc2hvcnQ="
    done = manage(production_environment(tmp_path, KMS_ROOT_KEY=not_a_key,
                                         AUDIT_DIGEST_KEY_FILE=None), "check")
    assert done.returncode != 0
    assert "root key from KMS_ROOT_KEY must decode to 32 bytes" in done.stderr
    assert not_a_key not in done.stderr + done.stdout


def test_production_mode_with_every_secret_from_files_is_clean_under_check_deploy(tmp_path):
    done = manage(production_environment(tmp_path), "check", "--deploy", "--fail-level",
                  "WARNING")
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout
    assert done.stderr == ""


def production_settings(env: dict) -> dict:
    script = (
        "import json, django; django.setup(); from django.conf import settings as s;"
        "print(json.dumps({name: getattr(s, name, None) for name in ("
        "'DEBUG', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SESSION_COOKIE_SECURE',"
        "'CSRF_COOKIE_SECURE', 'SECURE_PROXY_SSL_HEADER', 'AUDIT_DIGEST_KEY_DERIVED',"
        "'ALLOWED_HOSTS')} | {'DATABASE_PASSWORD': s.DATABASES['default']['PASSWORD']}))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_production_mode_serves_only_https_and_trusts_a_proxy_header_only_when_told(tmp_path):
    values = production_settings(production_environment(
        tmp_path, DATABASE_URL="postgres://kmsconsole@db.internal:5432/kmsconsole",
        DATABASE_PASSWORD_FILE=write_secret(tmp_path / "database_password",
                                            "from-a-file")))
    assert values == {
        "DEBUG": False, "SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": 31536000,
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True,
        # Not trusted by default: a client reaching gunicorn directly could send it.
        "SECURE_PROXY_SSL_HEADER": None,
        "AUDIT_DIGEST_KEY_DERIVED": False,
        "ALLOWED_HOSTS": ["kms.example.com", "127.0.0.1"],
        # The database password apart from DATABASE_URL, from its secrets file.
        "DATABASE_PASSWORD": "from-a-file",
    }
    behind_proxy = production_settings(
        production_environment(tmp_path, DJANGO_SECURE_PROXY_SSL_HEADER="1"))
    assert behind_proxy["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_development_mode_still_starts_with_no_configuration_at_all(tmp_path):
    env = production_environment(tmp_path, DJANGO_DEBUG=None, DJANGO_ALLOWED_HOSTS=None,
                                 KMS_ROOT_KEY_FILE=None, DJANGO_SECRET_KEY_FILE=None,
                                 AUDIT_DIGEST_KEY_FILE=None)
    done = manage(env, "check")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "var" / "django_secret_key").stat().st_mode & 0o777 == 0o600
