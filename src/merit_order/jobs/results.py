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

A stored period is three orjson documents joined by newlines (which orjson never writes
inside one): the result without its plan and detail, the plan, the detail (the last two
empty when absent). A page is rendered from them with bytes operations only -- names put
back by splitting, the detail dropped by leaving its segment out -- bounded in bytes
(`max_bytes`) as well as in periods, by functions that the executors run off the event loop.
Why bytes: parsing a page into Python objects and dumping it again allocated ~1,000
containers a period, and the garbage collector's full passes that this set off held the
GIL, so the event loop, for 70-300 ms at a time (measured while paging a 500-plant job).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
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
    def for_job(cls, fleet: Sequence[dict[str, Any]] | None, options: dict[str, Any]) -> ResultCodec:
        """The codec of a job, from its fleet (a chunk's `fleet`, or the batch's) and its options."""
        names = tuple(str(p["name"]) for p in fleet) if fleet is not None else None
        return cls(names, bool(options.get("detail", False)))

    def encode(self, result: Mapping[str, Any], positions: dict[str, int] | None = None) -> bytes:
        """One period's result as stored: without detail unless kept, names as fleet positions."""
        main = orjson.dumps({k: v for k, v in result.items() if k not in ("plan", "detail")})
        plan = detail = b""
        if "plan" in result:
            if positions is not None:
                plan = orjson.dumps([[positions[e["name"]], e["p"]] for e in result["plan"]])
            else:
                plan = orjson.dumps(result["plan"])
        if self.keep_detail and result.get("detail") is not None:
            document = result["detail"]
            if positions is not None:
                # "name" first in each entry, as the answer has it: render_page relies on it.
                document = {
                    **document,
                    "plan": [{"name": positions[e["name"]], **{k: v for k, v in e.items() if k != "name"}} for e in document["plan"]],
                }
            detail = orjson.dumps(document)
        return b"\n".join((main, plan, detail))

    def encode_chunk(self, results: Iterable[Mapping[str, Any]]) -> list[bytes]:
        """Every period of a chunk, encoded one by one (a thread running this lets the event loop in between)."""
        positions = {name: i for i, name in enumerate(self.names)} if self.names is not None else None
        return [self.encode(result, positions) for result in results]


def first_error(results: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The first period of a chunk that hit an error, as `{"index", "reason"}` (a failed job's reason)."""
    for result in results:
        if result.get("status") == "error":
            return {"index": result.get("index"), "reason": result.get("reason")}
    return None


def stored_size(items: Iterable[bytes]) -> int:
    """Bytes that stored periods take in this process (payload and Python's overhead)."""
    return sum(len(item) + PER_PERIOD_OVERHEAD for item in items)


_NAME_KEY = b'{"name":'


def _expand_plan(plan: bytes, names: Sequence[bytes]) -> bytes:
    """`[[i, p], ...]` as the challenge's `[{"name": ..., "p": ...}, ...]`, the p bytes as stored."""
    body = plan[2:-2]
    if not body:
        return b"[]"
    out = []
    for pair in body.split(b"],["):
        i, _, p = pair.partition(b",")
        out.append(_NAME_KEY + names[int(i)] + b',"p":' + p + b"}")
    return b"[" + b",".join(out) + b"]"


def _expand_detail(detail: bytes, names: Sequence[bytes]) -> bytes:
    """A stored detail document with each entry's `"name": i` back to the plant's name.

    Only the entries' objects start with `{"name":` (the document holds no free text)."""
    head, *entries = detail.split(_NAME_KEY)
    out = [head]
    for entry in entries:
        comma = entry.index(b",")
        out.append(_NAME_KEY + names[int(entry[:comma])] + entry[comma:])
    return b"".join(out)


def render_item(item: bytes, names: Sequence[bytes] | None, detail: bool) -> bytes:
    """One stored period as the API answers it (see the module docstring for the stored form)."""
    main, plan, kept = item.split(b"\n", 2)
    parts = [main[:-1]]
    comma = b"," if len(main) > 2 else b""
    if plan:
        parts += [comma, b'"plan":', _expand_plan(plan, names) if names is not None else plan]
        comma = b","
    if detail and kept:
        parts += [comma, b'"detail":', _expand_detail(kept, names) if names is not None else kept]
    parts.append(b"}")
    return b"".join(parts)


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
    encoded_names = [orjson.dumps(name) for name in names] if names is not None else None
    parts: list[bytes] = []
    size = 2
    for item in items:
        if item is None:
            break
        rendered = render_item(item, encoded_names, detail)
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
