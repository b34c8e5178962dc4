"""How a job's results are stored and read back: one compact JSON document per period, in pages.

Why: a series of 500 plants with 195-character names over 10,000 periods is a 1.3 MB body
but, stored as the plan documents the API answers, gigabytes (each period repeats every
plant's name, twice with the detail). So each executor stores, per period, the result as
orjson bytes with two savings, and rebuilds the answer only for the page a poll returns:

* the plan detail (costs per plant) is kept only when the job asked for it (`?detail=true`
  at submit), since it is several times the plan itself;
* in a series every period has the same fleet, so a plant's name is stored once per job
  and each period refers to it by its position in the fleet: the plan is `[[i, p], ...]`
  (merit order kept) and a detail entry's `name` is `i`.

A page is rendered to JSON bytes here, bounded in bytes (`max_bytes`) as well as in
periods, by functions that the executors run off the event loop.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

#: Python's overhead for one stored period: a bytes object (33 bytes + payload) and a list slot.
PER_PERIOD_OVERHEAD = sys.getsizeof(b"") + 8


class JobGone(LookupError):
    """The job existed but is no longer kept (evicted from a full store, or expired): a 404 that says so."""


class ResultsNotKept(ValueError):
    """The poll asks for something the job did not keep (its plans' detail): a 422 that says how to get it."""


@dataclass(frozen=True, slots=True)
class ResultCodec:
    """How one job's period results are encoded for storage (see the module docstring).

    `names` is the series' fleet (plant names in the submitted order), None for the other
    job shapes, whose periods each carry their own fleet; `keep_detail` whether the job
    asked for the plans' detail documents.
    """

    names: tuple[str, ...] | None
    keep_detail: bool

    @classmethod
    def for_job(cls, fleet: Sequence[dict[str, Any]] | None, options: dict[str, Any]) -> "ResultCodec":
        """The codec of a job, from its fleet (a chunk's `fleet`, or the batch's) and its options."""
        names = tuple(str(p["name"]) for p in fleet) if fleet is not None else None
        return cls(names, bool(options.get("detail", False)))

    def encode(self, result: dict[str, Any], positions: dict[str, int] | None = None) -> bytes:
        """One period's result as stored: without detail unless kept, names as fleet positions."""
        stored = {k: v for k, v in result.items() if k != "detail"}
        if result.get("status") == "ok":
            if positions is not None:
                stored["plan"] = [[positions[e["name"]], e["p"]] for e in result["plan"]]
            if self.keep_detail and "detail" in result:
                detail = result["detail"]
                if positions is not None:
                    detail = {
                        **detail,
                        "plan": [{**e, "name": positions[e["name"]]} for e in detail["plan"]],
                    }
                stored["detail"] = detail
        return orjson.dumps(stored)

    def encode_chunk(self, results: Iterable[dict[str, Any]]) -> list[bytes]:
        """Every period of a chunk, encoded one by one (a thread running this lets the event loop in between)."""
        positions = {name: i for i, name in enumerate(self.names)} if self.names is not None else None
        return [self.encode(result, positions) for result in results]


def first_error(results: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The first period of a chunk that hit an error, as `{"index", "reason"}` (a failed job's reason)."""
    for result in results:
        if result.get("status") == "error":
            return {"index": result.get("index"), "reason": result.get("reason")}
    return None


def stored_size(items: Iterable[bytes]) -> int:
    """Bytes that stored periods take in this process (payload and Python's overhead)."""
    return sum(len(item) + PER_PERIOD_OVERHEAD for item in items)


def _expand(stored: dict[str, Any], names: Sequence[str] | None, detail: bool) -> dict[str, Any]:
    """A stored period as the API answers it: names back in place, detail dropped unless asked."""
    if not detail:
        stored.pop("detail", None)
    if names is None or stored.get("status") != "ok":
        return stored
    stored["plan"] = [{"name": names[i], "p": p} for i, p in stored["plan"]]
    document = stored.get("detail")
    if document is not None:
        for entry in document["plan"]:
            entry["name"] = names[entry["name"]]
    return stored


@dataclass(frozen=True, slots=True)
class RenderedPage:
    """A page of results as JSON bytes (an array), and how many periods it holds."""

    json: bytes
    count: int


def render_page(
    items: Sequence[bytes | None], names: Sequence[str] | None, *, detail: bool, max_bytes: int
) -> RenderedPage:
    """The periods `items` (stored form) as the JSON array the API answers, cut at `max_bytes`.

    At least one period is always included, so that a client paging through a job always
    advances, however large a single period is. A missing period (None: not in the store)
    ends the page there. CPU-bound: run it in a thread.
    """
    parts: list[bytes] = []
    size = 2
    for item in items:
        if item is None:
            break
        rendered = orjson.dumps(_expand(orjson.loads(item), names, detail))
        if parts and size + len(rendered) + 1 > max_bytes:
            break
        parts.append(rendered)
        size += len(rendered) + 1
    return RenderedPage(b"[" + b",".join(parts) + b"]", len(parts))


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What a poll asks for: periods [offset, offset + limit), detail or not, at most max_bytes."""

    offset: int
    limit: int
    detail: bool | None
    max_bytes: int

    def end(self, total: int) -> int:
        return min(total, self.offset + self.limit)


def page_fields(page: RenderedPage, request: PageRequest, total: int) -> dict[str, Any]:
    """The status document's fields for a page: the periods, and where the next page starts."""
    next_offset = request.offset + page.count
    return {
        "results_offset": request.offset,
        "results_page": {
            "offset": request.offset,
            "limit": request.limit,
            "count": page.count,
            "total": total,
            "next_offset": next_offset if next_offset < total and request.limit > 0 else None,
        },
        "results": orjson.Fragment(page.json),
    }


EMPTY_PAGE = RenderedPage(b"[]", 0)
