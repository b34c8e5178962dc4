"""/docs and /openapi.json: the aliased request schema and the three examples are there."""

from __future__ import annotations

from fastapi.testclient import TestClient

from conftest import load_example


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
    assert "/openapi.json" in response.text


def test_openapi_has_the_request_schema_by_alias_and_the_examples(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    operation = spec["paths"]["/productionplan"]["post"]
    content = operation["requestBody"]["content"]["application/json"]
    assert content["schema"] == {"$ref": "#/components/schemas/ProductionPlanRequest"}
    examples = content["examples"]
    assert set(examples) == {"payload1", "payload2", "payload3"}
    for name, example in examples.items():
        assert example["value"] == load_example(name)
    schemas = spec["components"]["schemas"]
    assert set(schemas["ProductionPlanRequest"]["properties"]) == {"load", "fuels", "powerplants"}
    assert set(schemas["Fuels"]["properties"]) == {"gas(euro/MWh)", "kerosine(euro/MWh)", "co2(euro/ton)", "wind(%)"}
    assert set(schemas["PowerPlant"]["properties"]) == {"name", "type", "efficiency", "pmin", "pmax"}
    # Every $ref in the document resolves (no dangling $defs from the injected model).
    text = response.text
    for ref in {part.split('"')[0] for part in text.split('"$ref":"')[1:]}:
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    params = {p["name"] for p in operation["parameters"]}
    assert params == {"detail", "wind_curtailment"}
    assert {"200", "400", "413", "422"} <= set(operation["responses"])
    assert "/_healthcheck" in spec["paths"]
