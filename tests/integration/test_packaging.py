"""The container and compose files, checked against the package they ship.

No Docker engine runs where the suite runs, so these tests check what can be checked
without one: that every command, port, health check and route the Dockerfile and
docker-compose.yml name really exist in the package, and that the image's entry commands
(`merit-order serve`, `merit-order worker`) and health-check commands work when run here
exactly as the image runs them. The nginx proxy config is run for real when nginx is
installed (CI installs it).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from merit_order.api import create_app
from merit_order.api.metrics import flat_routes
from merit_order.settings import Settings

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MERIT_ORDER = str(BIN / "merit-order")
APP_SERVICES = ("api", "worker")


# --------------------------------------------------------------------------------------
# parsing


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    out = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def dockerfile_arg_default(name: str) -> str:
    for keyword, rest in dockerfile_instructions():
        if keyword == "ARG" and rest.startswith(f"{name}="):
            return rest.split("=", 1)[1]
    raise AssertionError(f"no ARG {name}")


def healthcheck_command() -> list[str]:
    """The exec-form CMD of the Dockerfile's HEALTHCHECK."""
    (rest,) = [rest for keyword, rest in final_stage() if keyword == "HEALTHCHECK"]
    cmd = rest[rest.index("CMD") + 3 :].strip()
    command = json.loads(cmd)
    assert isinstance(command, list) and all(isinstance(c, str) for c in command)
    return command


def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def subcommands() -> set[str]:
    from merit_order.cli import build_parser

    parser = build_parser(Settings())
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return set(actions[0].choices)  # type: ignore[attr-defined]  # argparse's private _SubParsersAction: found by name, its choices untyped


def app_paths() -> set[str]:
    return {route.path for route in flat_routes(create_app(Settings(redis_url=None)).routes)}


def url_path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


# --------------------------------------------------------------------------------------
# the Dockerfile


def test_dockerfile_is_multi_stage_on_slim_python_with_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(froms) >= 2, "a builder stage and a runtime stage"
    assert dockerfile_arg_default("PYTHON_IMAGE") == "python:3.11-slim"
    assert froms[-1].split()[0] == "${PYTHON_IMAGE}"
    final = final_stage()
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert copies and all(rest.startswith("--from=builder") for rest in copies), "only the built venv is copied in"
    (user,) = [rest for keyword, rest in final if keyword == "USER"]
    assert user.split(":")[0] not in ("root", "0"), user
    # The uid is created in the image, and not uid 0.
    assert any(keyword == "RUN" and f"--uid {user.split(':')[0]}" in rest for keyword, rest in final)


def test_dockerfile_installs_the_pinned_dependency_ranges() -> None:
    runs = " ".join(rest for keyword, rest in dockerfile_instructions() if keyword == "RUN")
    assert "['project']['dependencies']" in runs and "pip install -r requirements.txt" in runs
    assert "pip wheel --no-deps" in runs and "pip install --no-deps /wheels/" in runs
    # Every dependency has an upper bound: an image built next year gets no surprise major version.
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert deps and all("<" in dep for dep in deps), deps


def test_dockerfile_port_entrypoint_and_cmd_match_the_package() -> None:
    final = dict((keyword, rest) for keyword, rest in final_stage())
    assert final["EXPOSE"].split() == [str(Settings().port)] == ["3000"]
    assert json.loads(final["ENTRYPOINT"]) == ["merit-order"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert "merit-order" in scripts
    cmd = json.loads(final["CMD"])
    assert cmd == ["serve"] and cmd[0] in subcommands()
    # The health check probes a real route.
    (url,) = [part for part in healthcheck_command()[-1].split("'") if part.startswith("http://")]
    assert url_path(url).replace("%s", "3000").endswith("/_healthcheck")
    assert "/_healthcheck" in app_paths()


def test_dockerignore_is_an_allow_list_covering_every_copy() -> None:
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    sources = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            sources += rest.split()[:-1]
    assert sources
    for source in sources:
        assert source.rstrip("/") in allowed, f"COPY {source} is excluded by .dockerignore"
        assert (REPO / source).exists(), source
    assert not allowed & {".venv", ".git", "tests", ".env"}


# --------------------------------------------------------------------------------------
# docker-compose.yml


@pytest.mark.slow
def test_compose_services_commands_are_real_subcommands() -> None:
    services = compose()["services"]
    assert {"redis", "api", "worker", "proxy"} <= set(services)
    known = subcommands()
    for name in APP_SERVICES:
        service = services[name]
        assert service["build"] == "." and service["image"] == services["api"]["image"], "one image for both"
        command = service["command"]
        assert command[0] in known, f"{name}: {command} is not a merit-order subcommand"
        result = subprocess.run([MERIT_ORDER, *command, "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_every_service_has_a_healthcheck_and_a_restart_policy() -> None:
    for name, service in compose()["services"].items():
        assert service.get("restart") == "unless-stopped", name
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), name
    assert compose()["services"]["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_compose_api_is_scalable_behind_the_proxy_on_the_settings_port() -> None:
    services = compose()["services"]
    api = services["api"]
    port = Settings().port
    # No host port on a replica: `--scale api=2` would collide on it.
    assert "ports" not in api and "container_name" not in api
    assert api["expose"] == [str(port)] and api["environment"]["PORT"] == str(port)
    # The API's health check is the image's, to the letter, on a real route.
    assert api["healthcheck"]["test"] == ["CMD", *healthcheck_command()]
    # The proxy publishes the one entry point and forwards to the api service on the same port.
    proxy = services["proxy"]
    assert proxy["ports"] == [f"${{PORT:-{port}}}:{port}"]
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"
    (mount,) = proxy["volumes"]
    source = mount.split(":")[0]
    nginx_conf = (REPO / source).read_text()
    assert f"http://api:{port}" in nginx_conf and f"listen {port};" in nginx_conf
    assert url_path(proxy["healthcheck"]["test"][-1]) in app_paths()
    worker = services["worker"]
    assert "ports" not in worker and "container_name" not in worker


def test_readme_shows_the_scaled_compose_command() -> None:
    assert "docker compose up --scale api=2 --scale worker=4" in (REPO / "README.md").read_text()


# --------------------------------------------------------------------------------------
# the entry commands, run here as the image runs them


class Server:
    """`merit-order serve` with the image's environment (HOST, PORT), stopped by PID."""

    def __init__(self, **env: str) -> None:
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if k.upper() not in ("REDIS_URL", "API_KEY")},
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's output, kept as long as the server
        self.process = subprocess.Popen([MERIT_ORDER, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"serve not up in {timeout}s: {self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return int(self.process.returncode)


def run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """The Dockerfile's HEALTHCHECK, argument for argument (its `python` is this venv's)."""
    command = healthcheck_command()
    assert command[0] == "python"
    env = {**os.environ, "PORT": str(port)}
    return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.slow
def test_serve_entry_command_answers_the_image_healthcheck() -> None:
    server = Server(LOG_LEVEL="INFO")
    try:
        server.wait_up()
        check = run_healthcheck(server.port)
        assert check.returncode == 0, check.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/_healthcheck", timeout=5) as response:
            assert json.load(response)["status"] == "ok"
    finally:
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it: -SIGTERM, not a crash.
        assert server.stop() in (0, -signal.SIGTERM), server.output()
    events = [json.loads(line).get("event") for line in server.output().splitlines() if line.startswith("{")]
    assert "service_stopped" in events, "the lifespan shutdown ran"
    # And the same check fails once nothing answers: it is not a check that always passes.
    assert run_healthcheck(server.port).returncode != 0


@pytest.mark.slow
def test_healthcheck_needs_no_api_key() -> None:
    server = Server(API_KEY="a-long-secret")
    try:
        server.wait_up()
        assert run_healthcheck(server.port).returncode == 0
        request = urllib.request.Request(f"http://127.0.0.1:{server.port}/productionplan", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.redis
def test_worker_entry_command_answers_the_compose_healthcheck() -> None:
    from redis_fixtures import RedisServer, require_redis_server

    redis_server = RedisServer(require_redis_server())
    redis_server.start()
    hostname = socket.gethostname()
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url(3),
        "WORKER_CONCURRENCY": "1",
        "LOG_LEVEL": "WARNING",
        "HOSTNAME": hostname,  # Docker sets it in a container; the check reads it
    }
    log = tempfile.TemporaryFile()  # noqa: SIM115 - the worker's output, read if it dies
    worker = subprocess.Popen([MERIT_ORDER, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    test = compose()["services"]["worker"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    shell_command = test[1].replace("$$", "$")  # compose's escape for a literal $
    assert shell_command.split()[0] == "celery"
    shell_command = shell_command.replace("celery", shlex.quote(str(BIN / "celery")), 1)
    try:
        deadline = time.monotonic() + 60
        while True:
            check = subprocess.run(["/bin/sh", "-c", shell_command], env=env, capture_output=True, text=True, timeout=60)
            if check.returncode == 0:
                break
            assert worker.poll() is None, log.seek(0) or log.read().decode(errors="replace")
            assert time.monotonic() < deadline, f"worker never answered the health check: {check.stderr}"
            time.sleep(1)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        redis_server.stop()
    # With the worker gone, the same check fails.
    redis_server.start()
    try:
        check = subprocess.run(["/bin/sh", "-c", shell_command], env=env, capture_output=True, text=True, timeout=60)
        assert check.returncode != 0
    finally:
        redis_server.stop()


# --------------------------------------------------------------------------------------
# the proxy's nginx.conf, run for real


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@pytest.mark.slow
def test_nginx_proxy_config_forwards_http_and_websockets(tmp_path: Path) -> None:
    binary = nginx_binary()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("nginx is not installed and CI=true: the proxy config must be tested in CI")
        pytest.skip("nginx is not installed (apt-get install nginx-light); fails instead under CI=true")
    from websockets.sync.client import connect

    server = Server()
    proxy_port = free_port()
    conf = (REPO / "deploy" / "nginx.conf").read_text()
    # The same file, with the compose service name and ports replaced by this machine's.
    conf = conf.replace("http://api:3000", f"http://127.0.0.1:{server.port}")
    conf = conf.replace("listen 3000;", f"listen 127.0.0.1:{proxy_port};")
    conf = conf.replace("/tmp/nginx", str(tmp_path / "nginx"))
    if os.geteuid() == 0:
        conf = "user root;\n" + conf  # the worker must read tmp_path; harmless in a test
    (tmp_path / "nginx.conf").write_text(conf)
    test = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    nginx = subprocess.Popen(
        [binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        server.wait_up()
        base = f"http://127.0.0.1:{proxy_port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(base + "/_healthcheck", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert nginx.poll() is None, nginx.stderr.read().decode() if nginx.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        payload = (REPO / "src" / "merit_order" / "examples" / "payload3.json").read_bytes()
        expected = json.loads((REPO / "src" / "merit_order" / "examples" / "response3.json").read_text())
        request = urllib.request.Request(
            base + "/productionplan", data=payload, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response) == expected
        # As the /monitor page served through the proxy opens it: /ws checks the Origin against the
        # Host, so the proxy must forward the Host with its port ($http_host, not $host).
        page_origin = f"http://127.0.0.1:{proxy_port}"
        with connect(f"ws://127.0.0.1:{proxy_port}/ws", origin=page_origin, open_timeout=10) as ws:  # type: ignore[arg-type]  # websockets types origin as its Origin NewType; a str is what it takes
            hello = json.loads(ws.recv(timeout=10))
            assert hello["type"] == "hello"
            with urllib.request.urlopen(request, timeout=10):
                pass
            while True:
                message = json.loads(ws.recv(timeout=10))
                if message["type"] == "plan":
                    assert message["response"] == expected
                    break
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()
        server.stop()
