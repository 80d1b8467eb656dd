"""API request bodies: a JSON list of objects as an all-text frame for the column-wise checks.

Every value becomes text (numbers as Python writes them, booleans as ``true`` / ``false``,
objects and lists as compact JSON) and validation parses it, exactly as for a file. The
body arrives at up to a hundred requests a second on the event loop, so each column is
converted in one pass chosen by the types it holds instead of one branch per value.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
import polars as pl

from tastemaker.errors import ValidationFailedError

_NONE = type(None)
_NUMBERS = frozenset({int, float})
#: Floats whose text polars writes as Python does (shortest repr, no exponent): 1e-4 <= |x| < 1e16.
_PLAIN = (1e-4, 1e16)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector from running inside the block.

    A body of 500 events parses into a thousand dicts that die a millisecond later, when
    the columns are built. Counted while alive they trigger collections that walk every
    live object of the process (the serving state included), which cost the event loop
    more than parsing itself. Objects freed inside the block take their counts back with
    them, so collections after it run as often as the surviving objects warrant.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def body_to_frame(raw: bytes, what: str, limit: int | None = None) -> pl.DataFrame:
    """Parse a request body (a JSON list, or ``{what: [...]}``) into an all-text frame.

    Args:
        raw: the request body.
        what: the plural noun of the rows (``events``, ``items``, ``users``), also the key
            of the wrapped form.
        limit: most rows accepted in one body.

    Returns:
        One text column per key seen in any object, in order of first appearance.

    Raises:
        ValidationFailedError: not JSON, not a list of objects, or more than ``limit`` rows.
    """
    with collector_paused():
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValidationFailedError(f"body: not valid JSON ({exc})") from exc
        records = unwrap(body, what)
        if limit is not None and isinstance(records, list) and len(records) > limit:
            raise ValidationFailedError(
                f"body: {len(records)} {what} in one batch (at most {limit})"
            )
        frame = records_to_frame(records, what)
        del body, records  # freed while the collector is paused (see `collector_paused`)
    return frame


def unwrap(body: Any, key: str) -> Any:
    """Accept either a bare list or ``{key: [...]}``."""
    if isinstance(body, dict) and key in body:
        return body[key]
    return body


def records_to_frame(records: Any, what: str) -> pl.DataFrame:
    """Build an all-text frame from a list of JSON objects (types are checked by validation).

    Raises:
        ValidationFailedError: ``records`` is not a list of objects.
    """
    if not isinstance(records, list):
        raise ValidationFailedError(
            f"body: expected a JSON list of {what} (or an object with key '{what}')"
        )
    if set(map(type, records)) - {dict}:
        index, bad = next((i, r) for i, r in enumerate(records) if type(r) is not dict)
        raise ValidationFailedError(
            f"{what}[{index}]: expected a JSON object, got {type(bad).__name__}"
        )
    keys, columns = _columns(records)
    series = [_text_column(k, v) for k, v in zip(keys, columns, strict=True)]
    return pl.DataFrame(series or None, height=len(records))  # [{}] is one row, no columns


def _columns(records: list[dict[str, Any]]) -> tuple[list[str], list[Sequence[Any]]]:
    """The keys seen in any record (in order of first appearance) and each one's values
    over all records (None where a record lacks the key)."""
    first = list(records[0]) if records else []
    # The usual body: every object has the keys of the first (and no other; the total
    # count tells), so one C-level pass transposes it.
    if len(first) > 1 and sum(map(len, records)) == len(first) * len(records):
        try:
            return first, list(zip(*map(itemgetter(*first), records), strict=True))
        except KeyError:
            pass
    keys = list(dict.fromkeys(chain.from_iterable(records)))
    return keys, [[r.get(key) for r in records] for key in keys]


def _text_column(name: str, values: Sequence[Any]) -> pl.Series:
    """One column as text: strings as they are, anything else written out (null stays null)."""
    kinds = set(map(type, values))
    nulls = _NONE in kinds
    kinds.discard(_NONE)
    if kinds <= {str}:
        return pl.Series(name, values, dtype=pl.String)
    if kinds == {float} and not nulls:
        floats = np.fromiter(values, np.float64, len(values))
        size = np.abs(floats)
        if np.all((size >= _PLAIN[0]) & (size < _PLAIN[1]) | (size == 0)):
            return pl.Series(name, floats).cast(pl.String)
    write = str if kinds <= _NUMBERS else _json_text if kinds <= {dict, list} else _write_any
    return pl.Series(name, _each(write, values, nulls), dtype=pl.String)


def _each(write: Callable[[Any], Any], values: Sequence[Any], nulls: bool) -> list[Any]:
    if nulls:
        return [None if v is None else write(v) for v in values]
    return list(map(write, values))


def _write_any(value: Any) -> str:
    return _WRITE.get(type(value), str)(value)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


#: How each type a JSON parser returns is written as text (numbers as Python writes them).
_WRITE: dict[type, Callable[[Any], str]] = {
    str: str, int: str, float: str, bool: _bool_text, dict: _json_text, list: _json_text,
}  # fmt: skip
