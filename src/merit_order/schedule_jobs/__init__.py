"""Schedules as jobs: `POST /schedules` solved off the request path, progress while it runs.

The solver (`merit_order.schedule`) is pure; this package runs it for the service:

    runner.py       one request from its JSON to an outcome, reporting snapshots (no I/O)
    record.py       what is known of one schedule, and its status document (GET /schedules/{id})
    queue.py        the contract the routes use (submit, status, list, cancel)
    local.py        embedded default: each solve in a process of its own, state in memory
    redis_state.py  the same state in Redis, shared by every API replica and worker
    distributed.py  REDIS_URL set: the API's side (publish to Celery, read Redis)
    task.py         the worker's side: the Celery task, its lease and the sweeper that
                    resubmits a schedule whose worker died
    stats.py        the schedule metrics (counts by status, solve seconds, final gap)

docs/schedules.md ("The service") says what a user sees.
"""
