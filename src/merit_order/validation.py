"""From raw bytes to a validated request, or to an error a person can act on.

Shared by the HTTP route, the CLI and the job queue so that all three accept the same
payloads and reject bad ones with the same words. No web framework here: the API maps
`PayloadError.status` onto HTTP, the CLI onto an exit code.

Why the extra checks around the calculator's pydantic model:
* the limits (plants, load, plant size, cost) are the service's promise of bounded time
  and memory; they are checked before anything is solved;
* pydantic reports `powerplants.2.pmin`; a trader thinks "gasfiredbig1's pmin", so every
  error is translated to a field path *and* the plant's name taken from the raw body;
* some inputs make arithmetic overflow rather than fail validation (1e308 MW times ten
  tenths); those must be a 422 too, never a 500.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import orjson
from pydantic import ValidationError

from merit_order.calculator import CostModel, ProductionPlanRequest
from merit_order.calculator.schema import as_sent
from merit_order.settings import Settings


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem, located: `field` is a path such as `powerplants[2].pmin`."""

    field: str
    message: str
    plant: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "plant": self.plant, "message": self.message}

    def sentence(self) -> str:
        where = self.field or "body"
        if self.plant is not None:
            where = f"{where} (plant {self.plant!r})"
        return f"{where}: {self.message}"


class PayloadError(ValueError):
    """The request cannot be planned as sent. `status` is the HTTP status it deserves."""

    def __init__(self, detail: str, errors: Sequence[FieldError] = (), *, status: int = 422) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = tuple(errors)
        self.status = status

    def as_dict(self) -> dict[str, Any]:
        return {"detail": self.detail, "errors": [e.as_dict() for e in self.errors]}


@dataclass(frozen=True, slots=True)
class Limits:
    """The request limits, taken from Settings (one place)."""

    max_plants: int
    max_load_mw: float
    max_plant_mw: float
    max_cost_per_mwh: float
    cost_model: CostModel = field(default_factory=CostModel)
    names: Mapping[str, str] = field(
        default_factory=lambda: {
            "max_plants": "MAX_PLANTS",
            "max_load_mw": "MAX_LOAD_MW",
            "max_plant_mw": "MAX_PLANT_MW",
            "max_cost_per_mwh": "MAX_COST_PER_MWH",
        }
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_plants=settings.max_plants,
            max_load_mw=settings.max_load_mw,
            max_plant_mw=settings.max_plant_mw,
            max_cost_per_mwh=settings.max_cost_per_mwh,
            cost_model=settings.cost_model(),
        )


# ---------------------------------------------------------------------------------------
# bytes -> JSON


def decode_json(body: bytes) -> Any:
    """The JSON document in `body`; a PayloadError saying what is wrong with it otherwise.

    NaN and Infinity literals are accepted here (Python's json does) and refused by the
    model with the field named, which is more useful than "invalid JSON".

    orjson parses first (4x faster than json on a typical payload, and every plan request
    pays it); whatever it refuses (NaN, a byte-order mark, lone surrogates, bytes that are not
    UTF-8, broken JSON) is parsed again by json, which decides and words the error. The one
    difference where orjson accepts: an integer beyond 64 bits becomes a float, which no field
    of the payload minds.

    The body must be UTF-8 (RFC 8259 section 8.1), a UTF-8 byte-order mark tolerated: a body in
    UTF-16 or UTF-32 is a 400 (json.loads would otherwise guess the encoding and accept it).
    A string holding a lone surrogate (the escape "\\ud800", or raw bytes that are not UTF-8
    inside a string) is no text at all: it would make every later encoding of the request fail
    (the answer, the cache key, the live feed, a log line), so it is a 422 naming the field.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    if not body.strip():
        raise PayloadError(
            "the request body is empty; send the JSON payload (load, fuels, powerplants)",
            [FieldError("body", "empty body")],
            status=400,
        )
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    foreign = _foreign_encoding(body)
    if foreign is not None:
        _raise_body_error(f"the request body is not UTF-8 text: {foreign}; send it as UTF-8")
    # Bytes that are not UTF-8 become lone surrogates (U+DC80..U+DCFF): inside a string they
    # are found by _check_text below and named; anywhere else they make the JSON invalid.
    text = body.decode("utf-8", errors="surrogateescape")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        _raise_body_error(f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except RecursionError:
        _raise_body_error("the request body is not acceptable JSON: it is nested too deeply")
    except ValueError as exc:  # e.g. an integer literal with thousands of digits
        _raise_body_error(f"the request body is not acceptable JSON: {exc}")
    _check_text(document)
    return document


def _raise_body_error(message: str) -> NoReturn:
    raise PayloadError(message, [FieldError("body", message)], status=400)


def _foreign_encoding(body: bytes) -> str | None:
    """What the body is encoded in when it is plainly not UTF-8 (a BOM, or the NULs of UTF-16/32)."""
    for bom, name in _FOREIGN_BOMS:  # UTF-32 first: its little-endian BOM starts with UTF-16's
        if body.startswith(bom):
            return f"it starts with a {name} byte-order mark"
    if b"\x00" in body[:4]:  # JSON text starts with ASCII: a NUL among its first bytes is UTF-16/32
        return "it looks like UTF-16 or UTF-32 (NUL bytes)"
    return None


_FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_TEXT_ERRORS = 20


def _check_text(document: Any) -> None:
    """A 422 naming every string (value or key) that holds a lone surrogate; nothing otherwise."""
    errors: list[FieldError] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(document, ())]
    while stack and len(errors) < _MAX_TEXT_ERRORS:
        value, loc = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                errors.append(FieldError(format_loc(loc) or "body", _not_text(value), _plant_of(document, loc)))
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    errors.append(FieldError(format_loc(loc) or "body", f"a key {_not_text(key)}", _plant_of(document, loc)))
                else:
                    stack.append((item, (*loc, key)))
        elif isinstance(value, list):
            stack.extend((item, (*loc, i)) for i, item in enumerate(value))
    if errors:
        errors.sort(key=lambda e: e.field)
        raise PayloadError(summarise(errors), errors)


def _plant_of(document: Any, loc: tuple[Any, ...]) -> str | None:
    """The name of the plant `loc` is in (`powerplants[i]...`, in a payload or a job's request), if clean."""
    for start in range(len(loc) - 1):
        if loc[start] == "powerplants" and isinstance(loc[start + 1], int):
            node: Any = document
            for part in loc[: start + 2]:
                node = node[part]
            name = node.get("name") if isinstance(node, dict) else None
            if isinstance(name, str) and name and not _SURROGATE.search(name):
                return name[:200]
    return None


def _not_text(value: str) -> str:
    return (
        f"{printable(value)} is not valid Unicode text: it holds a lone surrogate (a \\uD800-\\uDFFF escape "
        "without its pair, or bytes that are not UTF-8)"
    )


def printable(value: str, limit: int = 60) -> str:
    """`repr(value)`, shortened past `limit`: safe to encode as UTF-8 (repr escapes lone surrogates)."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def quote_number(value: Any) -> str:
    """A number as the client sent it, for an error message: 50000.04 stays 50000.04, not 5e+04.

    A float prints as its shortest round-trip form (what was in the JSON, up to notation),
    a whole one without ".0"; an integer with hundreds of digits is shortened.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return printable(str(value))
    if isinstance(value, float):
        return as_sent(value)
    digits = str(value)
    return digits if len(digits) <= 30 else f"{digits[:12]}... ({len(digits.lstrip('-'))} digits)"


# ---------------------------------------------------------------------------------------
# JSON -> request


def parse_request(payload: Any, limits: Limits) -> ProductionPlanRequest:
    """The validated request, or a 422 PayloadError naming every field (and plant) at fault."""
    if not isinstance(payload, dict):
        kind = _json_kind(payload)
        raise PayloadError(
            f"the request body must be a JSON object with load, fuels and powerplants, not {kind}",
            [FieldError("body", f"expected an object, got {kind}")],
        )
    _check_limits_before(payload, limits)
    try:
        request = ProductionPlanRequest.model_validate(payload)
    except ValidationError as exc:
        errors = translate_errors(exc.errors(include_url=False), payload)
        raise PayloadError(summarise(errors), errors) from None
    except (OverflowError, RecursionError) as exc:  # arithmetic on absurd figures inside a validator
        error = FieldError("body", f"a number is too large to compute with ({exc})")
        raise PayloadError(summarise([error]), [error]) from None
    _check_limits_after(request, payload, limits)
    return request


def summarise(errors: Sequence[FieldError]) -> str:
    """One human sentence for the `detail` of a 422."""
    if len(errors) == 1:
        return f"invalid request: {errors[0].sentence()}"
    shown = "; ".join(e.sentence() for e in errors[:5])
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    return f"invalid request, {len(errors)} problems: {shown}{more}"


def translate_errors(errors: Sequence[Mapping[str, Any]], payload: Any) -> list[FieldError]:
    """pydantic's errors as FieldErrors: a readable path, the plant's name, a message with the input."""
    names = _plant_names(payload)
    out: list[FieldError] = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        message = _message(error)
        plant: str | None = None
        field_path = format_loc(loc)
        if len(loc) >= 2 and loc[0] == "powerplants" and isinstance(loc[1], int):
            plant = names.get(loc[1])
            if len(loc) == 2 and "pmin" in message and "pmax" in message:
                field_path += ".pmin"  # the plant-level check compares pmin with pmax
        elif not loc:
            plant, field_path = _root_error_subject(message, payload, names)
        out.append(FieldError(field_path, message, plant))
    return out


def format_loc(loc: Sequence[Any]) -> str:
    """('powerplants', 2, 'pmin') -> 'powerplants[2].pmin'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


# ---------------------------------------------------------------------------------------
# helpers


def _check_limits_before(payload: dict[str, Any], limits: Limits) -> None:
    """Limits worth checking before pydantic spends time on the body (or overflows on it)."""
    plants = payload.get("powerplants")
    if isinstance(plants, list) and len(plants) > limits.max_plants:
        _limit_error(
            "powerplants",
            f"{len(plants)} powerplants; this service plans at most {limits.max_plants} per request "
            f"({limits.names['max_plants']})",
        )
    load = _as_number(payload.get("load"))
    if load is not None and load > limits.max_load_mw:
        _limit_error("load", _load_limit_message(payload.get("load"), limits))


def _check_limits_after(request: ProductionPlanRequest, payload: dict[str, Any], limits: Limits) -> None:
    """Limits on the validated figures: plant sizes, and costs that only exist once parsed."""
    errors: list[FieldError] = []
    if request.load > limits.max_load_mw:
        errors.append(FieldError("load", _load_limit_message(request.load, limits)))
    for i, plant in enumerate(request.powerplants):
        for name in ("pmin", "pmax"):
            value = getattr(plant, name)
            if value > limits.max_plant_mw:
                errors.append(
                    FieldError(
                        f"powerplants[{i}].{name}",
                        f"{quote_number(value)} MW is above the largest plant this service accepts, "
                        f"{limits.max_plant_mw:g} MW ({limits.names['max_plant_mw']})",
                        plant.name,
                    )
                )
        cost = _safe_cost(limits.cost_model, plant, request)
        if not (cost <= limits.max_cost_per_mwh):  # also catches inf and nan
            errors.append(
                FieldError(
                    f"powerplants[{i}].efficiency",
                    f"its cost per MWh (fuel price / efficiency) is {cost:g} euro, above the "
                    f"{limits.max_cost_per_mwh:g} this service computes with "
                    f"({limits.names['max_cost_per_mwh']}); check the efficiency and the fuel price",
                    plant.name,
                )
            )
    if errors:
        raise PayloadError(summarise(errors), errors)


def _safe_cost(costs: CostModel, plant: Any, request: ProductionPlanRequest) -> float:
    try:
        return float(costs.cost_per_mwh(plant, request.fuels))
    except (OverflowError, ZeroDivisionError):
        return math.inf


def _load_limit_message(load: Any, limits: Limits) -> str:
    figure = f"{quote_number(load)} MW" if isinstance(load, int | float) else printable(str(load))
    return (
        f"a load of {figure} is above the largest this service plans, {limits.max_load_mw:g} MW "
        f"({limits.names['max_load_mw']})"
    )


def _limit_error(field_path: str, message: str) -> None:
    error = FieldError(field_path, message)
    raise PayloadError(f"request over a limit: {message}", [error])


def _as_number(value: Any) -> float | None:
    """A finite float for what pydantic would read as a number (int, float, numeric string)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return math.inf if isinstance(value, int) else None  # an int too large for a float
    return number if math.isfinite(number) else None


def _plant_names(payload: Any) -> dict[int, str]:
    plants = payload.get("powerplants") if isinstance(payload, dict) else None
    if not isinstance(plants, list):
        return {}
    return {
        i: p["name"][:200]
        for i, p in enumerate(plants)
        if isinstance(p, dict) and isinstance(p.get("name"), str) and p["name"]
    }


def _root_error_subject(message: str, payload: Any, names: Mapping[int, str]) -> tuple[str | None, str]:
    """A request-level error (duplicate names): find the plant it is about, if it quotes one."""
    seen: set[str] = set()
    for i in sorted(names):
        name = names[i]
        if name in seen and repr(name) in message:
            return name, f"powerplants[{i}].name"
        seen.add(name)
    return None, "powerplants" if "powerplant" in message else "body"


def _message(error: Mapping[str, Any]) -> str:
    """pydantic's message, without its "Value error, " prefix, with the offending input shown."""
    message = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    kind = error.get("type", "")
    if kind == "missing":
        return "required field is missing"
    if kind in ("value_error", "assertion_error"):
        return message
    value = error.get("input")
    if value is None or isinstance(value, bool | int | float | str):
        shown = repr(value) if not isinstance(value, float) else f"{value!r}"
        if value is None:
            shown = "null"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        message = f"{message} (got {shown})"
    return message


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"
