"""`make bench`: how fast the calculator is, next to the MILP referee and a plain greedy.

    .venv/bin/python benchmarks/run.py              # the full run (~1-2 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --quick      # 10 fleets per size, for a smoke test
    .venv/bin/python benchmarks/run.py --no-extras  # skip the other benchmarks/bench_*.py scripts

One run times, on the three examples, on seeded generated fleets of 30, 100 and 300
plants (loads up to 20,000 MW) and on the tie-heavy family (1-8 groups of 10-500 identical
units, loads up to 50,000 MW; see benchmarks/fleets.py):

- ours:   `compute_plan` on an already validated request (the calculator alone), each
          instance repeated until ~2 ms have passed and its median kept;
- MILP:   the independent referee of tests/support/referee.py (scipy.optimize.milp / HiGHS, proving
          optimality with zero gap), one solve per instance (HiGHS's default 0.01 % gap was
          measured to make no difference on these fleets: it proves them optimal either way);
- greedy: the plain merit-order walk most answers to the challenge use, for speed only; the
          table says how often it is wrong (no plan, a plan breaking the rules, or costlier).

Every plan of ours is checked against the MILP's cost and the independent rule checker:
the run aborts with exit status 1 if ours is ever costlier or invalid (the payload is saved
under .bench/failures/). Peak memory is tracemalloc's peak during our solve alone, in a pass
separate from the timing. The figures also go to .bench/results.json.

Targets (the issues'): examples median < 100 us; every size >= 10x faster than the MILP's
median; 300 plants / 20,000 MW median < 20 ms and peak < 200 MB; tie-heavy family: no
refusal (ProblemTooLarge), max < 250 ms, and the goal median < 2 ms, max < 50 ms. A missed target is printed
as MISS but does not fail the run (timings on a shared machine are noisy); pass --strict
to make it fail.

Other benchmarks (Helper C's scale-out figures...) live next to this file as
`benchmarks/bench_*.py`; this script runs each of them afterwards as a subprocess, passing
--quick along, so `make bench` is one command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))  # the referee is a test helper, not part of the package
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleets import payloads, tie_heavy_payloads  # noqa: E402 - after the sys.path lines that make it importable
from referee import check_plan_rules, costs_tie, greedy_plan, milp_plan, plan_cost, ref_plants  # noqa: E402 - idem

from merit_order.calculator import InfeasibleLoad, ProblemTooLarge, ProductionPlanRequest, compute_plan  # noqa: E402 - idem

OUT = ROOT / ".bench"
EXAMPLES = ROOT / "src" / "merit_order" / "examples"
SIZES = (30, 100, 300)

TARGET_EXAMPLE_MEDIAN_S = 100e-6
TARGET_SPEEDUP = 10.0
TARGET_300_MEDIAN_S = 20e-3
TARGET_300_PEAK_BYTES = 200 * 2**20
TIE_FLOOR_MAX_S = 250e-3
TIE_GOAL_MEDIAN_S = 2e-3
TIE_GOAL_MAX_S = 50e-3


class BenchFailure(RuntimeError):
    """Our calculator returned a costlier or invalid plan: the run must fail loudly."""


@dataclass
class Row:
    """One line of the table: a set of instances and what each solver took on them."""

    case: str
    plants: str
    instances: int
    ours_s: list[float] = field(default_factory=list)
    milp_s: list[float] = field(default_factory=list)
    greedy_s: list[float] = field(default_factory=list)
    peak_bytes: list[int] = field(default_factory=list)
    greedy_wrong: dict[str, int] = field(default_factory=lambda: {"no plan": 0, "invalid": 0, "costlier": 0})
    milp_suboptimal: int = 0  # instances where ours beat HiGHS beyond the tie tolerance
    infeasible_loads_moved: int = 0
    refused: int = 0  # ProblemTooLarge: a valid request the calculator would not answer

    def summary(self) -> dict[str, Any]:
        ours_med, milp_med = median(self.ours_s), median(self.milp_s)
        return {
            "case": self.case,
            "plants": self.plants,
            "instances": self.instances,
            "ours_median_s": ours_med,
            "ours_p95_s": p95(self.ours_s),
            "milp_median_s": milp_med,
            "milp_p95_s": p95(self.milp_s),
            "speedup_vs_milp": milp_med / ours_med if ours_med else None,
            "greedy_median_s": median(self.greedy_s),
            "greedy_wrong": dict(self.greedy_wrong),
            "greedy_wrong_share": sum(self.greedy_wrong.values()) / self.instances if self.instances else 0.0,
            "ours_peak_bytes_max": max(self.peak_bytes, default=0),
            "ours_peak_bytes_median": median([float(b) for b in self.peak_bytes]),
            "milp_suboptimal": self.milp_suboptimal,
            "infeasible_loads_moved": self.infeasible_loads_moved,
            "ours_max_s": max(self.ours_s, default=float("nan")),
            "refused": self.refused,
        }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def per_call(fn: Callable[[], object], budget_s: float = 2e-3, max_reps: int = 200) -> float:
    """Median seconds per call of `fn`, repeated until about `budget_s` has passed (>= 3 calls)."""
    fn()  # warm caches (imports, numpy dispatch) outside the measurement
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    reps = max(3, min(max_reps, int(budget_s / once)))
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def peak_of(fn: Callable[[], object]) -> int:
    """Peak bytes allocated by `fn` (Python and numpy), above what was allocated before it."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return max(0, peak - before)


def save_failure(payload: dict[str, Any], reason: str) -> Path:
    folder = OUT / "failures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"failure-{len(list(folder.glob('*.json'))) + 1}.json"
    path.write_text(json.dumps({"reason": reason, "payload": payload}, indent=2), encoding="utf-8")
    return path


def judge(row: Row, payload: dict[str, Any], request: ProductionPlanRequest) -> None:
    """Check our plan against the referee and the rule checker; score the greedy; time all three."""
    plan = compute_plan(request)
    answer = plan.as_challenge_list()
    problems = check_plan_rules(payload, answer)
    if problems:
        raise BenchFailure(f"our plan breaks the rules: {problems}; saved to {save_failure(payload, str(problems))}")
    plants = ref_plants(payload)
    ours = plan_cost(plants, {e["name"]: round(e["p"] * 10) for e in answer})
    start = time.perf_counter()
    referee = milp_plan(payload, presolve=True)
    row.milp_s.append(time.perf_counter() - start)
    if referee is None:
        reason = "the MILP finds no plan, ours found one"
        raise BenchFailure(f"{reason}; saved to {save_failure(payload, reason)}")
    if not costs_tie(ours, referee[0]):
        if ours > referee[0]:
            reason = f"ours costs {ours!r}, the MILP {referee[0]!r}"
            raise BenchFailure(f"{reason}; saved to {save_failure(payload, reason)}")
        row.milp_suboptimal += 1

    row.ours_s.append(per_call(lambda: compute_plan(request)))
    row.peak_bytes.append(peak_of(lambda: compute_plan(request)))
    row.greedy_s.append(per_call(lambda: greedy_plan(payload)))
    greedy = greedy_plan(payload)
    greedy_tenths = {e["name"]: round(e["p"] * 10) for e in greedy}
    if sum(greedy_tenths.values()) != request.load_tenths:
        row.greedy_wrong["no plan"] += 1
    elif check_plan_rules(payload, greedy):
        row.greedy_wrong["invalid"] += 1
    elif not costs_tie(plan_cost(plants, greedy_tenths), ours):
        row.greedy_wrong["costlier"] += 1


def feasible_request(row: Row, payload: dict[str, Any]) -> tuple[dict[str, Any], ProductionPlanRequest]:
    """The payload, its load moved to the nearest feasible one if it fell in a gap (rare)."""
    request = ProductionPlanRequest.model_validate(payload)
    try:
        compute_plan(request)
    except InfeasibleLoad as error:
        if milp_plan(payload, presolve=True) is not None:
            reason = "we say infeasible, the MILP found a plan"
            raise BenchFailure(f"{reason}; saved to {save_failure(payload, reason)}") from error
        row.infeasible_loads_moved += 1
        payload = {**payload, "load": error.above_mw if error.above_mw is not None else error.below_mw}
        request = ProductionPlanRequest.model_validate(payload)
    return payload, request


def bench_examples(rows: list[Row]) -> None:
    for name in ("payload1", "payload2", "payload3"):
        payload = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
        request = ProductionPlanRequest.model_validate(payload)
        row = Row(case=name, plants=str(len(payload["powerplants"])), instances=1)
        judge(row, payload, request)
        # One instance: the distribution is over repeated calls, timed one by one.
        compute_plan(request)
        samples = []
        for _ in range(2000):
            start = time.perf_counter()
            compute_plan(request)
            samples.append(time.perf_counter() - start)
        row.ours_s = samples
        row.milp_s = [per_call(lambda: milp_plan(payload, presolve=True), budget_s=0.05, max_reps=20) for _ in range(3)]  # noqa: B023 - called at once, within this iteration
        row.greedy_s = [per_call(lambda: greedy_plan(payload)) for _ in range(3)]  # noqa: B023 - called at once, within this iteration
        rows.append(row)


def bench_fleets(rows: list[Row], count: int, seed: int) -> None:
    for size in SIZES:
        generated = payloads(size, count, seed)
        top = max(float(p["load"]) for p in generated)
        row = Row(case=f"fleet {size}", plants=str(size), instances=len(generated))
        for payload in generated:
            payload, request = feasible_request(row, payload)
            judge(row, payload, request)
        row.case = f"fleet {size} (loads to {top:,.0f} MW)"
        rows.append(row)


def bench_ties(rows: list[Row], count: int, seed: int) -> None:
    """The tie-heavy family: 1-8 groups of 10-500 identical units, loads up to 50,000 MW.

    A refusal (ProblemTooLarge) is counted, not fatal: the family exists to show there are none.
    """
    generated = tie_heavy_payloads(count, seed)
    row = Row(case="ties (1-8 groups x 10-500)", plants="10-500", instances=len(generated))
    for payload in generated:
        try:
            payload, request = feasible_request(row, payload)
            judge(row, payload, request)
        except ProblemTooLarge:
            row.refused += 1
    row.plants = f"{min(len(p['powerplants']) for p in generated)}-{max(len(p['powerplants']) for p in generated)}"
    rows.append(row)


def fmt_time(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(count: float) -> str:
    if count < 2**20:
        return f"{count / 2**10:.0f} KiB"
    return f"{count / 2**20:.1f} MiB"


def table(summaries: list[dict[str, Any]]) -> str:
    headers = [
        "case", "n", "ours med", "ours p95", "MILP med", "MILP p95", "speed-up",
        "greedy med", "greedy wrong", "ours peak",
    ]
    lines = []
    for s in summaries:
        wrong = s["greedy_wrong"]
        lines.append([
            s["case"],
            str(s["instances"]),
            fmt_time(s["ours_median_s"]),
            fmt_time(s["ours_p95_s"]),
            fmt_time(s["milp_median_s"]),
            fmt_time(s["milp_p95_s"]),
            f"{s['speedup_vs_milp']:.0f}x" if s["speedup_vs_milp"] else "-",
            fmt_time(s["greedy_median_s"]),
            f"{100 * s['greedy_wrong_share']:.0f}% ({wrong['no plan']}/{wrong['invalid']}/{wrong['costlier']})",
            fmt_bytes(s["ours_peak_bytes_max"]),
        ])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))]
    out.append("  ".join("-" * w for w in widths))
    for line in lines:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
    return "\n".join(out)


def targets(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    examples = [s for s in summaries if s["case"].startswith("payload")]
    fleets = [s for s in summaries if s["case"].startswith("fleet")]
    ties = [s for s in summaries if s["case"].startswith("ties")]
    checks: list[dict[str, Any]] = []
    if examples:
        worst_example = max(s["ours_median_s"] for s in examples)
        checks.append({
            "target": "examples: median < 100 us",
            "measured": f"{fmt_time(worst_example)} (slowest example)",
            "ok": worst_example < TARGET_EXAMPLE_MEDIAN_S,
        })
        examples_speedup = statistics.median(s["milp_median_s"] for s in examples) / statistics.median(
            s["ours_median_s"] for s in examples
        )
        checks.append({
            "target": "examples: >= 10x faster than the MILP (median)",
            "measured": f"{examples_speedup:.0f}x",
            "ok": examples_speedup >= TARGET_SPEEDUP,
        })
    for s in fleets:
        checks.append({
            "target": f"{s['plants']} plants: >= 10x faster than the MILP (median)",
            "measured": f"{s['speedup_vs_milp']:.0f}x",
            "ok": s["speedup_vs_milp"] >= TARGET_SPEEDUP,
        })
    biggest = [s for s in fleets if s["plants"] == "300"]
    for s in biggest:
        checks.append({
            "target": "300 plants / 20,000 MW: median < 20 ms",
            "measured": fmt_time(s["ours_median_s"]),
            "ok": s["ours_median_s"] < TARGET_300_MEDIAN_S,
        })
        checks.append({
            "target": "300 plants / 20,000 MW: peak memory < 200 MB",
            "measured": f"{fmt_bytes(s['ours_peak_bytes_max'])} (largest instance)",
            "ok": s["ours_peak_bytes_max"] < TARGET_300_PEAK_BYTES,
        })
    for s in ties:
        checks.append({
            "target": "ties: 0 refusals",
            "measured": f"{s['refused']} of {s['instances']}",
            "ok": s["refused"] == 0,
        })
        checks.append({
            "target": "ties: max < 250 ms (floor)",
            "measured": fmt_time(s["ours_max_s"]),
            "ok": s["ours_max_s"] < TIE_FLOOR_MAX_S,
        })
        checks.append({
            "target": "ties: median < 2 ms (goal)",
            "measured": fmt_time(s["ours_median_s"]),
            "ok": s["ours_median_s"] < TIE_GOAL_MEDIAN_S,
        })
        checks.append({
            "target": "ties: max < 50 ms (goal)",
            "measured": fmt_time(s["ours_max_s"]),
            "ok": s["ours_max_s"] < TIE_GOAL_MAX_S,
        })
    return checks


def run_extras(quick: bool) -> list[tuple[str, int]]:
    """Every other benchmarks/bench_*.py, in name order, as subprocesses."""
    results = []
    for script in sorted(Path(__file__).resolve().parent.glob("bench_*.py")):
        print(f"\n=== {script.name} ===", flush=True)
        command = [sys.executable, str(script)] + (["--quick"] if quick else [])
        results.append((script.name, subprocess.run(command, cwd=ROOT, check=False).returncode))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", type=int, default=30, help="generated fleets per size (default 30)")
    parser.add_argument("--quick", action="store_true", help="10 fleets per size; --quick to the other scripts")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    parser.add_argument("--no-extras", action="store_true", help="skip the other benchmarks/bench_*.py scripts")
    parser.add_argument("--no-ties", action="store_true", help="skip the tie-heavy family")
    parser.add_argument("--only-ties", action="store_true", help="only the tie-heavy family (no examples, no fleets)")
    args = parser.parse_args(argv)
    count = 10 if args.quick else args.fleets

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"merit-order solver benchmark: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load:.2f}, {count} fleets per size, seed {args.seed}",
        flush=True,
    )
    started = time.perf_counter()
    rows: list[Row] = []
    try:
        if not args.only_ties:
            bench_examples(rows)
            bench_fleets(rows, count, args.seed)
        if not args.no_ties:
            bench_ties(rows, count, args.seed)
    except BenchFailure as failure:
        print(f"\nBENCH FAILURE: {failure}", file=sys.stderr)
        return 1
    summaries = [row.summary() for row in rows]
    checks = targets(summaries)
    elapsed = time.perf_counter() - started

    print()
    print(table(summaries))
    print("greedy wrong = share of instances (no plan / plan breaking the rules / costlier than ours)")
    print("every plan of ours checked: valid and as cheap as the MILP's proven optimum")
    suboptimal = sum(s["milp_suboptimal"] for s in summaries)
    if suboptimal:
        print(f"note: on {suboptimal} instance(s) our plan was cheaper than HiGHS's beyond 1e-9 (HiGHS tolerance)")
    moved = sum(s["infeasible_loads_moved"] for s in summaries)
    if moved:
        print(f"note: {moved} generated load(s) fell in a Pmin gap and were moved to the nearest feasible load")
    print("\ntargets:")
    for check in checks:
        print(f"  {'OK  ' if check['ok'] else 'MISS'}  {check['target']:<48} {check['measured']}")
    print(f"\n(ran in {elapsed:.1f} s)")

    OUT.mkdir(exist_ok=True)
    document = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": load,
        "fleets_per_size": count,
        "seed": args.seed,
        "elapsed_s": elapsed,
        "rows": summaries,
        "targets": checks,
        "raw": [asdict(row) for row in rows],
    }
    (OUT / "results.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    print(f"results written to {(OUT / 'results.json').relative_to(ROOT)}")

    status = 2 if args.strict and not all(c["ok"] for c in checks) else 0
    if not args.no_extras:
        failed = [name for name, code in run_extras(args.quick) if code != 0]
        if failed:
            print(f"\nbenchmark script(s) failed: {', '.join(failed)}", file=sys.stderr)
            status = status or 3
    return status


if __name__ == "__main__":
    sys.exit(main())
