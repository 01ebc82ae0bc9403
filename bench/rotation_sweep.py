"""One scheduled sweep over 10,000 keys due for rotation at once, on PostgreSQL (issue 8).

    .venv/bin/python bench/rotation_sweep.py [--keys 10000] [--tracemalloc]

Drops and recreates its own database `kmsconsole_bench_rotation_sweep` (never another bench's),
migrates it, then creates N symmetric keys with automatic rotation on and their rotation date
passed: key rows with bulk_create, and each key's first material version generated and
wrapped under the root key exactly as keys/materials.add_material does, also bulk-inserted
(creating them through CreateKey would take longer than what is measured).

It then runs keys.sweep.sweep() once in this process: that is what a Celery worker runs when
beat fires the kms-sweep task. Each key is claimed, rotated (new material generated, wrapped,
stored), rescheduled and audited (RotateKey service event, appended to the hash chain) in its
own transaction. Reported: wall time, keys per second, SQL statements per key (BEGIN/COMMIT
not counted), and peak RSS of the process before and after the sweep. --tracemalloc also
reports the peak of Python allocations during the sweep (tracing slows it: its time is not
the figure). Afterwards it checks that every key has exactly two versions, that there is one
RotateKey event per key, and that the audit chain verifies.
Settings: DEBUG off (Django keeps no query log), LOG_LEVEL WARNING.
"""

import argparse
import datetime
import resource
import secrets
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _fresh_django import fresh_django  # noqa: E402  (bench/, the script's directory)

BENCH_DB = "kmsconsole_bench_rotation_sweep"
ACCOUNT_ID = "111122223333"
REGION = "us-east-1"
CREATE_BATCH = 1000


def configure() -> None:
    fresh_django(BENCH_DB, allowed_host="localhost")


def create_due_keys(count: int) -> None:
    """`count` enabled symmetric keys, rotation on (90 days), due since a minute ago."""
    from django.db import transaction
    from django.utils import timezone

    from grants.models import Account
    from keys.crypto.material import generate_key_material
    from keys.models import Key, KeyMaterial
    from keys.policies import api_default_policy
    from keys.vault import wrap_material

    account, _ = Account.objects.get_or_create(id=ACCOUNT_ID)
    now = timezone.now()
    policy = api_default_policy(ACCOUNT_ID)
    for start in range(0, count, CREATE_BATCH):
        keys = [Key(account=account, region=REGION, key_spec="SYMMETRIC_DEFAULT",
                    key_usage="ENCRYPT_DECRYPT", policy=policy, created_at=now,
                    current_version=1, rotation_enabled=True, rotation_period_days=90,
                    next_rotation_date=now - datetime.timedelta(minutes=1))
                for _ in range(min(CREATE_BATCH, count - start))]
        # The same rows add_material writes, one INSERT per batch instead of one per key.
        materials = [KeyMaterial(key=key, version=1, material_id=secrets.token_hex(32),
                                 wrapped=wrap_material(key_arn=key.arn, version=1,
                                                       material=generate_key_material(
                                                           "SYMMETRIC_DEFAULT")),
                                 created_at=now)
                     for key in keys]
        with transaction.atomic():
            Key.objects.bulk_create(keys)
            KeyMaterial.objects.bulk_create(materials)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also measure the peak of Python allocations (slower)")
    args = parser.parse_args()
    configure()

    from django.db import connection

    from audit.chain import chain_verify
    from audit.models import AuditEvent
    from keys.models import Key, KeyMaterial
    from keys.sweep import sweep

    started = time.perf_counter()
    create_due_keys(args.keys)
    print(f"created {args.keys:,} due keys in {time.perf_counter() - started:.1f} s")

    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    rss_before = peak_rss_mb()
    if args.tracemalloc:
        tracemalloc.start()
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        result = sweep()
        elapsed = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
    rss_after = peak_rss_mb()

    print(result.summary())
    print(f"sweep: {elapsed:.1f} s wall, {args.keys / elapsed:,.0f} keys/s, "
          f"{statements / args.keys:.1f} statements per key")
    print(f"peak RSS: {rss_before:.1f} MB before the sweep -> {rss_after:.1f} MB after")
    if traced_peak is not None:
        print(f"peak Python allocations during the sweep (tracemalloc): {traced_peak:.1f} MB")

    rotated = Key.objects.filter(current_version=2).count()
    versions = KeyMaterial.objects.count()
    events = AuditEvent.objects.filter(event_name="RotateKey", error_code="").count()
    assert rotated == args.keys, rotated
    assert versions == 2 * args.keys, versions
    assert events == args.keys, events
    verification = chain_verify()
    assert verification.ok, verification.summary()
    print(f"checked: {rotated:,} keys at version 2, {versions:,} material rows, "
          f"{events:,} RotateKey events, chain intact")
    target = "met" if elapsed < 60 else "MISSED"
    print(f"target (one sweep of {args.keys:,} keys under 60 s): {target}")


if __name__ == "__main__":
    main()
