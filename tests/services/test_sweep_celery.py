"""End to end: a real Celery worker and a separate beat, started with the very commands
docker-compose.yml's worker and beat services run, on Redis, run the scheduled sweep and rotate
a due key (issues 8 and 9).

Worker and beat are subprocesses with the project's own settings (kmsconsole.settings), pointed
at this test's database and root key, with KMS_SWEEP_INTERVAL_SECONDS=1. The beat schedule file
and var folder are per test. It uses Redis database 5 so that no other worker (a developer's
`make run`, another test) takes the beat's messages or hands it theirs.

Needs REDIS_URL (CI sets it) and PostgreSQL: the subprocess must see the rows this test wrote,
and pytest-django's SQLite test database lives in this process's memory.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from django.conf import settings
from django.db import connection
from django.utils import timezone

from keys.models import Key, KeyMaterial
from tests.conftest import caller_for

from .conftest import create_key

REDIS_URL = os.environ.get("REDIS_URL")
REDIS_DB = 5
ROTATION_TIMEOUT_SECONDS = 60
SHUTDOWN_TIMEOUT_SECONDS = 30
REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),  # committed rows: the worker must see them
    pytest.mark.skipif(not REDIS_URL, reason="needs Redis: set REDIS_URL (CI does)"),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="the worker subprocess must share the test database: set "
                              "DATABASE_URL to PostgreSQL (CI does); pytest-django's SQLite "
                              "test database is in memory"),
]


def own_redis_db(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_DB}", parts.query, ""))


def worker_database_url() -> str:
    """This test's database (pytest-django's test_ one) as a DATABASE_URL for the worker."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"



# docker-compose.yml's commands (the beat's --schedule points into this test's folder).
WORKER_COMMAND = ["celery", "-A", "kmsconsole", "worker", "--loglevel=INFO"]
BEAT_COMMAND = ["celery", "-A", "kmsconsole", "beat", "--loglevel=INFO", "--schedule"]


def test_the_commands_are_those_of_docker_compose():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    assert compose["worker"]["command"].split() == WORKER_COMMAND
    assert compose["beat"]["command"].split()[:-1] == BEAT_COMMAND


def stop(process: subprocess.Popen) -> int:
    """SIGTERM (Celery's warm shutdown), then the exit status; killed if it hangs."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return -9


@pytest.fixture
def worker(tmp_path):
    """A worker and a beat, as two processes; stopped with SIGTERM after the test."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kmsconsole.settings",
        "DATABASE_URL": worker_database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": own_redis_db(REDIS_URL),
        "KMS_ROOT_KEY": settings.KMS_ROOT_KEY,
        "KMS_VAR_DIR": str(tmp_path),
        "KMS_SWEEP_INTERVAL_SECONDS": "1",
    }
    log_path, beat_log_path = tmp_path / "worker.log", tmp_path / "beat.log"
    with open(log_path, "wb") as log, open(beat_log_path, "wb") as beat_log:
        process = subprocess.Popen(
            [sys.executable, "-m", *WORKER_COMMAND], cwd=REPO, env=env, stdout=log,
            stderr=subprocess.STDOUT)
        beat = subprocess.Popen(
            [sys.executable, "-m", *BEAT_COMMAND, str(tmp_path / "celerybeat-schedule")],
            cwd=REPO, env=env, stdout=beat_log, stderr=subprocess.STDOUT)
    try:
        yield process, beat, log_path
    finally:
        for running in (beat, process):
            if running.poll() is None:
                stop(running)


def test_a_celery_worker_with_beat_rotates_a_due_key(admin, worker):
    process, beat, log_path = worker
    key = create_key(caller_for(admin))
    Key.objects.filter(pk=key.pk).update(rotation_enabled=True, rotation_period_days=90,
                                         next_rotation_date=timezone.now())

    deadline = time.monotonic() + ROTATION_TIMEOUT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        if KeyMaterial.objects.filter(key_id=key.id, version=2).exists():
            break
        time.sleep(0.5)
    log = log_path.read_text(errors="replace")
    assert process.poll() is None, f"the worker exited early:\n{log[-3000:]}"
    assert KeyMaterial.objects.filter(key_id=key.id, version=2).exists(), (
        f"not rotated within {ROTATION_TIMEOUT_SECONDS} s; worker log:\n{log[-3000:]}")

    material = KeyMaterial.objects.get(key_id=key.id, version=2)
    assert material.rotation_type == "AUTOMATIC"
    key.refresh_from_db()
    assert key.current_version == 2
    # The task ran through the worker and reported its summary.
    assert "keys.tasks.kms_sweep" in log
    assert "rotation: 1 done, 0 failed" in log

    assert beat.poll() is None, "beat exited early"
    assert stop(beat) == 0 and stop(process) == 0  # clean, warm shutdowns
