"""`make run` with no environment and no servers serves /healthz with 200, and Ctrl-C stops it all."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(url: str, deadline: float) -> int:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in time")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_make_run_serves_healthz_on_embedded_defaults_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "KMS_ROOT_KEY"}}
    env.update(KMS_VAR_DIR=str(tmp_path / "var"), PORT=str(port))
    process = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}/healthz",
                               time.monotonic() + 90) == 200
        assert (tmp_path / "var" / "kmsconsole.sqlite3").exists()
        assert (tmp_path / "var" / "root.key").stat().st_mode & 0o777 == 0o600
    finally:
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not group_alive(process.pid), "server, worker or beat survived Ctrl-C"
    assert "celery@" in output and "beat: Starting" in output, output
    assert "IAM user name:       admin" in output
    assert "Password:" in output
