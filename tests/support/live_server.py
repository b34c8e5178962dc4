"""A real API server in a subprocess (uvicorn, by PID), for the live-feed tests.

Real processes rather than the in-process TestClient where the point is the network: two
replicas sharing Redis, a browser, or a websocket client whose TCP socket stops reading.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiServer:
    """`uvicorn --factory merit_order.api.app:create_app` on a free port, stopped by PID."""

    def __init__(self, env: dict[str, str] | None = None, uvicorn_args: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        base = {k: v for k, v in os.environ.items() if k.upper() != "REDIS_URL"}
        self.env = {**base, "LOG_FORMAT": "console", "LOG_LEVEL": "WARNING", **(env or {})}
        self.args = list(uvicorn_args)
        self.log_path = Path(tempfile.mkstemp(prefix="merit-order-api-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ApiServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "merit_order.api.app:create_app",
             "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log", *self.args],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"API server exited with {self.process.returncode}:\n{self.log()}")
            try:
                self.get_json("/_healthcheck", timeout=1)
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"API server not up in {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def get_json(self, path: str, timeout: float = 10) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return json.loads(response.read())

    def post_json(self, path: str, body: Any, timeout: float = 30) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def broadcast_health(self) -> dict[str, Any]:
        return self.get_json("/_healthcheck")["backends"]["broadcast"]


@contextmanager
def running_api(env: dict[str, str] | None = None, uvicorn_args: Sequence[str] = ()) -> Iterator[ApiServer]:
    server = ApiServer(env, uvicorn_args)
    try:
        yield server.start()
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


def stalled_ws_client(port: int, path: str = "/ws", rcvbuf: int = 4096) -> socket.socket:
    """A websocket client that completes the handshake and then never reads again.

    A tiny receive buffer so that the server's writes back up quickly, as they do behind a
    stalled proxy or a sleeping laptop. The caller closes the socket.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    sock.settimeout(10)
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("server closed during the websocket handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise ConnectionError(f"no websocket upgrade: {head[:200]!r}")
    return sock
