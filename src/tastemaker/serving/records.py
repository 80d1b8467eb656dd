"""Turning JSON request bodies into frames for the column-wise validators."""

from __future__ import annotations

from typing import Any

import orjson
import polars as pl

from tastemaker.errors import ValidationFailedError


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def records_to_frame(records: Any, what: str) -> pl.DataFrame:
    """Build an all-text frame from a list of JSON objects (types are checked by validation).

    Raises:
        ValidationFailedError: the body is not a list of objects.
    """
    if not isinstance(records, list):
        raise ValidationFailedError(
            f"body: expected a JSON list of {what} (or an object with key '{what}')"
        )
    keys: dict[str, None] = {}
    for index, record in enumerate(records):
        if type(record) is not dict:
            raise ValidationFailedError(
                f"{what}[{index}]: expected a JSON object, got {type(record).__name__}"
            )
        keys.update(dict.fromkeys(record))
    columns: dict[str, pl.Series] = {}
    for key in keys:
        values = [r.get(key) for r in records]
        if any(v is not None and type(v) is not str for v in values):
            values = [_cell(v) for v in values]
        columns[key] = pl.Series(key, values, dtype=pl.String)
    return pl.DataFrame(columns, height=len(records))


def unwrap(body: Any, key: str) -> Any:
    """Accept either a bare list or ``{key: [...]}``."""
    if isinstance(body, dict) and key in body:
        return body[key]
    return body
