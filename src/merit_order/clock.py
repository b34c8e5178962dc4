"""The one way the service writes a timestamp: ISO-8601 in UTC, to the millisecond, with a `Z`.

One function because the job status (`created_at`, `finished_at`) and the live feed (`at`)
are read side by side by the same clients, and a browser's `Date.parse` takes this form
without help; two spellings of "now" had already drifted apart once (timezone.utc vs UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now_iso() -> str:
    """Now, e.g. `2025-01-01T12:00:00.123Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
