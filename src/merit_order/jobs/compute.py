"""Solving one chunk of a job: the only code a worker runs, the same for every executor.

Pure (no I/O) and picklable at module level, so that the in-process executor can ship it
to a process pool and the Celery task can call it as is. A period that cannot be met is
a result with a reason, not an exception: one infeasible hour must not sink a year.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..calculator import CostModel, InfeasibleLoad, compute_plan
from ..calculator.document import plan_document
from .chunks import Chunk, ChunkMessage, PeriodResult, chunk_requests


def cost_model_from(options: dict[str, Any]) -> CostModel:
    # The defaults from an instance: on a slots dataclass the class attribute is the slot's
    # descriptor, not the default (float() of it raised when an option was missing).
    default = CostModel()
    return CostModel(
        gas_co2_t_per_mwh=float(options.get("gas_co2_t_per_mwh", default.gas_co2_t_per_mwh)),
        kerosine_co2_t_per_mwh=float(options.get("kerosine_co2_t_per_mwh", default.kerosine_co2_t_per_mwh)),
    )


def solve_chunk(message: ChunkMessage, options: dict[str, Any]) -> list[PeriodResult]:
    """Every period of the chunk, in order: `{"index", "label", "status", ...}`.

    status is "ok" (with `plan`, the challenge list, and `detail`, the plan document, the same
    as POST /productionplan?detail=true answers), "infeasible" (with `reason` and
    `nearest_loads`, `{"below", "above"}` in MW, as POST /productionplan says) or "error" (with
    `reason`: a bug or a message that fails validation, which should not happen since the
    API validated it; reported rather than raised so the rest of the chunk still counts).
    """
    chunk = Chunk.from_message(message)
    cost_model = cost_model_from(options)
    wind_curtailment = bool(options.get("wind_curtailment", False))
    try:
        requests = chunk_requests(chunk)
    except ValidationError as error:
        reason = f"invalid period in chunk {chunk.index}: {error.errors()[0]['msg']}"
        return [
            {"index": chunk.start + i, "label": None, "status": "error", "reason": reason}
            for i in range(len(chunk.items))
        ]
    results: list[PeriodResult] = []
    for offset, (label, request) in enumerate(requests):
        index = chunk.start + offset
        try:
            plan = compute_plan(request, cost_model=cost_model, wind_curtailment=wind_curtailment)
        except InfeasibleLoad as error:
            results.append(
                {
                    "index": index,
                    "label": label,
                    "status": "infeasible",
                    "reason": str(error),
                    "nearest_loads": {"below": error.below_mw, "above": error.above_mw},
                }
            )
            continue
        except Exception as error:  # noqa: BLE001 - reported per period; the job shows status "failed"
            results.append(
                {"index": index, "label": label, "status": "error", "reason": f"{type(error).__name__}: {error}"}
            )
            continue
        results.append(
            {
                "index": index,
                "label": label,
                "status": "ok",
                "plan": plan.as_challenge_list(),
                "detail": plan_document(plan),
            }
        )
    return results
