"""A plan as the JSON document the service answers (`?detail=true`, job results, the live feed).

It sits with the calculator, not with the web layer, because every producer of a plan needs
it: the sync route, the cache, and a job worker, which must import nothing but the calculator
and the job code (no FastAPI, no Redis broadcaster) to turn its plans into the same document,
byte for byte, that `POST /productionplan?detail=true` answers.
"""

from __future__ import annotations

from typing import Any

from .plan import Plan


def plan_document(plan: Plan) -> dict[str, Any]:
    """The detailed, JSON-ready answer: the plan in merit order with the figures behind it.

    `plan` holds one object per plant (in merit order, the off ones with p = 0.0): the
    challenge's `name` and `p`, then its type, cost per MWh, cost, CO2 and the range it
    could run in this hour (`available` is Pmax, or the wind's share of it, in MW).
    """
    return {
        "load": plan.load,
        "total_cost": plan.total_cost,
        "marginal_cost": plan.marginal_cost,
        "co2_tonnes": plan.co2_tonnes,
        "plan": [
            {
                "name": e.name,
                "p": e.p,
                "type": e.type.value,
                "cost_per_mwh": e.cost_per_mwh,
                "cost": e.cost,
                "co2_tonnes": e.co2_tonnes,
                "pmin": e.pmin_tenths / 10,
                "available": e.available_tenths / 10,
            }
            for e in plan.entries
        ],
    }


def challenge_list(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The challenge's answer, `[{"name": ..., "p": ...}]`, read off a plan document."""
    return [{"name": entry["name"], "p": entry["p"]} for entry in document["plan"]]
