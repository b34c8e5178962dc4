"""The JSON examples of README.md and docs/*.md say what the service really answers.

An example is a ```json block right after a comment naming what it shows:

    <!-- example: POST /productionplan response -->

Each one is checked against the real app, in process (`create_app`, its TestClient, its
websocket, its `/metrics`): a request example must be accepted; a response or message example
must have exactly the keys of the real one, recursively, with values of the same JSON type
(ids, timestamps and figures may differ). The answers of a deterministic request (a plan, an
infeasible load, a validation error) must be equal to the real ones, request ids aside.
Request examples are the input of the response examples that follow them in the same file
(`... with load=50` changes the load of that request first). The metrics table of
docs/deployment.md must list every series `/metrics` exports, and only those; the routes table
of README.md every route the app serves, and only those.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from merit_order.api.app import create_app
from merit_order.settings import Settings

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PAYLOAD3: dict[str, Any] = json.loads(
    resources.files("merit_order").joinpath("examples", "payload3.json").read_text(encoding="utf-8")
)

EXAMPLE = re.compile(r"<!--\s*example:\s*(?P<name>.+?)\s*-->\s*\n```json\n(?P<body>.*?)\n```", re.DOTALL)
WITH = re.compile(r"^(?P<name>.+?) with (?P<key>\w+)=(?P<value>-?[\d.]+)$")
#: Keys whose values change from run to run: never compared by value, even for a deterministic answer.
RUN_DEPENDENT = {
    "request_id", "id", "at", "job_id", "location", "next", "created_at", "started_at", "finished_at", "replica",
}
#: Objects whose keys themselves change from run to run (worker names): only their values' types are compared.
FREE_KEYS = {"workers"}

PLAN = "POST /productionplan"
JOBS = "POST /productionplan/jobs"
KNOWN = {
    f"{PLAN} request",
    f"{PLAN} response",
    f"{JOBS} request",
    f"{JOBS} response",
    "GET /productionplan/jobs/{id}?limit=2 response",
    "GET /productionplan/jobs/{id}?offset=2 result",
    "GET /_healthcheck response",
    "/ws hello",
    "/ws heartbeat",
    "/ws plan",
    "/ws plan from a job",
}


@dataclass
class Example:
    page: str
    line: int
    name: str  # without its "with key=value"
    body: Any
    change: tuple[str, int | float] | None = None
    requests: dict[str, Any] = field(default_factory=dict)  # the last request example of each route above it

    @property
    def id(self) -> str:
        changed = f" with {self.change[0]}={self.change[1]:g}" if self.change else ""
        return f"{self.page}:{self.line}:{self.name}{changed}"


def collect() -> list[Example]:
    examples = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        requests: dict[str, Any] = {}
        for match in EXAMPLE.finditer(text):
            name, change = match["name"], None
            if with_ := WITH.match(name):
                value = with_["value"]
                name, change = with_["name"], (with_["key"], float(value) if "." in value else int(value))
            example = Example(
                page=str(page.relative_to(REPO)),
                line=text.count("\n", 0, match.start()) + 1,
                name=name,
                body=json.loads(match["body"]),
                change=change,
                requests=dict(requests),
            )
            if name.endswith(" request"):
                requests[name.removesuffix(" request")] = example.body
            examples.append(example)
    return examples


EXAMPLES = collect()


# --- comparing shapes --------------------------------------------------------------------------


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"  # 910 and 910.0 are the same JSON number
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_problems(doc: Any, real: Any, path: str = "$") -> list[str]:
    """Where the documented value differs from the real one in keys or JSON types ([] if nowhere).

    A documented array may be shorter than the real one (an example cuts long lists); each of its
    items is compared with the real item at the same place.
    """
    if json_type(doc) != json_type(real):
        return [f"{path}: documented {json_type(doc)} {doc!r:.60}, real {json_type(real)} {real!r:.60}"]
    problems: list[str] = []
    if isinstance(doc, dict):
        if path.rsplit(".", 1)[-1] in FREE_KEYS:
            types = {json_type(v) for v in doc.values()} | {json_type(v) for v in real.values()}
            return [] if len(types) <= 1 else [f"{path}: values of different types {sorted(types)}"]
        for key in doc.keys() - real.keys():
            problems.append(f"{path}.{key}: documented, but the service does not send it")
        for key in real.keys() - doc.keys():
            problems.append(f"{path}.{key}: sent by the service, missing from the example")
        for key in doc.keys() & real.keys():
            problems += shape_problems(doc[key], real[key], f"{path}.{key}")
    elif isinstance(doc, list):
        if bool(doc) != bool(real) or len(doc) > len(real):
            problems.append(f"{path}: documented {len(doc)} items, the service sent {len(real)}")
        for i, (d, r) in enumerate(zip(doc, real)):
            problems += shape_problems(d, r, f"{path}[{i}]")
    return problems


def without_run_dependent(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_run_dependent(v) for k, v in value.items() if k not in RUN_DEPENDENT}
    if isinstance(value, list):
        return [without_run_dependent(v) for v in value]
    return value


def assert_documented(example: Example, real: Any, *, equal: bool = False) -> None:
    problems = shape_problems(example.body, real)
    assert not problems, f"{example.id}: the example does not match the service:\n  " + "\n  ".join(problems)
    if equal:
        assert without_run_dependent(example.body) == without_run_dependent(real), (
            f"{example.id}: the service answers\n{json.dumps(real)}"
        )


# --- producing the real answers ------------------------------------------------------------------


def make_client() -> TestClient:
    settings = Settings(
        redis_url=None,
        log_format="console",
        log_level="WARNING",
        job_local_workers=0,  # one thread: no process pool to start for a two-period job
        broadcast_heartbeat_seconds=0.2,  # a quiet feed ticks at once
    )
    return TestClient(create_app(settings), raise_server_exceptions=False)


def plan_request(example: Example) -> dict[str, Any]:
    """The request a POST /productionplan example answers: the one above it (or payload 3), changed as named."""
    request = dict(example.requests.get(PLAN, PAYLOAD3))
    if example.change:
        key, value = example.change
        request[key] = value
    return request


def submit_job(client: TestClient, example: Example) -> str:
    body = example.requests.get(JOBS)
    assert body is not None, f"{example.id}: needs a `{JOBS} request` example above it in the same page"
    accepted = client.post("/productionplan/jobs", json=body)
    assert accepted.status_code == 202, accepted.text
    return str(accepted.headers["Location"])


def wait_done(client: TestClient, location: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(location, params={"limit": 0}).json()
        if status["status"] in ("done", "failed"):
            return
        time.sleep(0.05)
    pytest.fail(f"job {location} not finished within {timeout}s")


def ws_messages(ws: Any, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = ws.receive_json()
        if message["type"] == kind:
            return message
    pytest.fail(f"no {kind} message within {timeout}s")


def real_answer(example: Example) -> tuple[Any, bool]:
    """The service's answer to what the example shows, and whether it must be equal (deterministic)."""
    name = example.name
    with make_client() as client:
        if name == f"{PLAN} request":
            answer = client.post("/productionplan", json=example.body)
            assert answer.status_code == 200, f"{example.id}: documented request refused: {answer.text}"
            return example.body, False  # accepted is the check; its answer is the next example's business
        if name == f"{PLAN} response":
            return client.post("/productionplan", json=plan_request(example)).json(), True
        if name == f"{JOBS} request":
            answer = client.post("/productionplan/jobs", json=example.body)
            assert answer.status_code == 202, f"{example.id}: documented job refused: {answer.text}"
            return example.body, False
        if name == f"{JOBS} response":
            accepted = client.post("/productionplan/jobs", json=example.requests.get(JOBS))
            assert accepted.status_code == 202, accepted.text
            assert accepted.headers["Location"] == accepted.json()["location"]
            return accepted.json(), False
        if name.startswith("GET /productionplan/jobs/{id}?"):
            location = submit_job(client, example)
            wait_done(client, location)
            query = name.split("?", 1)[1].split(" ", 1)[0]
            status = client.get(f"{location}?{query}").json()
            if name.endswith(" result"):
                return status["results"][0], True
            return status, False
        if name == "GET /_healthcheck response":
            client.post("/productionplan", json=PAYLOAD3)  # a cache entry and a published plan, as in the example
            return client.get("/_healthcheck").json(), False
        if name.startswith("/ws "):
            with client.websocket_connect("/ws") as ws:
                hello = ws.receive_json()
                if name == "/ws hello":
                    return hello, False
                if name == "/ws heartbeat":
                    return ws_messages(ws, "heartbeat"), False
                if name == "/ws plan":
                    assert client.post("/productionplan", json=PAYLOAD3).status_code == 200
                    return ws_messages(ws, "plan"), False
                if name == "/ws plan from a job":
                    series = {"powerplants": PAYLOAD3["powerplants"],
                              "periods": [{"label": "00:00", "load": 910, "fuels": PAYLOAD3["fuels"]}]}
                    assert client.post("/productionplan/jobs", json=series).status_code == 202
                    return ws_messages(ws, "plan"), False
    raise AssertionError(f"{example.id}: no check for an example named {name!r} (known: {sorted(KNOWN)})")


# --- what has not landed yet ---------------------------------------------------------------------

#: Documented behaviour whose code is still being written, by kind ("bare array", "nearest_loads"):
#: marked xfail(strict=True), so that the mark must go as soon as the code lands. Empty: all landed.
PENDING: dict[str, str] = {}


def pending_reason(example: Example) -> str | None:
    if example.name == f"{JOBS} request" and isinstance(example.body, list):
        return PENDING.get("bare array")
    if example.name.endswith(" result") and "nearest_loads" in json.dumps(example.body):
        return PENDING.get("nearest_loads")
    return None


def params() -> list[Any]:
    out = []
    for example in EXAMPLES:
        reason = pending_reason(example)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(example, id=example.id, marks=marks))
    return out


# --- the tests -----------------------------------------------------------------------------------


def test_the_pages_hold_an_example_of_every_kind_and_no_unknown_kind() -> None:
    names = {example.name for example in EXAMPLES}
    assert names - KNOWN == set(), f"examples with no check: {sorted(names - KNOWN)}"
    assert KNOWN - names == set(), f"kinds no page shows any more: {sorted(KNOWN - names)}"
    readme = [example.name for example in EXAMPLES if example.page == "README.md"]
    assert f"{PLAN} response" in readme


@pytest.mark.parametrize("example", params())
def test_documented_example_matches_the_service(example: Example) -> None:
    real, deterministic = real_answer(example)
    assert_documented(example, real, equal=deterministic)


def documented_series() -> set[str]:
    """The names in the first column of the metrics table of docs/deployment.md (labels dropped)."""
    text = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    table = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    return {name for cell in first_cells for name in re.findall(r"`([a-z_*]+)(?:\{[^`]*\})?`", cell)}


def exported_series(text: str) -> set[str]:
    """The series of a scrape, as `# TYPE` declares them; prometheus_client's `_created` companions and
    its default `process_`/`python_` families folded into `process_*`/`python_*`."""
    declared = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE)
    names = {name for name, _ in declared}
    series = set()
    for name, _kind in declared:
        base = name.removesuffix("_created")
        if name != base and (f"{base}_total" in names or base in names):
            continue  # the creation time of a counter or histogram, not a series of its own
        prefix = name.split("_", 1)[0]
        series.add(f"{prefix}_*" if prefix in ("process", "python") else name)
    return series


def test_the_metrics_table_lists_every_exported_series_and_only_those() -> None:
    from merit_order.metrics import render_cluster_jobs  # the deployment-wide series, exported with Redis only

    with make_client() as client:
        client.post("/productionplan", json=PAYLOAD3)
        scrape = client.get("/metrics")
    assert scrape.status_code == 200
    exported = exported_series(scrape.text) | exported_series(render_cluster_jobs({}).decode())
    documented = documented_series()
    assert "merit_order_http_requests_total" in exported and "merit_order_cluster_jobs_total" in exported
    missing = sorted(exported - documented)
    assert missing == [], f"exported but not in the metrics table of docs/deployment.md: {missing}"
    assert documented - exported == set(), f"in docs/deployment.md but not exported: {sorted(documented - exported)}"


def test_shape_comparison_catches_what_drifted() -> None:
    """The checker itself: a renamed key, a number become a string, a missing field are all caught."""
    real = {"nearest_loads": {"below": 16.0, "above": None}, "at": "2026-01-01T00:00:00Z", "plan": [{"p": 1.0}]}
    assert shape_problems({"nearest_loads": {"below": 3, "above": None}, "at": "x", "plan": [{"p": 2}]}, real) == []
    assert shape_problems({"nearest": {"below_mw": 1, "above_mw": None}, "at": "x", "plan": [{"p": 2}]}, real)
    assert shape_problems({"nearest_loads": {"below": "16", "above": None}, "at": "x", "plan": [{"p": 2}]}, real)
    assert shape_problems({"nearest_loads": {"below": 3, "above": None}, "plan": [{"p": 2}]}, real)
    assert shape_problems({"nearest_loads": {"below": 3, "above": None}, "at": "x", "plan": []}, real)


def normalise(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def is_page_helper(path: str) -> bool:
    last = path.rsplit("/", 1)[-1]
    return path.startswith("/docs/") or (path.startswith("/monitor/") and ("{}" in path or "." in last))


def test_the_readme_routes_table_lists_every_route_and_only_real_ones() -> None:
    from merit_order.api.metrics import flat_routes

    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("## Routes", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    documented = {normalise(path) for cell in first_cells for path in re.findall(r"`[A-Z]+ (/[^` ]*)`", cell)}
    app = create_app(Settings(redis_url=None, log_format="console", log_level="WARNING"))
    served = {
        normalise(route.path)
        for route in flat_routes(app.routes)
        if getattr(route, "methods", None) or type(route).__name__.endswith("WebSocketRoute")
    }
    # The pages' own helpers (Swagger's assets and OAuth2 redirect, the monitor pages' files) belong to their page.
    served = {path for path in served if not is_page_helper(path)}
    assert "/productionplan/jobs/{}" in served and "/ws" in served
    assert sorted(served - documented) == [], "routes the README's table does not list"
    assert sorted(documented - served) == [], "routes the README's table lists that the app does not serve"
