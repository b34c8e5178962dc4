"""The schedule service against the CLI: the same instance, the same options, one after the other.

    .venv/bin/python benchmarks/bench_schedule_api.py                       # rts_gmlc 2020-09-20, 48 periods, gap 0.005
    .venv/bin/python benchmarks/bench_schedule_api.py --day 2020-01-27 --gap 0.01 --time-limit 60
    .venv/bin/python benchmarks/bench_schedule_api.py --redis redis://127.0.0.1:6379/11   # on a Celery worker

The CLI runs `merit-order schedule FILE --periods N --gap G --time-limit S` in a subprocess
(its wall time includes Python's start-up and imports, as a user pays them). The API is a real
uvicorn server (started first, by PID, and left to warm up as a running service is), sent
`POST /schedules?periods=N&gap=G&time_limit_s=S` and polled every 50 ms until `done`: its time
is from the POST to the first poll that sees `done`. Printed: objective, proven bound, gap and
time of each, and the ratio of the times (the issue's figure: within 10 %). The solver shares
its effort by work, not by the clock, so a run that ends on its gap ends on the same schedule
wherever it runs; one that the time limit ends (2020-01-27 at gap 0.005) need not.
With --redis, the API and one `merit-order worker` run on that Redis (database flushed).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DATA = ROOT / "tests" / "data" / "uc" / "pglib-uc" / "rts_gmlc"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, json.loads(answer.read())


def run_cli(path: Path, periods: int, gap: float, limit: float) -> dict[str, Any]:
    began = time.monotonic()
    out = subprocess.run(
        [str(BIN / "merit-order"), "schedule", str(path), "--periods", str(periods), "--gap", str(gap), "--time-limit", str(limit)],
        capture_output=True, check=True, text=True,
    )
    seconds = time.monotonic() - began
    document = json.loads(out.stdout)
    return {"objective": document["objective"], "lower_bound": document["lower_bound"], "gap": document["gap"], "seconds": seconds,
            "solve_seconds": document["solve_seconds"]}


def run_api(
    path: Path, periods: int, gap: float, limit: float, redis_url: str | None, kill_at: float | None = None
) -> dict[str, Any]:
    """One solve through a real server; with `kill_at`, two workers, and the one solving is
    SIGKILLed (its whole process group: the machine lost) `kill_at` seconds after the POST."""
    port = free_port()
    env = {**os.environ, "LOG_LEVEL": "WARNING", "LOG_FORMAT": "console"}
    env.pop("REDIS_URL", None)
    workers: dict[str, subprocess.Popen[bytes]] = {}
    log = tempfile.TemporaryFile()  # noqa: SIM115 - the servers' output, read after they stop
    if redis_url:
        subprocess.run([str(BIN / "python"), "-c", f"import redis; redis.Redis.from_url({redis_url!r}).flushdb()"], check=True)
        env["REDIS_URL"] = redis_url
        for name in ("w1", "w2") if kill_at is not None else ("w1",):
            workers[name] = subprocess.Popen(
                [str(BIN / "merit-order"), "worker", "--concurrency", "1", "--name", f"{name}@%h", "--loglevel", "WARNING"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
    server = subprocess.Popen(
        [str(BIN / "uvicorn"), "--factory", "merit_order.api.app:create_app", "--port", str(port), "--no-access-log"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                http("GET", base + "/_healthcheck")
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(8)  # a running service: the fork server (or the worker) has its solver loaded
        body = path.read_bytes()
        began = time.monotonic()
        status, accepted = http("POST", f"{base}/schedules?periods={periods}&gap={gap}&time_limit_s={limit}", body)
        assert status == 202, accepted
        killed_at = resumed_after = None
        while True:
            _, document = http("GET", base + accepted["location"])
            if document["status"] in ("done", "failed", "cancelled"):
                break
            now = time.monotonic()
            if kill_at is not None and killed_at is None and document["status"] == "running" and now - began >= kill_at:
                victim = document["worker"].split("@")[0]
                os.killpg(workers[victim].pid, signal.SIGKILL)
                killed_at = now
            if killed_at is not None and resumed_after is None and document["attempts"] == 2 and document["status"] == "running":
                resumed_after = now - killed_at
            time.sleep(0.05)
        seconds = time.monotonic() - began
        assert document["status"] == "done", document
        schedule = document["schedule"]
        return {"objective": schedule["objective"], "lower_bound": schedule["lower_bound"], "gap": schedule["gap"], "seconds": seconds,
                "solve_seconds": schedule["solve_seconds"], "resumed_after": resumed_after, "attempts": document["attempts"]}
    finally:
        for process in (server, *workers.values()):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--day", default="2020-09-20", help="an rts_gmlc day (default: one that reaches the gap)")
    parser.add_argument("--periods", type=int, default=48)
    parser.add_argument("--gap", type=float, default=0.005)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--redis", default=None, help="run the API on this Redis with one Celery worker")
    parser.add_argument("--runs", type=int, default=3, help="runs of each, alternating (the medians are compared)")
    parser.add_argument("--quick", action="store_true", help="one run each, 24 periods (what `make bench --quick` passes)")
    parser.add_argument("--kill-at", type=float, default=None,
                        help="with --redis: two workers, SIGKILL the one solving this many seconds after the POST, "
                        "and report the time lost against an undisturbed run")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.periods = 1, min(args.periods, 24)
    if args.kill_at is not None:
        if not args.redis:
            parser.error("--kill-at needs --redis")
        path = DATA / f"{args.day}.json"
        calm = run_api(path, args.periods, args.gap, args.time_limit, args.redis)
        hurt = run_api(path, args.periods, args.gap, args.time_limit, args.redis, kill_at=args.kill_at)
        print(f"rts_gmlc {args.day}, {args.periods} periods, gap {args.gap}, time limit {args.time_limit:g} s, Celery")
        print(f"  undisturbed: {calm['seconds']:.2f} s to done (objective {calm['objective']:,.1f})")
        print(f"  worker SIGKILLed at {args.kill_at:g} s: {hurt['seconds']:.2f} s to done (objective {hurt['objective']:,.1f}, "
              f"attempts {hurt['attempts']}); solving again on the other worker {hurt['resumed_after']:.1f} s after the kill")
        print(f"  time lost: {hurt['seconds'] - calm['seconds']:.1f} s (the kill delay {args.kill_at:g} s of work is redone)")
        return 0
    path = DATA / f"{args.day}.json"
    rows: dict[str, list[dict[str, Any]]] = {"CLI": [], "API": []}
    for _ in range(args.runs):
        rows["CLI"].append(run_cli(path, args.periods, args.gap, args.time_limit))
        rows["API"].append(run_api(path, args.periods, args.gap, args.time_limit, args.redis))
    where = "Celery worker" if args.redis else "embedded"
    print(f"rts_gmlc {args.day}, {args.periods} periods, gap {args.gap}, time limit {args.time_limit:g} s (API: {where}), {args.runs} runs each")
    for name, runs in rows.items():
        for row in runs:
            print(f"  {name}: objective {row['objective']:,.1f}  bound {row['lower_bound']:,.1f}  gap {row['gap']:.3%}  "
                  f"{row['seconds']:.2f} s (solver {row['solve_seconds']:.2f} s)")
    cli = statistics.median(r["seconds"] for r in rows["CLI"])
    api = statistics.median(r["seconds"] for r in rows["API"])
    ratio = api / cli
    print(f"  median time to done: CLI {cli:.2f} s, API {api:.2f} s; API / CLI {ratio:.3f} "
          f"({'ok' if ratio <= 1.10 else 'MISS'}: within 10 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
