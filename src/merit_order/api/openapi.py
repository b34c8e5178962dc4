"""What /docs shows for a body the route parses itself.

`POST /productionplan` reads its body by hand (see routes/plan.py: limits before
validation, errors naming plants), so FastAPI cannot derive the request schema from a
parameter. We give it the calculator's own model, by alias (the challenge's keys with
parentheses), and the three example payloads shipped in the package.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from merit_order.api.security import SECURITY_SCHEME
from merit_order.calculator import ProductionPlanRequest

REF_TEMPLATE = "#/components/schemas/{model}"

_EXAMPLE_SUMMARIES = {
    "payload1": "Example 1: 480 MW, wind 60%",
    "payload2": "Example 2: 480 MW, no wind (wind parks off)",
    "payload3": "Example 3: 910 MW, the challenge's expected answer in response3.json",
}


@cache
def example(name: str) -> Any:
    """An example shipped with the package (payload1..3.json, response3.json), parsed."""
    text = resources.files("merit_order").joinpath("examples", f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def request_examples() -> dict[str, dict[str, Any]]:
    return {name: {"summary": summary, "value": example(name)} for name, summary in _EXAMPLE_SUMMARIES.items()}


def plan_request_body() -> dict[str, Any]:
    """The `requestBody` of POST /productionplan, for `openapi_extra`."""
    return {
        "required": True,
        "description": "The challenge's payload: load (MW), fuels (prices, wind %) and the fleet.",
        "content": {
            "application/json": {
                "schema": {"$ref": REF_TEMPLATE.format(model="ProductionPlanRequest")},
                "examples": request_examples(),
            }
        },
    }


def install_openapi(app: FastAPI, *, api_key_paths: frozenset[str] | None = None) -> None:
    """Generate the schema as usual, then add the request model's components.

    `api_key_paths`: when access control is on, the paths that do *not* need the key; every
    other operation is marked as needing the APIKey security scheme (X-API-Key).
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        model_schema = ProductionPlanRequest.model_json_schema(
            by_alias=True, ref_template=REF_TEMPLATE, mode="validation"
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in model_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components["ProductionPlanRequest"] = model_schema
        if api_key_paths is not None:
            _declare_api_key(schema, api_key_paths)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema


def _declare_api_key(schema: dict[str, Any], open_paths: frozenset[str]) -> None:
    """The key as the schema's security: required everywhere but on the open paths."""
    schema["components"].setdefault("securitySchemes", {}).update(SECURITY_SCHEME)
    schema["security"] = [{name: []} for name in SECURITY_SCHEME]
    for path, operations in schema.get("paths", {}).items():
        if path in open_paths:
            for operation in operations.values():
                operation["security"] = []  # this one needs no key
