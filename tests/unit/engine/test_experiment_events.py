"""Experiment records as events: exposures, and the assignments in impression contexts."""

from __future__ import annotations

import json

from tastemaker.engine.events import (
    Exposure,
    ServedListImpression,
    ServedRecommendations,
    exposure_event_id,
    records_frame,
)
from tastemaker.profiles.update import Updater, to_columns


def served(experiments: dict[str, str]) -> ServedRecommendations:
    return ServedRecommendations("r1", "u1", ["a", "b"], "v0001", "control", "home", 0,
                                 experiments)  # fmt: skip


def test_an_exposure_is_one_event_with_a_once_only_id() -> None:
    record = Exposure(exposure_event_id("exp", "u1"), "u1", None, "exp", "b", 1_000, ("ev",))
    frame = records_frame([record])
    assert frame["type"].to_list() == ["exposure"] and frame["item_id"].to_list() == [None]
    props = json.loads(frame["properties"][0])
    assert props == {"experiment": "exp", "variant": "b", "segments": ["ev"]}
    assert frame["event_id"][0] == exposure_event_id("exp", "u1")  # the same in every process
    assert exposure_event_id("exp", "u1") != exposure_event_id("exp", "u2")
    assert exposure_event_id("exp", "u1") != exposure_event_id("other", "u1")


def test_every_impression_context_carries_the_assignments() -> None:
    frame = records_frame([served({"exp": "b", "canary-v0002": "control"}), served({})])
    contexts = [json.loads(c) for c in frame["context"]]
    assert [c.get("experiments") for c in contexts] == [
        {"exp": "b", "canary-v0002": "control"}, {"exp": "b", "canary-v0002": "control"},
        None, None,
    ]  # fmt: skip
    assert contexts[0]["position"] == 1 and contexts[0]["variant"] == "control"
    per_list = records_frame([ServedListImpression(served({"exp": "b"}))])
    assert json.loads(per_list["context"][0])["experiments"] == {"exp": "b"}


def test_profiles_skip_exposures_like_impressions() -> None:
    record = Exposure(exposure_event_id("exp", "u1"), "u1", None, "exp", "b", 1_000)
    cols = to_columns(records_frame([record, *[served({"exp": "b"})]]))
    updater = Updater(["brand"], {"view": 1.0}, 30, 7)
    assert updater.prepare(cols, {}) == []
