"""Request filters: ``fuel_type:electric,body_type:suv|mpv,price<30000``.

One parser for every endpoint that takes ``filters=`` (recommendations, featured listing).
A filter string is a comma-separated AND of clauses:

- ``field:value`` equality (case-insensitive); ``field:a|b`` any of several values;
- ``field!=value`` inequality (also ``field!=a|b``);
- ``field<N``, ``field<=N``, ``field>N``, ``field>=N`` numeric comparison.

Parsed clauses compile to a boolean mask over an :class:`ItemTable` (serving) or to a
polars expression over a catalog frame.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import reduce

import numpy as np
import polars as pl

from tastemaker.errors import ValidationFailedError
from tastemaker.retrieval.itemtable import ItemTable

_CLAUSE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*(<=|>=|!=|<|>|:)\s*(.*?)\s*$")
_MAX_CLAUSES = 32
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


@dataclass(frozen=True)
class Clause:
    """One condition: ``field op values`` (``values`` has one entry for comparisons)."""

    field: str
    op: str
    values: tuple[str, ...]

    @property
    def number(self) -> float:
        """The numeric operand of a comparison."""
        return float(self.values[0])


@dataclass(frozen=True)
class Filters:
    """An AND of clauses, as parsed from a ``filters=`` string."""

    clauses: tuple[Clause, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.clauses)

    def key(self) -> str:
        """Canonical text (for cache keys)."""
        return ",".join(f"{c.field}{c.op}{'|'.join(c.values)}" for c in self.clauses)

    def mask(self, table: ItemTable) -> np.ndarray:
        """Boolean mask over the table's items that satisfy every clause.

        Raises:
            ValidationFailedError: a clause names an unknown field or compares text
                with ``<`` / ``>``.
        """
        out = np.ones(len(table), bool)
        for clause in self.clauses:
            out &= _clause_mask(clause, table)
        return out

    def expr(self) -> pl.Expr:
        """The same filter as a polars expression over a catalog frame."""
        if not self.clauses:
            return pl.lit(True)
        return reduce(lambda a, b: a & b, (_clause_expr(c) for c in self.clauses))


def _bad(text: str, why: str) -> ValidationFailedError:
    return ValidationFailedError(
        f"filters: clause '{text}' {why} (expected e.g. "
        "'fuel_type:electric,body_type:suv|mpv,price<30000')",
        field="filters",
        value=text,
    )


def parse_filters(text: str | None) -> Filters:
    """Parse a ``filters=`` string (None or empty: no filter).

    Raises:
        ValidationFailedError: a malformed clause; the message names it.
    """
    if text is None or not text.strip():
        return Filters()
    raw = text.split(",")
    if len(raw) > _MAX_CLAUSES:
        raise _bad(text[:80], f"has {len(raw)} clauses (at most {_MAX_CLAUSES})")
    clauses = []
    for part in raw:
        m = _CLAUSE.match(part)
        if m is None:
            raise _bad(part, "is not 'field:value' or 'field<number'")
        field, op, value = m.group(1), m.group(2), m.group(3)
        values = tuple(v.strip() for v in value.split("|"))
        if not value or any(not v for v in values):
            raise _bad(part, "has an empty value")
        if op in ("<", "<=", ">", ">=") and (len(values) != 1 or not _is_number(values[0])):
            raise _bad(part, f"compares with '{value}', which is not a number")
        clauses.append(Clause(field.lower(), op, values))
    return Filters(tuple(clauses))


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _compare(values: np.ndarray, op: str, number: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if op == "<":
            return values < number
        if op == "<=":
            return values <= number
        if op == ">":
            return values > number
        return values >= number


def _clause_mask(c: Clause, table: ItemTable) -> np.ndarray:
    negate = c.op == "!="
    if c.field == "in_stock":
        numeric: np.ndarray | None = table.in_stock.astype(np.float64)
    else:
        numeric = table.numeric.get(c.field)
    if numeric is not None:
        if c.op in ("<", "<=", ">", ">="):
            return _compare(numeric, c.op, c.number)
        wanted = [_as_number(c, v) for v in c.values]
        hit = np.isin(numeric, wanted)
        return ~hit if negate else hit
    cat = table.categorical.get(c.field)
    if cat is None:
        known = sorted([*table.categorical, *table.numeric, "in_stock"])
        raise ValidationFailedError(
            f"filters: unknown field '{c.field}' (known: {', '.join(known)})",
            field="filters",
            value=c.field,
        )
    if c.op not in (":", "!="):
        raise ValidationFailedError(
            f"filters: '{c.field}' is text; use '{c.field}:value', not '{c.op}'",
            field="filters",
            value=c.field,
        )
    codes = [cat.code_of(v) for v in c.values]
    hit = np.isin(cat.codes, [x for x in codes if x >= 0])
    return ~hit if negate else hit


def _as_number(c: Clause, value: str) -> float:
    low = value.lower()
    if low in _TRUE:
        return 1.0
    if low in _FALSE:
        return 0.0
    if not _is_number(value):
        raise ValidationFailedError(
            f"filters: '{c.field}' is numeric; '{value}' is not a number",
            field="filters",
            value=value,
        )
    return float(value)


def _clause_expr(c: Clause) -> pl.Expr:
    col = pl.col(c.field)
    if c.op in ("<", "<=", ">", ">="):
        num = col.cast(pl.Float64, strict=False)
        ops = {"<": num < c.number, "<=": num <= c.number, ">": num > c.number}
        return ops.get(c.op, num >= c.number).fill_null(False)
    text = col.cast(pl.String).str.to_lowercase()
    wanted = [v.lower() for v in c.values]
    wanted += ["true" if v in _TRUE else "false" for v in wanted if v in _TRUE | _FALSE]
    hit = text.is_in(wanted).fill_null(False)
    return ~hit if c.op == "!=" else hit
