"""Property-based fuzz of the API from its own OpenAPI schema (schemathesis).

Every operation in /openapi.json gets bodies, query and path parameters generated from
the schema (valid ones, and invalid ones: wrong types, missing fields, out-of-range
numbers), sent in-process to the ASGI app, and every answer is checked:

* never a 5xx (a 503 is allowed for the jobs routes only when the queue says so: never
  here, the in-process queue is always there);
* the status code is one the operation declares, with the declared content type, and
  the body is valid against the declared schema.

Bounded and deterministic (derandomize): the same cases every run, a few hundred in all,
a few seconds, so that it belongs in `make test`. A failure prints the exact case to replay.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from common import make_settings, profile_examples
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import checks

from merit_order.api import create_app

MAX_EXAMPLES = profile_examples(100)  # per operation (fewer under the fast profile)

# Checked: no 5xx, declared status codes, content types, headers, response bodies valid
# against their schema. Not checked:
# * positive_data_acceptance: a schema-valid payload may still be refused, by design (a
#   load no plan can meet, duplicate names, pmin > pmax: rules a JSON schema cannot state).
NOT_CHECKED = [checks.positive_data_acceptance]

# One app for the whole module, its lifespan started by a TestClient (schemathesis calls
# the same app object, so the backends built in the lifespan are there).
app = create_app(make_settings(job_local_workers=0, cache_enabled=False))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def running_app() -> Iterator[None]:
    with TestClient(app):
        yield


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    database=None,
)
def test_api_conforms_to_its_own_schema(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:500]}"
    case.validate_response(response, excluded_checks=NOT_CHECKED)
