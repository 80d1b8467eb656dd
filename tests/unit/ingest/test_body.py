"""API bodies as all-text frames: the fast paths per column write what one value at a time would."""

from __future__ import annotations

import re
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tastemaker.config import IngestConfig
from tastemaker.errors import ValidationFailedError
from tastemaker.ingest.body import (
    EVENTS,
    ITEMS,
    body_to_frame,
    records_to_frame,
)
from tastemaker.ingest.checks import REFUSED

CFG = IngestConfig()


def _reference(records: list[dict[str, Any]]) -> pl.DataFrame:
    """One value at a time: text as is, JSON for objects and lists, true/false, str()."""

    def text(v: Any) -> str | None:
        if v is None or isinstance(v, str):
            return v
        if isinstance(v, (dict, list)):
            return orjson.dumps(v).decode()
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    keys = list(dict.fromkeys(k for r in records for k in r))
    columns = [pl.Series(k, [text(r.get(k)) for r in records], dtype=pl.String) for k in keys]
    return pl.DataFrame(columns or None, height=len(records))


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 12.5, 1e-4, 9.99e-5, 1e16, 9999999999999998.0, 0.1]),
    st.text(max_size=5),
)
_values = st.one_of(
    _scalars,
    st.dictionaries(st.sampled_from(["a", "b"]), _scalars, max_size=2),
    st.lists(_scalars, max_size=2),
)
_keys = st.sampled_from(["event_id", "value", "context", "x"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(_keys, _values, max_size=4), max_size=6))
def test_frame_matches_one_value_at_a_time(records: list[dict[str, Any]]) -> None:
    assert records_to_frame(records, "events").equals(_reference(records))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=8),
    st.sampled_from(["value", "x"]),
)
def test_uniform_float_column_is_written_as_python_does(values: list[float], key: str) -> None:
    records = [{"event_id": str(i), key: v} for i, v in enumerate(values)]
    assert records_to_frame(records, "events").equals(_reference(records))


def test_uniform_body_keeps_key_order_and_nulls() -> None:
    records = [
        {"b": "1", "a": None, "c": {"k": [1, True]}},
        {"b": "2", "a": 3.5, "c": None},
    ]
    frame = records_to_frame(records, "events")
    assert frame.columns == ["b", "a", "c"]
    assert frame.rows() == [("1", None, '{"k":[1,true]}'), ("2", "3.5", None)]


def test_missing_and_extra_keys_fall_back_to_the_union() -> None:
    records = [{"a": "1", "b": "x"}, {"a": "2", "c": "y"}, {"b": "z", "a": "3"}]
    frame = records_to_frame(records, "events")
    assert frame.columns == ["a", "b", "c"]
    assert frame.rows() == [("1", "x", None), ("2", None, "y"), ("3", "z", None)]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[{", "body: not valid JSON"),
        (b'{"x": 1}', "body: expected a JSON list of events (or an object with key 'events')"),
        (b'[{"a": "1"}, 3]', "events[1]: expected a JSON object, got int"),
        (
            b'[{"a": "1"}, {"a": "2"}, {"a": "3"}]',
            "body: 3 events in one batch (at most 2: limit ingest.max_batch)",
        ),
    ],
)
def test_bad_bodies_are_refused_with_where_and_what(raw: bytes, message: str) -> None:
    with pytest.raises(ValidationFailedError, match=re.escape(message)):
        body_to_frame(raw, EVENTS, IngestConfig(max_batch=2))


def test_wrapped_and_bare_bodies_give_the_same_frame() -> None:
    bare = body_to_frame(b'[{"event_id": "e1", "value": 2}]', EVENTS, CFG).frame
    wrapped = body_to_frame(b'{"events": [{"event_id": "e1", "value": 2}]}', EVENTS, CFG).frame
    assert bare.equals(wrapped)
    assert bare.rows() == [("e1", "2")]  # no row refused: no REFUSED column
    assert body_to_frame(b"[]", EVENTS, CFG).frame.shape == (0, 0)


def _refusals(frame: pl.DataFrame) -> dict[int, tuple[str, str]]:
    marks = frame[REFUSED].to_list() if REFUSED in frame.columns else []
    return {i: (m["field"], m["reason"]) for i, m in enumerate(marks) if m is not None}


def test_keys_an_event_may_not_have_refuse_that_row_only() -> None:
    ok = {"event_id": "e1", "type": "view"}
    raw = orjson.dumps([ok, {**ok, "colour": "red"}, {**ok, "_row": 1}, {**ok, "*": 2}])
    frame = body_to_frame(raw, EVENTS, CFG).frame
    assert frame.columns == ["event_id", "type", REFUSED]  # the refused keys made no column
    refused = _refusals(frame)
    assert sorted(refused) == [1, 2, 3]
    assert refused[1][0] == "colour" and "not an event field" in refused[1][1]
    assert refused[2] == (
        "_row",
        "field '_row': names starting with '_' are reserved; rename the field",
    )
    assert refused[3][0] == "*"
    assert frame["event_id"].to_list() == ["e1"] * 4  # kept: ids are pseudonymized as usual


def test_a_thousand_rows_of_distinct_keys_make_no_column_each() -> None:
    rows = [{"event_id": f"e{i}", **{f"k{i}_{j}": j for j in range(200)}} for i in range(1000)]
    frame = body_to_frame(orjson.dumps(rows), EVENTS, CFG).frame
    assert frame.columns == ["event_id", REFUSED]
    assert len(_refusals(frame)) == 1000


def test_attribute_names_past_the_limit_refuse_the_rows_that_bring_them() -> None:
    cfg = IngestConfig(max_attribute_names=3)
    rows = [{"item_id": f"i{i}", f"a{i}": "x", f"b{i}": "y"} for i in range(3)]
    frame = body_to_frame(orjson.dumps(rows), ITEMS, cfg).frame
    assert frame.columns == ["item_id", "a0", "b0", "a1", REFUSED]
    refused = _refusals(frame)
    assert sorted(refused) == [1, 2]
    assert refused[2][0] == "a2" and "limit ingest.max_attribute_names" in refused[2][1]


def _nested(depth: int) -> bytes:
    """A JSON object nested ``depth`` levels deep (``{}`` is one level)."""
    return b'{"a": ' * (depth - 1) + b"{}" + b"}" * (depth - 1)


@pytest.mark.parametrize("depth", [250, 300, 1022])
def test_a_value_too_deep_to_write_refuses_its_row(depth: int) -> None:
    raw = b'[{"event_id": "e1", "context": {"page": "home"}}, {"event_id": "e2", "context": '
    frame = body_to_frame(raw + _nested(depth) + b"}]", EVENTS, CFG).frame
    assert frame["context"][0] == '{"page":"home"}'
    if depth < 255:  # orjson writes it: validation measures it (max_json_depth)
        assert _refusals(frame) == {}
    else:
        assert _refusals(frame) == {
            1: ("context", "field 'context' is nested deeper than 32 levels"
                " (limit ingest.max_json_depth)")
        }  # fmt: skip
        assert frame["context"][1] is None


def test_present_keys_tell_absent_from_null() -> None:
    raw = b'[{"item_id": "i1", "price": null}, {"item_id": "i2", "brand": "b"}]'
    parsed = body_to_frame(raw, ITEMS, CFG, present=True)
    assert parsed.present == [frozenset({"item_id", "price"}), frozenset({"item_id", "brand"})]
