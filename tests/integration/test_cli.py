"""The `merit-order` console script, run as a user runs it: in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import EXAMPLES, MERIT_ORDER, _env, run
from common import load_example


def example_path(name: str) -> str:
    return str(EXAMPLES.joinpath(f"{name}.json"))


def test_plan_prints_the_challenge_answer() -> None:
    result = run("plan", example_path("payload3"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == load_example("response3")
    assert result.stderr == ""


@pytest.mark.slow
def test_plan_reads_stdin() -> None:
    result = run("plan", "-", stdin=json.dumps(load_example("payload2")).encode())
    assert result.returncode == 0, result.stderr
    answer = {a["name"]: a["p"] for a in json.loads(result.stdout)}
    assert (answer["gasfiredbig1"], answer["gasfiredbig2"]) == (380.0, 100.0)


@pytest.mark.slow
def test_plan_table_is_aligned_with_totals() -> None:
    result = run("plan", "--table", example_path("payload3"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["plant", "type", "p", "(MW)", "cost/MWh", "cost", "(EUR)"]
    rows = lines[2:8]
    assert [r.split()[0] for r in rows] == [a["name"] for a in load_example("response3")]
    assert len({len(r) for r in rows}) == 1, "right-aligned numbers: every row ends at the same column"
    # the p column is right-aligned: every row's p ends at the same column as the header's
    p_end = lines[0].index("p (MW)") + len("p (MW)")
    for row, answer in zip(rows, load_example("response3"), strict=True):
        assert row[:p_end].rstrip().endswith(f"{answer['p']:.1f}")
    text = result.stdout
    assert "total cost    24976.36 EUR" in text
    assert "marginal cost 31.28 EUR/MWh" in text
    assert "CO2           239.52 t" in text


@pytest.mark.slow
def test_plan_wind_curtailment_flag() -> None:
    payload = {
        "load": 100,
        "fuels": {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 100},
        "powerplants": [
            {"name": "gas", "type": "gasfired", "efficiency": 0.5, "pmin": 100, "pmax": 400},
            {"name": "wind", "type": "windturbine", "efficiency": 1, "pmin": 0, "pmax": 150},
        ],
    }
    stdin = json.dumps(payload).encode()
    plain = {a["name"]: a["p"] for a in json.loads(run("plan", "-", stdin=stdin).stdout)}
    curtailed = {a["name"]: a["p"] for a in json.loads(run("plan", "-", "--wind-curtailment", stdin=stdin).stdout)}
    assert plain == {"wind": 0.0, "gas": 100.0}
    assert curtailed == {"wind": 100.0, "gas": 0.0}


@pytest.mark.parametrize(
    ("stdin", "words"),
    [
        (b"{nope", "not valid JSON"),
        pytest.param(b"[]", "must be a JSON object", marks=pytest.mark.slow),
        pytest.param(json.dumps({**load_example("payload3"), "load": 480.05}).encode(), "multiple of 0.1", marks=pytest.mark.slow),
        pytest.param(json.dumps({**load_example("payload3"), "load": 5000}).encode(), "1257.6 MW below", marks=pytest.mark.slow),
        pytest.param(json.dumps({**load_example("payload3"), "load": 1e308}).encode(), "MAX_LOAD_MW", marks=pytest.mark.slow),
    ],
    ids=["broken-json", "array", "off-grid", "infeasible", "over-limit"],
)
def test_plan_bad_input_exits_2_with_one_line(stdin: bytes, words: str) -> None:
    result = run("plan", "-", stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert words in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_plan_invalid_plant_names_it() -> None:
    payload = load_example("payload3")
    payload["powerplants"][3]["efficiency"] = 0
    result = run("plan", "-", stdin=json.dumps(payload).encode())
    assert result.returncode == 2
    assert "powerplants[3].efficiency (plant 'tj1')" in result.stderr


@pytest.mark.slow
def test_plan_missing_file_exits_2() -> None:
    result = run("plan", "/nonexistent/payload.json")
    assert result.returncode == 2
    assert "cannot read /nonexistent/payload.json" in result.stderr


@pytest.mark.slow
def test_usage_errors_exit_2() -> None:
    assert run().returncode == 2
    assert run("fly").returncode == 2
    assert "serve" in run("--help").stdout


@pytest.mark.slow
def test_bad_environment_exits_2_naming_the_variable() -> None:
    result = run("plan", example_path("payload3"), MAX_PLANTS="many")
    assert result.returncode == 2
    assert "max_plants" in result.stderr.lower()


# --- the real server ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def server() -> Iterator[dict[str, Any]]:
    """`merit-order serve --port <free>` in its own process group, stopped by PID."""
    port = _free_port()
    process = subprocess.Popen(
        [MERIT_ORDER, "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_env(LOG_FORMAT="json"),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else "server died"
            try:
                if _request(f"{base}/_healthcheck")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not start within 30 s"
            time.sleep(0.1)
        yield {"base": base, "process": process}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@pytest.mark.slow
def test_real_server_answers_payload3_and_logs_json(server: dict[str, Any]) -> None:
    base = server["base"]
    status, headers, body = _request(
        f"{base}/productionplan",
        json.dumps(load_example("payload3")).encode(),
        {"Content-Type": "application/json", "X-Request-ID": "real-server-1"},
    )
    assert status == 200
    assert json.loads(body) == load_example("response3")
    assert headers["x-request-id"] == "real-server-1"

    status, _, body = _request(f"{base}/_healthcheck")
    assert status == 200 and json.loads(body)["status"] == "ok"

    # A body over the limit by its declared length: the server answers 413 before reading it.
    # (Sending the whole MiB raced the server's close: now and then a broken pipe, not the answer.)
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /productionplan HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1048577\r\n\r\n"
        )
        head = connection.recv(4096)
    assert head.startswith(b"HTTP/1.1 413"), head[:80]

    process = server["process"]
    os.killpg(process.pid, signal.SIGTERM)
    out, _ = process.communicate(timeout=15)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]  # every line is JSON
    access = [line for line in lines if line.get("event") == "request" and line.get("request_id") == "real-server-1"]
    assert len(access) == 1 and access[0]["status"] == 200 and access[0]["plant_count"] == 6
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines), "uvicorn's lines are JSON too"


# --- in process (the same paths, measured by coverage, plus the unexpected-error exit) ------


def test_main_in_process_plan_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    from merit_order import cli

    assert cli.main(["plan", example_path("payload3")]) == 0
    assert json.loads(capsys.readouterr().out) == load_example("response3")
    assert cli.main(["plan", "--table", example_path("payload1")]) == 0
    assert "total cost" in capsys.readouterr().out


def test_main_in_process_bad_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from merit_order import cli

    bad = tmp_path / "bad.json"
    bad.write_text('{"load": -1}')
    assert cli.main(["plan", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("merit-order: invalid request") and err.count("\n") == 1


def test_main_unexpected_error_exits_1_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from merit_order import calculator, cli

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(calculator, "compute_plan", explode)
    assert cli.main(["plan", example_path("payload3")]) == 1
    err = capsys.readouterr().err
    assert "unexpected error: RuntimeError: boom" in err and "Traceback" not in err
