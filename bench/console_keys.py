"""Console: server time of the customer managed keys page with 10,000 keys (issue 5).

    .venv/bin/python bench/console_keys.py [--requests 50] [--keys 100,10000]

What it does, in order (figures in bench/README.md):

1. Drops and recreates the PostgreSQL database `kmsconsole_bench`, migrates it and seeds an
   account with an IAM user `bench` holding AdministratorAccess and one key, with the helpers
   of bench/api_throughput.py (same settings: DEBUG off, its own root key and KMS_VAR_DIR).
2. In a child process with that environment, fills the account up to each size of --keys
   (100, then 10,000) and, at each size, requests four pages of the customer managed keys
   table N times each (after 5 unmeasured warm-up requests):
     unfiltered   /kms/keys                      (first page, default sort: creation date)
     alias        /kms/keys?alias=app-0004       (substring of an alias: 10 keys match)
     tag          /kms/keys?tag=team=team-3      (exact tag: 10% of the keys match)
     created desc /kms/keys?sort=created&order=desc
     alias sort   /kms/keys?sort=alias           (extra: first alias of each key, a subquery)
   Each request goes straight into `kmsconsole.wsgi.application` (the object gunicorn calls)
   with the session cookie of the signed-in `bench` user, so the whole server side is timed:
   middleware (session, user, login required, CSP...), the view, keys.listing.key_table with its
   authorization and its two committed audit events, the selector and the template rendering.
   Only gunicorn's HTTP parsing and socket I/O are left out. Every answer must be a 200 whose
   heading shows the expected number of keys. SQL statements are counted (and their time
   summed) with Django's execute_wrapper: the count must be the same at 100 and at 10,000 keys.
3. Prints a table (median and p90 wall time, CPU, SQL time, queries per page) and the command,
   and writes bench/results/console_keys.json.

How the keys are made: through the ORM with bulk_create, not through keys.services.key_create
(10,000 CreateKey calls would take minutes and only add audit rows the page never reads). The
rows are what key_create writes: the default key policy, customer managed, region of the
account, state Enabled (PendingImport for EXTERNAL origin), current_version 1 for AWS_KMS
origin, creation dates spread over the last year; 80% SYMMETRIC_DEFAULT, the rest RSA_2048,
ECC_NIST_P256 and HMAC_256 with their usages, 2% EXTERNAL origin. Each key has an alias
alias/app-00001... (every 10th key a second one, alias/app-00010-old...), and the tags
team=team-<0..9> and env=<prod|test>. No key material (KeyMaterial rows) is created: the
listing never reads it, so these keys cannot encrypt. ANALYZE runs after each fill, as
autovacuum would after a bulk load.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(ROOT))

RESULTS = BENCH_DIR / "results" / "console_keys.json"
TARGET_MS = 150.0
TEAMS = 10
CASES = [
    # name, query string, keys expected in the heading for `total` keys (the seed key has no
    # alias and no tag; bulk keys are numbered 1..total-1)
    ("unfiltered first page", "", lambda total: total),
    ("filter alias 'app-0004'", "alias=app-0004", lambda total: min(10, max(0, total - 40))),
    ("filter tag team=team-3", "tag=team%3Dteam-3",
     lambda total: sum(1 for n in range(1, total) if n % TEAMS == 3)),
    ("sort creation date desc", "sort=created&order=desc", lambda total: total),
    # Not asked for by issue 5: the most expensive sort (a correlated subquery per key).
    ("sort alias (extra)", "sort=alias", lambda total: total),
]


def command_line() -> str:
    return shlex.join([".venv/bin/python", "bench/console_keys.py", *sys.argv[1:]])


# --- parent: recreate the database, run the child with the run's environment ----------------

def parent(args) -> int:
    import api_throughput as bench

    tmp = Path(tempfile.mkdtemp(prefix="kmsconsole-console-keys-"))
    bench.recreate_database()
    env = bench.kms_env(tmp)
    seed = bench.migrate_and_seed(env)
    env["BENCH_SEED"] = json.dumps(seed)
    env["BENCH_COMMAND"] = command_line()
    argv = [str(bench.PYTHON), __file__, "--child", "--requests", str(args.requests),
            "--keys", args.keys]
    return subprocess.run(argv, env=env, cwd=ROOT, timeout=1800).returncode


# --- child: fill, measure -------------------------------------------------------------------

KEY_KINDS = (  # (share in 100, key_spec, key_usage)
    (80, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    (8, "RSA_2048", "ENCRYPT_DECRYPT"),
    (8, "ECC_NIST_P256", "SIGN_VERIFY"),
    (4, "HMAC_256", "GENERATE_VERIFY_MAC"),
)


def _kind(n: int) -> tuple[str, str]:
    slot = n % 100
    for share, spec, usage in KEY_KINDS:
        if slot < share:
            return spec, usage
        slot -= share
    raise AssertionError


def fill(account_id: str, region: str, start: int, total: int) -> float:
    """Bulk-create keys start..total-1 (aliases and tags too); returns the seconds it took."""
    from django.db import connection, transaction
    from django.utils import timezone

    from grants.policy.defaults import api_default_policy
    from keys.models import (
        ENABLED,
        MANAGER_CUSTOMER,
        ORIGIN_AWS_KMS,
        ORIGIN_EXTERNAL,
        PENDING_IMPORT,
        Alias,
        Key,
        Tag,
    )

    began = time.perf_counter()
    policy = api_default_policy(account_id)
    now = timezone.now()
    year = datetime.timedelta(days=365)
    keys, aliases, tags = [], [], []
    for n in range(start, total):
        spec, usage = _kind(n)
        external = n % 50 == 7
        # Spread over the last year, in creation order (key n was created before key n+1).
        created = now - year + year * (n / 10_000) if n < 10_000 else now
        key = Key(account_id=account_id, region=region, description=f"app {n:05d} data key",
                  key_spec=spec, key_usage=usage,
                  origin=ORIGIN_EXTERNAL if external else ORIGIN_AWS_KMS,
                  key_manager=MANAGER_CUSTOMER, key_state=PENDING_IMPORT if external else ENABLED,
                  policy=policy, created_at=created, current_version=None if external else 1)
        keys.append(key)
        names = [f"alias/app-{n:05d}"] + ([f"alias/app-{n:05d}-old"] if n % 10 == 0 else [])
        aliases += [Alias(account_id=account_id, region=region, name=name, target_key=key,
                          created_at=created, updated_at=created) for name in names]
        tags += [Tag(key=key, tag_key="team", tag_value=f"team-{n % TEAMS}"),
                 Tag(key=key, tag_key="env", tag_value="prod" if n % 3 else "test")]
    with transaction.atomic():
        Key.objects.bulk_create(keys, batch_size=2000)
        Alias.objects.bulk_create(aliases, batch_size=2000)
        Tag.objects.bulk_create(tags, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.perf_counter() - began


class Wsgi:
    """GET requests straight into kmsconsole's WSGI application, signed in by session cookie."""

    def __init__(self, application, cookie: str):
        self.application = application
        self.cookie = cookie
        self.status = ""

    def get(self, path: str, query: str) -> bytes:
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
            "SCRIPT_NAME": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1", "HTTP_COOKIE": self.cookie,
            "HTTP_USER_AGENT": "kmsconsole-bench/1 (console keys)",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }

        def start_response(status, headers, exc_info=None):
            self.status = status

        result = self.application(environ, start_response)
        try:
            return b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


COUNTER = re.compile(rb'<span class="counter">\((\d+)\)</span>')


def measure(wsgi: Wsgi, connection, total: int, requests: int) -> list[dict]:
    sql = {"count": 0, "seconds": 0.0}

    def counting(execute, statement, params, many, context):
        began = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            sql["count"] += 1
            sql["seconds"] += time.perf_counter() - began

    rows = []
    for name, query, expected in CASES:
        for _ in range(5):  # warm-up: imports, template loading, the identity policy cache
            wsgi.get("/kms/keys", query)
        walls, cpus, sql_times, counts = [], [], [], set()
        with connection.execute_wrapper(counting):
            for _ in range(requests):
                sql.update(count=0, seconds=0.0)
                wall, cpu = time.perf_counter(), time.process_time()
                body = wsgi.get("/kms/keys", query)
                walls.append((time.perf_counter() - wall) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
                sql_times.append(sql["seconds"] * 1000)
                counts.add(sql["count"])
                if wsgi.status != "200 OK":
                    raise RuntimeError(f"{name}: {wsgi.status}\n{body[:2000].decode()}")
        shown = COUNTER.search(body)
        if shown is None or int(shown[1]) != expected(total):
            raise RuntimeError(f"{name}: heading shows {shown and shown[1]}, "
                               f"expected {expected(total)} keys")
        rows.append({
            "case": name, "url": "/kms/keys" + (f"?{query}" if query else ""), "keys": total,
            "matching": int(shown[1]), "requests": requests,
            "median_ms": round(statistics.median(walls), 2),
            "p90_ms": round(percentile(walls, 0.9), 2),
            "cpu_median_ms": round(statistics.median(cpus), 2),
            "sql_median_ms": round(statistics.median(sql_times), 2),
            "queries": sorted(counts),
        })
        print(f"  {total:>6} keys  {name:<26} median {rows[-1]['median_ms']:7.2f} ms  "
              f"p90 {rows[-1]['p90_ms']:7.2f} ms  queries {sorted(counts)}", flush=True)
    return rows


def child(args) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from grants.models import User
    from kmsconsole.wsgi import application

    seed = json.loads(os.environ["BENCH_SEED"])
    user = User.objects.get(account_id=seed["account_id"], name="bench")
    client = Client()
    client.force_login(user)
    wsgi = Wsgi(application, f"{settings.SESSION_COOKIE_NAME}="
                             f"{client.cookies[settings.SESSION_COOKIE_NAME].value}")
    sizes = [int(size) for size in args.keys.split(",")]
    results, have = [], 1  # the seed's key
    for total in sizes:
        seconds = fill(seed["account_id"], seed["region"], have, total)
        print(f"filled to {total} keys ({total - have} created in {seconds:.1f} s)", flush=True)
        have = total
        results += measure(wsgi, connection, total, args.requests)

    print()
    print(f"Customer managed keys page, server time in-process, {args.requests} requests per "
          f"case (target: median under {TARGET_MS:.0f} ms)")
    header = (f"| {'case':<26} | {'keys':>6} | {'match':>5} | {'median ms':>9} | {'p90 ms':>7} "
              f"| {'CPU ms':>6} | {'SQL ms':>6} | {'queries':>7} |")
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for row in results:
        print(f"| {row['case']:<26} | {row['keys']:>6} | {row['matching']:>5} "
              f"| {row['median_ms']:>9.2f} | {row['p90_ms']:>7.2f} | {row['cpu_median_ms']:>6.2f} "
              f"| {row['sql_median_ms']:>6.2f} | {'/'.join(map(str, row['queries'])):>7} |")
    by_case: dict[str, dict[int, list[int]]] = {}
    for row in results:
        by_case.setdefault(row["case"], {})[row["keys"]] = row["queries"]
    print()
    for case, counts in by_case.items():
        same = len({tuple(c) for c in counts.values()}) == 1
        print(f"queries per page, {case}: " + ", ".join(
            f"{'/'.join(map(str, c))} at {k} keys" for k, c in counts.items())
              + ("" if same else "  <-- GROWS WITH THE NUMBER OF KEYS"))
    largest = [row for row in results if row["keys"] == sizes[-1]]
    over = [row["case"] for row in largest if row["median_ms"] >= TARGET_MS]
    print(f"\ntarget (median < {TARGET_MS:.0f} ms at {sizes[-1]} keys): "
          + ("met for every case" if not over else "NOT met for " + ", ".join(over)))
    command = os.environ.get("BENCH_COMMAND", "")
    print(f"command: {command}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "results": results,
    }, indent=2) + "\n")
    print(f"results: {RESULTS.relative_to(ROOT)}")
    return 0 if all(len({tuple(c) for c in counts.values()}) == 1
                    for counts in by_case.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--keys", default="100,10000",
                        help="comma-separated sizes, ascending (keys in the account)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    sys.exit(main())
