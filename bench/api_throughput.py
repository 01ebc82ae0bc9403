"""API Encrypt throughput: kmsconsole (gunicorn on PostgreSQL) against moto_server, same run.

    .venv/bin/python bench/api_throughput.py [--duration 20] [--connections 8] [--workers 2]
                                             [--threads 1] [--wrk-threads 2] [--warmup 3]
                                             [--floor] [--output FILE]

What it does, in order (see bench/README.md for the figures it produced):

1. Drops and recreates the PostgreSQL database `kmsconsole_bench`, migrates it, and seeds an
   account, an IAM user with an access key and one symmetric key (bench/seed.py, through the
   real services). The run has its own root key (random, base64 in KMS_ROOT_KEY), its own
   KMS_VAR_DIR (a temp dir), DJANGO_DEBUG=0 and DJANGO_ALLOWED_HOSTS=127.0.0.1.
2. Starts moto_server and creates a key in it with boto3. Then, for each server in turn (moto
   first, never both at once: the machine has 2 cores), builds ONE Encrypt request (64-byte
   plaintext, an encryption context) signed with botocore's SigV4 for that server's Host
   (port included), checks once with urllib that it gets a 200, warms the server up, and
   replays it with `wrk -t2 -c8 -d{duration}s --latency -s bench/replay.lua`. Any response
   that is not a 200 (or any socket error) fails the run. The CPU that the server's
   processes, all postgres processes and wrk used during the measured run is recorded per
   request (from /proc).
3. For kmsconsole, starts gunicorn (`--workers W [--threads T]`) for each configuration asked
   for, checks that the same request with one body byte changed is refused (the signature
   really is checked), and after each measured run counts the Encrypt AuditEvent rows the run
   committed: it must lie between the requests wrk completed and that number plus the
   connections (the requests still in flight when wrk stopped).
4. --floor: with the best configuration, the same replay of an unsigned GET /healthz (Django,
   middleware, SELECT 1) and of a bare WSGI app (bench/hello_wsgi.py) on gunicorn: what the
   platform alone allows on this machine.
5. Prints a table and the ratio, writes bench/results/api_throughput.json (or --output), and
   stops every process it started (also on Ctrl-C / SIGTERM).

--workers and --threads accept comma-separated lists (`--workers 2,3,4`): every combination is
measured against the one moto_server figure of the same invocation.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import itertools
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
RESULTS = BENCH_DIR / "results" / "api_throughput.json"
REPLAY_LUA = BENCH_DIR / "replay.lua"

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "kmsconsole_bench"
REGION = "us-east-1"
SIGNATURE_LIFETIME_S = 300
MAX_RUN_S = 240  # warm-up + run must end well inside the signature's 5 minutes
PLAINTEXT = bytes(range(64))  # 64 bytes, the same for both servers
CONTEXT = {"purpose": "api-throughput-bench", "tenant": "acme"}
USER_AGENT = "kmsconsole-bench/1 (wrk replay)"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- processes ------------------------------------------------------------------------------

class Processes:
    """Every long-running process this script starts, each in its own session, so that stopping
    one stops its children (gunicorn's workers) and Ctrl-C never leaves one behind."""

    def __init__(self):
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], *, env: dict, log_path: Path) -> subprocess.Popen:
        handle = open(log_path, "wb")
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        handle.close()
        self.running.append((name, proc))
        log(f"started {name} (pid {proc.pid}): {shlex.join(argv)}")
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        for entry in list(self.running):
            if entry[1] is proc:
                self.running.remove(entry)
                _stop_group(entry[0], proc)

    def stop_all(self) -> None:
        while self.running:
            name, proc = self.running.pop()
            _stop_group(name, proc)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the group this script created for proc (start_new_session)
    except ProcessLookupError:
        pass


def _stop_group(name: str, proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=5)
    # Workers that outlived their master (they should not) go with the group.
    _signal_group(proc, signal.SIGKILL)
    log(f"stopped {name} (pid {proc.pid}, exit {proc.returncode})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited ({proc.returncode}):\n" + tail(log_path))
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s:\n" + tail(log_path))


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- kmsconsole setup -----------------------------------------------------------------------

def kms_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "KMS_", "DATABASE_", "REDIS_", "CELERY_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "kmsconsole.settings",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}",
        "KMS_ROOT_KEY": base64.b64encode(os.urandom(32)).decode(),
        "KMS_VAR_DIR": str(tmp / "var"),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECRET_KEY": base64.b64encode(os.urandom(48)).decode(),
        "AUDIT_DIGEST_KEY": base64.b64encode(os.urandom(32)).decode(),  # production mode
        "DJANGO_SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback, no TLS proxy in front
        "LOG_LEVEL": "WARNING",
    })
    return env


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    log(f"database {BENCH_DB} dropped and recreated")


def migrate_and_seed(env: dict) -> dict:
    subprocess.run([str(PYTHON), "manage.py", "migrate", "--noinput", "-v", "0"], env=env,
                   cwd=ROOT, check=True, timeout=300)
    log("migrated")
    out = subprocess.run([str(PYTHON), str(BENCH_DIR / "seed.py")], env=env, cwd=ROOT,
                         check=True, timeout=120, capture_output=True, text=True)
    seed = json.loads(out.stdout.strip().splitlines()[-1])
    log(f"seeded account {seed['account_id']}, access key {seed['access_key_id']}, "
        f"key {seed['key_id']}")
    return seed


def db_query(sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}") as conn:
        return conn.execute(sql, params).fetchall()


def audit_counts() -> dict:
    """Committed Encrypt events (ok / failed) and all events: read from a separate connection,
    so only what the server committed is counted."""
    (ok, failed, total), = db_query(
        "SELECT count(*) FILTER (WHERE event_name = 'Encrypt' AND error_code = ''),"
        "       count(*) FILTER (WHERE event_name = 'Encrypt' AND error_code <> ''),"
        "       count(*) FROM audit_auditevent")
    return {"encrypt_ok": ok, "encrypt_failed": failed, "all_events": total}


# --- requests -------------------------------------------------------------------------------

def signed_encrypt(*, port: int, key_id: str, access_key: str, secret: str) -> dict:
    """One Encrypt request signed with botocore's SigV4 for Host 127.0.0.1:PORT."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = json.dumps({
        "KeyId": key_id,
        "Plaintext": base64.b64encode(PLAINTEXT).decode(),
        "EncryptionContext": CONTEXT,
    }, separators=(",", ":")).encode()
    host = f"127.0.0.1:{port}"
    request = AWSRequest(method="POST", url=f"http://{host}/", data=body, headers={
        "Host": host,
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "TrentService.Encrypt",
        "User-Agent": USER_AGENT,
    })
    SigV4Auth(Credentials(access_key, secret), "kms", REGION).add_auth(request)
    headers = {name: value for name, value in request.headers.items()}
    return {"method": "POST", "path": "/", "headers": headers, "body": body,
            "signed_at": time.monotonic()}


def lua_string(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    out = []
    for byte in raw:
        char = chr(byte)
        if char.isascii() and char.isprintable() and char not in '"\\':
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def write_request_lua(request: dict, path: Path) -> None:
    headers = ",\n".join(f"    [{lua_string(k)}] = {lua_string(v)}"
                         for k, v in request["headers"].items())
    path.write_text(
        "-- generated by bench/api_throughput.py: one pre-signed request\n"
        f"return {{\n  method = {lua_string(request['method'])},\n"
        f"  path = {lua_string(request['path'])},\n"
        f"  headers = {{\n{headers}\n  }},\n"
        f"  body = {lua_string(request['body'])},\n}}\n")


def check_once(request: dict, port: int) -> dict:
    """Send the pre-signed request once; it must get a 200 with a ciphertext."""
    headers = {k: v for k, v in request["headers"].items() if k.lower() != "host"}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{request['path']}",
                                 data=request["body"], headers=headers,
                                 method=request["method"])
    # urllib sets Host from the URL: 127.0.0.1:PORT, exactly the signed value.
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    if status != 200:
        raise RuntimeError(f"pre-signed request got {status}: {payload[:500]!r}")
    answer = json.loads(payload)
    if "CiphertextBlob" not in answer:
        raise RuntimeError(f"no CiphertextBlob in {answer}")
    return answer


def check_tampered_rejected(request: dict, port: int) -> str:
    """The same signed request with one byte of the body changed must be refused: proof that
    the server under test really checks the signature."""
    body = bytearray(request["body"])
    index = body.index(b'"Plaintext":"') + len(b'"Plaintext":"')
    body[index] = ord("B") if body[index] != ord("B") else ord("C")
    headers = {k: v for k, v in request["headers"].items() if k.lower() != "host"}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{request['path']}", data=bytes(body),
                                 headers=headers, method=request["method"])
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            raise RuntimeError(f"a tampered request was accepted ({response.status})")
    except urllib.error.HTTPError as error:
        answer = json.loads(error.read() or b"{}")
        if error.code != 400 or "Signature" not in answer.get("__type", ""):
            raise RuntimeError(
                f"tampered request: unexpected answer {error.code} {answer}") from None
        return answer["__type"]


# --- wrk ------------------------------------------------------------------------------------

@dataclass
class WrkResult:
    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non200: int
    first_non200_status: int
    socket_errors: dict = field(default_factory=dict)
    command: str = ""
    cpu: dict = field(default_factory=dict)
    attempt: int = 1
    disturbed: bool = False


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _serves_bench(pid: str) -> bool:
    """A postgres process of the bench: a backend connected to the bench database, or one of
    the server's own processes (WAL writer, checkpointer...). Backends of other databases (other
    people's test runs on a shared machine) count as other work."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            title = handle.read().decode(errors="replace")
    except OSError:
        return False
    is_backend = "(" in title or "[local]" in title
    return not is_backend or f" {BENCH_DB} " in title


def cpu_snapshot(server_pgid: int) -> dict:
    """CPU seconds used so far by the server's process group, by the bench's postgres
    processes, by this script's reaped children (wrk), and the machine's busy and idle time."""
    server = postgres = 0.0
    others: dict[int, tuple[str, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                text = handle.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        used = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        if int(fields[2]) == server_pgid:
            server += used
        elif comm == "postgres" and _serves_bench(entry.name):
            postgres += used
        elif used:
            others[int(entry.name)] = (comm, used)
    with open("/proc/stat") as handle:
        ticks = [int(v) for v in handle.readline().split()[1:]]
    idle = (ticks[3] + ticks[4]) / CLOCK_TICKS
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"server": server, "postgres": postgres,
            "wrk": children.ru_utime + children.ru_stime,
            "machine_busy": sum(ticks[:8]) / CLOCK_TICKS - idle, "machine_idle": idle,
            "steal": ticks[7] / CLOCK_TICKS, "others": others}


def cpu_per_request(before: dict, after: dict, requests: int, duration_s: float) -> dict:
    """Microseconds of CPU per completed request, and cores used on average. `other` is what
    the machine spent outside the server, postgres and wrk: the kernel's network work that no
    process is charged for (about 0.1-0.25 cores here) plus anything else running."""
    used = {name: after[name] - before[name] for name in before if name != "others"}
    used["other"] = used["machine_busy"] - used["server"] - used["postgres"] - used["wrk"]
    out = {}
    for name, seconds in used.items():
        out[f"{name}_us_per_request"] = round(seconds / max(requests, 1) * 1e6)
        out[f"{name}_cores"] = round(seconds / duration_s, 2)
    # Which other processes ran (the wrk process itself is counted above, once reaped).
    busiest = sorted(((comm, used - before["others"].get(pid, (comm, 0.0))[1])
                      for pid, (comm, used) in after["others"].items()),
                     key=lambda item: -item[1])[:3]
    out["other_processes"] = [f"{comm} {seconds / duration_s:.2f} cores"
                              for comm, seconds in busiest if seconds / duration_s >= 0.02]
    return out


def run_wrk(port: int, request_lua: Path, *, duration: int, connections: int,
            threads: int) -> WrkResult:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
            "-s", str(REPLAY_LUA), f"http://127.0.0.1:{port}/", "--", str(request_lua)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return parse_wrk(out.stdout, shlex.join(argv))


def parse_wrk(text: str, command: str) -> WrkResult:
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("BENCH "):
            _, name, value = line.split(" ", 2)
            values[name] = value
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not rps or "requests" not in values:
        raise RuntimeError(f"cannot parse wrk output:\n{text}")
    errors = dict(item.split("=") for item in values["errors"].split())
    us = lambda name: int(float(values[name])) / 1000  # noqa: E731
    return WrkResult(
        requests=int(values["requests"]),
        duration_s=int(values["duration_us"]) / 1e6,
        requests_per_s=float(rps.group(1)),
        p50_ms=us("p50_us"), p75_ms=us("p75_us"), p90_ms=us("p90_us"), p99_ms=us("p99_us"),
        mean_ms=float(values["mean_us"]) / 1000, max_ms=us("max_us"),
        non200=int(values["non200"]), first_non200_status=int(values["first_non200_status"]),
        socket_errors={k: int(v) for k, v in errors.items()},
        command=command,
    )


def measure(name: str, sign, port: int, tmp: Path, args, server: subprocess.Popen,
            before_run=lambda: None, check=None) -> WrkResult:
    """Warm up, then the measured run, replaying the request `sign()` returns. `before_run` is
    called after the warm-up has settled, right before the measured run. The CPU the server's
    processes, PostgreSQL and wrk used during the measured run is recorded per request; a run
    during which something else on the machine took more than --max-other-cores is done again
    (up to --retries times, with a freshly signed request) and flagged if it stays so."""
    for attempt in range(args.retries + 1):
        if attempt:
            wait_until_quiet(args)
        request = sign()
        request_lua = tmp / f"request-{name}.lua"
        write_request_lua(request, request_lua)
        (check or check_once)(request, port)
        log(f"{name}: the request answered 200")
        if args.warmup:
            warm = run_wrk(port, request_lua, duration=args.warmup,
                           connections=args.connections, threads=args.wrk_threads)
            log(f"{name}: warm-up {warm.requests_per_s:.0f} req/s")
            require_clean(name + " warm-up", warm)
            time.sleep(1)  # let the warm-up's last in-flight requests finish before counting
        if time.monotonic() - request["signed_at"] + args.duration > MAX_RUN_S:
            raise RuntimeError("the signed request would expire during the run")
        before_run()
        cpu_before = cpu_snapshot(server.pid)
        result = run_wrk(port, request_lua, duration=args.duration,
                         connections=args.connections, threads=args.wrk_threads)
        result.cpu = cpu_per_request(cpu_before, cpu_snapshot(server.pid), result.requests,
                                     result.duration_s)
        result.attempt = attempt + 1
        cpu = result.cpu
        log(f"{name}: {result.requests} requests, {result.requests_per_s:.1f} req/s, "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, non-200 "
            f"{result.non200}, socket errors {result.socket_errors}")
        log(f"{name}: CPU per request: server {cpu['server_us_per_request']} us "
            f"({cpu['server_cores']} cores), postgres {cpu['postgres_us_per_request']} us "
            f"({cpu['postgres_cores']} cores), wrk {cpu['wrk_us_per_request']} us; machine "
            f"idle {cpu['machine_idle_cores']} cores, other {cpu['other_cores']} cores, steal "
            f"{cpu['steal_cores']} cores")
        require_clean(name, result)
        result.disturbed = cpu["other_cores"] > args.max_other_cores
        if not result.disturbed:
            return result
        log(f"{name}: WARNING: something else used {cpu['other_cores']} cores during the run "
            f"(limit {args.max_other_cores}; busiest other processes: "
            f"{', '.join(cpu['other_processes']) or 'none seen'})"
            + (": measuring again" if attempt < args.retries
               else ": keeping it, flagged as disturbed"))
    return result


def wait_until_quiet(args) -> float:
    """Before anything starts, and before a disturbed run is measured again: wait (up to
    --quiet-wait s) until the machine is nearly idle, so that another workload does not skew
    the comparison. Returns the busy cores last seen."""
    deadline = time.monotonic() + args.quiet_wait
    while True:
        before = cpu_snapshot(-1)
        time.sleep(2)
        after = cpu_snapshot(-1)
        busy = (after["machine_busy"] - before["machine_busy"]) / 2
        if busy <= args.max_other_cores or time.monotonic() > deadline:
            log(f"machine busy before the run: {busy:.2f} cores"
                + ("" if busy <= args.max_other_cores else " (WARNING: not quiet; going on)"))
            return busy
        log(f"machine busy with something else ({busy:.2f} cores); waiting for it to calm down")


def require_clean(name: str, result: WrkResult) -> None:
    if result.non200:
        raise RuntimeError(f"{name}: {result.non200} responses were not 200 (first: "
                           f"{result.first_non200_status})")
    if any(result.socket_errors.values()):
        raise RuntimeError(f"{name}: socket errors {result.socket_errors}")


# --- the two servers ------------------------------------------------------------------------

def bench_moto(procs: Processes, tmp: Path, args) -> dict:
    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION=REGION)
    log_path = tmp / "moto_server.log"
    argv = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    proc = procs.start("moto_server", argv, env=env, log_path=log_path)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/moto-api/", proc, log_path)
        import boto3

        kms = boto3.client("kms", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        key_id = kms.create_key(Description="api_throughput benchmark key")["KeyMetadata"]["KeyId"]
        log(f"moto_server: created key {key_id}")
        def sign():
            return signed_encrypt(port=port, key_id=key_id, access_key="testing",
                                  secret="testing")

        result = measure("moto_server", sign, port, tmp, args, proc)
    finally:
        procs.stop(proc)
    return {"server": "moto_server", "command": shlex.join(["moto_server", *argv[1:3],
                                                              "-p", "PORT"]),
            **asdict(result)}


def bench_kmsconsole(procs: Processes, tmp: Path, args, env: dict, seed: dict, workers: int,
                     threads: int) -> dict:
    port = free_port()
    name = f"kmsconsole-w{workers}-t{threads}"
    log_path = tmp / f"{name}.log"
    argv = [str(VENV_BIN / "gunicorn"), "kmsconsole.wsgi", "-b", f"127.0.0.1:{port}",
            "--workers", str(workers)]
    if threads > 1:
        argv += ["--threads", str(threads)]
    proc = procs.start(f"gunicorn ({name})", argv, env=env, log_path=log_path)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", proc, log_path)
        def sign():
            return signed_encrypt(port=port, key_id=seed["key_id"],
                                  access_key=seed["access_key_id"],
                                  secret=seed["secret_access_key"])

        refusal = check_tampered_rejected(sign(), port)
        log(f"{name}: the same request with one body byte changed was refused ({refusal})")
        # The audit baseline is taken after the warm-up has settled, right before the run.
        counts = {}
        result = measure(name, sign, port, tmp, args, proc,
                         before_run=lambda: counts.update(before=audit_counts()))
        time.sleep(2)  # the requests in flight when wrk stopped finish and commit
        counts["after"] = audit_counts()
    finally:
        procs.stop(proc)
    audit = audit_check(counts["before"], counts["after"], result, args.connections)
    log(f"{name}: audit Encrypt events committed during the run: {audit['encrypt_events']} "
        f"(wrk completed {result.requests}; allowed up to +{args.connections} in flight) "
        f"-> {'OK' if audit['ok'] else 'MISMATCH'}")
    if not audit["ok"]:
        raise RuntimeError(f"{name}: audit count check failed: {audit}")
    command = shlex.join(["gunicorn", *argv[1:3], "127.0.0.1:PORT", *argv[4:]])
    return {"server": "kmsconsole", "workers": workers, "threads": threads,
            "command": command, **asdict(result), "audit": audit,
            "tampered_request_refused_with": refusal}


def bench_floor(procs: Processes, tmp: Path, args, env: dict, label: str, app: list[str],
                path: str, workers: int, threads: int) -> dict:
    """An unsigned GET replayed like the Encrypt request, on gunicorn with the same workers: what
    the platform costs without kmsconsole's Encrypt path (for --floor)."""
    port = free_port()
    log_path = tmp / f"floor-{label}.log"
    argv = [str(VENV_BIN / "gunicorn"), *app, "-b", f"127.0.0.1:{port}", "--workers", str(workers)]
    if threads > 1:
        argv += ["--threads", str(threads)]
    proc = procs.start(f"gunicorn ({label})", argv, env=env, log_path=log_path)
    try:
        wait_for_http(f"http://127.0.0.1:{port}{path}", proc, log_path)
        def unsigned_get():
            return {"method": "GET", "path": path,
                    "headers": {"Host": f"127.0.0.1:{port}", "User-Agent": USER_AGENT},
                    "body": b"", "signed_at": time.monotonic()}

        def check(request, port):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"{label}: GET {path} got {answer.status}")

        result = measure(f"floor-{label}", unsigned_get, port, tmp, args, proc, check=check)
    finally:
        procs.stop(proc)
    command = shlex.join(["gunicorn", *app, "-b", "127.0.0.1:PORT", *argv[len(app) + 3:]])
    return {"server": label, "path": path, "workers": workers, "threads": threads,
            "command": command, **asdict(result)}


def audit_check(before: dict, after: dict, result: WrkResult, connections: int) -> dict:
    events = after["encrypt_ok"] - before["encrypt_ok"]
    failed = after["encrypt_failed"] - before["encrypt_failed"]
    others = (after["all_events"] - before["all_events"]) - events - failed
    ok = result.requests <= events <= result.requests + connections and failed == 0
    return {"encrypt_events": events, "encrypt_failed_events": failed, "other_events": others,
            "wrk_completed": result.requests, "in_flight_allowance": connections, "ok": ok}


# --- reporting ------------------------------------------------------------------------------

def machine_info() -> dict:
    def run(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return ""

    cpu = ""
    for line in run(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    versions = {}
    for module in ("django", "gunicorn", "moto", "botocore", "psycopg", "cryptography"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 - a missing version is only a missing line
            versions[module] = "?"
    versions["python"] = platform.python_version()
    versions["wrk"] = run(["wrk", "--version"]).splitlines()[0] if shutil.which("wrk") else ""
    versions["postgresql"] = db_query("SHOW server_version")[0][0]
    return {"nproc": run(["nproc"]), "free_m": run(["free", "-m"]), "cpu": cpu,
            "kernel": platform.release(), "versions": versions}


def print_table(moto: dict, runs: list[dict], floors: list[dict]) -> None:
    print()
    print(f"{'server':<32}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}"
          f"{'audit':>8}{'x moto':>8}{'srv CPU us/req':>16}{'pg CPU us/req':>15}"
          f"{'other cores':>13}")
    for row in [moto, *runs, *floors]:
        label = "moto_server" if row["server"] == "moto_server" else (
            f"{row['server']} w={row['workers']} t={row['threads']}")
        audit = str(row["audit"]["encrypt_events"]) if "audit" in row else "-"
        ratio = row["requests_per_s"] / moto["requests_per_s"]
        print(f"{label:<32}{row['requests_per_s']:>9.1f}{row['p50_ms']:>9.2f}"
              f"{row['p99_ms']:>9.2f}{row['requests']:>10}{audit:>8}{ratio:>8.2f}"
              f"{row['cpu']['server_us_per_request']:>16}"
              f"{row['cpu']['postgres_us_per_request']:>15}"
              f"{row['cpu']['other_cores']:>13.2f}{'  DISTURBED' if row['disturbed'] else ''}")
    print()


def int_list(text: str) -> list[int]:
    return [int(item) for item in text.split(",") if item.strip()]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int_list, default=[2],
                        help="gunicorn workers; a comma-separated list measures each")
    parser.add_argument("--threads", type=int_list, default=[1],
                        help="gunicorn threads per worker (1 = sync worker; >1 = gthread); "
                             "a comma-separated list measures each")
    parser.add_argument("--warmup", type=int, default=3,
                        help="seconds of unmeasured load before each measured run (0: none)")
    parser.add_argument("--floor", action="store_true",
                        help="also measure, with the best configuration, GET /healthz (Django, "
                             "middleware, SELECT 1) and a bare WSGI app on gunicorn: the "
                             "ceilings any endpoint here stays under")
    parser.add_argument("--max-other-cores", type=float, default=0.35,
                        help="a measured run during which the machine spent more than this "
                             "outside the server, postgres and wrk counts as disturbed")
    parser.add_argument("--retries", type=int, default=2,
                        help="measure a disturbed run again up to this many times")
    parser.add_argument("--quiet-wait", type=int, default=120,
                        help="seconds to wait at the start for the machine to be quiet")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.duration + args.warmup + 30 > MAX_RUN_S:
        parser.error(f"--duration + --warmup must stay well under {MAX_RUN_S}s: the signed "
                     "request is valid for 5 minutes")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    # Ctrl-C and SIGTERM unwind through the finally below, which stops every server. SIGINT is
    # set explicitly: a shell that starts this in the background hands it SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.datetime.now(datetime.UTC)
    command = shlex.join([".venv/bin/python", "bench/api_throughput.py",
                          *(sys.argv[1:] if argv is None else argv)])
    procs = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="kmsconsole-bench-"))
    try:
        quiet = wait_until_quiet(args)
        recreate_database()
        env = kms_env(tmp)
        seed = migrate_and_seed(env)
        machine = machine_info()
        moto = bench_moto(procs, tmp, args)
        runs = [bench_kmsconsole(procs, tmp, args, env, seed, workers, threads)
                for workers, threads in itertools.product(args.workers, args.threads)]
        floors = []
        if args.floor:
            top = max(runs, key=lambda run: run["requests_per_s"])
            floors = [
                bench_floor(procs, tmp, args, env, "django-healthz", ["kmsconsole.wsgi"],
                            "/healthz", top["workers"], top["threads"]),
                bench_floor(procs, tmp, args, env, "bare-wsgi", ["bench.hello_wsgi:app"], "/",
                            top["workers"], top["threads"]),
            ]
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    for run in runs:
        run["ratio_to_moto"] = round(run["requests_per_s"] / moto["requests_per_s"], 2)
    best = max(runs, key=lambda run: run["requests_per_s"])
    print_table(moto, runs, floors)
    print(f"best kmsconsole: workers={best['workers']} threads={best['threads']}: "
          f"{best['requests_per_s']:.1f} req/s = {best['ratio_to_moto']:.2f} x moto_server "
          f"({moto['requests_per_s']:.1f} req/s); target >= 5x: "
          f"{'MET' if best['ratio_to_moto'] >= 5 else 'NOT MET'}")
    disturbed = [row["server"] for row in [moto, *runs, *floors] if row["disturbed"]]
    if disturbed:
        print(f"WARNING: runs disturbed by other work on the machine: {', '.join(disturbed)}; "
              "their figures are not comparable")
    report = {
        "benchmark": "api_throughput (Encrypt, one pre-signed request replayed by wrk)",
        "command": command,
        "started_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine,
        "machine_busy_cores_before_start": round(quiet, 2),
        "settings": {"max_other_cores": args.max_other_cores, "duration_s": args.duration,
                     "connections": args.connections,
                     "wrk_threads": args.wrk_threads, "warmup_s": args.warmup,
                     "plaintext_bytes": len(PLAINTEXT), "encryption_context": CONTEXT},
        "moto_server": moto,
        "kmsconsole": runs,
        "floors": floors,
        "best": {"workers": best["workers"], "threads": best["threads"],
                 "requests_per_s": best["requests_per_s"],
                 "ratio_to_moto": best["ratio_to_moto"]},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
