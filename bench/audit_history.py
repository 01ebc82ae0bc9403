"""Audit trail: the event history page and the download with 1,000,000 events (issue 6).

    .venv/bin/python bench/audit_history.py [--events 1000000] [--requests 20] [--refill]
                                            [--skip-export]

What it does, in order (figures in bench/README.md):

1. Creates the PostgreSQL database `kms_bench_audit` if it is missing (--refill drops it first)
   and migrates it. The run's settings are the project's (kmsconsole.settings, DATABASE_URL)
   with DEBUG off and fixed bench-only secrets, so a database filled once is reused by later
   runs (filling takes minutes; searching is what is measured).
2. Child process `--fill`: seeds, through the real services, the account 111122223333 with an
   IAM user `bench` (AdministratorAccess) and a key with the alias `alias/bench-payments`, then
   fills the account to --events audit events (and another account with 5% more, which must
   never show up). Realistic variety: 35 event names of KMS, STS, sign-in and CloudTrail with
   a skewed mix (Decrypt 30%, Encrypt 18%, ... ScheduleKeyDeletion 0.1%), 200 principals (150
   IAM users with access keys, 50 assumed-role sessions), 2,000 keys (the seeded key among
   them), errors on 3% (AccessDenied 2%, NotFound, KMSInvalidState, Disabled), 300 source
   addresses, four user agents, encryption contexts with 500 tenants and an order number,
   spread evenly over the last 60 days in id order (as record() appends them). Each row is an
   AuditEvent built as record() builds it: user_name from userIdentity, search_text from
   audit.recording.searchable_text, and the hash chain continued from the chain head with
   audit.chain's own hash (so `manage.py audit_verify` still holds on this database). Rows go
   in with COPY; the table's secondary indexes are dropped before and recreated after (from
   their own pg_indexes definitions), then ANALYZE, as after any bulk load.
3. Child process `--measure`: for every single filter of the Event history form (and a few
   extra cases: a rare value next to a common one, the second page), GET /cloudtrail/events
   through Django's test Client signed in as `bench`, 2 warm-up requests then --requests
   measured ones. The whole server side is timed in-process: middleware, the view, the
   LookupEvents authorization, the search, the committed LookupEvents audit event and the
   template. SQL statements are counted and timed with execute_wrapper, and the search query
   of each case is EXPLAINed (ANALYZE) to name the indexes it used.
4. Child processes `--export jsonl` and `--export csv`, each a fresh process: the download of
   every event of the account (no filter) through the test Client, the streaming response
   consumed chunk by chunk. Peak memory is the process's ru_maxrss before the request and
   after the last byte (the growth is what the download cost), plus the time to first byte
   and the total time.
5. Prints the tables and the command, writes bench/results/audit_history.json.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import os
import random
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import unquote

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

PYTHON = ROOT / ".venv" / "bin" / "python"
RESULTS = BENCH_DIR / "results" / "audit_history.json"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "kms_bench_audit"
TARGET_MS = 200.0
TARGET_EXPORT_MB = 200.0
ACCOUNT_ID = "111122223333"
OTHER_ACCOUNT_ID = "444455556666"
REGION = "us-east-1"
ALIAS = "alias/bench-payments"
DAYS = 60
SEED = 20261129


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def command_line() -> str:
    return shlex.join([".venv/bin/python", "bench/audit_history.py", *sys.argv[1:]])


# --- parent: database, children, report -----------------------------------------------------

def bench_env() -> dict:
    """The project's settings on the bench database. The secrets are fixed and bench-only so
    that a filled database stays usable by later runs (key material, digests)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "KMS_", "DATABASE_", "REDIS_", "CELERY_"))}
    bench_secret = hashlib.sha256(b"kmsconsole audit history bench (not a secret)").digest()
    env.update({
        "DJANGO_SETTINGS_MODULE": "kmsconsole.settings",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}",
        "KMS_ROOT_KEY": base64.b64encode(bench_secret).decode(),
        "KMS_VAR_DIR": str(Path(tempfile.gettempdir()) / "kmsconsole-audit-bench-var"),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1",
        "DJANGO_SECRET_KEY": base64.b64encode(bench_secret * 2).decode(),
        "AUDIT_DIGEST_KEY": base64.b64encode(bench_secret[::-1]).decode(),  # production mode
        "DJANGO_SECURE_SSL_REDIRECT": "0",  # the test client speaks plain HTTP
        "LOG_LEVEL": "WARNING",
    })
    return env


def ensure_database(refill: bool) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        if refill:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            log(f"database {BENCH_DB} dropped")
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (BENCH_DB,)).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
            log(f"database {BENCH_DB} created")


def run_child(env: dict, *args: str, timeout: int = 3600) -> dict:
    """Run this script in a child process; its last stdout line is its JSON result."""
    argv = [str(PYTHON), __file__, *args]
    proc = subprocess.run(argv, env=env, cwd=ROOT, timeout=timeout, stdout=subprocess.PIPE,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed with status {proc.returncode}")
    lines = proc.stdout.strip().splitlines()
    for line in lines[:-1]:
        print(line, flush=True)
    return json.loads(lines[-1])


def parent(args) -> int:
    ensure_database(args.refill)
    env = bench_env()
    Path(env["KMS_VAR_DIR"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([str(PYTHON), "manage.py", "migrate", "--noinput", "-v", "0"], env=env,
                   cwd=ROOT, check=True, timeout=600)
    log("migrated")
    fill = run_child(env, "--fill", "--events", str(args.events))
    measured = run_child(env, "--measure", "--requests", str(args.requests))
    exports = [] if args.skip_export else [
        run_child(env, "--export", fmt) for fmt in ("jsonl", "csv")]
    report(args, fill, measured, exports)
    return 0 if measured["all_met"] and all(e["met"] for e in exports) else 1


def report(args, fill: dict, measured: dict, exports: list[dict]) -> None:
    print()
    print(f"Event history, {fill['account_events']:,} events in the account "
          f"({fill['all_events']:,} in the table); server time in-process, "
          f"{args.requests} requests per case (target: p95 under {TARGET_MS:.0f} ms)")
    header = (f"| {'case':<40} | {'rows':>4} | {'median ms':>9} | {'p95 ms':>7} "
              f"| {'CPU ms':>6} | {'SQL ms':>6} | {'queries':>7} | {'indexes used':<40} |")
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for row in measured["cases"]:
        print(f"| {row['case']:<40} | {row['rows']:>4} | {row['median_ms']:>9.2f} "
              f"| {row['p95_ms']:>7.2f} | {row['cpu_median_ms']:>6.2f} "
              f"| {row['sql_median_ms']:>6.2f} "
              f"| {'/'.join(map(str, row['queries'])):>7} | {', '.join(row['indexes']):<40} |")
    print(f"load average (1, 5, 15 min) before: {measured['load_average_before']}, "
          f"after: {measured['load_average_after']}")
    over = [row["case"] for row in measured["cases"] if row["p95_ms"] >= TARGET_MS]
    print("\ntarget (p95 < 200 ms for each case): "
          + ("met for every case" if not over else "NOT met for " + ", ".join(over)))
    if exports:
        print("\nDownload of every event of the account (no filter), streamed:")
        for e in exports:
            print(f"  {e['format']:<5} {e['lines']:>9,} lines  {e['bytes'] / 1e6:8.1f} MB  "
                  f"first byte {e['first_byte_s']:.2f} s  total {e['seconds']:.1f} s  "
                  f"peak RSS {e['maxrss_before_mb']:.0f} -> {e['maxrss_after_mb']:.0f} MB "
                  f"(+{e['maxrss_growth_mb']:.1f} MB)  "
                  + ("met" if e["met"] else "NOT met"))
    command = command_line()
    print(f"\ncommand: {command}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "fill": fill, "requests_per_case": args.requests, "cases": measured["cases"],
        "load_average_before": measured["load_average_before"],
        "load_average_after": measured["load_average_after"],
        "exports": exports,
    }, indent=2) + "\n")
    print(f"results: {RESULTS.relative_to(ROOT)}")


# --- child: seed and fill --------------------------------------------------------------------

EVENT_MIX = [
    # (event name, weight in 10,000, read-only, event source; None = kms.amazonaws.com)
    ("Decrypt", 3000, True, None), ("Encrypt", 1800, True, None),
    ("GenerateDataKey", 1500, True, None), ("DescribeKey", 800, True, None),
    ("GenerateDataKeyWithoutPlaintext", 400, True, None), ("ReEncrypt", 200, True, None),
    ("ListKeys", 200, True, None), ("ListAliases", 200, True, None),
    ("Sign", 200, True, None), ("Verify", 150, True, None), ("AssumeRole", 150, True, "sts"),
    ("GenerateMac", 100, True, None), ("GetCallerIdentity", 100, True, "sts"),
    ("GetKeyPolicy", 100, True, None), ("LookupEvents", 100, True, "cloudtrail"),
    ("VerifyMac", 80, True, None), ("GetPublicKey", 80, True, None),
    ("ListGrants", 80, True, None), ("CreateGrant", 60, False, None),
    ("ListResourceTags", 60, True, None), ("GenerateRandom", 50, True, None),
    ("GetKeyLastUsage", 40, True, None), ("RetireGrant", 30, False, None),
    ("TagResource", 30, False, None), ("ConsoleLogin", 30, False, "signin"),
    ("CreateKey", 30, False, None), ("PutKeyPolicy", 20, False, None),
    ("CreateAlias", 20, False, None), ("UntagResource", 10, False, None),
    ("UpdateAlias", 10, False, None), ("EnableKey", 10, False, None),
    ("DisableKey", 10, False, None), ("UpdateKeyDescription", 10, False, None),
    ("ScheduleKeyDeletion", 10, False, None), ("CancelKeyDeletion", 10, False, None),
]
NO_KEY = {"ListKeys", "ListAliases", "GenerateRandom", "AssumeRole", "GetCallerIdentity",
          "LookupEvents", "ConsoleLogin"}
CONTEXT_OPERATIONS = {"Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
                      "ReEncrypt"}
ERRORS = [  # (weight in 1,000, code, message)
    (20, "AccessDeniedException", "User is not authorized to perform this operation because "
                                  "no identity-based policy allows the action"),
    (5, "NotFoundException", "Key does not exist"),
    (3, "KMSInvalidStateException", "Key is pending deletion."),
    (2, "DisabledException", "Key is disabled."),
]
USER_AGENTS = ["aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.debian.12",
               "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1 lang/python#3.12.1",
               "aws-sdk-java/2.25.11 Linux/6.1 OpenJDK_64-Bit_Server_VM/21.0.2",
               "Mozilla/5.0 (X11; Linux x86_64) kmsconsole"]
SOURCES = {None: "kms.amazonaws.com", "sts": "sts.amazonaws.com",
           "signin": "signin.amazonaws.com", "cloudtrail": "cloudtrail.amazonaws.com"}


def seed() -> dict:
    """The account, its administrator `bench` and a key with an alias, through the services
    (idempotent: a later run finds them)."""
    from django.db import transaction

    from grants.builtin_policies import builtin_policy_arn
    from grants.models import Account, User
    from grants.principals import Caller, Principal
    from grants.services import account_create, policy_attach_user, user_create
    from keys.models import Alias
    from keys.services import alias_create, key_create

    with transaction.atomic():
        for account_id, alias in ((ACCOUNT_ID, "bench"), (OTHER_ACCOUNT_ID, "bench-other")):
            if not Account.objects.filter(pk=account_id).exists():
                account_create(account_id=account_id, alias=alias)
        operator = Caller.scheduler(account_id=ACCOUNT_ID, region=REGION)
        user = User.objects.filter(account_id=ACCOUNT_ID, name="bench").first()
        if user is None:
            user = user_create(caller=operator, name="bench")
            policy_attach_user(caller=operator, user=user,
                               policy_arn=builtin_policy_arn("AdministratorAccess"))
        alias = Alias.objects.filter(account_id=ACCOUNT_ID, region=REGION, name=ALIAS).first()
        if alias is None:
            caller = Caller(principal=Principal.for_user(user), region=REGION,
                            user_agent="kmsconsole-bench-seed")
            key = key_create(caller=caller, description="audit history bench key")
            alias = alias_create(caller=caller, alias_name=ALIAS, target_key_id=str(key.id))
    return {"key_id": str(alias.target_key_id)}


class World:
    """The principals, keys and addresses events are drawn from (deterministic)."""

    def __init__(self, rng: random.Random, seeded_key_id: str):
        from grants.principals import Principal

        self.rng = rng
        self.principals = {ACCOUNT_ID: [], OTHER_ACCOUNT_ID: []}
        for n in range(200):
            account = ACCOUNT_ID if n < 190 else OTHER_ACCOUNT_ID
            if n % 4 == 3:  # 50 assumed-role sessions
                role = f"service-role-{n:03d}"
                principal = Principal(
                    account_id=account, type="AssumedRole",
                    arn=f"arn:aws:sts::{account}:assumed-role/{role}/session-{n:03d}",
                    principal_id=f"AROA{n:016d}:session-{n:03d}",
                    access_key_id=f"ASIA{n:016d}", role_arn=f"arn:aws:iam::{account}:role/{role}",
                    session_issued_at="2026-10-01T00:00:00Z")
            else:  # 150 IAM users with access keys
                principal = Principal(
                    account_id=account, type="IAMUser",
                    arn=f"arn:aws:iam::{account}:user/app-user-{n:03d}",
                    principal_id=f"AIDA{n:016d}", user_name=f"app-user-{n:03d}",
                    access_key_id=f"AKIA{n:016d}")
            # Each principal calls from three addresses of its own.
            addresses = [3 * n + k for k in range(3)]
            self.principals[account].append((principal, principal.user_identity(), addresses))
        self.keys = {ACCOUNT_ID: [seeded_key_id], OTHER_ACCOUNT_ID: []}
        for n in range(1, 2000):
            account = ACCOUNT_ID if n < 1900 else OTHER_ACCOUNT_ID
            self.keys[account].append(str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        self.addresses = [f"10.{n // 250}.{n % 250}.{(n * 7) % 250 + 1}" for n in range(300)]
        self.names = [name for name, *_ in EVENT_MIX]
        self.name_weights = list(_cumulative(weight for _, weight, *_ in EVENT_MIX))
        self.mix = {name: (read_only, SOURCES[source]) for name, _, read_only, source in EVENT_MIX}
        self.error_weights = [weight for weight, *_ in ERRORS]


def _cumulative(weights):
    total = 0
    for weight in weights:
        total += weight
        yield total


def build_event(world: World, account_id: str, moment: datetime.datetime, number: int):
    """One AuditEvent as record() would build it for such a request (not saved)."""
    from audit.models import AuditEvent
    from audit.recording import searchable_text, user_name_of

    rng = world.rng
    name = rng.choices(world.names, cum_weights=world.name_weights)[0]
    read_only, event_source = world.mix[name]
    principal, identity, addresses = rng.choice(world.principals[account_id])
    error = rng.choices(ERRORS + [None], weights=world.error_weights + [970])[0]
    key_id = "" if name in NO_KEY else rng.choice(world.keys[account_id])
    resources = ([{"accountId": account_id, "type": "AWS::KMS::Key",
                   "ARN": f"arn:aws:kms:{REGION}:{account_id}:key/{key_id}"}] if key_id else [])
    parameters = None
    if key_id:
        parameters = {"keyId": key_id}
        if name in CONTEXT_OPERATIONS:
            parameters.update({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {
                "tenant": f"tenant-{rng.randrange(500):03d}", "order": f"ord-{number:07d}"}})
    elif name == "LookupEvents":
        parameters = {"lookupAttributes": [], "maxResults": 50}
    event = AuditEvent(
        event_id=uuid.UUID(int=rng.getrandbits(128), version=4), event_time=moment,
        event_source=event_source, event_name=name,
        event_type="AwsConsoleSignIn" if name == "ConsoleLogin" else "AwsApiCall",
        aws_region=REGION, recipient_account_id=account_id, user_identity=identity,
        user_name=user_name_of(identity), principal_arn=principal.arn,
        access_key_id=principal.access_key_id or "",
        source_ip_address=world.addresses[rng.choice(addresses) % len(world.addresses)],
        user_agent=rng.choice(USER_AGENTS), request_parameters=parameters,
        response_elements=None, error_code=error[1] if error else "",
        error_message=error[2] if error else "",
        request_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), read_only=read_only,
        resources=resources, key_id=key_id, source="api")
    event.search_text = searchable_text(event)
    return event


def _copy_value(field, value):
    if value is None:
        return None
    if field.get_internal_type() == "JSONField":
        return json.dumps(value)
    return value


def secondary_indexes(cursor) -> list[tuple[str, str]]:
    """The table's indexes that no constraint owns (primary key and unique ones stay)."""
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_auditevent' "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint "
        "WHERE conrelid = 'audit_auditevent'::regclass)")
    return cursor.fetchall()


def fill(target: int) -> dict:
    """Fill the account to `target` events (the other account gets 5% on top)."""
    from django.db import connection, transaction

    from audit.chain import expected_hash
    from audit.models import AuditChainHead, AuditEvent

    seeded = seed()
    have = AuditEvent.objects.filter(recipient_account_id=ACCOUNT_ID).count()
    result = {"account_events": have, "all_events": AuditEvent.objects.count(),
              "filled": 0, "fill_seconds": 0.0}
    if have >= target:
        log(f"the account already has {have:,} events: nothing to fill")
        return result
    count = target - have
    extra = count // 20
    log(f"filling {count:,} events into {ACCOUNT_ID} and {extra:,} into {OTHER_ACCOUNT_ID}")
    began = time.perf_counter()
    rng = random.Random(SEED + have)
    world = World(rng, seeded["key_id"])
    fields = [f for f in AuditEvent._meta.concrete_fields if f.name != "id"]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    first = now - datetime.timedelta(days=DAYS)
    total = count + extra
    step = (now - first) / total
    with transaction.atomic(), connection.cursor() as cursor:
        indexes = secondary_indexes(cursor)
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        sequence, prev_hash = head.sequence, head.hash
        with cursor.cursor.copy(f"COPY audit_auditevent ({columns}) FROM STDIN") as copy:
            written = 0
            for number in range(count):
                # After every 20th event one of the other account: the trails interleave.
                accounts = [ACCOUNT_ID] + ([OTHER_ACCOUNT_ID] if number % 20 == 19 else [])
                for account_id in accounts:
                    event = build_event(world, account_id, first + step * written, number)
                    sequence += 1
                    event.sequence, event.prev_hash = sequence, prev_hash
                    event.hash = prev_hash = expected_hash(event)
                    copy.write_row([_copy_value(f, getattr(event, f.attname)) for f in fields])
                    written += 1
                if number and number % 100_000 == 0:
                    log(f"  {number:,} events of the account written")
        AuditChainHead.objects.filter(pk=1).update(sequence=sequence, hash=prev_hash)
        log(f"rows copied in {time.perf_counter() - began:.0f} s; recreating "
            f"{len(indexes)} indexes")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cursor.execute(definition)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_auditevent")
    result.update(
        account_events=AuditEvent.objects.filter(recipient_account_id=ACCOUNT_ID).count(),
        all_events=AuditEvent.objects.count(), filled=total,
        fill_seconds=round(time.perf_counter() - began, 1))
    log(f"filled {total:,} events in {result['fill_seconds']:.0f} s")
    return result


# --- child: measure the searches ---------------------------------------------------------------

def cases(seeded_key_id: str) -> list[tuple[str, dict]]:
    """(name, GET parameters): each field of the form alone; a rare value next to a common
    one where that changes the plan; the second page of a common filter."""
    middle = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=DAYS // 2)
    custom = {"range": "custom", "start": f"{middle:%Y-%m-%dT%H:%M}",
              "end": f"{middle + datetime.timedelta(days=1):%Y-%m-%dT%H:%M}"}
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=DAYS - 1)
    return [
        ("no filter (any time)", {}),
        ("time range: last 1 hour", {"range": "1h"}),
        ("time range: last day", {"range": "1d"}),
        ("time range: last 30 days", {"range": "30d"}),
        ("time range: custom, 1 day, 30 days ago", custom),
        ("time range: custom, ends 59 days ago",
         {"range": "custom", "end": f"{old:%Y-%m-%dT%H:%M}"}),
        ("event name Decrypt (30%)", {"event_name": "Decrypt"}),
        ("event name ScheduleKeyDeletion (0.1%)", {"event_name": "ScheduleKeyDeletion"}),
        ("user name app-user-042", {"user": "app-user-042"}),
        ("principal ARN (role session)",
         {"user": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/service-role-043/session-043"}),
        ("key id", {"key": seeded_key_id}),
        ("key alias (resolved)", {"key": ALIAS}),
        ("access key id", {"access_key_id": "AKIA0000000000000042"}),
        ("read-only true (95%)", {"read_only": "true"}),
        ("read-only false (5%)", {"read_only": "false"}),
        ("error code NotFoundException", {"error_code": "NotFoundException"}),
        ("denied only", {"denied_only": "true"}),
        ("source IP address", {"source_ip": "10.0.42.45"}),
        ("free text tenant-042 (0.1%)", {"text": "tenant-042"}),
        ("free text 'decrypt' (30%)", {"text": "decrypt"}),
        ("free text ord-0500000 (rare)", {"text": "ord-0500000"}),
        ("free text, no match", {"text": "no-such-words"}),
    ]


def indexes_used(plan: str) -> list[str]:
    names = re.findall(r"(?:Index Scan|Index Only Scan)(?: Backward)? using (\w+)", plan)
    names += re.findall(r"Bitmap Index Scan on (\w+)", plan)
    if "Seq Scan" in plan:
        names.append("SEQ SCAN")
    return sorted(set(names))


def explain(params: dict) -> str:
    """EXPLAIN ANALYZE of the page's search query for these GET parameters."""
    from audit.forms import EventFilterForm
    from audit.selectors import LISTED_FIELDS, PAGE_SIZE, events_matching

    form = EventFilterForm(params)
    assert form.is_valid(), form.errors
    events = events_matching(account_id=ACCOUNT_ID, region=REGION,
                             event_filter=form.event_filter())
    return events.only(*LISTED_FIELDS)[: PAGE_SIZE + 1].explain(analyze=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


ROW = re.compile(rb"<tr>\s*<td><a href=\"/cloudtrail/events/")


def signed_in_client():
    from django.test import Client

    from grants.models import User

    client = Client()
    client.force_login(User.objects.get(account_id=ACCOUNT_ID, name="bench"))
    return client


def measure(requests: int) -> dict:
    from django.db import connection

    from keys.models import Alias

    client = signed_in_client()
    seeded_key_id = str(Alias.objects.get(account_id=ACCOUNT_ID, name=ALIAS).target_key_id)
    sql = {"count": 0, "seconds": 0.0}

    def counting(execute, statement, params, many, context):
        began = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            sql["count"] += 1
            sql["seconds"] += time.perf_counter() - began

    load_before = list(os.getloadavg())
    all_cases = cases(seeded_key_id)
    # The second page of the most common filter, with the token the first page gave.
    first = client.get("/cloudtrail/events", {"event_name": "Decrypt"}).content.decode()
    token = re.search(r'href="\?[^"]*next=([^"&]+)"', first)[1]
    all_cases.append(("event name Decrypt, page 2", {"event_name": "Decrypt",
                                                     "next": unquote(token)}))
    rows = []
    for name, params in all_cases:
        for _ in range(2):
            client.get("/cloudtrail/events", params)
        walls, cpus, sql_times, counts = [], [], [], set()
        with connection.execute_wrapper(counting):
            for _ in range(requests):
                sql.update(count=0, seconds=0.0)
                began, cpu = time.perf_counter(), time.process_time()
                response = client.get("/cloudtrail/events", params)
                walls.append((time.perf_counter() - began) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
                sql_times.append(sql["seconds"] * 1000)
                counts.add(sql["count"])
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: {response.status_code}\n"
                                       f"{response.content[:3000].decode()}")
        shown = len(ROW.findall(response.content))
        plan = explain(params)
        rows.append({
            "case": name, "params": params, "rows": shown, "requests": requests,
            "median_ms": round(statistics.median(walls), 2),
            "p95_ms": round(percentile(walls, 0.95), 2),
            "max_ms": round(max(walls), 2),
            "cpu_median_ms": round(statistics.median(cpus), 2),
            "sql_median_ms": round(statistics.median(sql_times), 2),
            "queries": sorted(counts), "indexes": indexes_used(plan), "plan": plan,
        })
        log(f"  {name:<40} rows {shown:>3}  median {rows[-1]['median_ms']:7.2f} ms  "
            f"p95 {rows[-1]['p95_ms']:7.2f} ms  {', '.join(rows[-1]['indexes'])}")
    return {"cases": rows, "all_met": all(row["p95_ms"] < TARGET_MS for row in rows),
            "load_average_before": load_before, "load_average_after": list(os.getloadavg())}


# --- child: measure one download ----------------------------------------------------------------

def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def export(fmt: str) -> dict:
    client = signed_in_client()
    client.get("/cloudtrail/events")  # imports, templates, the identity policy cache
    before = maxrss_mb()
    began = time.perf_counter()
    response = client.get("/cloudtrail/events/download", {"format": fmt})
    if response.status_code != 200 or not response.streaming:
        raise RuntimeError(f"download {fmt}: {response.status_code}")
    size = lines = chunks = 0
    first_byte = None
    for chunk in response.streaming_content:
        if first_byte is None:
            first_byte = time.perf_counter() - began
        size += len(chunk)
        lines += chunk.count(b"\n")
        chunks += 1
    response.close()
    seconds = time.perf_counter() - began
    after = maxrss_mb()
    growth = after - before
    log(f"  download {fmt}: {lines:,} lines, {size / 1e6:.1f} MB in {seconds:.1f} s, "
        f"peak RSS {before:.0f} -> {after:.0f} MB")
    return {"format": fmt, "lines": lines, "bytes": size, "chunks": chunks,
            "first_byte_s": round(first_byte or 0.0, 2), "seconds": round(seconds, 1),
            "maxrss_before_mb": round(before, 1), "maxrss_after_mb": round(after, 1),
            "maxrss_growth_mb": round(growth, 1), "met": growth < TARGET_EXPORT_MB}


# --- entry point -----------------------------------------------------------------------------

def child(args) -> int:
    import django

    django.setup()
    if args.fill:
        result = fill(args.events)
    elif args.measure:
        result = measure(args.requests)
    else:
        result = export(args.export)
    print(json.dumps(result))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="events in the searched account")
    parser.add_argument("--requests", type=int, default=20, help="measured requests per case")
    parser.add_argument("--refill", action="store_true",
                        help="drop the bench database first and fill it again")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--fill", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--export", choices=["jsonl", "csv"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill or args.measure or args.export:
        return child(args)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
