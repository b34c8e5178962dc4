"""The ceiling for bench_http.py: the same stack (uvicorn + FastAPI) answering a constant.

Whatever our POST /productionplan does on top of this (reading and validating the body,
the limits, the solve, the answer, the access log, metrics, our middleware) is what the
ratio of the two throughputs measures. Note that this route goes through FastAPI's router
and request handler, which ours skips (src/merit_order/api/direct.py).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()

_ANSWER = [{"name": "windpark1", "p": 90.0}, {"name": "windpark2", "p": 21.6}, {"name": "gasfiredbig1", "p": 460.0}]


@app.post("/productionplan")
async def constant() -> JSONResponse:
    return JSONResponse(_ANSWER)


@app.get("/_healthcheck")
async def health() -> dict[str, str]:
    return {"status": "ok"}
