"""Serve one hot route straight from the middleware stack, past the framework's dispatch.

`POST /productionplan` is what the desk calls thousands of times an hour, and for a small
fleet the plan itself costs less than FastAPI's per-request machinery around it (routing
through every route, two exit stacks, the Request object, dependency solving, response
serialisation): measured in process with payload 3, a request cost 188 us through FastAPI
and 119 us through this layer, everything else equal.
So `DirectRoute` answers that one method and path itself, as the innermost middleware:
everything outside it (request id, body limit, access log, API key, CORS, metrics) is the
same for this route as for every other, and every other request goes on to FastAPI.

The route stays declared in FastAPI (OpenAPI, /docs, 405 for other methods) and its
declared handler calls the same endpoint, so the two ways in answer alike. The expected
errors are answered from the same table as FastAPI's exception handlers (api/errors.py);
anything else propagates to the middleware's last-resort 500, as it would from FastAPI.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from merit_order.api.errors import planning_error_answer
from merit_order.api.middleware import read_body, request_id_of

#: What a direct endpoint is: the request's scope and whole body in, a response (not yet sent) out.
Endpoint = Callable[[Scope, bytes], Awaitable[Response]]


class DirectRoute:
    """Answers `method path` with `endpoint`; passes every other request to the app."""

    def __init__(self, app: ASGIApp, *, method: str, path: str, endpoint: Endpoint, route: Any) -> None:
        self.app = app
        self.method = method
        self.path = path
        self.endpoint = endpoint
        self.route = route  # the declared route: put in scope["route"], where the router would put it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != self.method or _route_path(scope) != self.path:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # metrics label requests by route template
        body = await read_body(receive, sys.maxsize)  # the outer middleware has enforced the limit
        if body is None:  # the client went away
            return
        try:
            response = await self.endpoint(scope, body)
        except Exception as exc:
            answer = planning_error_answer(exc)
            if answer is None:
                raise  # a bug: the outer middleware logs it and answers a generic 500
            status, payload, headers = answer
            response = JSONResponse({**payload, "request_id": request_id_of(scope)}, status_code=status, headers=headers)
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path as the router matches it: without the root path an ASGI server may prefix."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path
