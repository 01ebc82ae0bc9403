"""GET /healthz reports the database and the broker, and fails with 503 when either is down."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_answers_200_when_database_and_broker_are_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up", "broker": "up"}


@pytest.mark.django_db
def test_healthz_answers_503_when_the_redis_broker_does_not_answer(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "up", "broker": "down"}


@pytest.mark.django_db
def test_healthz_answers_503_when_the_filesystem_broker_folder_is_missing(client, settings,
                                                                           tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "gone")}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "down"


def test_healthz_answers_503_when_the_database_does_not_answer(tmp_path):
    """A real unreachable PostgreSQL (nothing listens on port 1), in a process of its own."""
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "DATABASE_URL": "postgres://postgres@127.0.0.1:1/none",
           "KMS_VAR_DIR": str(tmp_path)}
    env.pop("REDIS_URL", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"status": 503,
                      "body": {"status": "unavailable", "database": "down", "broker": "up"}}


# --- /readyz: may this process take traffic? ----------------------------------------------------

def readyz_in_subprocess(tmp_path, **environment) -> dict:
    """GET /readyz in a process of its own, on the database and broker the environment names."""
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/readyz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "KMS_VAR_DIR": str(tmp_path), **environment}
    env.pop("REDIS_URL", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.django_db
def test_readyz_answers_200_when_database_broker_and_migrations_are_ready(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "up", "broker": "up",
                               "migrations": "applied"}


@pytest.mark.django_db
def test_readyz_answers_503_naming_the_broker_when_redis_does_not_answer(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "up", "broker": "down",
                               "migrations": "applied"}


def test_readyz_answers_503_with_pending_migrations_on_a_database_never_migrated(tmp_path):
    """A web process started before `migrate` ran: the database answers, the schema is not
    there yet, so it must not take traffic (while /healthz, which checks only reachability,
    says 200)."""
    result = readyz_in_subprocess(
        tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}")
    assert result == {"status": 503, "body": {"status": "unavailable", "database": "up",
                                              "broker": "up", "migrations": "pending"}}


def test_readyz_answers_503_when_the_database_does_not_answer(tmp_path):
    result = readyz_in_subprocess(tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:1/none")
    assert result == {"status": 503, "body": {"status": "unavailable", "database": "down",
                                              "broker": "up", "migrations": "unknown"}}


@pytest.mark.django_db
def test_probes_answer_over_plain_http_when_production_redirects_to_https(client, settings):
    """Load balancers and Docker probe over plain HTTP inside the network; production's
    redirect to HTTPS must not turn their probe into a 301."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    signin = client.get("/signin")
    assert signin.status_code == 301
    assert signin["Location"] == "https://testserver/signin"
