"""Issue 14, item 2: one valid job must not cost gigabytes, nor block the API while it is read.

What must hold, embedded and with Redis: results are paged by default (a default and a
maximum `limit`, the answer says the total and the next page); a poll reads only the page it
returns (counted on the Redis client, not timed); the embedded store is bounded in bytes,
evicting the job that finished first and saying so in its 404; results are stored compact
(a series' plant names once, plans without detail unless the job asked); and a healthcheck
is answered while a large page is being read (a real server, ordering not timing).
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from jobs_helpers import assert_matches, fetch_all, fleet, series, wait_done
from live_server import running_api
from redis_fixtures import RedisServer, WorkerProcess, fresh_redis, redis_server  # noqa: F401 - fixtures

from merit_order.api.app import create_app
from merit_order.jobs.compute import solve_chunk
from merit_order.jobs.results import PER_PERIOD_OVERHEAD, ResultCodec, render_page
from merit_order.jobs.store import job_key
from merit_order.settings import Settings


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        log_format="console", log_level="WARNING", redis_url=None, job_local_workers=0, job_chunk_size=5
    )
    values.update(overrides)
    return Settings(**values)


def _long_names(plants: list[dict[str, Any]], length: int = 195) -> list[dict[str, Any]]:
    """The finding's fleet shape: every plant name as long as the validation allows."""
    return [dict(p, name=(p["name"] + "-" + "n" * length)[:length]) for p in plants]


def _submit(client: TestClient, plants: list[dict[str, Any]], periods: list[dict[str, Any]], query: str = "") -> str:
    accepted = client.post(f"/productionplan/jobs{query}", json={"powerplants": plants, "periods": periods})
    assert accepted.status_code == 202, accepted.text
    return accepted.headers["Location"]


def _check_paging(client: TestClient, location: str, total: int, default: int, maximum: int) -> None:
    """The paging contract, the same whichever executor answers."""
    first = client.get(location)
    assert first.status_code == 200
    body = first.json()
    assert [r["index"] for r in body["results"]] == list(range(default))  # paged without asking
    assert body["results_page"] == {
        "offset": 0,
        "limit": default,
        "count": default,
        "total": total,
        "next": f"{location}?offset={default}&limit={default}",
    }
    assert first.headers["Link"] == f'<{body["results_page"]["next"]}>; rel="next"'

    # Following `next` walks every period once, in order, and the last page says there is no next.
    seen, page = list(body["results"]), body["results_page"]
    while page["next"] is not None:
        more = client.get(page["next"]).json()
        seen.extend(more["results"])
        page = more["results_page"]
    assert [r["index"] for r in seen] == list(range(total))
    assert "Link" not in client.get(location, params={"offset": total - 1}).headers

    at_max = client.get(location, params={"limit": maximum}).json()
    assert at_max["results_page"]["count"] == min(maximum, total)
    over = client.get(location, params={"limit": maximum + 1})
    assert over.status_code == 422
    assert "JOB_RESULTS_MAX_LIMIT" in over.json()["detail"] and over.json()["errors"][0]["field"] == "limit"

    status_only = client.get(location, params={"limit": 0}).json()
    assert status_only["results"] == [] and status_only["results_page"]["total"] == total
    past_the_end = client.get(location, params={"offset": total + 10}).json()
    assert past_the_end["results"] == [] and past_the_end["results_page"]["next"] is None


# --- the stored form ------------------------------------------------------------------------


@pytest.mark.parametrize("series_fleet", [True, False], ids=["series", "payloads"])
@pytest.mark.parametrize("keep_detail", [True, False], ids=["kept", "not-kept"])
def test_a_rendered_page_is_byte_for_byte_what_the_results_serialize_to(series_fleet: bool, keep_detail: bool) -> None:
    """Stored compact, rendered with bytes operations: the answer must still be exactly the results."""
    plants = _long_names(fleet(20), 120)
    periods = series(plants, 12)
    # A label that looks like the stored form's own syntax, and an infeasible period.
    periods[3] = dict(periods[3], label='x"name":[1,2]\n{"name":7,')
    periods[5] = dict(periods[5], load=sum(p["pmax"] for p in plants) * 2.0)
    options = {"gas_co2_t_per_mwh": 0.3, "kerosine_co2_t_per_mwh": 0.0, "detail": keep_detail}
    results = solve_chunk({"index": 0, "start": 0, "fleet": plants, "items": periods}, options)
    assert results[5]["status"] == "infeasible" and results[3]["status"] == "ok"
    codec = ResultCodec.for_job(plants if series_fleet else None, options)
    stored = codec.encode_chunk(results)
    if series_fleet:
        assert all(plants[0]["name"].encode() not in item for item in stored)
    for detail in (True, False) if keep_detail else (False,):
        page = render_page(stored, codec.names, detail=detail, max_bytes=1 << 30)
        want = [{k: v for k, v in r.items() if detail or k != "detail"} for r in results]
        assert page.count == 12 and page.json == orjson.dumps(want)


# --- embedded executor ---------------------------------------------------------------------


def test_embedded_results_are_paged_by_default_up_to_a_maximum() -> None:
    plants = fleet(8)
    periods = series(plants, 33)
    settings = _settings(job_results_default_limit=7, job_results_max_limit=20)
    with TestClient(create_app(settings)) as client:
        location = _submit(client, plants, periods)
        job = wait_done(client, location)
        assert job["status"] == "done"
        assert_matches(job["results"], plants, periods, detail=False)  # compact unless the job asked
        _check_paging(client, location, total=33, default=7, maximum=20)


def test_detail_is_kept_only_when_the_job_asks_for_it() -> None:
    plants = fleet(6)
    periods = series(plants, 12)
    with TestClient(create_app(_settings())) as client:
        plain = _submit(client, plants, periods)
        detailed = _submit(client, plants, periods, "?detail=true")
        assert wait_done(client, plain)["options"]["detail"] is False
        assert_matches(wait_done(client, detailed)["results"], plants, periods, detail=True)
        # Detail can be dropped from a poll, not conjured for a job that did not keep it.
        lean = client.get(detailed, params={"detail": "false", "limit": 12}).json()
        assert_matches(lean["results"], plants, periods, detail=False)
        refused = client.get(plain, params={"detail": "true"})
        assert refused.status_code == 422 and "?detail=true" in refused.json()["detail"]


def test_embedded_store_is_compact_for_long_plant_names() -> None:
    """The finding's shape (long names, many plants): stored bytes grow with the numbers, not the names."""
    plants = _long_names(fleet(60))
    periods = series(plants, 40)
    app = create_app(_settings(job_chunk_size=20))
    with TestClient(app) as client:
        job = wait_done(client, _submit(client, plants, periods))
        assert_matches(job["results"], plants, periods, detail=False)
        answered = len(orjson.dumps(job["results"]))
        stored = app.state.services.jobs.stored_bytes()
        # Each period answered carries 60 names of 195 characters (> 11 kB); stored, a name is its
        # position in the fleet (a few bytes), so the store is a small fraction of the answer.
        assert answered > 40 * 60 * 195
        assert stored < 40 * (60 * 16 + 200 + PER_PERIOD_OVERHEAD)
        assert stored * 8 < answered
        assert client.get("/_healthcheck").json()["backends"]["jobs"]["store_bytes"] == stored


def test_a_page_is_cut_at_its_byte_budget_and_says_where_to_go_on() -> None:
    plants = _long_names(fleet(60))
    periods = series(plants, 30)
    settings = _settings(job_results_max_page_bytes=64 * 1024, job_results_default_limit=30)
    with TestClient(create_app(settings)) as client:
        location = _submit(client, plants, periods)
        wait_done(client, location)
        page = client.get(location)
        assert len(page.content) < 64 * 1024 + 4096  # the results (<= 64 kB) and the status around them
        body = page.json()
        count = body["results_page"]["count"]
        assert 0 < count < 30  # ~13 kB a period: a 64 kB page holds a few, not the 30 asked for
        assert body["results_page"]["next"] == f"{location}?offset={count}&limit=30"
        job = fetch_all(client, location, limit=30)  # following `next` still reaches every period
        assert_matches(job["results"], plants, periods, detail=False)


def test_embedded_store_evicts_the_job_that_finished_first_and_says_so() -> None:
    plants = fleet(10)
    periods = series(plants, 20)
    # The size of one such job, measured rather than guessed.
    probe = create_app(_settings())
    with TestClient(probe) as client:
        wait_done(client, _submit(client, plants, periods))
        one_job = probe.state.services.jobs.stored_bytes()
    assert one_job > 0

    app = create_app(_settings(job_store_max_bytes=int(2.5 * one_job)))
    with TestClient(app) as client:
        first = _submit(client, plants, periods)
        wait_done(client, first)
        second = _submit(client, plants, periods)
        wait_done(client, second)
        assert client.get(first, params={"limit": 1}).status_code == 200  # two jobs fit
        third = _submit(client, plants, periods)
        wait_done(client, third)

        gone = client.get(first)
        assert gone.status_code == 404
        assert "evicted" in gone.json()["detail"] and "JOB_STORE_MAX_BYTES" in gone.json()["detail"]
        for kept in (second, third):  # only the oldest finished job went
            assert client.get(kept, params={"limit": 1}).status_code == 200
        assert app.state.services.jobs.stored_bytes() <= 2.5 * one_job
        unknown = client.get("/productionplan/jobs/never-was")
        assert unknown.status_code == 404 and "evicted" not in unknown.json()["detail"]


def test_running_jobs_filling_the_store_refuse_new_ones_and_are_evicted_once_finished(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Running jobs cannot be evicted: while they alone fill the store a submit is a 503; once
    finished, a job over the budget on its own goes at once (the bound holds, and its 404 says why)."""
    import merit_order.jobs.local as local

    real = local.solve_chunk
    release = threading.Event()

    def hold_the_last_chunk(message: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        if message["index"] == 1:
            assert release.wait(30)
        return real(message, options)

    monkeypatch.setattr(local, "solve_chunk", hold_the_last_chunk)
    plants = fleet(6)
    app = create_app(_settings(job_store_max_bytes=200))  # a chunk of 5 periods is more
    with TestClient(app) as client:  # one thread: chunk 0 is stored, chunk 1 waits for `release`
        running = _submit(client, plants, series(plants, 10))
        deadline = time.monotonic() + 30
        while client.get(running, params={"limit": 0}).json()["progress"]["chunks_done"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert app.state.services.jobs.stored_bytes() > 200  # one chunk in: over the budget, still running

        refused = client.post("/productionplan/jobs", json={"powerplants": plants, "periods": series(plants, 2)})
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        assert "JOB_STORE_MAX_BYTES" in refused.json()["detail"]
        assert client.get(running, params={"limit": 0}).json()["status"] == "running"  # never evicted while running

        release.set()
        deadline = time.monotonic() + 30
        while (answer := client.get(running, params={"limit": 0})).status_code == 200:
            assert time.monotonic() < deadline, answer.json()
            time.sleep(0.05)
        assert answer.status_code == 404 and "evicted" in answer.json()["detail"]
        assert app.state.services.jobs.stored_bytes() == 0


def test_a_failed_jobs_reason_names_its_first_period_in_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reason comes from each chunk's first error, kept beside the results (no full read)."""
    import merit_order.jobs.local as local

    real = local.solve_chunk

    def crash_chunks_1_and_3(message: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        if message["index"] in (1, 3):
            raise RuntimeError(f"boom in chunk {message['index']}")
        return real(message, options)

    monkeypatch.setattr(local, "solve_chunk", crash_chunks_1_and_3)
    plants = fleet(6)
    periods = series(plants, 20)
    with TestClient(create_app(_settings())) as client:  # chunks of 5: periods 5-9 and 15-19 fail
        job = wait_done(client, _submit(client, plants, periods))
        assert job["status"] == "failed" and job["progress"]["errors"] == 10
        assert job["reason"].startswith("10 period(s) could not be computed; first: period 5: ")
        assert "boom in chunk 1" in job["reason"]
        assert [r["index"] for r in job["results"] if r["status"] == "error"] == [*range(5, 10), *range(15, 20)]


# --- Redis (Celery workers) ----------------------------------------------------------------


class _CountingRedis:
    """Records what the API's Redis client is asked to read: commands, keys, fields, bytes back."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], int]] = []
        original = client.execute_command

        async def execute_command(*args: Any, **options: Any) -> Any:
            reply = await original(*args, **options)
            self.calls.append((str(args[0]).upper(), args[1:], _size(reply)))
            return reply

        client.execute_command = execute_command

    def reset(self) -> None:
        self.calls.clear()

    def on(self, key: str) -> list[tuple[str, tuple[Any, ...], int]]:
        return [call for call in self.calls if call[1] and str(call[1][0]) == key]


def _size(reply: Any) -> int:
    if isinstance(reply, bytes):
        return len(reply)
    if isinstance(reply, (list, tuple)):
        return sum(_size(r) for r in reply)
    if isinstance(reply, dict):
        return sum(_size(k) + _size(v) for k, v in reply.items())
    return 0


@pytest.fixture()
def one_worker(fresh_redis: RedisServer) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(fresh_redis.url(), "pager")
    try:
        worker.wait_ready(fresh_redis.client())
        yield worker
    finally:
        worker.stop()


@pytest.mark.slow
@pytest.mark.redis
def test_redis_results_are_paged_and_a_poll_reads_only_its_page(fresh_redis: RedisServer, one_worker: WorkerProcess) -> None:
    plants = _long_names(fleet(12), 60)
    periods = series(plants, 60)
    settings = _settings(redis_url=fresh_redis.url(), job_chunk_size=25, job_results_default_limit=7, job_results_max_limit=20)
    app = create_app(settings)
    with TestClient(app) as client:
        location = _submit(client, plants, periods)
        job = wait_done(client, location, timeout=60)
        assert job["status"] == "done" and job["progress"]["chunks"] == 3
        assert_matches(job["results"], plants, periods, detail=False)
        _check_paging(client, location, total=60, default=7, maximum=20)

        job_id = location.rsplit("/", 1)[1]
        raw = fresh_redis.client()
        results_key = job_key(job_id, "results")
        assert raw.hlen(results_key) == 60  # one field per period ...
        stored = raw.hmget(results_key, [str(i) for i in range(60)])
        assert all(str(plants[0]["name"]).encode() not in v for v in stored)  # ... names stored once, apart
        assert orjson.loads(raw.get(job_key(job_id, "names"))) == [p["name"] for p in plants]

        counter = _CountingRedis(app.state.services.jobs._client)
        page = client.get(location, params={"offset": 31, "limit": 5}).json()
        assert [r["index"] for r in page["results"]] == [31, 32, 33, 34, 35]
        reads = counter.on(results_key)
        assert [(cmd, args[1:]) for cmd, args, _ in reads] == [("HMGET", ("31", "32", "33", "34", "35"))]
        assert sum(size for *_, size in reads) == sum(len(v) for v in stored[31:36])

        counter.reset()
        client.get(location, params={"limit": 0})  # a status poll: counters only
        assert counter.on(results_key) == [] and counter.on(job_key(job_id, "names")) == []


@pytest.mark.redis
def test_a_queued_redis_job_poll_reads_no_results(fresh_redis: RedisServer) -> None:
    """No worker: the job waits; its polls never touch the results or names keys."""
    plants = fleet(4)
    app = create_app(_settings(redis_url=fresh_redis.url()))
    with TestClient(app) as client:
        location = _submit(client, plants, series(plants, 3))
        counter = _CountingRedis(app.state.services.jobs._client)
        status = client.get(location).json()
        assert status["status"] == "queued" and "results" not in status and "results_page" not in status
        job_id = location.rsplit("/", 1)[1]
        assert counter.on(job_key(job_id, "results")) == [] and counter.on(job_key(job_id, "names")) == []


# --- a real server: the loop answers while a large page is read ------------------------------


def _get(url: str, timeout: float = 60) -> tuple[float, bytes]:
    """(when the answer's headers arrived, its body): the server sends the headers of a page only
    once it has rendered the page, so [request sent, headers in] is the server's work on it."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        headers_at = time.monotonic()
        return headers_at, response.read()


@pytest.mark.slow
def test_healthcheck_is_answered_while_a_large_page_is_read() -> None:
    """While large pages are rendered, healthchecks are answered.

    Ordering, not timing: each healthcheck records when it was sent and answered, each large
    read when it was sent and when its headers came back (the page is rendered by then); some
    healthcheck must fit wholly inside some read's window. A loop blocked while the page is
    rendered (the finding: 36 s) fits none.
    """
    plants = _long_names(fleet(120))
    periods = series(plants, 200)
    env = {
        "JOB_LOCAL_WORKERS": "0",
        "JOB_CHUNK_SIZE": "50",
        "JOB_RESULTS_MAX_LIMIT": "200",
        "JOB_RESULTS_MAX_PAGE_BYTES": str(64 * 1024 * 1024),
    }
    with running_api(env) as server:
        status, accepted = server.post_json("/productionplan/jobs?detail=true", {"powerplants": plants, "periods": periods})
        assert status == 202, accepted
        location = accepted["location"]
        deadline = time.monotonic() + 60
        while server.get_json(f"{location}?limit=0")["status"] != "done":
            assert time.monotonic() < deadline, "job not done in 60 s"
            time.sleep(0.2)

        reads: list[tuple[float, float, int]] = []
        checks: list[tuple[float, float]] = []
        stop = threading.Event()

        def healthchecks() -> None:
            while not stop.is_set():
                started = time.monotonic()
                _get(server.url + "/_healthcheck", timeout=30)
                checks.append((started, time.monotonic()))

        poller = threading.Thread(target=healthchecks, daemon=True)
        poller.start()
        try:
            for _ in range(3):
                started = time.monotonic()
                headers_at, body = _get(f"{server.url}{location}?limit=200")
                reads.append((started, headers_at, len(body)))
        finally:
            stop.set()
            poller.join(timeout=30)

        assert all(size > 10 * 1024 * 1024 for *_, size in reads)  # large reads: > 10 MB each
        inside = [c for c in checks if any(r0 < c0 and c1 < r1 for r0, r1, _ in reads for c0, c1 in [c])]
        assert inside, f"no healthcheck completed during a large read ({len(checks)} checks, reads {reads})"
