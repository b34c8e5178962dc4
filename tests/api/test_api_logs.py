"""Logs: one JSON access line per request with its fields; uvicorn's records in the same format."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from common import load_example, make_settings
from fastapi.testclient import TestClient

from merit_order.logs import configure_logging


def json_lines(out: str) -> list[dict[str, Any]]:
    """Every line of stdout must be a JSON object (that is the contract of LOG_FORMAT=json)."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def access_lines(out: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(out) if line.get("event") == "request"]


def test_one_access_line_per_request_with_its_fields(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    response = client.post("/productionplan", json=load_example("payload3"), headers={"X-Request-ID": "log-test-1"})
    assert response.status_code == 200
    lines = access_lines(capsys.readouterr().out)
    assert len(lines) == 1
    line = lines[0]
    assert line["method"] == "POST"
    assert line["path"] == "/productionplan"
    assert line["status"] == 200
    assert line["request_id"] == "log-test-1"
    assert line["plant_count"] == 6
    assert isinstance(line["duration_ms"], float) and 0 <= line["duration_ms"] < 10_000
    assert line["level"] == "info"
    assert "timestamp" in line


def test_error_requests_are_logged_with_status_and_plant_count(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = load_example("payload3")
    payload["powerplants"][0]["pmin"] = -1
    capsys.readouterr()
    response = client.post("/productionplan", json=payload)
    line = access_lines(capsys.readouterr().out)[0]
    assert (line["status"], line["plant_count"]) == (422, 6)
    assert line["request_id"] == response.headers["x-request-id"]


def test_413_and_400_are_logged(app_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]) -> None:
    client = app_client(max_body_bytes=1024)
    capsys.readouterr()
    client.post("/productionplan", content=b" " * 2000, headers={"content-type": "application/json"})
    client.post("/productionplan", content=b"{", headers={"content-type": "application/json"})
    statuses = [line["status"] for line in access_lines(capsys.readouterr().out)]
    assert statuses == [413, 400]


def test_uvicorn_records_go_through_the_same_json_formatter(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(make_settings())
    capsys.readouterr()
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    lines = json_lines(capsys.readouterr().out)
    assert len(lines) == 1
    assert lines[0]["event"] == "Started server process [42]"
    assert lines[0]["logger"] == "uvicorn.error"
    assert lines[0]["level"] == "info"


def test_log_level_filters(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(make_settings(log_level="WARNING"))
    try:
        capsys.readouterr()
        logging.getLogger("merit_order.test").info("hidden")
        logging.getLogger("merit_order.test").warning("shown")
        assert [line["event"] for line in json_lines(capsys.readouterr().out)] == ["shown"]
    finally:
        configure_logging(make_settings())


def test_console_format_is_for_humans(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(make_settings(log_format="console"))
    try:
        capsys.readouterr()
        import structlog

        structlog.get_logger("merit_order.test").info("hello", plant_count=3)
        out = capsys.readouterr().out
        assert "hello" in out and "plant_count" in out and "3" in out
        with pytest.raises(json.JSONDecodeError):
            json.loads(out)
    finally:
        configure_logging(make_settings())


def test_configuring_twice_does_not_duplicate_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(make_settings())
    configure_logging(make_settings())
    capsys.readouterr()
    logging.getLogger("merit_order.test").warning("once")
    assert len(json_lines(capsys.readouterr().out)) == 1
