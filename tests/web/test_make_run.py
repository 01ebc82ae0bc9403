"""`make run` with no environment and no servers serves /healthz with 200, runs a Celery worker
and beat, and Ctrl-C stops all of it."""

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthz_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return None


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class Output:
    """Collects a process's output in a thread so the test can wait for lines."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)


@pytest.mark.slow
def test_make_run_serves_healthz_on_embedded_defaults_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "KMS_ROOT_KEY"}}
    env.update(KMS_VAR_DIR=str(tmp_path / "var"), PORT=str(port))
    process = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = Output(process.stdout)
    try:
        deadline = time.monotonic() + 120
        healthy = False
        while time.monotonic() < deadline:
            healthy = healthy or healthz_status(f"http://127.0.0.1:{port}/healthz") == 200
            started = "ready." in output.text() and "beat: Starting" in output.text()
            if healthy and started:
                break
            time.sleep(0.5)
        assert healthy, output.text()
        assert "ready." in output.text(), "the Celery worker did not start"
        assert "beat: Starting" in output.text(), "Celery beat did not start"
        assert (tmp_path / "var" / "kmsconsole.sqlite3").exists()
        assert (tmp_path / "var" / "root.key").stat().st_mode & 0o777 == 0o600
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
    deadline = time.monotonic() + 30
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not group_alive(process.pid), "server, worker or beat survived Ctrl-C"
    assert "IAM user name:       admin" in output.text()
    assert "Password:" in output.text()
