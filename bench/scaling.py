"""API throughput with 1, 2 and 4 gunicorn workers: envelope encryption (GenerateDataKey, Decrypt).

    .venv/bin/python bench/scaling.py [--workers 1,2,4] [--rounds 3] [--duration 15]
                                      [--connections 8] [--max-load 1.5] [--quiet-wait 240]
                                      [--point-wait 60] [--output FILE]

The figures behind docs/deployment.md's "Scaling" (see bench/README.md, "Scaling"). It reuses
bench/api_throughput.py's machinery (database setup and seed, SigV4 signing, wrk parsing, /proc
CPU accounting, process handling) with its own database, `kmsconsole_bench_scaling`, so the two
benches never drop each other's database.

1. Waits (up to --quiet-wait s) until the 1-minute load average is under --max-load: the
   machine is shared with other engineers' test runs. Then drops, recreates, migrates and seeds
   the database (bench/seed.py: an account, a user with AdministratorAccess and an access key,
   one symmetric key), production mode, DEBUG off, loopback only.
2. For each round, for each worker count (interleaved, so that a change of load on the machine
   spreads over all of them): starts `gunicorn kmsconsole.wsgi --workers W` (sync workers),
   gets a data key once, signs ONE GenerateDataKey (AES_256, an encryption context) and ONE
   Decrypt of that data key (same context), and has wrk replay the two in turn
   (`wrk -t2 -c8 --latency -s bench/replay_mix.lua`): what a client of the AWS Encryption SDK
   sends, one GenerateDataKey per message encrypted and one Decrypt per message read. Both are
   audited, so every request appends to the audit chain. A warm-up of --warmup s comes first.
3. Before each measured run it waits for the machine to be nearly idle (as api_throughput.py
   does); it records the load average (1, 5, 15 min, as `uptime` shows it) before and after,
   the CPU used per request by gunicorn, PostgreSQL and wrk, and what else ran. After the run it
   checks that the GenerateDataKey and Decrypt audit events committed equal the requests wrk
   completed (plus at most the connections still in flight), and no response was not a 200.
4. Prints one line per run and the median per worker count, writes bench/results/scaling.json.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path

import api_throughput as bench

# Module globals of api_throughput read at call time (kms_env, recreate_database, db_query,
# the /proc accounting of the bench database's backends): point them at this bench's database.
bench.BENCH_DB = "kmsconsole_bench_scaling"
RESULTS = bench.BENCH_DIR / "results" / "scaling.json"
REPLAY_MIX_LUA = bench.BENCH_DIR / "replay_mix.lua"
CONTEXT = {"purpose": "scaling-bench", "tenant": "acme"}
MIX = ("GenerateDataKey", "Decrypt")
log = bench.log


def signed(port: int, seed: dict, operation: str, payload: dict) -> dict:
    """One KMS request signed with botocore's SigV4 for Host 127.0.0.1:PORT."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = json.dumps(payload, separators=(",", ":")).encode()
    host = f"127.0.0.1:{port}"
    request = AWSRequest(method="POST", url=f"http://{host}/", data=body, headers={
        "Host": host,
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"TrentService.{operation}",
        "User-Agent": bench.USER_AGENT,
    })
    SigV4Auth(Credentials(seed["access_key_id"], seed["secret_access_key"]), "kms",
              bench.REGION).add_auth(request)
    return {"method": "POST", "path": "/", "headers": dict(request.headers.items()),
            "body": body, "signed_at": time.monotonic()}


def send(request: dict, port: int) -> dict:
    """Send a signed request once; it must get a 200."""
    headers = {k: v for k, v in request["headers"].items() if k.lower() != "host"}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=request["body"],
                                 headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{request['headers']['X-Amz-Target']} got {error.code}: "
                           f"{error.read()[:500]!r}") from None


def signed_mix(port: int, seed: dict) -> list[dict]:
    """A GenerateDataKey and a Decrypt of a data key made for the run, both checked once."""
    generate = signed(port, seed, "GenerateDataKey", {
        "KeyId": seed["key_id"], "KeySpec": "AES_256", "EncryptionContext": CONTEXT})
    data_key = send(generate, port)
    decrypt = signed(port, seed, "Decrypt", {
        "CiphertextBlob": data_key["CiphertextBlob"], "EncryptionContext": CONTEXT})
    if base64.b64decode(send(decrypt, port)["Plaintext"]) != base64.b64decode(
            data_key["Plaintext"]):
        raise RuntimeError("Decrypt did not give back the data key")
    return [generate, decrypt]


def write_requests_lua(requests: list[dict], path: Path) -> None:
    def one(request: dict) -> str:
        headers = ", ".join(f"[{bench.lua_string(k)}] = {bench.lua_string(v)}"
                            for k, v in request["headers"].items())
        return (f"  {{ method = {bench.lua_string(request['method'])}, "
                f"path = {bench.lua_string(request['path'])},\n    headers = {{ {headers} }},\n"
                f"    body = {bench.lua_string(request['body'])} }}")
    path.write_text("-- generated by bench/scaling.py: pre-signed requests, replayed in turn\n"
                    "return {\n" + ",\n".join(one(r) for r in requests) + "\n}\n")


def run_wrk(port: int, requests_lua: Path, *, duration: int, args) -> bench.WrkResult:
    # --timeout 10s: wrk's default (2 s) counts the first requests of freshly booted workers
    # on a busy machine as errors; a measured run must still have none (checked by the caller).
    argv = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{duration}s",
            "--timeout", "10s", "--latency", "-s", str(REPLAY_MIX_LUA),
            f"http://127.0.0.1:{port}/", "--", str(requests_lua)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return bench.parse_wrk(out.stdout, shlex.join(argv))


def audited() -> int:
    """Committed GenerateDataKey and Decrypt events without an error (separate connection)."""
    (count,), = bench.db_query(
        "SELECT count(*) FROM audit_auditevent WHERE error_code = '' AND event_name = ANY(%s)",
        (list(MIX),))
    return count


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def wait_for_load(args) -> list[float]:
    """Wait (up to --quiet-wait s) until the 1-minute load average is under --max-load."""
    deadline = time.monotonic() + args.quiet_wait
    while (load := load_average())[0] >= args.max_load and time.monotonic() < deadline:
        log(f"load average {load}: waiting for it to drop under {args.max_load}")
        time.sleep(10)
    log(f"load average {load}" + ("" if load[0] < args.max_load else
                                   f" (WARNING: still >= {args.max_load}; going on)"))
    return load


def measure_point(procs: bench.Processes, tmp: Path, args, env: dict, seed: dict, workers: int,
                  round_no: int) -> dict:
    """One measured run of the mix on a fresh gunicorn with `workers` sync workers."""
    port = bench.free_port()
    name = f"w{workers}-r{round_no}"
    log_path = tmp / f"gunicorn-{name}.log"
    argv = [str(bench.VENV_BIN / "gunicorn"), "kmsconsole.wsgi", "-b", f"127.0.0.1:{port}",
            "--workers", str(workers)]
    proc = procs.start(f"gunicorn ({name})", argv, env=env, log_path=log_path)
    try:
        bench.wait_for_http(f"http://127.0.0.1:{port}/healthz", proc, log_path)
        requests_lua = tmp / f"requests-{name}.lua"
        write_requests_lua(signed_mix(port, seed), requests_lua)
        if args.warmup:
            warm = run_wrk(port, requests_lua, duration=args.warmup, args=args)
            log(f"{name}: warm-up {warm.requests_per_s:.0f} req/s (not measured; socket "
                f"errors {warm.socket_errors}, non-200 {warm.non200})")
        bench.wait_until_quiet(argparse.Namespace(**{**vars(args),
                                                      "quiet_wait": args.point_wait}))
        time.sleep(1)  # the warm-up's last requests commit before the count
        audited_before, load_before = audited(), load_average()
        cpu_before = bench.cpu_snapshot(proc.pid)
        result = run_wrk(port, requests_lua, duration=args.duration, args=args)
        bench.require_clean(name, result)
        result.cpu = bench.cpu_per_request(cpu_before, bench.cpu_snapshot(proc.pid),
                                           result.requests, result.duration_s)
        load_after = load_average()
        time.sleep(2)  # the requests in flight when wrk stopped finish and commit
        events = audited() - audited_before
    finally:
        procs.stop(proc)
    audit_ok = result.requests <= events <= result.requests + args.connections
    cpu = result.cpu
    log(f"{name}: {result.requests_per_s:.1f} req/s, p50 {result.p50_ms:.2f} ms, p99 "
        f"{result.p99_ms:.2f} ms; load {load_before} -> {load_after}; CPU/request server "
        f"{cpu['server_us_per_request']} us, postgres {cpu['postgres_us_per_request']} us, "
        f"other {cpu['other_cores']} cores; audit events {events} for {result.requests} "
        f"requests -> {'OK' if audit_ok else 'MISMATCH'}")
    if not audit_ok:
        raise RuntimeError(f"{name}: {events} audit events for {result.requests} requests")
    result.disturbed = cpu["other_cores"] > args.max_other_cores
    return {"workers": workers, "round": round_no,
            "command": shlex.join(["gunicorn", "kmsconsole.wsgi", "-b", "127.0.0.1:PORT",
                                   "--workers", str(workers)]),
            "load_average_before": load_before, "load_average_after": load_after,
            "audit_events": events, **asdict(result)}


def summarize(runs: list[dict], workers: list[int]) -> list[dict]:
    summary = []
    for count in workers:
        mine = [run for run in runs if run["workers"] == count]
        summary.append({
            "workers": count,
            "requests_per_s": [run["requests_per_s"] for run in mine],
            "median_requests_per_s": round(statistics.median(
                run["requests_per_s"] for run in mine), 1),
            "median_p50_ms": round(statistics.median(run["p50_ms"] for run in mine), 2),
            "median_p99_ms": round(statistics.median(run["p99_ms"] for run in mine), 2),
            "load_average_1min_before": [run["load_average_before"][0] for run in mine],
        })
    return summary


def print_table(runs: list[dict], summary: list[dict]) -> None:
    print()
    print(f"{'workers':>7}{'round':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}"
          f"{'srv us/req':>11}{'pg us/req':>10}{'other cores':>12}  load average before -> after")
    for run in runs:
        cpu = run["cpu"]
        print(f"{run['workers']:>7}{run['round']:>6}{run['requests_per_s']:>9.1f}"
              f"{run['p50_ms']:>9.2f}{run['p99_ms']:>9.2f}{run['requests']:>10}"
              f"{cpu['server_us_per_request']:>11}{cpu['postgres_us_per_request']:>10}"
              f"{cpu['other_cores']:>12.2f}  {run['load_average_before']} -> "
              f"{run['load_average_after']}{'  DISTURBED' if run['disturbed'] else ''}")
    print()
    for row in summary:
        print(f"{row['workers']} worker(s): median {row['median_requests_per_s']} req/s "
              f"(runs {row['requests_per_s']}), p50 {row['median_p50_ms']} ms, "
              f"p99 {row['median_p99_ms']} ms")
    print()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=bench.int_list, default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per worker count")
    parser.add_argument("--duration", type=int, default=15, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load first")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--max-load", type=float, default=1.5,
                        help="wait for the 1-minute load average to be under this first")
    parser.add_argument("--quiet-wait", type=int, default=240,
                        help="seconds to wait for a quiet machine before going on anyway")
    parser.add_argument("--point-wait", type=int, default=60,
                        help="before each run, seconds to wait for the machine to be nearly "
                             "idle (other work using under --max-other-cores)")
    parser.add_argument("--max-other-cores", type=float, default=0.35,
                        help="a run during which other work used more than this is flagged")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.duration + args.warmup + 30 > bench.MAX_RUN_S:
        parser.error("--duration + --warmup must stay well inside the signature's 5 minutes")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.datetime.now(datetime.UTC)
    command = shlex.join([".venv/bin/python", "bench/scaling.py",
                          *(sys.argv[1:] if argv is None else argv)])
    procs = bench.Processes()
    tmp = Path(tempfile.mkdtemp(prefix="kmsconsole-scaling-"))
    try:
        load_at_start = wait_for_load(args)
        bench.recreate_database()
        env = bench.kms_env(tmp)
        seed = bench.migrate_and_seed(env)
        machine = bench.machine_info()
        runs = [measure_point(procs, tmp, args, env, seed, workers, round_no)
                for round_no in range(1, args.rounds + 1) for workers in args.workers]
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    summary = summarize(runs, args.workers)
    print_table(runs, summary)
    report = {
        "benchmark": "scaling: GenerateDataKey + Decrypt (1:1) replayed by wrk, gunicorn sync "
                     "workers, PostgreSQL",
        "command": command,
        "started_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_average_at_start": load_at_start,
        "machine": machine,
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup,
                     "connections": args.connections, "wrk_threads": args.wrk_threads,
                     "rounds": args.rounds, "max_load": args.max_load,
                     "encryption_context": CONTEXT, "mix": list(MIX)},
        "summary": summary,
        "runs": runs,
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
