"""Where one Encrypt request's time goes, measured in-process on the production code path.

    .venv/bin/python bench/profile_encrypt.py [--requests 2000] [--cprofile 25]

Recreates and seeds the `kmsconsole_bench` PostgreSQL database exactly as api_throughput.py does
(same settings: DEBUG off, root key in KMS_ROOT_KEY), then, in a child process with that
environment, sends the same pre-signed Encrypt request N times, one after the other, straight
into kmsconsole's WSGI application (`kmsconsole.wsgi.application`, the object gunicorn calls),
so everything from Django's handler and middleware down to the COMMIT is measured; only
gunicorn's HTTP parsing and socket I/O are not.

Sections are timed by wrapping, in this process only, the functions the request goes through
(application code is not changed); SQL statements are timed with Django's execute_wrapper and
grouped by what they do; COMMIT is timed separately. Times are wall-clock per request (mean and
p50) plus the process's CPU time, so waiting on PostgreSQL shows as wall minus CPU. Sections
nest; the table is indented accordingly. --cprofile N adds cProfile's top-N functions by own
time (cProfile inflates small Python calls; use it for the ranking, the wrappers for the
numbers).
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1:8000"


# --- parent: set up the database, run the child with the run's environment ------------------

def parent(args) -> int:
    import tempfile

    import api_throughput as bench

    tmp = Path(tempfile.mkdtemp(prefix="kmsconsole-profile-"))
    bench.recreate_database()
    env = bench.kms_env(tmp)
    seed = bench.migrate_and_seed(env)
    env["BENCH_SEED"] = json.dumps(seed)
    argv = [str(bench.PYTHON), __file__, "--child", "--requests", str(args.requests),
            "--cprofile", str(args.cprofile), "--sort", args.sort]
    argv += ["--micro"] if args.micro else []
    return subprocess.run(argv, env=env, cwd=ROOT, timeout=1800).returncode


# --- child: instrument and drive the WSGI application ---------------------------------------

class Timer:
    """Per-request accumulated wall and CPU time of each wrapped section."""

    def __init__(self):
        self.current: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
        self.calls: collections.Counter = collections.Counter()
        self.samples: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)

    def timed(self, label, function):
        timer = self

        def timed(*a, **kw):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*a, **kw)
            finally:
                timer.add(label(*a) if callable(label) else label,
                          time.perf_counter() - wall, time.process_time() - cpu)

        timed.__wrapped__ = function
        return timed

    def wrap(self, owner, attribute: str, label) -> None:
        original = owner[attribute] if isinstance(owner, dict) else getattr(owner, attribute)
        timed = self.timed(label, original)
        if isinstance(owner, dict):
            owner[attribute] = timed
        else:
            setattr(owner, attribute, timed)

    def add(self, label: str, wall: float, cpu: float) -> None:
        self.current[label][0] += wall
        self.current[label][1] += cpu
        self.calls[label] += 1

    def end_request(self) -> None:
        for label, (wall, cpu) in self.current.items():
            self.samples[label].append((wall, cpu))
        self.current.clear()


SQL_KINDS = [
    ("SELECT access key + user + account (3-table join)", 'FROM "grants_accesskey"'),
    ("SELECT key", 'FROM "keys_key"'),
    ("SELECT key material", 'FROM "keys_keymaterial"'),
    ("INSERT audit event", 'INSERT INTO "audit_auditevent"'),
]


def sql_kind(sql: str) -> str:
    for label, marker in SQL_KINDS:
        if marker in sql:
            return "sql execute: " + label
    return "sql execute: other: " + sql[:50]


def wsgi_caller(application, body: bytes, headers: dict, statuses: collections.Counter):
    """A function that sends the request once through `application`, like gunicorn does."""

    def environ() -> dict:
        env = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "", "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True,
            "wsgi.run_once": False, "wsgi.version": (1, 0), "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in headers.items():
            if name.lower() == "content-type":
                env["CONTENT_TYPE"] = value
            else:
                env["HTTP_" + name.upper().replace("-", "_")] = value
        return env

    def start_response(status, response_headers, exc_info=None):
        statuses[status] += 1

    def call() -> bytes:
        result = application(environ(), start_response)
        try:
            return b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()

    return call


def run_plain(call, n: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(n):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


def child(args) -> int:
    import django

    django.setup()
    from api_throughput import signed_encrypt
    from django.conf import settings
    from django.db import connection, connections
    from django.db.models.query import QuerySet

    import api.model
    import api.sigv4
    import api.views
    import audit.recording
    import keys.crypto.envelope
    import keys.operations
    import keys.selectors
    import kmsconsole.views
    from api import handlers
    from grants.models import AccessKey
    from kmsconsole.wsgi import application

    seed = json.loads(os.environ["BENCH_SEED"])
    request = signed_encrypt(port=8000, key_id=seed["key_id"], access_key=seed["access_key_id"],
                             secret=seed["secret_access_key"])
    statuses = collections.Counter()
    call = wsgi_caller(application, request["body"], request["headers"], statuses)
    n = args.requests

    # Warm up (imports, botocore's service model, the connection), then an uninstrumented run.
    run_plain(call, 100)
    plain_walls, plain_cpus = run_plain(call, n)
    if set(statuses) != {"200 OK"}:
        print("statuses:", statuses, file=sys.stderr)
        return 1

    t = Timer()
    # (label, where): the label's indentation is the nesting in the table.
    sections = [
        ("  root view -> kms_api", (kmsconsole.views, "kms_api")),
        ("    sigv4.authenticate", (api.sigv4, "authenticate")),
        ("      ORM .first(): AccessKey", None),
        ("      expected_signature (botocore SigV4 signer)", (api.sigv4, "expected_signature")),
        ("      AccessKey.secret (root-key unwrap of the secret)", (AccessKey, "secret")),
        ("    _json (json.loads of the body)", (api.views, "_json")),
        ("    model.parse_request (botocore shape check)", (api.model, "parse_request")),
        ("    handler Encrypt (the service, incl. COMMIT)", (handlers.HANDLERS, "Encrypt")),
        ("      _use_key (resolve + authorize + state)", (keys.operations, "_use_key")),
        ("        ORM .first(): Key", None),
        ("      _material (opened material, cached per process)", (keys.operations, "_material")),
        ("      envelope.encrypt (HKDF-SHA256 + AES-256-GCM)", (keys.crypto.envelope, "encrypt")),
        ("      audit record() (build + INSERT)", (audit.recording, "record")),
        ("        ORM .create(): AuditEvent", None),
        ("      COMMIT", None),
        ("    model.serialize_response", (api.model, "serialize_response")),
        ("    respond (json.dumps + HttpResponse)", (api.views, "respond")),
    ]
    for label, where in sections:
        if where is not None:
            t.wrap(where[0], where[1], label.strip())
    t.wrap(QuerySet, "first", lambda qs: f"ORM .first(): {qs.model.__name__}")
    t.wrap(QuerySet, "create", lambda qs: f"ORM .create(): {qs.model.__name__}")
    t.wrap(type(connections["default"]), "_commit", "COMMIT")

    def sql_timer(execute, sql, params, many, context):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return execute(sql, params, many, context)
        finally:
            t.add(sql_kind(sql), time.perf_counter() - wall, time.process_time() - cpu)

    statuses.clear()
    walls, cpus = [], []
    with connection.execute_wrapper(sql_timer):
        for _ in range(n):
            wall, cpu = time.perf_counter(), time.process_time()
            call()
            t.add("WSGI application (whole request)", time.perf_counter() - wall,
                  time.process_time() - cpu)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            t.end_request()
    if set(statuses) != {"200 OK"}:
        print("statuses:", statuses, file=sys.stderr)
        return 1

    total_wall, total_cpu = statistics.fmean(walls), statistics.fmean(cpus)
    print(f"\nEncrypt, {n} sequential requests into kmsconsole.wsgi.application "
          f"(PostgreSQL {connection.pg_version // 10000} over TCP 127.0.0.1, "
          f"DEBUG={int(settings.DEBUG)})")
    print(f"uninstrumented: wall {statistics.fmean(plain_walls) * 1e6:.0f} us/request "
          f"(p50 {statistics.median(plain_walls) * 1e6:.0f}), CPU of this process "
          f"{statistics.fmean(plain_cpus) * 1e6:.0f} us/request -> one process tops out at "
          f"{1 / statistics.fmean(plain_walls):.0f} req/s")
    print(f"instrumented:   wall {total_wall * 1e6:.0f} us/request, CPU {total_cpu * 1e6:.0f} "
          f"us/request (the wrappers' own cost is in these)\n")
    print(f"{'section':<60}{'wall us':>9}{'CPU us':>8}{'% wall':>8}{'% CPU':>7}{'calls':>7}")

    def row(label: str) -> None:
        key = label.strip()
        samples = t.samples.get(key)
        if not samples:
            return
        wall = sum(s[0] for s in samples) / n
        cpu = sum(s[1] for s in samples) / n
        print(f"{label:<60}{wall * 1e6:>9.0f}{cpu * 1e6:>8.0f}{wall / total_wall * 100:>7.1f}%"
              f"{cpu / total_cpu * 100:>6.1f}%{t.calls[key] / n:>7.2f}")

    row("WSGI application (whole request)")
    for label, _ in sections:
        row(label)
    print()
    for kind in sorted(k for k in t.samples if k.startswith("sql execute")):
        row(kind)
    sql_wall = sum(sum(s[0] for s in v) for k, v in t.samples.items()
                   if k.startswith("sql execute")) / n
    sql_cpu = sum(sum(s[1] for s in v) for k, v in t.samples.items()
                  if k.startswith("sql execute")) / n
    orm_wall = sum(sum(s[0] for s in v) for k, v in t.samples.items()
                   if k.startswith("ORM ")) / n
    orm_cpu = sum(sum(s[1] for s in v) for k, v in t.samples.items()
                  if k.startswith("ORM ")) / n
    commit = t.samples.get("COMMIT", [])
    commit_wall = sum(s[0] for s in commit) / n
    commit_cpu = sum(s[1] for s in commit) / n
    statements = sum(t.calls[k] for k in t.samples if k.startswith("sql execute")) / n
    print(f"\nSQL: {statements:.2f} statements per request through Django's cursor, plus BEGIN"
          f" and COMMIT")
    print(f"  the four ORM calls:         wall {orm_wall * 1e6:5.0f} us, CPU {orm_cpu * 1e6:5.0f}"
          f" us (build + compile SQL + execute + rows to models)")
    print(f"    of which cursor.execute:  wall {sql_wall * 1e6:5.0f} us, CPU {sql_cpu * 1e6:5.0f}"
          f" us (driver + PostgreSQL round trip)")
    print(f"    ORM Python around it:     wall {(orm_wall - sql_wall) * 1e6:5.0f} us, CPU "
          f"{(orm_cpu - sql_cpu) * 1e6:5.0f} us")
    print(f"  COMMIT:                     wall {commit_wall * 1e6:5.0f} us, CPU "
          f"{commit_cpu * 1e6:5.0f} us")
    rest_cpu = total_cpu - orm_cpu - commit_cpu
    print(f"  everything else (Django handler, middleware, SigV4, crypto, JSON, audit dict):"
          f" CPU {rest_cpu * 1e6:.0f} us")

    if args.micro:
        micro(seed)
    if args.cprofile:
        print_cprofile(call, min(n, 500), args.cprofile, args.sort)
    return 0


def micro(seed: dict) -> None:
    """Isolated costs of the pieces, each timed alone in a loop."""
    import datetime
    import uuid

    from django.db import connection, transaction
    from django.utils import timezone

    from api import sigv4
    from audit.models import AuditEvent
    from grants.models import AccessKey
    from keys.crypto import envelope
    from keys.models import Key, KeyMaterial

    def timeit(label: str, function, n: int = 2000) -> None:
        for _ in range(50):
            function()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            function()
        print(f"  {label:<66}{(time.perf_counter() - wall) / n * 1e6:>7.0f}"
              f"{(time.process_time() - cpu) / n * 1e6:>8.0f}")

    access_key_id = seed["access_key_id"]
    key_id = uuid.UUID(seed["key_id"])
    queryset = lambda: AccessKey.objects.select_related(  # noqa: E731
        "user", "user__account").filter(access_key_id=access_key_id)
    sql, params = queryset().order_by("pk")[:1].query.get_compiler("default").as_sql()

    def raw_access_key():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()

    def select_one():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchall()

    def atomic_select_one():
        with transaction.atomic():
            select_one()

    def audit_insert():
        with transaction.atomic():
            AuditEvent.objects.create(
                event_time=timezone.now(), event_name="BenchMicro", aws_region="us-east-1",
                recipient_account_id=seed["account_id"],
                user_identity={"type": "IAMUser", "accessKeyId": access_key_id},
                principal_arn="arn:aws:iam::111122223333:user/bench",
                access_key_id=access_key_id, source_ip_address="127.0.0.1", user_agent="bench",
                request_parameters={"keyId": str(key_id), "encryptionContext": {"a": "b"}},
                request_id=str(uuid.uuid4()), read_only=True,
                resources=[{"ARN": "arn"}], key_id=str(key_id), source="api")

    access_key = AccessKey.objects.get(access_key_id=access_key_id)
    material = os.urandom(32)
    from api_throughput import signed_encrypt

    signed = signed_encrypt(port=8000, key_id=str(key_id), access_key=access_key_id,
                            secret=seed["secret_access_key"])
    headers = {k: v for k, v in signed["headers"].items()}
    auth = sigv4.parse_authorization(headers["Authorization"])

    class Headers(dict):
        def get(self, name, default=None):
            for key, value in self.items():
                if key.lower() == name.lower():
                    return value
            return default

    print(f"\nIsolated costs (each alone in a loop){'wall us':>37}{'CPU us':>8}")
    timeit("AccessKey queryset: build (select_related + filter)", queryset)
    timeit("AccessKey queryset: compile to SQL",
           lambda: queryset().order_by("pk")[:1].query.get_compiler("default").as_sql())
    timeit("AccessKey .first(): build + compile + execute + 3 models", lambda: queryset().first())
    timeit("AccessKey: the same SQL on a raw cursor (driver + server)", raw_access_key)
    timeit("Key .first() (resolve KeyId)", lambda: Key.objects.filter(
        id=key_id, account_id=seed["account_id"], region=seed["region"]).first())
    timeit("KeyMaterial .first()",
           lambda: KeyMaterial.objects.filter(key_id=key_id, version=1).first())
    timeit("SELECT 1 on a raw cursor (round trip floor)", select_one)
    timeit("atomic(): SELECT 1 + COMMIT (commit floor, synchronous_commit=on)",
           atomic_select_one, 1000)
    timeit("atomic(): AuditEvent .create() + COMMIT", audit_insert, 1000)
    timeit("botocore SigV4 signature recompute (expected_signature)",
           lambda: sigv4.expected_signature(
               method="POST", path="/", query="", headers=Headers(headers), body=signed["body"],
               auth=auth, amz_date=headers["X-Amz-Date"], secret=seed["secret_access_key"]))
    timeit("AccessKey.secret(): root-key AES-GCM unwrap", access_key.secret)
    timeit("envelope.encrypt of 64 B: HKDF-SHA256 + AES-256-GCM", lambda: envelope.encrypt(
        material=material, key_id=key_id, version=1, plaintext=bytes(64),
        context={"purpose": "p", "tenant": "t"}))
    timeit("datetime.strptime of X-Amz-Date", lambda: datetime.datetime.strptime(
        headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))


def print_cprofile(call, n: int, top: int, sort: str = "tottime") -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    for _ in range(n):
        profiler.enable()
        call()
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(top)
    print(f"\ncProfile, {n} requests, top {top} by {sort} (wall clock):")
    print("\n".join(out.getvalue().splitlines()[4:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--cprofile", type=int, default=0, metavar="N",
                        help="also print cProfile's top N functions by own time")
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"],
                        help="cProfile's order: own time (default) or cumulative time")
    parser.add_argument("--micro", action="store_true",
                        help="also time the pieces alone (queries, commit, signer, crypto)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    sys.exit(main())
