"""Impressions carry each item's served score and the user's history size (drift monitoring)."""

from __future__ import annotations

import json

from tastemaker.engine.events import ServedListImpression, ServedRecommendations, records_frame
from tastemaker.engine.served import ServedList


def _served() -> ServedList:
    return ServedList("raw", "r1", "v0002", "control", False, ["a", "b"], [0.9, 0.5],
                      ["x", "y"], ["ann", "popular"], {"exp": "b"}, history=7)  # fmt: skip


def test_per_item_impressions_carry_score_and_history() -> None:
    record = ServedRecommendations.of(_served(), "key", "home", 1_000)
    contexts = [json.loads(c) for c in records_frame([record])["context"]]
    assert [c["score"] for c in contexts] == [0.9, 0.5]
    assert [c["history"] for c in contexts] == [7, 7]
    assert contexts[1]["experiments"] == {"exp": "b"} and contexts[1]["position"] == 2
    assert records_frame([record])["user_id"].to_list() == ["key", "key"]


def test_per_list_impression_carries_scores_and_history() -> None:
    record = ServedRecommendations.of(_served(), "key", None, 1_000)
    frame = records_frame([ServedListImpression(record)])
    assert json.loads(frame["properties"][0])["scores"] == [0.9, 0.5]
    assert json.loads(frame["context"][0])["history"] == 7


def test_a_record_without_scores_logs_null_scores() -> None:
    record = ServedRecommendations("r", "u", ["a"], "v0001", "control", None, 0)
    context = json.loads(records_frame([record])["context"][0])
    assert context["score"] is None and context["history"] is None
