"""Vocabulary and Interactions: ids, event weights, dwell time, negative feedback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tastemaker.models.interactions import Interactions
from tastemaker.models.vocab import Vocabulary


def test_vocabulary_round_trip(tmp_path: Path) -> None:
    vocab = Vocabulary.from_values(pl.Series(["b", "a", "b", None, "c"]))
    assert list(vocab.ids) == ["b", "a", "c"]
    np.testing.assert_array_equal(vocab.index(["c", "zzz", "b"]), [2, -1, 0])
    assert list(vocab.decode(np.array([1, -1]))) == ["a", None]
    assert vocab.extend(["a", "d"]).index_of("d") == 3
    vocab.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json") == vocab
    assert Vocabulary.from_array(vocab.to_array()) == vocab
    with pytest.raises(ValueError):
        Vocabulary(["x", "x"])


def events() -> pl.DataFrame:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u2", None, "u1"],
            "anonymous_id": [None, None, None, None, None, "anon", None],
            "type": ["view", "view", "purchase", "click", "not_interested", "view", "search"],
            "item_id": ["i1", "i2", "i1", "i2", "i3", "i3", None],
            "value": [None, 30.0, 99.0, None, None, None, None],
            "timestamp": [t] * 7,
            "session_id": ["s1"] * 7,
        }
    )


def test_event_weights_dwell_and_negative_feedback() -> None:
    weights = {"view": 1.0, "click": 2.0, "purchase": 8.0, "not_interested": -8.0}
    inter = Interactions.from_events(events(), weights)
    u = {uid: inter.users.index_of(uid) for uid in ("u1", "u2", "anon")}
    i = {iid: inter.items.index_of(iid) for iid in ("i1", "i2", "i3")}
    m = inter.matrix.toarray()
    assert m[u["u1"], i["i1"]] == pytest.approx(9.0)  # view 1 + purchase 8
    assert m[u["u1"], i["i2"]] == pytest.approx(1.0 + np.log1p(1.0))  # 30 s dwell bonus
    assert m[u["u2"], i["i2"]] == pytest.approx(2.0)
    assert m[u["anon"], i["i3"]] == pytest.approx(1.0)  # anonymous visitors count as users
    assert m[u["u2"], i["i3"]] == 0 and inter.negative[u["u2"], i["i3"]] == 1
    assert inter.seen()[u["u2"], i["i3"]] == 1  # excluded from recommendations
    assert inter.log.height == 6  # the search event names no item and is dropped


def test_catalog_items_without_events_get_an_index() -> None:
    inter = Interactions.from_events(events(), item_ids=pl.Series(["i9", "i1"]))
    assert inter.n_items == 4 and inter.items.index_of("i9") == 3
    assert inter.matrix[:, 3].nnz == 0


def test_timestamps_as_strings_are_parsed() -> None:
    frame = events().with_columns(pl.lit("2026-02-03T04:05:06Z").alias("timestamp"))
    inter = Interactions.from_events(frame)
    assert inter.log["timestamp"].dtype == pl.Datetime("ms", "UTC")
    assert inter.log["timestamp"][0] == datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
