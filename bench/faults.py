"""Fault runs: the load of bench/load.py while a dependency is broken, then the same checks.

    .venv/bin/python bench/faults.py {postgres,redis,celery,gunicorn,all}
                                     [--clients 16] [--web-workers 4] [--output FILE]

Each run starts its own throwaway cluster (bench/_cluster.py: PostgreSQL, Redis, gunicorn,
Celery worker and beat on free loopback ports; the machine's own PostgreSQL and Redis are never
touched), runs the load and, at a fixed moment, one fault:

- postgres: `pg_ctl restart -m fast` of the throwaway cluster 15 s into a 40 s load.
- redis: redis-server stopped 10 s into a 60 s load and started again 30 s later. While it is
  down a key's rotation falls due; after Redis is back the next sweep must rotate it.
- celery: 3,000 keys due for rotation; once the worker's sweep has rotated 300 of them, the
  worker (solo pool: the process that sweeps) gets SIGKILL; no half-rotated key may be left;
  a new worker starts and the next sweep must rotate the rest, each key exactly once.
- gunicorn: every gunicorn worker gets SIGKILL 10 s into a 40 s load (the master starts new
  ones), then at 25 s the master itself is stopped (SIGTERM, graceful) and started again.

Each reports: requests, errors by type (with what boto3 raised when no HTTP answer came), p99,
audit events against answered requests (every acknowledged request has its event), the chain
verified by `manage.py audit_verify`, wrong answers (none allowed), half-rotated keys (none
allowed), and the requests after recovery (all must succeed). Expected during an outage: AWS
5xx fault types (DependencyTimeoutException for the database), never an HTML page.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import signal
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _cluster import Cluster, install_signal_handlers, load_average  # noqa: E402
from api_throughput import log  # noqa: E402
from load import (  # noqa: E402
    final_checks,
    print_summary,
    run_load,
    setup_keys,
    summarize,
    write_result,
)

RESULTS = BENCH_DIR / "results" / "faults.json"
SETTLE_S = 3  # requests started this long after recovery must all succeed


class Clock:
    """Moments of a fault, in seconds since the load started."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.monotonic() - self.t0, 2)


def key_version(cluster: Cluster, key_id: str) -> int:
    return cluster.query("SELECT current_version FROM keys_key WHERE id = %s", (key_id,))[0][0]


def wait_for(condition, *, timeout: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


# --- the faults ------------------------------------------------------------------------------

def fault_postgres(cluster: Cluster, seed: dict, material: dict, args) -> dict:
    clock = Clock()

    def restart():
        clock.mark("restart_begins")
        cluster.restart_postgres()
        clock.mark("restarted")

    run = run_load(cluster, seed, material, clients=args.clients, seconds=40,
                   faults=[(15, "pg_ctl restart -m fast", restart)])
    return {"run": run, "marks": clock.marks, "recovered_at": clock.marks["restarted"]}


def fault_redis(cluster: Cluster, seed: dict, material: dict, args) -> dict:
    clock = Clock()
    [late_key] = cluster.due_keys(1, due_in=24 * 3600)  # rotation on, not due yet
    came_back = []

    def stop():
        cluster.stop_redis()
        clock.mark("redis_stopped")
        # Due now, while the broker is down: beat cannot send the sweep.
        cluster.query("UPDATE keys_key SET next_rotation_date = now() WHERE id = %s "
                      "RETURNING id", (late_key,))
        clock.mark("key_due")

    def start():
        cluster.start_redis()
        clock.mark("redis_started")
        came_back.append(datetime.datetime.now(datetime.UTC))

    run = run_load(cluster, seed, material, clients=args.clients, seconds=60,
                   faults=[(10, "redis-server stopped", stop), (40, "redis-server started", start)])
    rotated = wait_for(lambda: key_version(cluster, late_key) == 2, timeout=120)
    rotated_at = cluster.query(
        "SELECT min(event_time) FROM audit_auditevent WHERE event_name = 'RotateKey' "
        "AND key_id = %s AND error_code = ''", (late_key,))[0][0]
    return {"run": run, "marks": clock.marks, "recovered_at": clock.marks["redis_started"],
            "key_due_during_outage": {
                "key_id": late_key, "rotated": rotated,
                "rotated_seconds_after_redis_back": (
                    round((rotated_at - came_back[0]).total_seconds(), 1) if rotated_at else None),
                "version_now": key_version(cluster, late_key)}}


def fault_celery(cluster: Cluster, seed: dict, material: dict, args) -> dict:
    clock = Clock()
    due = cluster.due_keys(args.due_keys)  # due a minute ago: the next sweep takes them all
    log(f"{len(due)} keys due for rotation")
    state = {}

    def kill_mid_sweep():
        started = wait_for(lambda: rotated_keys(cluster, due) >= args.kill_after,
                           timeout=120, step=0.1)
        state["rotated_before_kill"] = rotated_keys(cluster, due)
        cluster.kill_worker()
        clock.mark("worker_killed")
        state["sweep_was_running"] = started and state["rotated_before_kill"] < len(due)
        time.sleep(1)
        state["rotated_just_after_kill"] = rotated_keys(cluster, due)
        state["half_rotated_just_after_kill"] = half_rotated(cluster)

    def restart():
        cluster.start_worker()
        clock.mark("worker_started")

    run = run_load(cluster, seed, material, clients=args.clients, seconds=45,
                   faults=[(0, "SIGKILL the Celery worker mid-sweep", kill_mid_sweep),
                           (25, "Celery worker started again", restart)])
    done = wait_for(lambda: rotated_keys(cluster, due) >= len(due), timeout=300, step=1)
    clock.mark("sweep_finished" if done else "gave_up_waiting")
    versions = dict(cluster.query(
        "SELECT current_version, count(*) FROM keys_key WHERE id = ANY(%s::uuid[]) "
        "GROUP BY current_version", (due,)))
    events = cluster.query(
        "SELECT count(*), count(DISTINCT key_id) FROM audit_auditevent "
        "WHERE event_name = 'RotateKey' AND error_code = '' AND key_id = ANY(%s)", (due,))[0]
    state.update({"due_keys": len(due), "all_rotated": done,
                  "due_keys_by_version": {str(k): v for k, v in versions.items()},
                  "rotate_events": events[0], "keys_with_a_rotate_event": events[1],
                  "each_rotated_exactly_once": versions == {2: len(due)}
                  and events[0] == events[1] == len(due)})
    return {"run": run, "marks": clock.marks, "recovered_at": clock.marks["worker_started"],
            "sweep": state}


def rotated_keys(cluster: Cluster, key_ids: list[str]) -> int:
    """How many of `key_ids` a sweep has rotated (successful RotateKey service events)."""
    return cluster.query(
        "SELECT count(*) FROM audit_auditevent WHERE event_name = 'RotateKey' "
        "AND error_code = '' AND key_id = ANY(%s)", (key_ids,))[0][0]


def half_rotated(cluster: Cluster) -> int:
    from load import key_integrity

    return key_integrity(cluster)["half_rotated_or_gapped"]


def fault_gunicorn(cluster: Cluster, seed: dict, material: dict, args) -> dict:
    clock = Clock()
    state = {}

    def kill_workers():
        workers = cluster.gunicorn_workers()
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        clock.mark("workers_killed")
        state["workers_killed"] = len(workers)
        ok = wait_for(lambda: len(set(cluster.gunicorn_workers()) - set(workers))
                      >= cluster.web_workers, timeout=30, step=0.1)
        clock.mark("workers_replaced" if ok else "workers_not_replaced")

    def restart_master():
        clock.mark("master_stop")
        cluster.stop_gunicorn()
        cluster.start_gunicorn()
        clock.mark("master_started")

    run = run_load(cluster, seed, material, clients=args.clients, seconds=40,
                   faults=[(10, "SIGKILL every gunicorn worker", kill_workers),
                           (25, "gunicorn master stopped and started", restart_master)])
    return {"run": run, "marks": clock.marks, "recovered_at": clock.marks["master_started"],
            "gunicorn": state}


FAULTS = {"postgres": fault_postgres, "redis": fault_redis, "celery": fault_celery,
          "gunicorn": fault_gunicorn}


def run_fault(name: str, args) -> dict:
    cluster = Cluster(web_workers=args.web_workers, sweep_interval=args.sweep_interval)
    try:
        seed = cluster.start()
        material = setup_keys(cluster, seed, seconds=40)
        since = datetime.datetime.now(datetime.UTC)
        load_before = load_average()
        log(f"fault run {name}: {args.clients} clients (load average {load_before})")
        outcome = FAULTS[name](cluster, seed, material, args)
        load_after = load_average()
        run = outcome.pop("run")
        summary = summarize(run)
        after = summarize(run, window=(outcome["recovered_at"] + SETTLE_S, run.seconds))
        checks = final_checks(cluster, seed, run, since, clients=args.clients)
    finally:
        cluster.close()
    failed_calls = [call for call in run.calls if call.outcome != "ok"]
    outcome.update({
        "fault": name, "started_utc": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_average_before": load_before, "load_average_after": load_after,
        "clients": args.clients, "summary": summary,
        "errors_between_s": ([round(min(c.started for c in failed_calls), 1),
                              round(max(c.started for c in failed_calls), 1)]
                             if failed_calls else None),
        # When the errors happened: {second of the run: {error type: count}}.
        "errors_by_second": errors_by_second(failed_calls),
        "after_recovery": {key: after[key] for key in ("requests", "ok", "errors_by_type",
                                                       "p99_ms", "wrong_answers")},
        "html_or_unparsable_answers": sum(1 for c in run.calls
                                          if c.answered and c.outcome[:1].isdigit()),
        "checks": checks})
    recovered = after["requests"] > 0 and after["ok"] == after["requests"]
    outcome["ok"] = checks["ok"] and recovered and outcome["html_or_unparsable_answers"] == 0
    print_summary(f"fault run: {name}; marks {outcome['marks']}", summary, checks)
    print(f"errors by second: {outcome['errors_by_second']}")
    print(f"errors between t={outcome['errors_between_s']} s; after recovery (from "
          f"t={outcome['recovered_at'] + SETTLE_S:.1f} s): {outcome['after_recovery']}")
    for extra in ("key_due_during_outage", "sweep", "gunicorn"):
        if extra in outcome:
            print(f"{extra}: {outcome[extra]}")
    print(f"FAULT RUN {name}: {'PASSED' if outcome['ok'] else 'FAILED'}")
    return outcome


def errors_by_second(calls) -> dict:
    timeline: dict[int, dict[str, int]] = {}
    for call in calls:
        second = timeline.setdefault(int(call.started), {})
        second[call.outcome] = second.get(call.outcome, 0) + 1
    return dict(sorted(timeline.items()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fault", choices=[*FAULTS, "all"])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--sweep-interval", type=int, default=10)
    parser.add_argument("--due-keys", type=int, default=3000, help="celery: keys due at once")
    parser.add_argument("--kill-after", type=int, default=300,
                        help="celery: SIGKILL once the sweep has rotated this many keys")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    install_signal_handlers()
    command = shlex.join([".venv/bin/python", "bench/faults.py",
                          *(sys.argv[1:] if argv is None else argv)])
    names = list(FAULTS) if args.fault == "all" else [args.fault]
    ok = True
    for name in names:
        outcome = run_fault(name, args)
        outcome["command"] = command
        write_result(args.output, name, outcome)
        ok = ok and outcome["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
