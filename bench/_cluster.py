"""Throwaway servers for bench/load.py and bench/faults.py: a PostgreSQL cluster and a Redis of
their own, gunicorn, a Celery worker and Celery beat, all on loopback, all stopped at the end.

The machine's own PostgreSQL (5432) and Redis (6379) serve other people's test runs: the fault
runs restart and stop servers, so they must never touch those. `Cluster` therefore runs initdb
into a temp dir (as the `postgres` OS user when this runs as root, since initdb refuses root),
starts it with pg_ctl on a free port, and starts redis-server on another free port without
persistence. Every process is started in its own session (bench/api_throughput.py's
`Processes`), so stopping it stops its children.

Also runnable in a subprocess with the cluster's environment (Django set up there):

    python bench/_cluster.py due-keys N [--due-in-seconds S] [--spread-seconds W]

creates N enabled symmetric keys with automatic rotation, due S..S+W seconds from now, in the
seed's account (bench/rotation_sweep.py's bulk insert), and prints their ids as JSON.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from api_throughput import (  # noqa: E402
    PYTHON,
    VENV_BIN,
    Processes,
    free_port,
    kms_env,
    log,
    tail,
    wait_for_http,
)

DB_NAME = "kmsconsole_load"


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        sys.exit(f"{name} not found under /usr/lib/postgresql/*/bin")
    return found[-1]


class Cluster:
    """PostgreSQL + Redis + gunicorn + Celery worker and beat, all owned by this run."""

    def __init__(self, *, web_workers: int = 4, sweep_interval: int = 10):
        self.tmp = Path(tempfile.mkdtemp(prefix="kmsconsole-load-"))
        os.chmod(self.tmp, 0o755)
        self.procs = Processes()
        self.web_workers = web_workers
        self.sweep_interval = sweep_interval
        self.pg_port = free_port()
        self.redis_port = free_port()
        self.web_port = free_port()
        self.pg_dir = self.tmp / "pg"
        self.redis = self.gunicorn = self.worker = self.beat = None
        self.env = kms_env(self.tmp)
        self.env.update({
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{self.pg_port}/{DB_NAME}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "KMS_SWEEP_INTERVAL_SECONDS": str(sweep_interval),
            # A dead database must not hold a request for long: fail the connect fast.
            "PGCONNECT_TIMEOUT": "5",
        })
        (self.tmp / "var").mkdir()

    # --- PostgreSQL --------------------------------------------------------------------------

    def _as_postgres(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        options = (f"-p {self.pg_port} -k {self.pg_dir} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=60")
        self._as_postgres([pg_bin("pg_ctl"), "-D", str(self.pg_dir / "data"),
                           "-l", str(self.pg_dir / "server.log"), "-o", options, "-w",
                           "-t", str(int(timeout)), *args], timeout=timeout + 10)

    def start_postgres(self) -> None:
        self.pg_dir.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.pg_dir, user.pw_uid, user.pw_gid)
        self._as_postgres([pg_bin("initdb"), "-D", str(self.pg_dir / "data"), "-U", "postgres",
                           "--auth=trust", "-E", "UTF8", "--no-sync"], timeout=120)
        self.pg_ctl("start")
        import psycopg

        with psycopg.connect(self.pg_url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DB_NAME}")
        log(f"PostgreSQL (throwaway) on 127.0.0.1:{self.pg_port}, data in {self.pg_dir}")

    def pg_url(self, database: str = DB_NAME) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{database}"

    def query(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.pg_url(), connect_timeout=10) as conn:
            return conn.execute(sql, params).fetchall()

    def restart_postgres(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    # --- Redis ---------------------------------------------------------------------------------

    def start_redis(self) -> None:
        argv = [shutil.which("redis-server") or "/usr/bin/redis-server", "--port",
                str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.tmp)]
        self.redis = self.procs.start("redis-server", argv, env=os.environ.copy(),
                                      log_path=self.tmp / "redis.log")
        deadline = time.monotonic() + 20
        while subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"],
                             capture_output=True, text=True).stdout.strip() != "PONG":
            if time.monotonic() > deadline:
                raise RuntimeError("redis did not start:\n" + tail(self.tmp / "redis.log"))
            time.sleep(0.2)

    def stop_redis(self) -> None:
        self.procs.stop(self.redis)
        self.redis = None

    # --- Django, gunicorn, Celery ---------------------------------------------------------------

    def manage(self, *args: str, check: bool = True, timeout: float = 600):
        return subprocess.run([str(PYTHON), "manage.py", *args], env=self.env, cwd=ROOT,
                              check=check, capture_output=True, text=True, timeout=timeout)

    def script(self, path: Path, *args: str) -> str:
        out = subprocess.run([str(PYTHON), str(path), *args], env=self.env, cwd=ROOT,
                             check=True, capture_output=True, text=True, timeout=600)
        return out.stdout.strip().splitlines()[-1]

    def migrate_and_seed(self) -> dict:
        self.manage("migrate", "--noinput", "-v", "0")
        seed = json.loads(self.script(BENCH_DIR / "seed.py"))
        log(f"migrated and seeded: account {seed['account_id']}, key {seed['key_id']}")
        return seed

    def due_keys(self, count: int, *, due_in: float = 0, spread: float = 0) -> list[str]:
        return json.loads(self.script(Path(__file__), "due-keys", str(count),
                                      "--due-in-seconds", str(due_in),
                                      "--spread-seconds", str(spread)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start_gunicorn(self) -> None:
        argv = [str(VENV_BIN / "gunicorn"), "kmsconsole.wsgi", "-b", f"127.0.0.1:{self.web_port}",
                "--workers", str(self.web_workers), "--timeout", "30", "--graceful-timeout", "10"]
        log_path = self.tmp / "gunicorn.log"
        self.gunicorn = self.procs.start("gunicorn", argv, env=self.env, log_path=log_path)
        wait_for_http(f"{self.url}/healthz", self.gunicorn, log_path)

    def stop_gunicorn(self) -> None:
        self.procs.stop(self.gunicorn)
        self.gunicorn = None

    def gunicorn_workers(self) -> list[int]:
        """The worker processes of the current gunicorn master (their parent)."""
        return children_of(self.gunicorn.pid)

    def start_worker(self) -> None:
        # One process (solo pool): SIGKILL to it is SIGKILL to the process that sweeps.
        argv = [str(VENV_BIN / "celery"), "-A", "kmsconsole", "worker", "--pool", "solo",
                "-l", "info", "-n", f"load-{time.monotonic_ns()}@%h"]
        self.worker = self.procs.start("celery worker", argv, env=self.env,
                                       log_path=self.tmp / f"worker-{time.time():.0f}.log")

    def kill_worker(self) -> None:
        os.kill(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)
        self.procs.stop(self.worker)
        self.worker = None

    def start_beat(self) -> None:
        argv = [str(VENV_BIN / "celery"), "-A", "kmsconsole", "beat", "-l", "info",
                "-s", str(self.tmp / "celerybeat-schedule")]
        self.beat = self.procs.start("celery beat", argv, env=self.env,
                                     log_path=self.tmp / "beat.log")

    def start(self, *, celery: bool = True) -> dict:
        """PostgreSQL, Redis, the migrated and seeded database, gunicorn, and (by default)
        the Celery worker and beat."""
        self.start_postgres()
        self.start_redis()
        seed = self.migrate_and_seed()
        self.start_gunicorn()
        if celery:
            self.start_worker()
            self.start_beat()
        return seed

    def audit_verify(self) -> tuple[bool, str]:
        out = self.manage("audit_verify", check=False)
        return out.returncode == 0, (out.stdout + out.stderr).strip().splitlines()[-1]

    def close(self) -> None:
        self.procs.stop_all()
        if (self.pg_dir / "data" / "postmaster.pid").exists():
            try:
                self.pg_ctl("stop", "-m", "immediate")
            except subprocess.SubprocessError as error:
                log(f"pg_ctl stop failed: {error}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        log("throwaway cluster stopped and removed")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                text = handle.read()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def install_signal_handlers() -> None:
    """Ctrl-C and SIGTERM unwind through the callers' finally blocks (which stop everything)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


# --- run inside the cluster's environment ---------------------------------------------------

def _due_keys_main(argv: list[str]) -> None:
    import argparse
    import datetime

    parser = argparse.ArgumentParser()
    parser.add_argument("count", type=int)
    parser.add_argument("--due-in-seconds", type=float, default=0)
    parser.add_argument("--spread-seconds", type=float, default=0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.utils import timezone
    from rotation_sweep import create_due_keys

    from keys.models import Key

    before = set(Key.objects.values_list("id", flat=True))
    create_due_keys(args.count)
    ids = sorted(set(Key.objects.values_list("id", flat=True)) - before)
    now = timezone.now()
    for index, key_id in enumerate(ids if args.due_in_seconds or args.spread_seconds else []):
        offset = args.due_in_seconds + args.spread_seconds * index / max(1, len(ids))
        Key.objects.filter(id=key_id).update(
            next_rotation_date=now + datetime.timedelta(seconds=offset))
    print(json.dumps([str(key_id) for key_id in ids]))


if __name__ == "__main__":
    if sys.argv[1:2] == ["due-keys"]:
        _due_keys_main(sys.argv[2:])
    else:
        sys.exit(__doc__)
