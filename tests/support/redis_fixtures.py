"""Real Redis servers and real Celery workers for the tests, started and stopped by PID.

Each test session gets its own `redis-server` on a free port (never the shared one on
6379), without persistence, so that tests can stop it, restart it and flush it at will.
When `redis-server` is missing the Redis tests skip on a laptop, but fail under CI=true:
a CI run that silently skipped the scale-out tests would prove nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def require_redis_server() -> str:
    binary = redis_server_binary()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is not installed, and CI=true: the Redis tests must run in CI")
        pytest.skip("redis-server is not installed (these tests fail instead of skipping when CI=true)")
    return binary


class RedisServer:
    """One redis-server process on its own port; stop() and start() keep the port (and, with
    `appendonly`, the data: its append-only file in the server's own directory)."""

    def __init__(self, binary: str, port: int | None = None, *, appendonly: bool = False) -> None:
        self.binary = binary
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix="merit-order-redis-")

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10.0) -> None:
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes" if self.appendonly else "no",
                "--daemonize", "no",
                "--dir", self._dir,
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode} (port {self.port} taken?)")
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING in time")

    def stop(self) -> None:
        """SIGKILL by PID: an outage, not a graceful shutdown (with `appendonly`, what Redis
        wrote before it is kept: the file is written before each reply)."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def client(self, db: int = 0):  # type: ignore[no-untyped-def]  # takes and returns a redis client, imported lazily (redis is optional here)
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5)


class WorkerProcess:
    """A real `merit-order worker` (Celery, prefork) in its own process group."""

    def __init__(self, redis_url: str, name: str, *, concurrency: int = 1, extra_env: dict[str, str] | None = None):
        self.name = name
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "WORKER_CONCURRENCY": str(concurrency),
            "LOG_FORMAT": "console",
            "LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        self.log_path = Path(tempfile.mkstemp(prefix=f"merit-order-{name}-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(VENV_BIN / "merit-order"), "worker", "--name", f"{name}@%h", "--loglevel", "WARNING"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill_all() reaches the pool children too
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, client, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]  # takes and returns a redis client, imported lazily (redis is optional here)
        """Until the worker's heartbeat key appears (it is written once the worker consumes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(self.name in k.decode() for k in client.scan_iter(match="merit-order:worker:*")):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited early:\n{self.log()}")
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill_all(self) -> None:
        """SIGKILL the worker and its pool processes at once: the whole worker is gone."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill_all()
            except ProcessLookupError:
                pass
        self._log.close()
        self.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the whole session (tests that stop it restart it)."""
    server = RedisServer(require_redis_server())
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def fresh_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The session's server, running and empty."""
    if not redis_server.ping():
        redis_server.process = None
        redis_server.start()
    redis_server.client().flushall()
    yield redis_server
