"""The hot path's served list writes exactly the documented response body."""

from __future__ import annotations

import orjson

from tastemaker.engine.served import ServedList
from tastemaker.serving.responses import RecommendationResponse


def test_served_list_json_is_the_documented_response() -> None:
    served = ServedList(
        "shopper-1", "r1", "v0001", "control", False,
        ["i1", "i2"], [0.9, 0.5], ["because you viewed X", "new arrival"], ["ann", "new_content"],
    )  # fmt: skip
    model = RecommendationResponse.model_validate_json(served.to_json())
    assert orjson.loads(served.to_json()) == model.model_dump()
    assert [i.item_id for i in model.items] == ["i1", "i2"]
    again = served.with_request_id("r2")
    assert again.request_id == "r2" and again.item_ids == served.item_ids
