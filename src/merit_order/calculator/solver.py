"""Placeholder: the exact solver is being written."""
from __future__ import annotations

from .fleet import Unit


def solve_units(units: list[Unit], load_tenths: int) -> list[int]:
    raise NotImplementedError
