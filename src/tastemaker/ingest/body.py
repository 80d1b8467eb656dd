"""API request bodies: a JSON list of objects as an all-text frame for the column-wise checks.

Every value becomes text (numbers as Python writes them, booleans as ``true`` / ``false``,
objects and lists as compact JSON) and validation parses it, exactly as for a file. The
body arrives at up to a hundred requests a second on the event loop, so each column is
converted in one pass chosen by the types it holds instead of one branch per value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
import orjson
import polars as pl

from tastemaker.config import IngestConfig
from tastemaker.errors import ValidationFailedError
from tastemaker.ingest import limits
from tastemaker.ingest.checks import REFUSED, REFUSED_DTYPE
from tastemaker.schema import EVENT_COLUMNS, ITEM_CORE_COLUMNS, USER_CORE_COLUMNS

_NONE = type(None)
_NUMBERS = frozenset({int, float})
#: Floats whose text polars writes as Python does (shortest repr, no exponent): 1e-4 <= |x| < 1e16.
_PLAIN = (1e-4, 1e16)


@dataclass(frozen=True)
class RowShape:
    """What the rows of a body may hold: ``core`` fields, and whether other keys are
    attributes (items, users) or refused (events)."""

    what: str
    core: tuple[str, ...]
    attributes: bool


EVENTS = RowShape("events", EVENT_COLUMNS, attributes=False)
ITEMS = RowShape("items", ITEM_CORE_COLUMNS, attributes=True)
USERS = RowShape("users", USER_CORE_COLUMNS, attributes=True)


class ParsedBody(NamedTuple):
    """A body as an all-text frame; ``present`` lists each row's keys when asked for."""

    frame: pl.DataFrame
    present: list[frozenset[str]] | None = None


def body_to_frame(
    raw: bytes, shape: RowShape, cfg: IngestConfig, *, present: bool = False
) -> ParsedBody:
    """Parse a request body (a JSON list, or ``{what: [...]}``) into an all-text frame.

    Rows are refused one by one, never the batch, for what only the parser can see: a key
    the row's shape does not allow (unknown event fields, reserved names, attribute names
    past ``max_attribute_names`` in one body) and values nested too deep to be written as
    JSON. Such a row keeps its other fields (so ids are pseudonymized as usual), loses the
    offending keys and is marked in column `REFUSED` for validation to report.

    Args:
        raw: the request body.
        shape: the kind of rows (`EVENTS`, `ITEMS`, `USERS`).
        cfg: the ingestion limits.
        present: also return each row's keys (partial updates need absent from null).

    Returns:
        One text column per allowed key seen in any object, in order of first appearance,
        plus `REFUSED` when some row was refused.

    Raises:
        ValidationFailedError: not JSON, not a list of objects, or more than ``max_batch``
            rows.
    """
    what = shape.what
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailedError(f"body: not valid JSON ({exc})") from exc
    records = unwrap(body, what)
    limit = cfg.max_batch
    if isinstance(records, list) and len(records) > limit:
        raise ValidationFailedError(
            f"body: {len(records)} {what} in one batch (at most {limit}: limit ingest.max_batch)"
        )
    _check_records(records, what)
    keys = [frozenset(r) for r in records] if present else None
    refused: dict[int, tuple[str, str, str]] = {}
    records = _screen(records, shape, cfg, refused)
    frame = _frame(records, refused, cfg)
    return ParsedBody(frame, keys)


def _screen(
    records: list[dict[str, Any]],
    shape: RowShape,
    cfg: IngestConfig,
    refused: dict[int, tuple[str, str, str]],
) -> list[dict[str, Any]]:
    """Remove keys a row may not have, noting the row in ``refused`` (field, reason, dropped).

    The distinct keys of the body are screened once; rows are visited only when some key
    is refused, so the usual body costs one pass over its keys.
    """
    names = dict.fromkeys(chain.from_iterable(records))
    bad: dict[str, str] = {}
    extra = [n for n in names if n not in shape.core]
    for name in extra:
        problem = limits.name_problem(
            name, attribute=shape.attributes, max_length=cfg.max_id_length
        )
        if problem is None and not shape.attributes:
            problem = limits.unknown_field(name, shape.core)
        if problem is not None:
            bad[name] = problem
    if shape.attributes:
        allowed = [n for n in extra if n not in bad]
        for name in allowed[cfg.max_attribute_names :]:
            bad[name] = limits.too_many_names(cfg.max_attribute_names)
    if not bad:
        return records
    out = list(records)
    for i, row in enumerate(records):
        hit = row.keys() & bad.keys()
        if hit:
            first = next(k for k in row if k in hit)
            dropped = {k: row[k] for k in row if k in hit}
            out[i] = {k: v for k, v in row.items() if k not in hit}
            excerpt = limits.dropped_excerpt(dropped, cfg.dead_letter_excerpt_bytes)
            refused[i] = (limits.clip(first), bad[first], excerpt)
    return out


def _frame(
    records: list[dict[str, Any]], refused: dict[int, tuple[str, str, str]], cfg: IngestConfig
) -> pl.DataFrame:
    """The text frame of screened rows, plus `REFUSED` when a row was refused; a value too
    deep to be written as JSON is removed and its row refused."""
    keys, columns = _columns(records)
    series = []
    for key, values in zip(keys, columns, strict=True):
        column, failed = _text_column(key, values)
        series.append(column)
        for i in failed:
            if i not in refused:
                dropped = limits.dropped_excerpt({key: values[i]}, cfg.dead_letter_excerpt_bytes)
                refused[i] = (key, limits.too_deep(key, cfg.max_json_depth), dropped)
    if refused:  # only then: its check costs every batch a pass (and bodies group by shape)
        marks: list[dict[str, str] | None] = [None] * len(records)
        for i, (field, reason, dropped) in refused.items():
            marks[i] = {"field": field, "reason": reason, "dropped": dropped}
        series.append(pl.Series(REFUSED, marks, dtype=REFUSED_DTYPE))
    return pl.DataFrame(series or None, height=len(records))  # [{}] is one row, no columns


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
    _check_records(records, what)
    keys, columns = _columns(records)
    series = [_text_column(k, v)[0] for k, v in zip(keys, columns, strict=True)]
    return pl.DataFrame(series or None, height=len(records))  # [{}] is one row, no columns


def _check_records(records: Any, what: str) -> None:
    """Refuse a body that is not a list of JSON objects (naming the first other value)."""
    if not isinstance(records, list):
        raise ValidationFailedError(
            f"body: expected a JSON list of {what} (or an object with key '{what}')"
        )
    if set(map(type, records)) - {dict}:
        index, bad = next((i, r) for i, r in enumerate(records) if type(r) is not dict)
        raise ValidationFailedError(
            f"{what}[{index}]: expected a JSON object, got {type(bad).__name__}"
        )


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


def _text_column(name: str, values: Sequence[Any]) -> tuple[pl.Series, list[int]]:
    """One column as text: strings as they are, anything else written out (null stays null).

    Also returns the positions of values that cannot be written as JSON (nested deeper
    than the writer allows); they become null.
    """
    kinds = set(map(type, values))
    nulls = _NONE in kinds
    kinds.discard(_NONE)
    if kinds <= {str}:
        return pl.Series(name, values, dtype=pl.String), []
    if kinds == {float} and not nulls:
        floats = np.fromiter(values, np.float64, len(values))
        size = np.abs(floats)
        if np.all((size >= _PLAIN[0]) & (size < _PLAIN[1]) | (size == 0)):
            return pl.Series(name, floats).cast(pl.String), []
    write = str if kinds <= _NUMBERS else _json_text if kinds <= {dict, list} else _write_any
    try:
        return pl.Series(name, _each(write, values, nulls), dtype=pl.String), []
    except TypeError:  # orjson's recursion limit: find the values at fault
        texts, failed = _each_guarded(write, values)
        return pl.Series(name, texts, dtype=pl.String), failed


def _each(write: Callable[[Any], Any], values: Sequence[Any], nulls: bool) -> list[Any]:
    if nulls:
        return [None if v is None else write(v) for v in values]
    return list(map(write, values))


def _each_guarded(
    write: Callable[[Any], Any], values: Sequence[Any]
) -> tuple[list[str | None], list[int]]:
    texts: list[str | None] = []
    failed: list[int] = []
    for i, v in enumerate(values):
        try:
            texts.append(None if v is None else write(v))
        except TypeError:
            texts.append(None)
            failed.append(i)
    return texts, failed


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
