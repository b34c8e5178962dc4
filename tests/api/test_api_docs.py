"""/docs, /redoc and /openapi.json: pages served from the package, the aliased request schema
and the three examples. (The pages rendered in a browser with no internet: test_docs_offline.py.)"""

from __future__ import annotations

from collections.abc import Callable

from common import load_example
from fastapi.testclient import TestClient


def test_docs_pages_load_their_assets_from_the_service_not_a_cdn(client: TestClient) -> None:
    for page, assets in [
        ("/docs", ["/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"]),
        ("/redoc", ["/docs/assets/redoc.standalone.js"]),
    ]:
        response = client.get(page)
        assert response.status_code == 200, page
        assert "/openapi.json" in response.text
        for asset in assets:
            assert f'"{asset}"' in response.text, (page, asset)
        assert "https://" not in response.text, f"{page} still names an outside address"
    assert '"validatorUrl": null' in client.get("/docs").text  # no badge fetched from the online validator
    for asset, kind in [
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "text/css"),
        ("redoc.standalone.js", "javascript"),
        ("favicon.png", "image/png"),
    ]:
        response = client.get(f"/docs/assets/{asset}")
        assert response.status_code == 200, asset
        assert kind in response.headers["content-type"], (asset, response.headers["content-type"])
        assert len(response.content) > 1000, asset
    assert client.get("/docs/assets/nothing-here.js").status_code == 404


def test_docs_assets_need_no_key_when_the_docs_are_open(app_client: Callable[..., TestClient]) -> None:
    open_docs = app_client(api_key="k" * 32, docs_require_key=False)
    assert open_docs.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert open_docs.get("/redoc").status_code == 200
    closed_docs = app_client(api_key="k" * 32, docs_require_key=True)
    assert closed_docs.get("/docs/assets/swagger-ui-bundle.js").status_code == 401
    assert closed_docs.get("/docs/assets/swagger-ui.css", headers={"X-API-Key": "k" * 32}).status_code == 200


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
