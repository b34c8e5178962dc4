"""A JSON response rendered by orjson: the answer of every plan goes out through it.

Starlette's JSONResponse uses the standard json module, several times slower on the plan
documents; on a route answered thousands of times a second that is a large share of the
request. orjson also refuses nothing we send (every figure is finite by the request limits).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    """JSONResponse with orjson's encoder (same media type, same headers)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
