"""The documented response bodies: the hot path writes exactly its model, every JSON answer has
one."""

from __future__ import annotations

from dataclasses import replace

import orjson
from fastapi.testclient import TestClient

from tastemaker.engine.served import ServedList
from tastemaker.serving import create_app
from tastemaker.serving.responses import RecommendationResponse
from tastemaker.workspace import Workspace


def test_served_list_json_is_the_documented_response() -> None:
    served = ServedList(
        "shopper-1", "r1", "v0001", "control", False,
        ["i1", "i2"], [0.9, 0.5], ["because you viewed X", "new arrival"], ["ann", "new_content"],
    )  # fmt: skip
    model = RecommendationResponse.model_validate_json(served.to_json())
    assert orjson.loads(served.to_json()) == model.model_dump(exclude_none=True)
    assert [i.item_id for i in model.items] == ["i1", "i2"]
    exposed = replace(served, experiments={"exp": "b"})
    model = RecommendationResponse.model_validate_json(exposed.to_json())
    assert orjson.loads(exposed.to_json()) == model.model_dump()
    assert model.experiments == {"exp": "b"}
    again = served.with_request_id("r2")
    assert again.request_id == "r2" and again.item_ids == served.item_ids


def test_every_json_answer_of_the_api_has_a_documented_schema(sqlite_workspace: Workspace) -> None:
    """Profile, segments, featured and propensity used to document their 200 as any object."""
    with TestClient(create_app(sqlite_workspace)) as client:
        doc = client.get("/openapi.json").json()
    untyped = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            content = op["responses"].get("200", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if "application/json" in content and "$ref" not in (schema or {}):
                untyped.append(f"{method.upper()} {path}: {schema}")
    assert untyped == []
    names = doc["components"]["schemas"]
    for name in ("ProfileResponse", "SegmentsResponse", "FeaturedResponse", "PropensityResponse"):
        assert names[name]["properties"], name
