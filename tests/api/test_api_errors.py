"""Every error class of POST /productionplan through the real app: right status, a message
naming the field and the plant, the request id, and never a traceback or a 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from common import load_example, profile_examples
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TRACEBACK_MARKERS = ("Traceback", 'File "', "line ", "Error:", ".py")
JSON = {"content-type": "application/json"}  # the POST routes take nothing else (415)


def assert_clean_error(response: Any, status: int) -> dict[str, Any]:
    """The status, the error shape, the request id, and nothing that looks like a traceback."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body.get("errors"), list)
    assert body["request_id"] == response.headers["x-request-id"]
    for marker in ("Traceback", 'File "', ".py\""):
        assert marker not in response.text
    return body


def field_errors(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["field"]: e for e in body["errors"]}


def mutate(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    payload = load_example("payload3")
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


_DELETE = object()

# (path to change in payload3, new value, expected field, expected plant, words the message must hold)
INVALID = [
    (("powerplants", 0, "pmin"), -1, "powerplants[0].pmin", "gasfiredbig1", ["greater than or equal to 0"]),
    (("powerplants", 2, "pmax"), "lots", "powerplants[2].pmax", "gasfiredsomewhatsmaller", ["number", "'lots'"]),
    (("powerplants", 1, "efficiency"), 0, "powerplants[1].efficiency", "gasfiredbig2", ["greater than 0"]),
    (("powerplants", 1, "efficiency"), 1.5, "powerplants[1].efficiency", "gasfiredbig2", ["less than or equal to 1"]),
    (("powerplants", 3, "type"), "nuclear", "powerplants[3].type", "tj1", ["gasfired", "'nuclear'"]),
    (("powerplants", 3, "type"), None, "powerplants[3].type", "tj1", ["null"]),
    (("powerplants", 0, "pmin"), 500, "powerplants[0].pmin", "gasfiredbig1", ["pmin", "pmax", "gasfiredbig1"]),
    (("powerplants", 4, "pmax"), _DELETE, "powerplants[4].pmax", "windpark1", ["missing"]),
    (("powerplants", 4, "pmax"), [1, 2], "powerplants[4].pmax", "windpark1", ["number"]),
    (("powerplants", 5, "name"), "windpark1", "powerplants[5].name", "windpark1", ["more than once"]),
    (("powerplants", 5, "name"), "", "powerplants[5].name", None, ["at least 1"]),
    (("fuels", "wind(%)"), 101, "fuels.wind(%)", None, ["less than or equal to 100"]),
    (("fuels", "gas(euro/MWh)"), -3, "fuels.gas(euro/MWh)", None, ["greater than or equal to 0"]),
    (("fuels", "co2(euro/ton)"), _DELETE, "fuels.co2(euro/ton)", None, ["missing"]),
    (("fuels",), "cheap", "fuels", None, []),
    (("load",), -10, "load", None, ["greater than or equal to 0"]),
    (("load",), "a lot", "load", None, ["number"]),
    (("load",), None, "load", None, ["null"]),
    (("load",), _DELETE, "load", None, ["missing"]),
    (("load",), 480.05, "load", None, ["multiple of 0.1"]),
    (("powerplants",), [], "load", None, ["no production plan meets a load of 910.0 MW"]),  # an empty fleet is valid; 910 MW is not
    (("powerplants",), {"a": 1}, "powerplants", None, []),
    (("powerplants",), [17], "powerplants[0]", None, []),
]


@pytest.mark.parametrize(("path", "value", "field", "plant", "words"), INVALID, ids=[str(c[:3]).replace(repr(_DELETE), "<missing>") for c in INVALID])
def test_invalid_payloads_name_field_and_plant(
    client: TestClient, path: tuple[Any, ...], value: Any, field: str, plant: str | None, words: list[str]
) -> None:
    body = assert_clean_error(client.post("/productionplan", json=mutate(path, value)), 422)
    errors = field_errors(body)
    assert field in errors, body
    assert errors[field]["plant"] == plant
    for word in words:
        assert word in errors[field]["message"], errors[field]
    assert field in body["detail"]
    if plant is not None:
        assert repr(plant) in body["detail"]


@pytest.mark.parametrize(
    ("literal", "field"),
    [("NaN", "load"), ("Infinity", "load"), ("-Infinity", "load"), ("1e400", "load")],
)
def test_nan_and_infinity_are_refused_by_field(client: TestClient, literal: str, field: str) -> None:
    text = json.dumps(load_example("payload3")).replace('"load": 910', f'"load": {literal}')
    body = assert_clean_error(client.post("/productionplan", content=text, headers=JSON), 422)
    assert field in field_errors(body)
    assert "finite" in field_errors(body)[field]["message"]


def test_nan_in_a_plant_names_the_plant(client: TestClient) -> None:
    text = json.dumps(load_example("payload3")).replace('"pmax": 16', '"pmax": NaN')
    body = assert_clean_error(client.post("/productionplan", content=text, headers=JSON), 422)
    assert field_errors(body)["powerplants[3].pmax"]["plant"] == "tj1"


def test_several_problems_are_all_reported(client: TestClient) -> None:
    payload = mutate(("powerplants", 0, "pmin"), -1)
    payload["powerplants"][3]["type"] = "steam"
    payload["fuels"]["wind(%)"] = "windy"
    body = assert_clean_error(client.post("/productionplan", json=payload), 422)
    assert {"powerplants[0].pmin", "powerplants[3].type", "fuels.wind(%)"} <= set(field_errors(body))
    assert "3 problems" in body["detail"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"{nope", "not valid JSON"),
        (b'{"load": 910,}', "not valid JSON"),
        (b"\xff\xfe\xfa", "not"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        (b'{"load": ' + b"9" * 5000 + b"}", "not acceptable JSON"),
    ],
    ids=["empty", "blank", "broken", "trailing-comma", "not-utf8", "deep-nesting", "5000-digit-int"],
)
def test_malformed_json_is_400(client: TestClient, content: bytes, words: str) -> None:
    body = assert_clean_error(client.post("/productionplan", content=content, headers=JSON), 400)
    assert words in body["detail"]


@pytest.mark.parametrize(
    ("document", "kind"),
    [([load_example("payload3")], "an array"), ('"hello"', "a string"), (42, "a number"), (None, "null"), (True, "a boolean")],
)
def test_json_that_is_not_an_object_is_422(client: TestClient, document: Any, kind: str) -> None:
    content = document if isinstance(document, str) else json.dumps(document)
    body = assert_clean_error(client.post("/productionplan", content=content, headers=JSON), 422)
    assert "must be a JSON object" in body["detail"]
    assert kind in body["detail"]


def test_deeply_nested_value_inside_a_valid_object_is_not_a_500(client: TestClient) -> None:
    payload = load_example("payload3")
    nested: Any = 1
    for _ in range(500):
        nested = [nested]
    payload["powerplants"][0]["pmax"] = nested
    body = assert_clean_error(client.post("/productionplan", json=payload), 422)
    assert field_errors(body)["powerplants[0].pmax"]["plant"] == "gasfiredbig1"


# --- limits --------------------------------------------------------------------------


def test_too_many_plants_is_422_naming_the_limit(app_client: Callable[..., TestClient]) -> None:
    client = app_client(max_plants=5)
    body = assert_clean_error(client.post("/productionplan", json=load_example("payload3")), 422)
    assert "at most 5" in body["detail"] and "MAX_PLANTS" in body["detail"]
    assert field_errors(body)["powerplants"]["plant"] is None


@pytest.mark.parametrize("load", [50_000.1, 1e308, "1e308", 10**400])
def test_load_over_the_limit_is_422_naming_the_limit(client: TestClient, load: Any) -> None:
    payload = mutate(("load",), load)
    text = json.dumps(payload)  # 10**400 is a valid JSON integer
    body = assert_clean_error(client.post("/productionplan", content=text, headers=JSON), 422)
    assert "MAX_LOAD_MW" in body["detail"]
    assert "50000 MW" in body["detail"]


def test_load_at_the_limit_is_planned(client: TestClient) -> None:
    payload = {
        "load": 50_000,
        "fuels": {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 60},
        "powerplants": [
            {"name": f"g{i}", "type": "gasfired", "efficiency": 0.5 + i / 1000, "pmin": 10, "pmax": 1000}
            for i in range(60)
        ],
    }
    response = client.post("/productionplan", json=payload)
    assert response.status_code == 200, response.text
    assert sum(round(a["p"] * 10) for a in response.json()) == 500_000


@pytest.mark.parametrize(
    ("value", "says"),
    [(1e308, "less than or equal to 10000000"), (1e12, "less than or equal to 10000000"), (50_000.1, "MAX_PLANT_MW")],
)
def test_plant_over_the_size_limit_is_422_naming_the_plant(client: TestClient, value: float, says: str) -> None:
    """Absurd sizes stop at the schema's physical cap, large ones at the service's own limit."""
    payload = mutate(("powerplants", 2, "pmax"), value)
    body = assert_clean_error(client.post("/productionplan", json=payload), 422)
    error = field_errors(body)["powerplants[2].pmax"]
    assert error["plant"] == "gasfiredsomewhatsmaller"
    assert says in error["message"]


@pytest.mark.parametrize(
    ("path", "value"),
    [(("powerplants", 0, "efficiency"), 1e-300), (("fuels", "gas(euro/MWh)"), 1e308)],
)
def test_costs_that_overflow_are_422_naming_the_plant(client: TestClient, path: tuple[Any, ...], value: float) -> None:
    body = assert_clean_error(client.post("/productionplan", json=mutate(path, value)), 422)
    error = field_errors(body)["powerplants[0].efficiency"]
    assert error["plant"] == "gasfiredbig1"
    assert "MAX_COST_PER_MWH" in error["message"]


def test_huge_but_harmless_numbers_are_fine(client: TestClient) -> None:
    payload = mutate(("fuels", "co2(euro/ton)"), 1e9)
    response = client.post("/productionplan", params={"detail": "true"}, json=payload)
    assert response.status_code == 200, response.text


# --- infeasible loads ------------------------------------------------------------------


def test_load_above_capacity_is_422_with_the_nearest_load_below(client: TestClient) -> None:
    body = assert_clean_error(client.post("/productionplan", json=mutate(("load",), 5000)), 422)
    assert "5000.0 MW" in body["detail"]
    assert body["nearest_loads"]["above"] is None
    below = body["nearest_loads"]["below"]
    # payload3's capacity: 460 + 460 + 210 + 16 + 90 (wind 60% of 150) + 21.6 (60% of 36)
    assert below == pytest.approx(1257.6)
    assert field_errors(body)["load"]["plant"] is None


def test_load_in_a_pmin_gap_gives_both_nearest_loads(client: TestClient) -> None:
    payload = {
        "load": 50,
        "fuels": {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 0},
        "powerplants": [
            {"name": "small", "type": "gasfired", "efficiency": 0.5, "pmin": 10, "pmax": 20},
            {"name": "big", "type": "gasfired", "efficiency": 0.5, "pmin": 100, "pmax": 200},
        ],
    }
    body = assert_clean_error(client.post("/productionplan", json=payload), 422)
    assert body["nearest_loads"] == {"below": 20.0, "above": 100.0}
    assert "20.0 MW below" in body["detail"] and "100.0 MW above" in body["detail"]


# --- body size -------------------------------------------------------------------------


def test_body_over_the_limit_by_content_length_is_413(app_client: Callable[..., TestClient]) -> None:
    client = app_client(max_body_bytes=2048)
    content = json.dumps(load_example("payload3")).encode() + b" " * 3000
    body = assert_clean_error(client.post("/productionplan", content=content, headers=JSON), 413)
    assert "2048 bytes" in body["detail"] and "MAX_BODY_BYTES" in body["detail"]


def test_streamed_body_over_the_limit_is_413(app_client: Callable[..., TestClient]) -> None:
    """No Content-Length (chunked): counted as it streams in, refused past the limit."""
    client = app_client(max_body_bytes=2048)

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 100

    response = client.post("/productionplan", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_clean_error(response, 413)


def test_streamed_body_under_the_limit_is_planned(client: TestClient) -> None:
    text = json.dumps(load_example("payload3")).encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(text), 64):
            yield text[i : i + 64]

    response = client.post("/productionplan", content=chunks(), headers=JSON)
    assert response.status_code == 200
    assert response.json() == load_example("response3")


def test_bad_content_length_is_400(client: TestClient) -> None:
    response = client.post("/productionplan", content=b"{}", headers={"content-length": "abc"})
    assert_clean_error(response, 400)


# --- other errors ----------------------------------------------------------------------


def test_bad_query_parameter_is_422(client: TestClient) -> None:
    response = client.post("/productionplan", params={"detail": "perhaps"}, json=load_example("payload3"))
    body = assert_clean_error(response, 422)
    assert field_errors(body)["detail"]["message"].startswith("Input should be a valid boolean")


def test_unknown_route_and_wrong_method_keep_the_error_shape(client: TestClient) -> None:
    assert_clean_error(client.get("/nowhere"), 404)
    assert_clean_error(client.get("/productionplan"), 405)


def test_unexpected_exception_is_a_generic_500_with_the_traceback_only_in_the_log(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import merit_order.planning as planning

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(planning, "compute_plan", explode)
    capsys.readouterr()
    response = client.post("/productionplan", json=load_example("payload1"), headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    body = response.json()
    assert body == {"detail": "internal error; please report it with request id req-500", "request_id": "req-500"}
    assert "secret" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"] == "req-500"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line.get("event") == "unhandled_error"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "req-500"
    assert "Traceback" in errors[0]["exception"] and "secret internals" in errors[0]["exception"]
    assert errors[0]["level"] == "error"


# --- never a 500, whatever the input ---------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for i, value in enumerate(document):
            out += _paths(value, (*prefix, i))
    return out


_PATHS = [p for p in _paths(load_example("payload3")) if p]


@settings(max_examples=profile_examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(_PATHS), value=_json_values | st.just(_DELETE))
def test_no_mutation_of_a_valid_payload_is_a_500(client: TestClient, path: tuple[Any, ...], value: Any) -> None:
    logging.disable(logging.CRITICAL)  # 150 access lines are noise here
    try:
        text = json.dumps(mutate(path, value))  # NaN/Infinity literals included, as Python writes them
        response = client.post("/productionplan", content=text, headers=JSON)
    finally:
        logging.disable(logging.NOTSET)
    assert response.status_code in (200, 400, 422), (path, value, response.text)
    if response.status_code != 200:
        assert_clean_error(response, response.status_code)


@pytest.mark.parametrize(
    ("path", "value"),
    [(("powerplants", 0, "pmax"), False), (("fuels", "wind(%)"), True), (("load",), "910"), (("powerplants", 1, "efficiency"), "0.53")],
)
def test_booleans_and_numeric_strings_are_not_numbers(client: TestClient, path: tuple[Any, ...], value: Any) -> None:
    """JSON false is not 0 MW and "910" is not 910: a client sending them has a bug to be told about."""
    body = assert_clean_error(client.post("/productionplan", json=mutate(path, value)), 422)
    assert "valid number" in body["detail"]
