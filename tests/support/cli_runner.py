"""The `merit-order` command as a user runs it: the venv's console script in a subprocess, with
an environment cleared of the settings a developer's shell may hold (REDIS_URL, PORT...)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

EXAMPLES = resources.files("merit_order").joinpath("examples")


def _executable() -> str:
    beside = Path(sys.executable).parent / "merit-order"  # the venv's console script
    found = str(beside) if beside.exists() else shutil.which("merit-order")
    assert found, "merit-order is not installed (pip install -e .)"
    return found


MERIT_ORDER = _executable()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PORT", "HOST", "WORKERS", "LOG_FORMAT")}
    env.update(extra)
    return env


def run(*args: str, stdin: bytes | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MERIT_ORDER, *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(**env),
    )
