"""What the audit hash chain costs per event: appends per second, in-process, on PostgreSQL.

    .venv/bin/python bench/audit_append.py [--events 2000] [--threads 8] [--rounds 3]
                                           [--verify 100000]

Drops and recreates its own database `kmsconsole_bench_audit_append` (never another bench's),
migrates it, then times three ways of writing the same Encrypt event, each in its own
transaction, one after the other (N events each) and then from T threads at once (T
connections, N events in all):

1. plain INSERT: an AuditEvent with the fields record() fills, saved with force_insert: the
   floor, what any audit row costs;
2. record() without the chain: audit.recording.record() with its chain step replaced, in this
   process only, by the plain INSERT it wrapped (what record() cost before the chain);
3. record() as shipped: chain_append locks and advances the head, hashes, INSERTs, stores the
   new hash.

The measurements alternate in R rounds (load from elsewhere on the machine then spreads over
all three) and each figure is the median of the rounds. Threads share the GIL, so the threaded
figures show how many commits can be in flight at once rather than CPU parallelism.
Statements per event are counted with Django's execute_wrapper (BEGIN/COMMIT not included).
--verify N appends N more events with record() (1000 per transaction, to write them quickly)
and times chain_verify() over the whole chain.
Settings: DEBUG off (Django keeps no query log), LOG_LEVEL WARNING.
"""

import argparse
import contextlib
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _fresh_django import fresh_django  # noqa: E402  (bench/, the script's directory)

BENCH_DB = "kmsconsole_bench_audit_append"


def configure() -> None:
    fresh_django(BENCH_DB, allowed_host="127.0.0.1")


def encrypt_operation():
    """An Encrypt event as the API records it (a user, an encryption context, one key)."""
    from audit.recording import Operation
    from grants.principals import Caller, Principal

    account = "111122223333"
    principal = Principal(account_id=account, arn=f"arn:aws:iam::{account}:user/bench",
                          type="IAMUser", principal_id="AIDABENCHBENCHBENCH01",
                          user_name="bench", access_key_id="AKIABENCHBENCH000001")
    caller = Caller(principal=principal, region="us-east-1", source_ip="192.0.2.10",
                    user_agent="kmsconsole-bench/1")
    op = Operation(caller, "Encrypt", True, {
        "keyId": "alias/bench", "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "encryptionContext": {"purpose": "bench", "tenant": "acme"}})
    op.resources = [{"accountId": account, "type": "AWS::KMS::Key",
                     "ARN": f"arn:aws:kms:us-east-1:{account}:key/1234abcd-12ab-34cd-56ef"}]
    op.key_id = "1234abcd-12ab-34cd-56ef"
    return op


def plain_insert(op) -> None:
    from django.db import transaction
    from django.utils import timezone

    from audit.models import AuditEvent
    from audit.recording import searchable_text, user_name_of

    identity = op.caller.principal.user_identity()
    event = AuditEvent(
        event_time=timezone.now(), event_name=op.event_name, event_source=op.event_source,
        event_type="AwsApiCall", aws_region=op.caller.region,
        recipient_account_id=op.caller.account_id, user_identity=identity,
        user_name=user_name_of(identity), principal_arn=op.caller.principal.arn,
        access_key_id=op.caller.principal.access_key_id, source_ip_address=op.caller.source_ip,
        user_agent=op.caller.user_agent, request_parameters=op.request_parameters,
        request_id=op.caller.request_id, read_only=op.read_only, resources=op.resources,
        key_id=op.key_id, source=op.caller.source)
    event.search_text = searchable_text(event)
    with transaction.atomic():
        event.save(force_insert=True)


def recorded(op) -> None:
    from django.db import transaction

    from audit import recording

    with transaction.atomic():
        recording.record(op)


@contextlib.contextmanager
def chain_step_removed(removed: bool):
    """record() with chain_append swapped for the INSERT it wraps, in this process only, for a
    whole measurement (all threads)."""
    from audit import recording

    shipped = recording.chain_append
    if removed:
        recording.chain_append = lambda event: event.save(force_insert=True)
    try:
        yield
    finally:
        recording.chain_append = shipped


def statements_per_event(method, op) -> int:
    from django.db import connection

    count = 0

    def counting(execute, sql, params, many, context):
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counting):
        method(op)
    return count


def timed_sequential(method, op, events: int) -> dict:
    latencies = []
    started = time.perf_counter()
    for _ in range(events):
        one = time.perf_counter()
        method(op)
        latencies.append(time.perf_counter() - one)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"per_s": events / elapsed, "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000}


def timed_threads(method, op, events: int, threads: int) -> dict:
    from django.db import connections

    start = threading.Barrier(threads + 1)
    failures = []

    def worker():
        try:
            start.wait()
            for _ in range(events // threads):
                method(op)
        except Exception as error:
            failures.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return {"per_s": (events // threads) * threads / elapsed}


def verify_rate(op, events: int) -> dict:
    from django.db import transaction

    from audit import recording
    from audit.chain import chain_verify

    for start in range(0, events, 1000):
        with transaction.atomic():
            for _ in range(min(1000, events - start)):
                recording.record(op)
    started = time.perf_counter()
    result = chain_verify()
    elapsed = time.perf_counter() - started
    assert result.ok, result.summary()
    return {"events": result.events_checked, "seconds": elapsed,
            "per_s": result.events_checked / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events per measurement")
    parser.add_argument("--threads", type=int, default=8, help="concurrent writers")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians reported)")
    parser.add_argument("--verify", type=int, default=0, metavar="N",
                        help="also append N events and time chain_verify() over the chain")
    args = parser.parse_args()
    configure()
    op = encrypt_operation()
    methods = [("plain AuditEvent INSERT", plain_insert, False),
               ("record() without the chain", recorded, True),
               ("record() with the chain (shipped)", recorded, False)]
    print(f"{'method':36} {'stmts':>5} {'seq/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{args.threads:>2} threads/s")
    from audit.chain import chain_verify

    runs = {name: [] for name, _, _ in methods}
    # Rounds alternate the methods, so that load from elsewhere on the machine spreads over
    # all three; each figure is the median of the rounds.
    for _ in range(args.rounds):
        for name, method, removed in methods:
            with chain_step_removed(removed):
                for _ in range(200):  # warm up: connection, caches, table pages
                    method(op)
                runs[name].append((statements_per_event(method, op),
                                   timed_sequential(method, op, args.events),
                                   timed_threads(method, op, args.events, args.threads)))
    for name, measured in runs.items():
        def median(figure, measured=measured):
            return statistics.median(figure(run) for run in measured)
        print(f"{name:36} {measured[0][0]:>5} {median(lambda r: r[1]['per_s']):>8.0f} "
              f"{median(lambda r: r[1]['p50_ms']):>7.3f} "
              f"{median(lambda r: r[1]['p99_ms']):>7.3f} "
              f"{median(lambda r: r[2]['per_s']):>12.0f}", flush=True)
    result = chain_verify()
    print(f"chain after the runs: {result.summary()}")
    if args.verify:
        rate = verify_rate(op, args.verify)
        print(f"chain_verify: {rate['events']} events in {rate['seconds']:.1f} s "
              f"({rate['per_s']:.0f} events/s)")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
