"""Pseudonyms of id columns: the same as one at a time, nulls kept, cached or not."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tastemaker.errors import ConfigError
from tastemaker.ingest.pseudonymize import PSEUDONYM_CHARS, Pseudonymizer, create_key

KEY = b"0123456789abcdef0123456789abcdef"


def _reference(raw: str) -> str:
    return hmac.new(KEY, raw.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_CHARS]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.sampled_from(["a", "b", "ü", " ", ""]), st.text()), max_size=20
    ),
    st.lists(st.text(max_size=3), max_size=5),
)
def test_columns_give_each_id_its_keyed_pseudonym(ids: list[str | None], seen: list[str]) -> None:
    pseudonymizer = Pseudonymizer(KEY)
    for raw in seen:  # some ids are cached from earlier batches, some are new
        pseudonymizer.one(raw)
    frame = pl.DataFrame(
        {"user_id": ids, "anonymous_id": list(reversed(ids)), "item_id": ids},
        schema={"user_id": pl.String, "anonymous_id": pl.String, "item_id": pl.String},
    )
    out = pseudonymizer.columns(frame, ("user_id", "anonymous_id"))
    for name in ("user_id", "anonymous_id"):
        expected = [None if v is None else _reference(v) for v in frame[name].to_list()]
        assert out[name].to_list() == expected
    assert out["item_id"].equals(frame["item_id"])  # not named: untouched
    again = Pseudonymizer(KEY).columns(frame, ("user_id", "anonymous_id"))
    assert again.equals(out)  # a fresh cache gives the same pseudonyms


def test_missing_null_and_non_text_columns_are_left_alone() -> None:
    frame = pl.DataFrame(
        {"user_id": [None, None], "n": [1, 2]}, schema={"user_id": pl.String, "n": pl.Int64}
    )
    out = Pseudonymizer(KEY).columns(frame, ("user_id", "anonymous_id", "n"))
    assert out.equals(frame)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="too short"):
        Pseudonymizer(b"short")


def test_a_given_key_is_written_with_mode_0600_and_a_fresh_one_differs(tmp_path: Path) -> None:
    create_key(tmp_path / "given.key", KEY)
    create_key(tmp_path / "fresh.key")
    given = Pseudonymizer.from_file(tmp_path / "given.key")
    assert given.one("u1") == _reference("u1")  # the same pseudonyms as the key's holder
    assert Pseudonymizer.from_file(tmp_path / "fresh.key").one("u1") != given.one("u1")
    assert (tmp_path / "given.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError, match="too short"):
        create_key(tmp_path / "short.key", b"short")
