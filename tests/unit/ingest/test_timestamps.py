"""Timestamps as text: the common-form shortcut gives exactly what the full parse gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tastemaker.ingest.timestamps import text_to_epoch_ms, to_epoch_ms

_FORMS = [
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%dT%H:%M:%S+02:00",
    "%Y-%m-%d %H:%M:%S-05:30",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
]
_moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1))
_texts = st.one_of(
    st.builds(lambda d, f: d.strftime(f), _moments, st.sampled_from(_FORMS[:2])),  # common
    st.builds(lambda d, f: d.strftime(f), _moments, st.sampled_from(_FORMS)),
    st.sampled_from(["", "  ", "nope", "1767261600", "1767261600000", " 2026-01-01T10:00:00Z "]),
    st.none(),
)


def _full(values: list[str | None]) -> pl.Series:
    frame = pl.DataFrame({"timestamp": values}, schema={"timestamp": pl.String})
    return frame.select(to_epoch_ms("timestamp", pl.String())).to_series()


@settings(max_examples=200, deadline=None)
@given(st.lists(_texts, max_size=12))
def test_shortcut_equals_the_full_parse(values: list[str | None]) -> None:
    column = pl.Series("timestamp", values, dtype=pl.String)
    assert text_to_epoch_ms(column).to_list() == _full(values).to_list()


def test_common_form_alone_and_mixed_forms() -> None:
    t0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    common = [(t0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(3)]
    ms = int(t0.timestamp() * 1000)
    assert text_to_epoch_ms(pl.Series("t", [*common, None])).to_list() == [
        ms, ms + 1000, ms + 2000, None,
    ]  # fmt: skip
    mixed = pl.Series("t", [common[0], "2026-01-31T13:00:00+01:00", "2026-01-31", "x"])
    assert text_to_epoch_ms(mixed).to_list() == [ms, ms, ms - 12 * 3_600_000, None]
