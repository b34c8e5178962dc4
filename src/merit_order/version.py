"""The installed package's version, read once from its metadata.

One function for the three readers (the OpenAPI title, `/_healthcheck`, and the plan cache's
key salt, so that a new release never serves an older release's cached answers).
"""

from __future__ import annotations

from functools import cache
from importlib import metadata

#: What a source tree that is not installed reports (the tests' case when run without `pip install -e`).
UNKNOWN_VERSION = "0+unknown"


@cache
def package_version() -> str:
    """`merit-order`'s version, or UNKNOWN_VERSION when the package is not installed."""
    try:
        return metadata.version("merit-order")
    except metadata.PackageNotFoundError:
        return UNKNOWN_VERSION
