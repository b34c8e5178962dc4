"""A slice of a job as it travels to a worker, and what the worker makes of it.

Apart from the submission models (models.py) because the two sides differ: a submission is
validated against the service's limits, once, in the API; a chunk message is plain JSON
that any process (a pool process, a Celery worker on another machine, the watchdog
resubmitting it) carries and stores as is, and that a worker re-validates into requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

from ..calculator import PowerPlant, ProductionPlanRequest
from .models import LabelledRequest, Period

#: A series' fleet: each plant by alias, as validated at submit.
Fleet = list[dict[str, Any]]
#: One period of a chunk: a full payload by alias (with its `label`), or, in a series,
#: `{"label", "load", "fuels"}` to be solved with the chunk's `fleet`.
ChunkItem = dict[str, Any]


class ChunkMessage(TypedDict):
    """A chunk on the wire (the Celery task reads it from Redis; the local pool gets it pickled)."""

    index: int  # the chunk's position in the job
    start: int  # the job's period index of its first item
    fleet: Fleet | None  # set for a series, sent once per chunk rather than once per period
    items: list[ChunkItem]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A slice of a job as a worker receives it: plain JSON, so any process can run it.

    `fleet` is set for a series (sent once per chunk, not once per period); `items` are
    then `{"label", "load", "fuels"}`. Otherwise `items` are full payloads.
    """

    index: int
    start: int
    fleet: Fleet | None
    items: list[ChunkItem]

    def to_message(self) -> ChunkMessage:
        return {"index": self.index, "start": self.start, "fleet": self.fleet, "items": self.items}

    @classmethod
    def from_message(cls, message: ChunkMessage) -> Chunk:
        return cls(index=message["index"], start=message["start"], fleet=message["fleet"], items=message["items"])



PeriodStatus = Literal["ok", "infeasible", "error"]


class NearestLoads(TypedDict):
    """The loads nearest to an infeasible one that the fleet can meet (MW), as POST /productionplan says."""

    below: float | None
    above: float | None


class PeriodResult(TypedDict):
    """One period's answer in a job: its plan, or why there is none."""

    index: int
    label: str | None
    status: PeriodStatus
    plan: NotRequired[list[dict[str, Any]]]  # status ok: the challenge's list
    detail: NotRequired[dict[str, Any]]  # status ok: the plan document (kept if the job asked for it)
    reason: NotRequired[str]  # status infeasible or error
    nearest_loads: NotRequired[NearestLoads]  # status infeasible


def chunk_requests(chunk: Chunk) -> list[tuple[str | None, ProductionPlanRequest]]:
    """The chunk's periods as validated requests (workers re-validate: a message is just data).

    For a series the fleet is validated once and its plant models reused for every period,
    which pydantic accepts without re-validating them.
    """
    out: list[tuple[str | None, ProductionPlanRequest]] = []
    if chunk.fleet is None:
        for item in chunk.items:
            request = LabelledRequest.model_validate(item)
            out.append((request.label, request))
        return out
    plants = [PowerPlant.model_validate(p) for p in chunk.fleet]
    for item in chunk.items:
        period = Period.model_validate(item)
        out.append(
            (
                period.label,
                ProductionPlanRequest.model_validate({"load": period.load, "fuels": period.fuels, "powerplants": plants}),
            )
        )
    return out
