"""Load run: 16 concurrent boto3 clients for 60 s through gunicorn on PostgreSQL, with Celery
beat sweeping rotations, then every answer checked.

    .venv/bin/python bench/load.py [--clients 16] [--seconds 60] [--web-workers 4]
                                   [--sweep-interval 10] [--quick] [--output FILE]

What it does (figures in bench/README.md, "Load run"):

1. Starts a throwaway cluster (bench/_cluster.py): its own PostgreSQL and Redis on free loopback
   ports, the database migrated and seeded (bench/seed.py: an administrator with an access key),
   gunicorn (--web-workers sync workers, DEBUG off), a Celery worker and Celery beat with the
   sweep every --sweep-interval seconds.
2. Creates 8 symmetric keys with automatic rotation due at moments spread over the run (so beat
   rotates keys that the clients are using), and one ECC_NIST_P256 signing key.
3. Runs --clients threads, each with its own boto3 client (no retries: one call, one request),
   for --seconds, picking at random: GenerateDataKey 25%, Decrypt 25% (of a ciphertext this
   client got earlier; the plaintext must be what was encrypted), Encrypt 20%, Sign 10% (the
   signature is verified locally with the public key), DescribeKey 10%, ListKeys 9%, and
   CreateKey followed by ScheduleKeyDeletion 1%. Every answer's x-amzn-RequestId is kept.
4. Afterwards: every ciphertext returned (Encrypt and GenerateDataKey) is decrypted and must
   give back its plaintext; every answered request (success or AWS error) must have exactly one
   audit event with its request id; `manage.py audit_verify` must pass; no key may be
   half-rotated (its current version's material row exists and holds wrapped material, the
   versions are 1..current without a gap). Reports throughput, p50/p99 per operation, errors by
   type, and the rotations beat did during the run.

bench/faults.py runs the same load while it breaks things.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import random
import shlex
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _cluster import Cluster, install_signal_handlers, load_average  # noqa: E402
from api_throughput import REGION, log  # noqa: E402

RESULTS = BENCH_DIR / "results" / "load.json"
MIX = [("GenerateDataKey", 25), ("Decrypt", 25), ("Encrypt", 20), ("Sign", 10),
       ("DescribeKey", 10), ("ListKeys", 9), ("CreateKey", 1)]
CONTEXT = {"bench": "load"}


@dataclass
class Call:
    """One request: what it was, when, how long, and how it was answered."""

    operation: str
    started: float  # seconds since the run's start
    ms: float
    outcome: str  # "ok", an AWS error type, or "connection:<botocore exception>"
    status: int | None = None  # HTTP status; None when no response came back
    request_id: str = ""
    wrong: str = ""  # set when the answer was wrong (a mismatch is never expected)

    @property
    def answered(self) -> bool:
        return self.status is not None


@dataclass
class Run:
    calls: list[Call] = field(default_factory=list)
    # (ciphertext, expected plaintext, encryption context) of every Encrypt / GenerateDataKey.
    ciphertexts: list[tuple[bytes, bytes, dict | None]] = field(default_factory=list)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def kms_client(url: str, seed: dict):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "kms", endpoint_url=url, region_name=REGION,
        aws_access_key_id=seed["access_key_id"], aws_secret_access_key=seed["secret_access_key"],
        # One call is one request: a retried request would hide the first one's answer.
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                      connect_timeout=5, read_timeout=40, max_pool_connections=2))


def timed_call(run: Run, t0: float, operation: str, fn, *args, **kwargs):
    """Call fn, record the Call; returns (response or None, Call)."""
    from botocore.exceptions import BotoCoreError, ClientError

    start = time.monotonic()
    try:
        response = fn(*args, **kwargs)
    except ClientError as error:
        meta = error.response.get("ResponseMetadata", {})
        code = error.response.get("Error", {}).get("Code", "?")
        call = Call(operation, start - t0, (time.monotonic() - start) * 1000, code,
                    meta.get("HTTPStatusCode"), meta.get("RequestId", ""))
        response = None
    except BotoCoreError as error:
        # No HTTP answer at all (refused, reset, timed out): nothing the client can parse.
        call = Call(operation, start - t0, (time.monotonic() - start) * 1000,
                    f"connection:{type(error).__name__}")
        response = None
    else:
        meta = response["ResponseMetadata"]
        call = Call(operation, start - t0, (time.monotonic() - start) * 1000, "ok",
                    meta["HTTPStatusCode"], meta.get("RequestId", ""))
    with run.lock:
        run.calls.append(call)
    if call.status is None:
        # No server to talk to (refused or reset): pause as an SDK's retry back-off would,
        # rather than count thousands of instant refusals.
        time.sleep(0.1)
    return response, call


def client_loop(run: Run, t0: float, deadline: float, url: str, seed: dict, keys: list[str],
                sign_key: dict, rng: random.Random) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    kms = kms_client(url, seed)
    mine: list[tuple[bytes, bytes, dict | None]] = []
    names, weights = zip(*MIX, strict=True)
    while time.monotonic() < deadline:
        operation = rng.choices(names, weights)[0]
        if operation == "Decrypt" and not mine:
            operation = "Encrypt"
        key_id = rng.choice(keys)
        if operation == "Encrypt":
            plaintext = os.urandom(rng.randint(1, 512))
            answer, _ = timed_call(run, t0, operation, kms.encrypt, KeyId=key_id,
                                   Plaintext=plaintext, EncryptionContext=CONTEXT)
            if answer:
                mine.append((answer["CiphertextBlob"], plaintext, CONTEXT))
        elif operation == "GenerateDataKey":
            answer, _ = timed_call(run, t0, operation, kms.generate_data_key, KeyId=key_id,
                                   KeySpec="AES_256")
            if answer:
                mine.append((answer["CiphertextBlob"], answer["Plaintext"], None))
        elif operation == "Decrypt":
            blob, plaintext, context = rng.choice(mine)
            kwargs = {"EncryptionContext": context} if context else {}
            answer, call = timed_call(run, t0, operation, kms.decrypt, CiphertextBlob=blob,
                                      **kwargs)
            if answer and answer["Plaintext"] != plaintext:
                call.wrong = "Decrypt returned another plaintext"
        elif operation == "Sign":
            message = os.urandom(64)
            answer, call = timed_call(run, t0, operation, kms.sign, KeyId=sign_key["key_id"],
                                      Message=message, MessageType="RAW",
                                      SigningAlgorithm="ECDSA_SHA_256")
            if answer:
                try:
                    sign_key["public"].verify(answer["Signature"], message,
                                              ec.ECDSA(hashes.SHA256()))
                except InvalidSignature:
                    call.wrong = "signature does not verify"
        elif operation == "DescribeKey":
            answer, call = timed_call(run, t0, operation, kms.describe_key, KeyId=key_id)
            if answer and answer["KeyMetadata"]["KeyId"] != key_id:
                call.wrong = "DescribeKey answered for another key"
        elif operation == "ListKeys":
            timed_call(run, t0, operation, kms.list_keys, Limit=50)
        else:
            answer, _ = timed_call(run, t0, "CreateKey", kms.create_key,
                                   Description="load run, deleted at once")
            if answer:
                timed_call(run, t0, "ScheduleKeyDeletion", kms.schedule_key_deletion,
                           KeyId=answer["KeyMetadata"]["KeyId"], PendingWindowInDays=7)
    with run.lock:
        run.ciphertexts.extend(mine)


def setup_keys(cluster: Cluster, seed: dict, *, seconds: float) -> dict:
    """8 symmetric keys whose rotation falls due during the run, one signing key."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    keys = cluster.due_keys(8, due_in=3, spread=max(5.0, seconds * 0.7))
    kms = kms_client(cluster.url, seed)
    sign = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    public = load_der_public_key(kms.get_public_key(KeyId=sign["KeyId"])["PublicKey"])
    log(f"8 keys with rotation due over the run, signing key {sign['KeyId']}")
    return {"keys": keys, "sign_key": {"key_id": sign["KeyId"], "public": public}}


def run_load(cluster: Cluster, seed: dict, material: dict, *, clients: int, seconds: float,
             faults: list[tuple[float, str, object]] = (), seed_value: int = 1) -> Run:
    """Run the clients for `seconds`; each (at, name, fn) of `faults` is called at `at` s."""
    run = Run()
    t0 = time.monotonic()
    deadline = t0 + seconds
    threads = [threading.Thread(
        target=client_loop, name=f"client-{n}",
        args=(run, t0, deadline, cluster.url, seed, material["keys"] + [seed["key_id"]],
              material["sign_key"], random.Random(seed_value * 1000 + n)))
        for n in range(clients)]
    for thread in threads:
        thread.start()
    for at, name, fn in faults:
        pause = t0 + at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        log(f"t={time.monotonic() - t0:5.1f}s fault: {name} (load average {load_average()})")
        fn()
        log(f"t={time.monotonic() - t0:5.1f}s fault done: {name}")
    for thread in threads:
        thread.join()
    run.seconds = time.monotonic() - t0
    return run


# --- checks ----------------------------------------------------------------------------------

def decrypt_all(cluster: Cluster, seed: dict, run: Run, *, clients: int) -> dict:
    """Decrypt every ciphertext the run got back; each must give its plaintext. These requests
    are answered requests too: they join the audit check."""
    checks = Run()
    t0 = time.monotonic()
    todo = list(run.ciphertexts)
    failures = collections.Counter()

    def worker(items):
        kms = kms_client(cluster.url, seed)
        for blob, plaintext, context in items:
            kwargs = {"EncryptionContext": context} if context else {}
            answer, call = timed_call(checks, t0, "Decrypt (check)", kms.decrypt,
                                      CiphertextBlob=blob, **kwargs)
            if answer is None:
                failures[call.outcome] += 1
            elif answer["Plaintext"] != plaintext:
                call.wrong = "check Decrypt returned another plaintext"

    threads = [threading.Thread(target=worker, args=(todo[n::clients],)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wrong = sum(1 for call in checks.calls if call.wrong)
    run.calls.extend(checks.calls)
    return {"ciphertexts": len(todo), "decrypted": len(todo) - sum(failures.values()) - wrong,
            "failed": dict(failures), "wrong": wrong,
            "seconds": round(time.monotonic() - t0, 1)}


def audit_check(cluster: Cluster, seed: dict, calls: list[Call], since: datetime.datetime) -> dict:
    """Every answered request has exactly one audit event with its request id.

    A request answered with a 5xx while the database was down cannot have been audited (the
    event has nowhere to go); those are counted apart, and must all be 5xx. Events of this
    access key whose request id no client saw are requests committed whose answer was lost (a
    worker killed after the commit)."""
    answered = [call for call in calls if call.answered]
    ids = [call.request_id for call in answered]
    counts = dict(cluster.query(
        "SELECT request_id, count(*) FROM audit_auditevent WHERE request_id = ANY(%s) "
        "GROUP BY request_id", (ids,)))
    missing = [call for call in answered if counts.get(call.request_id, 0) == 0]
    duplicated = sum(1 for request_id in set(ids) if counts.get(request_id, 0) > 1)
    missing_acknowledged = [call for call in missing if call.status < 500]
    unseen = cluster.query(
        "SELECT count(*) FROM audit_auditevent WHERE access_key_id = %s AND event_time >= %s "
        "AND NOT (request_id = ANY(%s))", (seed["access_key_id"], since, ids))[0][0]
    return {
        "answered_requests": len(answered),
        "events_for_answered_requests": sum(counts.values()),
        "answered_without_event": len(missing),
        "answered_without_event_by_type": dict(collections.Counter(c.outcome for c in missing)),
        "acknowledged_without_event": len(missing_acknowledged),
        "request_ids_with_several_events": duplicated,
        "events_of_requests_never_answered": unseen,
        "ok": not missing_acknowledged and not duplicated and all(
            call.status >= 500 for call in missing),
        "every_answered_request_audited": not missing and not duplicated,
    }


def key_integrity(cluster: Cluster) -> dict:
    """No half-rotated key: every key's current version has a material row with wrapped
    material, and its versions run 1..current without a gap (material generated here; keys of
    imported material may wait for their material)."""
    rows = cluster.query("""
        SELECT k.id, k.current_version,
               count(m.id), coalesce(max(m.version), 0), coalesce(min(m.version), 0),
               bool_or(m.version = k.current_version AND length(m.wrapped) > 0)
        FROM keys_key k LEFT JOIN keys_keymaterial m ON m.key_id = k.id
        WHERE k.origin = 'AWS_KMS'
        GROUP BY k.id, k.current_version""")
    bad = [str(row[0]) for row in rows
           if not (row[5] and row[2] == row[3] == row[1] and row[4] == 1)]
    versions = collections.Counter(row[1] for row in rows)
    return {"keys": len(rows), "half_rotated_or_gapped": len(bad), "bad_key_ids": bad[:10],
            "keys_by_current_version": {str(k): v for k, v in sorted(versions.items())},
            "ok": not bad}


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


def summarize(run: Run, *, window: tuple[float, float] | None = None) -> dict:
    """Requests, throughput, p50/p99 per operation and errors by type of the run's own calls."""
    calls = [call for call in run.calls if call.operation != "Decrypt (check)"]
    if window:
        calls = [call for call in calls if window[0] <= call.started < window[1]]
    per_op = {}
    for operation in sorted({call.operation for call in calls}):
        mine = [call for call in calls if call.operation == operation]
        ok = [call.ms for call in mine if call.outcome == "ok"]
        per_op[operation] = {"requests": len(mine), "ok": len(ok),
                             "p50_ms": percentile(ok, 0.50), "p99_ms": percentile(ok, 0.99)}
    all_ms = [call.ms for call in calls]
    errors = collections.Counter(f"{call.outcome} ({call.status})" if call.status else call.outcome
                                 for call in calls if call.outcome != "ok")
    return {"requests": len(calls), "answered": sum(1 for call in calls if call.answered),
            "ok": sum(1 for call in calls if call.outcome == "ok"),
            "requests_per_s": round(len(calls) / run.seconds, 1) if run.seconds else 0,
            "p50_ms": percentile(all_ms, 0.50), "p99_ms": percentile(all_ms, 0.99),
            "errors_by_type": dict(errors.most_common()),
            "wrong_answers": sum(1 for call in calls if call.wrong),
            "per_operation": per_op}


def rotations_since(cluster: Cluster, since: datetime.datetime) -> int:
    return cluster.query("SELECT count(*) FROM audit_auditevent WHERE event_name = 'RotateKey' "
                         "AND event_type = 'AwsServiceEvent' AND error_code = '' "
                         "AND event_time >= %s", (since,))[0][0]


def final_checks(cluster: Cluster, seed: dict, run: Run, since: datetime.datetime, *,
                 clients: int) -> dict:
    decrypts = decrypt_all(cluster, seed, run, clients=clients)
    audit = audit_check(cluster, seed, run.calls, since)
    chain_ok, chain_line = cluster.audit_verify()
    keys = key_integrity(cluster)
    wrong = sum(1 for call in run.calls if call.wrong)
    return {"decrypt_check": decrypts, "audit": audit,
            "chain": {"verified": chain_ok, "audit_verify": chain_line}, "keys": keys,
            "wrong_answers_total": wrong,
            "ok": (chain_ok and audit["ok"] and keys["ok"] and wrong == 0
                   and decrypts["decrypted"] == decrypts["ciphertexts"])}


def print_summary(title: str, summary: dict, checks: dict) -> None:
    print(f"\n== {title}")
    print(f"requests {summary['requests']} ({summary['requests_per_s']} req/s), answered "
          f"{summary['answered']}, ok {summary['ok']}, p50 {summary['p50_ms']} ms, "
          f"p99 {summary['p99_ms']} ms, wrong answers {summary['wrong_answers']}")
    print(f"{'operation':<22}{'requests':>9}{'ok':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for name, row in summary["per_operation"].items():
        print(f"{name:<22}{row['requests']:>9}{row['ok']:>8}{row['p50_ms']:>9}{row['p99_ms']:>9}")
    print(f"errors by type: {summary['errors_by_type'] or 'none'}")
    audit = checks["audit"]
    print(f"audit: {audit['events_for_answered_requests']} events for {audit['answered_requests']} "
          f"answered requests; without event {audit['answered_without_event']} "
          f"{audit['answered_without_event_by_type']}; acknowledged without event "
          f"{audit['acknowledged_without_event']}; duplicated "
          f"{audit['request_ids_with_several_events']}; events of unanswered requests "
          f"{audit['events_of_requests_never_answered']}")
    print(f"decrypt check: {checks['decrypt_check']}")
    print(f"chain: {checks['chain']}; keys: {checks['keys']['keys']} checked, "
          f"{checks['keys']['half_rotated_or_gapped']} half-rotated, versions "
          f"{checks['keys']['keys_by_current_version']}")
    print(f"ALL CHECKS {'PASSED' if checks['ok'] else 'FAILED'}")


def write_result(path: Path, name: str, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = result
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    log(f"wrote {path} [{name}]")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--sweep-interval", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="a short smoke run: 4 clients, 8 s")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.seconds = 4, 8
    install_signal_handlers()
    command = shlex.join([".venv/bin/python", "bench/load.py",
                          *(sys.argv[1:] if argv is None else argv)])
    cluster = Cluster(web_workers=args.web_workers, sweep_interval=args.sweep_interval)
    try:
        seed = cluster.start()
        material = setup_keys(cluster, seed, seconds=args.seconds)
        since = datetime.datetime.now(datetime.UTC)
        load_before = load_average()
        log(f"load run: {args.clients} clients, {args.seconds:.0f} s (load average {load_before})")
        run = run_load(cluster, seed, material, clients=args.clients, seconds=args.seconds)
        load_after = load_average()
        summary = summarize(run)
        checks = final_checks(cluster, seed, run, since, clients=args.clients)
        # Counted after the checks: a sweep that started during the run has finished by then.
        rotated = rotations_since(cluster, since)
    finally:
        cluster.close()
    summary["rotations_by_beat_during_run"] = rotated
    print_summary(f"load run, {args.clients} clients, {args.seconds:.0f} s, rotations by beat: "
                  f"{rotated}", summary, checks)
    write_result(args.output, "quick" if args.quick else "load", {
        "command": command, "started_utc": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_average_before": load_before, "load_average_after": load_after,
        "clients": args.clients, "seconds": args.seconds, "web_workers": args.web_workers,
        "summary": summary, "checks": checks})
    return 0 if checks["ok"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
