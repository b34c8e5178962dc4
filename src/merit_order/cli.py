"""`merit-order`: serve the API, or plan one payload from a file or stdin.

    merit-order serve [--host H] [--port P] [--workers N]
    merit-order plan payload.json [--table] [--wind-curtailment]
    merit-order plan - < payload.json
    merit-order schedule instance.json [--periods N] [--gap 0.001] [--time-limit S]
    merit-order worker [--concurrency N] [--name NAME]     (REDIS_URL must be set)

Exit codes of `plan`: 0 planned, 2 bad or infeasible input (one line on stderr saying
why), 1 anything unexpected. Each subcommand is a `_add_<name>(subparsers)` function that
registers its parser and its handler (`set_defaults(handler=...)`), so adding one (the
job worker) is one function and one line in `build_parser`. Each handler imports what it
runs when it runs, so that `merit-order plan` does not load uvicorn or Celery first.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from merit_order.settings import Settings, get_settings

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2


# --------------------------------------------------------------------------------------
# serve


def _add_serve(subparsers: Any, settings: Settings) -> None:
    parser = subparsers.add_parser("serve", help="run the HTTP API (uvicorn)")
    parser.add_argument("--host", default=settings.host, help=f"interface to bind (default {settings.host}, HOST)")
    parser.add_argument(
        "--port", type=int, default=settings.port, help=f"TCP port (default {settings.port}, PORT)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=settings.workers,
        help=f"worker processes (default {settings.workers}, WORKERS)",
    )
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from merit_order.api.transport import BoundedHttpToolsProtocol
    from merit_order.logs import configure_logging

    if not 0 <= args.port <= 65535:
        raise SystemExit(f"merit-order serve: error: --port {args.port} is not a TCP port")
    if args.workers < 1:
        raise SystemExit(f"merit-order serve: error: --workers must be at least 1, not {args.workers}")
    configure_logging(settings)
    if args.workers > 1:  # /metrics sums over the worker processes (see metrics.py)
        from merit_order.metrics import enable_multiprocess

        enable_multiprocess()
    # An import string with factory=True: each worker process builds its own app (and logging).
    uvicorn.run(
        "merit_order.api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,  # keep ours: uvicorn's records go through the structlog formatter
        access_log=False,  # the middleware writes one richer line per request
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        # Transport limits (see docs/security.md): a request head over MAX_HEADER_COUNT or
        # MAX_HEADER_BYTES is a 431 before it is buffered; a /ws message over
        # WS_MAX_MESSAGE_BYTES closes the socket with 1009 before it is read.
        http=BoundedHttpToolsProtocol,
        h11_max_incomplete_event_size=settings.max_header_bytes,  # the same bound if h11 is ever used
        ws_max_size=settings.ws_max_message_bytes,
    )
    return EXIT_OK


# --------------------------------------------------------------------------------------
# plan


def _add_plan(subparsers: Any, settings: Settings) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="print the cheapest plan for a payload",
        description="Print the challenge's JSON answer for the payload in FILE ('-' for stdin).",
    )
    parser.add_argument("file", metavar="FILE", help="the JSON payload, or - to read stdin")
    parser.add_argument("--table", action="store_true", help="print an aligned table with costs instead of JSON")
    parser.add_argument(
        "--wind-curtailment",
        action=argparse.BooleanOptionalAction,
        default=settings.wind_curtailment,
        help="allow wind parks to run below their available power (default: WIND_CURTAILMENT, "
        f"{str(settings.wind_curtailment).lower()})",
    )
    parser.set_defaults(handler=_plan)


def _plan(args: argparse.Namespace, settings: Settings) -> int:
    from merit_order.calculator import InfeasibleLoad, compute_plan
    from merit_order.calculator.document import challenge_list, plan_document
    from merit_order.validation import Limits, PayloadError, decode_json, parse_request

    try:
        body = _read_input(args.file)
        request = parse_request(decode_json(body), Limits.from_settings(settings))
        plan = compute_plan(request, cost_model=settings.cost_model(), wind_curtailment=args.wind_curtailment)
    except PayloadError as exc:
        return _fail(exc.detail)
    except InfeasibleLoad as exc:
        return _fail(str(exc))
    except _InputError as exc:
        return _fail(str(exc))
    document = plan_document(plan)
    if args.table:
        sys.stdout.write(format_table(document))
    else:
        sys.stdout.write(json.dumps(challenge_list(document)) + "\n")
    return EXIT_OK


class _InputError(Exception):
    """The payload could not be read at all."""


def _read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        with open(name, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise _InputError(f"cannot read {name}: {exc.strerror or exc}") from None


def _fail(reason: str) -> int:
    print(f"merit-order: {' '.join(reason.split())}", file=sys.stderr)  # one line, whatever the message
    return EXIT_BAD_INPUT


def format_table(document: dict[str, Any]) -> str:
    """The plan as an aligned table: plant, type, p, cost/MWh, cost; then the totals."""
    header = ("plant", "type", "p (MW)", "cost/MWh", "cost (EUR)")
    rows = [
        (e["name"], e["type"], f"{e['p']:.1f}", f"{e['cost_per_mwh']:.2f}", f"{e['cost']:.2f}")
        for e in document["plan"]
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    right = {2, 3, 4}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    marginal = document["marginal_cost"]
    out = [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows), ""]
    out.append(f"load          {document['load']:.1f} MW")
    out.append(f"total cost    {document['total_cost']:.2f} EUR")
    out.append(f"marginal cost {'-' if marginal is None else f'{marginal:.2f} EUR/MWh'}")
    out.append(f"CO2           {document['co2_tonnes']:.2f} t")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------
# schedule


def _add_schedule(subparsers: Any, settings: Settings) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="print the cheapest day-ahead schedule (unit commitment) for an instance",
        description="Solve a unit-commitment instance (pglib-uc JSON or the desk format; '-' for stdin) "
        "and print the schedule with its proven lower bound and gap (docs/schedules.md).",
    )
    parser.add_argument("file", metavar="FILE", help="the instance (JSON), or - to read stdin")
    parser.add_argument("--periods", type=int, default=None, help="keep only the first N periods")
    parser.add_argument("--gap", type=float, default=0.001, help="stop at this certified relative gap (default 0.001)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="stop after this many seconds (default 60)")
    parser.add_argument("--exact", action="store_true", help="ask for a proven optimum (gap 0; the time limit still applies)")
    parser.add_argument(
        "--progress", action="store_true", help="print one JSON line on stderr whenever the objective or bound improves"
    )
    parser.set_defaults(handler=_schedule)


def _schedule(args: argparse.Namespace, settings: Settings) -> int:
    from merit_order.schedule.errors import ScheduleError, ScheduleInfeasible, ScheduleInputError
    from merit_order.schedule.read import read_problem
    from merit_order.schedule.solution import schedule_document
    from merit_order.schedule.solve import Progress, solve_schedule
    from merit_order.validation import PayloadError, decode_json

    if args.periods is not None and args.periods < 1:
        return _fail(f"--periods must be at least 1, not {args.periods}")
    if not 0 <= args.gap < 1:
        return _fail(f"--gap must be in [0, 1), not {args.gap}")
    if not 0 < args.time_limit <= 86_400:
        return _fail(f"--time-limit must be in (0, 86400] seconds, not {args.time_limit}")
    def report(progress: Progress) -> None:
        line = {"objective": progress.objective, "lower_bound": progress.lower_bound, "gap": progress.gap}
        line["elapsed"] = round(progress.elapsed, 3)
        print(json.dumps(line), file=sys.stderr, flush=True)

    try:
        problem = read_problem(decode_json(_read_input(args.file)), args.periods)
        result = solve_schedule(
            problem,
            gap=0.0 if args.exact else args.gap,
            time_limit=args.time_limit,
            progress=report if args.progress else None,
        )
    except PayloadError as exc:
        return _fail(exc.detail)
    except ScheduleInfeasible as exc:
        return _fail(f"infeasible: {exc}")
    except (ScheduleInputError, ScheduleError, _InputError) as exc:
        return _fail(str(exc))
    sys.stdout.write(json.dumps(schedule_document(problem, result)) + "\n")
    return EXIT_OK


# --------------------------------------------------------------------------------------
# worker


def _add_worker(subparsers: Any, settings: Settings) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run a Celery worker for /productionplan/jobs (needs REDIS_URL)",
        description="Take job chunks from Redis (REDIS_URL) and solve them, until stopped (SIGTERM: warm stop).",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=settings.worker_concurrency,
        help="pool processes (default: WORKER_CONCURRENCY, else the number of cores)",
    )
    parser.add_argument("--name", default=None, help="Celery node name, e.g. w1@%%h (default: celery@host)")
    parser.add_argument("--loglevel", default=settings.log_level, help="Celery's log level (default: LOG_LEVEL)")
    parser.set_defaults(handler=_worker)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from merit_order.bootstrap import build_worker_app
    from merit_order.jobs.celery_app import run_worker
    from merit_order.logs import configure_logging

    if not settings.redis_url:
        return _fail("a worker needs REDIS_URL (without it, jobs run inside the API process: no worker to start)")
    if args.concurrency is not None and args.concurrency < 1:
        raise SystemExit(f"merit-order worker: error: --concurrency must be at least 1, not {args.concurrency}")
    configure_logging(settings)
    app = build_worker_app(settings)
    run_worker(app, concurrency=args.concurrency, name=args.name, loglevel=args.loglevel)
    return EXIT_OK


# --------------------------------------------------------------------------------------
# entry point


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="merit-order", description="Exact minimum-cost production plans for a power portfolio."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(subparsers, settings)
    _add_plan(subparsers, settings)
    _add_schedule(subparsers, settings)
    _add_worker(subparsers, settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console script `merit-order`."""
    try:
        settings = get_settings()
    except Exception as exc:  # noqa: BLE001 - a bad environment variable: say which, briefly
        print(f"merit-order: invalid settings: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    args = build_parser(settings).parse_args(argv)
    try:
        return int(args.handler(args, settings))
    except KeyboardInterrupt:
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - unexpected: a short line, not a traceback wall
        print(f"merit-order: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNEXPECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
