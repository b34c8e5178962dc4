"""Every setting of the service, read once from environment variables.

One object, so that a deployment has one place to look and the tests one thing to build.
The request limits live here too, next to each other, because together they are the
promise that no single request can make the calculator take more than about a second
or 500 MB (docs/configuration.md, "Why these limits"): change them together, and measure when you do.

Other modules add their own fields here with small edits (cache, jobs, broadcast).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from merit_order.calculator import CostModel

MiB = 1024 * 1024

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Settings(BaseSettings):
    """The service's configuration; each field is the environment variable of the same name."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # --- serving -------------------------------------------------------------------------
    host: str = Field("0.0.0.0", description="Interface uvicorn binds to.")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(3000, description="TCP port uvicorn listens on.")
    workers: Annotated[int, Field(ge=1, le=64)] = Field(1, description="uvicorn worker processes.")

    # --- logs --------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Least severe level written."
    )
    log_format: Literal["json", "console"] = Field(
        "json", description="json: one JSON object a line (for machines); console: coloured text (for humans)."
    )

    # --- the calculator ----------------------------------------------------------------
    gas_co2_t_per_mwh: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = Field(
        0.3, description="Tonnes of CO2 per MWh produced by a gas-fired plant (the challenge's 0.3)."
    )
    kerosine_co2_t_per_mwh: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = Field(
        0.0, description="Tonnes of CO2 per MWh produced by a turbojet (0: the challenge does not price it)."
    )
    wind_curtailment: bool = Field(
        False,
        description="Default of the wind_curtailment query parameter: allow a wind park to run below its "
        "available power instead of all-or-nothing.",
    )

    # --- limits: together they bound one request's time and memory ---------------------
    max_plants: Annotated[int, Field(ge=1)] = Field(500, description="Most plants in one request.")
    max_load_mw: PositiveFloat = Field(50_000.0, description="Largest load in MW (5e5 steps of 0.1 MW).")
    max_plant_mw: PositiveFloat = Field(
        50_000.0,
        description="Largest pmin/pmax of one plant in MW; bounds the reachable-load set computed for an "
        "infeasible request (at 1e6 MW that alone takes over a second).",
    )
    max_cost_per_mwh: PositiveFloat = Field(
        1e12,
        description="Largest cost per MWh a plant may have (fuel price / efficiency + CO2); keeps every "
        "figure of the answer a finite number.",
    )
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(MiB, description="Largest request body, bytes.")

    # --- transport limits: what a client can make the server buffer before any route runs ---
    max_header_count: Annotated[int, Field(ge=16, le=10_000)] = Field(
        100,
        description="Most header lines in one request (Apache's default); more is a 431. A browser or "
        "proxy sends a few dozen at most.",
    )
    max_header_bytes: Annotated[int, Field(ge=1024, le=MiB)] = Field(
        16 * 1024,
        description="Most bytes of request line and headers together; more is a 431. The server's own "
        "parser buffers them without a bound, so `merit-order serve` cuts a request off here.",
    )
    ws_max_message_bytes: Annotated[int, Field(ge=256, le=16 * MiB)] = Field(
        4096,
        description="Largest websocket message a /ws client may send (the feed ignores what clients "
        "send); a larger one closes the connection with 1009 before it is buffered. uvicorn's own "
        "default, 16 MiB, let each client hold that much of the server's memory.",
    )

    # --- backends (unset: the embedded, in-process defaults) ---------------------------
    redis_url: str | None = Field(
        None, description="redis://host:port/db for the shared cache, job queue and broadcast; unset = in-process."
    )

    # --- plan cache ----------------------------------------------------------------------
    cache_enabled: bool = Field(True, description="Answer repeated requests from the cache (false: always solve).")
    cache_ttl_seconds: Annotated[int, Field(ge=1)] = Field(86_400, description="How long a plan is kept, seconds.")
    cache_max_entries: Annotated[int, Field(ge=1)] = Field(
        10_000, description="Most plans kept by the in-memory cache (LRU); Redis is bounded by its own maxmemory."
    )
    cache_redis_timeout_seconds: PositiveFloat = Field(
        0.25, description="Socket timeout of a cache call to Redis: the most a hung Redis adds to one request."
    )
    cache_retry_max_seconds: PositiveFloat = Field(
        5.0, description="Longest back-off between probes of a Redis that is down (the cache returns by itself)."
    )

    # --- jobs -----------------------------------------------------------------------------
    job_chunk_size: Annotated[int, Field(ge=1, le=100_000)] = Field(
        250, description="Periods per chunk: the unit of work a worker takes (and redoes if it dies)."
    )
    job_result_ttl_seconds: Annotated[int, Field(ge=1)] = Field(86_400, description="How long a job's results are kept.")
    max_batch_periods: Annotated[int, Field(ge=1)] = Field(10_000, description="Most periods in one job.")
    max_job_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        64 * MiB, description="Largest body of POST /productionplan/jobs (a year of a 30-plant fleet is ~1.2 MB)."
    )
    job_local_workers: Annotated[int | None, Field(ge=0, le=256)] = Field(
        None, description="Processes of the in-process executor (no REDIS_URL); unset = cores; 0 = one thread."
    )
    job_visibility_timeout_seconds: Annotated[int, Field(ge=1)] = Field(
        120,
        description="Celery over Redis: seconds before a chunk taken by a worker that vanished (killed, "
        "machine lost) is handed to another. Longer than the slowest chunk, or chunks run twice.",
    )
    job_chunk_stale_seconds: Annotated[float, Field(ge=0.1, le=3600, allow_inf_nan=False)] = Field(
        10.0,
        description="Celery over Redis: a chunk queued (with the queue empty) or running without a heartbeat "
        "for this long is presumed lost and resubmitted by the watchdog (jobs/watchdog.py). A running chunk "
        "beats every quarter of it, so it is never resubmitted while alive; shorter recovers a dead worker's "
        "chunk sooner, at the cost of a few more Redis writes.",
    )
    job_chunk_max_resubmits: Annotated[int, Field(ge=0, le=100)] = Field(
        5,
        description="Resubmissions of one lost chunk before it is given up on: its periods get a result in error "
        "and the job ends `failed` with the reason, instead of being retried forever.",
    )
    job_watchdog_interval_seconds: Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)] = Field(
        2.0, description="How often each worker's watchdog looks for chunks past their deadline."
    )
    job_results_default_limit: Annotated[int, Field(ge=1, le=100_000)] = Field(
        100, description="Periods in a page of GET /productionplan/jobs/{id} when the poll gives no limit."
    )
    job_results_max_limit: Annotated[int, Field(ge=1, le=100_000)] = Field(
        1000, description="Largest limit a poll may ask for (more is a 422): one answer never holds a whole year."
    )
    job_results_max_page_bytes: Annotated[int, Field(ge=64 * 1024)] = Field(
        4 * MiB,
        description="Most bytes of results in one answer: a page stops early past it (its next_offset says "
        "where to go on), so a fleet of long names cannot make a page of `limit` periods huge.",
    )
    job_store_max_bytes: Annotated[int, Field(ge=1)] = Field(
        256 * MiB,
        description="In-process executor (no REDIS_URL): most bytes of results kept; past it the jobs that "
        "finished first are evicted (their GET is a 404 saying so). With Redis, its maxmemory and the TTL bound them.",
    )
    worker_concurrency: Annotated[int | None, Field(ge=1, le=256)] = Field(
        None, description="Processes of one `merit-order worker`; unset = cores."
    )

    # --- schedules: POST /schedules (day-ahead unit commitment) ---------------------------
    schedule_max_time_limit_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        300,
        description="Longest solve a request may ask for (time_limit_s). Celery's visibility timeout and the "
        "schedule task's time limits are derived from it, so a running solve is never handed out twice.",
    )
    schedule_default_time_limit_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        60, description="Solve time when a request gives no time_limit_s (capped by the maximum)."
    )
    schedule_default_gap: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = Field(
        0.001, description="Relative gap at which a solve stops when a request gives none (0.001 = 0.1 %)."
    )
    schedule_max_units: Annotated[int, Field(ge=1, le=100_000)] = Field(
        1_000, description="Most units (thermal + renewable) in one schedule request."
    )
    schedule_max_periods: Annotated[int, Field(ge=1, le=100_000)] = Field(
        672, description="Most periods in one schedule request (672 = a week of quarter-hours)."
    )
    max_schedule_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        32 * MiB, description="Largest body of POST /schedules (a pglib-uc instance of 600 units x 48 periods is ~3 MB)."
    )
    schedule_local_workers: Annotated[int, Field(ge=1, le=64)] = Field(
        1,
        description="Embedded mode (no REDIS_URL): schedules solved at once, each in a process of its own; "
        "the others wait `queued`.",
    )
    schedule_keep: Annotated[int, Field(ge=1, le=100_000)] = Field(
        200, description="Embedded mode: finished schedules kept in memory (the oldest go first); also bounded by JOB_RESULT_TTL_SECONDS."
    )
    schedule_lease_seconds: Annotated[float, Field(ge=1, le=600, allow_inf_nan=False)] = Field(
        6.0,
        description="Celery over Redis: a running schedule's worker renews its lease every quarter of this; "
        "a schedule whose lease lapsed (its worker died) is resubmitted to another worker.",
    )
    schedule_max_attempts: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="Celery over Redis: solves of one schedule started before it is given up on (`failed`)."
    )

    # --- live feed: /ws and /monitor ----------------------------------------------------
    broadcast_queue_size: Annotated[int, Field(ge=1, le=100_000)] = Field(
        100,
        description="Plans queued per websocket client; a client that falls further behind loses its oldest "
        "(counted): bounds memory per client and keeps a stalled client from slowing anyone.",
    )
    broadcast_max_clients: Annotated[int, Field(ge=1)] = Field(
        1000, description="Most websocket clients per API process; more are closed with 1013 (try again later)."
    )
    broadcast_heartbeat_seconds: PositiveFloat = Field(
        15.0, description="A quiet /ws sends a heartbeat this often, so that a page can tell quiet from dead."
    )
    broadcast_channel: str = Field(
        "merit-order:plans", description="Redis pub/sub channel of the live feed (with REDIS_URL)."
    )
    broadcast_history_size: Annotated[int, Field(ge=0, le=1000)] = Field(
        20,
        description="Recent plans a websocket client receives as soon as it connects (per API process; "
        "0: none), so that /monitor opened after the plans were made shows them.",
    )

    # --- access control, CORS, solve budget --------------------------------------------
    api_key: SecretStr | None = Field(
        None,
        description="When set, every route but /_healthcheck (and /metrics, see METRICS_REQUIRE_KEY) needs it: "
        "X-API-Key header, or ?api_key= on the websocket. Unset or empty: no access control.",
    )
    metrics_require_key: bool = Field(
        False, description="Also require the API key on /metrics (off: a Prometheus scraper needs no key)."
    )
    docs_require_key: bool = Field(
        True,
        description="Require the API key on /docs and /openapi.json too (false: the documentation opens "
        "in a browser, and its Authorize button sends the key on every call tried from it).",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed to call the API from a browser (e.g. "
        "https://a.example,https://b.example; * for any). Empty: CORS closed (same origin only).",
    )
    solve_timeout_seconds: PositiveFloat = Field(
        10.0,
        description="Most seconds POST /productionplan waits for one solve; past it the request is answered "
        "503 (the limits keep real solves far below it: milliseconds).",
    )
    # Admission of heavy solves (solve_budget.py, docs/solve-budget.md): a solve whose table has at
    # least HEAVY_SOLVE_CELLS cells needs a slot and the cells it holds from this process's budget,
    # or is refused at once (503 + Retry-After). Cells are the unit of work (~10 million filled per
    # second per core) and of memory (8 bytes each; a large table holds checkpoint columns only).
    heavy_solve_cells: Annotated[int, Field(ge=1)] = Field(
        1_000_000,
        description="Table cells from which a solve counts as heavy (~8 MB, ~0.1 s). Realistic fleets stay "
        "well below it; lighter solves run in the shared thread pool without admission.",
    )
    max_heavy_solves: Annotated[int | None, Field(ge=1, le=256)] = Field(
        None,
        description="Most heavy solves running at once in one API process; more are refused at once with 503 "
        "and Retry-After. Unset = half the cores (at least 1), leaving the rest to light requests.",
    )
    max_solve_cells_in_flight: Annotated[int, Field(ge=1)] = Field(
        60_000_000,
        description="Most table cells the heavy solves of one API process may hold in memory together (8 bytes "
        "each: 60 M = ~480 MB). A solve that would pass it is refused with 503 + Retry-After; one that alone "
        "holds more is a 422, which no valid request reaches while this is at least the most one solve can "
        "hold under MAX_PLANTS and MAX_LOAD_MW (23 M cells at their defaults).",
    )
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics on /metrics.")

    @model_validator(mode="after")
    def _default_page_within_the_maximum(self) -> Settings:
        """A default page larger than the largest allowed one would make every plain poll a 422."""
        if self.job_results_default_limit > self.job_results_max_limit:
            raise ValueError("JOB_RESULTS_DEFAULT_LIMIT must not exceed JOB_RESULTS_MAX_LIMIT")
        return self

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_unset(cls, value: object) -> object:
        """API_KEY= (empty, as compose passes an unset variable) means "no key", never "the empty key"."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def cors_origin_list(self) -> list[str]:
        """CORS_ORIGINS as a list, blanks dropped."""
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _normalise_case(cls, value: object, info: object) -> object:
        """LOG_LEVEL=info and LOG_FORMAT=JSON are what people type; accept them."""
        if not isinstance(value, str):
            return value
        return value.upper() if getattr(info, "field_name", "") == "log_level" else value.lower()

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """REDIS_URL= (empty) in a compose file means "no Redis", not a URL to fail on later."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def cost_model(self) -> CostModel:
        """The calculator's cost model with this deployment's emission factors."""
        return CostModel(
            gas_co2_t_per_mwh=self.gas_co2_t_per_mwh,
            kerosine_co2_t_per_mwh=self.kerosine_co2_t_per_mwh,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once (tests build their own Settings)."""
    return Settings()
