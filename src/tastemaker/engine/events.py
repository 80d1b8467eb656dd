"""Events the platform makes itself, as typed records that become one typed frame.

A served recommendation list, a served featured listing, a piece of negative
feedback and an experiment exposure are each a small frozen record; :func:`records_frame`
turns a batch of them into event rows with :data:`PLATFORM_EVENT_SCHEMA` (timestamps as
datetimes, never text), which the Ingestor validates and stores like any other events.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self

import orjson
import polars as pl

from tastemaker.engine.served import ServedList

#: Columns and types of every event the platform makes itself.
PLATFORM_EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "user_id": pl.String(),
    "anonymous_id": pl.String(),
    "type": pl.String(),
    "item_id": pl.String(),
    "timestamp": pl.Datetime("ms", "UTC"),
    "context": pl.String(),
    "properties": pl.String(),
}

_LIST_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.String(),
    "user_id": pl.String(),
    "item_id": pl.List(pl.String),
    "page": pl.String(),
    "model_version": pl.String(),
    "variant": pl.String(),
    "at_ms": pl.Int64(),
    "experiments": pl.String(),
    "score": pl.List(pl.Float64),
    "history": pl.Int64(),
}


class PlatformRecord(Protocol):
    """A record the platform logs as events; records of one kind become rows together."""

    kind: ClassVar[str]

    @staticmethod
    def frame(batch: list[Any]) -> pl.DataFrame:
        """Event rows (:data:`PLATFORM_EVENT_SCHEMA`) for a batch of records of this kind."""
        ...


@dataclass(frozen=True, slots=True)
class ServedRecommendations:
    """A served recommendation list (``user_id`` pseudonymized); one impression per item."""

    kind: ClassVar[str] = "recommendations"
    request_id: str
    user_id: str
    item_ids: list[str]
    model_version: str
    variant: str
    page: str | None
    at_ms: int
    #: experiment key -> variant the list was served under (in every impression's context)
    experiments: dict[str, str] = field(default_factory=dict)
    #: the served score of each item and the user's history size (drift monitoring)
    scores: list[float] = field(default_factory=list)
    history: int | None = None

    @classmethod
    def of(cls, served: ServedList, user_key: str, page: str | None, at_ms: int) -> Self:
        """The record of a served list (``user_key``: the pseudonymized user id)."""
        return cls(served.request_id, user_key, served.item_ids, served.model_version,
                   served.variant, page, at_ms, served.experiments, served.scores,
                   served.history)  # fmt: skip

    @staticmethod
    def frame(batch: list[Any]) -> pl.DataFrame:
        """One impression per served item, built column-wise (position, score in the context)."""
        columns = [n for n in _LIST_SCHEMA if n not in ("item_id", "experiments", "score")]
        lists = pl.DataFrame(
            {name: [getattr(s, name) for s in batch] for name in columns}
            | {"item_id": [s.item_ids for s in batch],
               "score": [_scores(s) for s in batch],
               "experiments": [_json(s.experiments) if s.experiments else None for s in batch]},
            schema=_LIST_SCHEMA,
        )  # fmt: skip
        rows = lists.with_columns(position=pl.int_ranges(1, pl.col("item_id").list.len() + 1))
        rows = rows.explode("item_id", "position", "score")
        plain = pl.struct("request_id", "position", "page", "model_version", "variant", "score",
                          "history")  # fmt: skip
        plain = plain.struct.json_encode()
        with_experiments = pl.concat_str(
            plain.str.strip_suffix("}"), pl.lit(',"experiments":'), "experiments", pl.lit("}")
        )
        context = pl.when(pl.col("experiments").is_null()).then(plain).otherwise(with_experiments)
        return rows.select(
            event_id=pl.format("imp-{}-{}", "request_id", "position"),
            user_id="user_id",
            anonymous_id=pl.lit(None, pl.String),
            type=pl.lit("impression"),
            item_id="item_id",
            timestamp=_datetime("at_ms"),
            context=context,
            properties=pl.lit(None, pl.String),
        )


@dataclass(frozen=True, slots=True)
class ServedListImpression:
    """A served recommendation list logged as one impression event (items in properties)."""

    kind: ClassVar[str] = "recommendation-list"
    served: ServedRecommendations

    @staticmethod
    def frame(batch: list[Any]) -> pl.DataFrame:
        """One impression event per list: ``properties`` hold items, positions and scores."""
        rows = []
        for record in batch:
            s: ServedRecommendations = record.served
            context: dict[str, Any] = {
                "request_id": s.request_id,
                "page": s.page,
                "model_version": s.model_version,
                "variant": s.variant,
                "history": s.history,
            }
            if s.experiments:
                context["experiments"] = s.experiments
            props = {"items": s.item_ids, "positions": list(range(1, len(s.item_ids) + 1)),
                     "scores": _scores(s)}  # fmt: skip
            rows.append((f"imp-{s.request_id}", s.user_id, None, "impression", None, s.at_ms,
                         _json(context), _json(props)))  # fmt: skip
        return _rows_frame(rows)


@dataclass(frozen=True, slots=True)
class ServedFeatured:
    """A served featured listing (ids pseudonymized): one impression of the item."""

    kind: ClassVar[str] = "featured"
    event_id: str
    user_id: str | None
    anonymous_id: str | None
    item_id: str
    context: dict[str, Any]
    at_ms: int

    @staticmethod
    def frame(batch: list[Any]) -> pl.DataFrame:
        """One impression per listing; an anonymous request is logged as ``unidentified``."""
        return _rows_frame(
            [(r.event_id, r.user_id, r.anonymous_id or (None if r.user_id else "unidentified"),
              "impression", r.item_id, r.at_ms, _json(r.context), None) for r in batch]
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Feedback:
    """Negative feedback of a (pseudonymized) user on an item."""

    kind: ClassVar[str] = "feedback"
    event_id: str
    user_id: str
    item_id: str
    properties: dict[str, Any]
    at_ms: int

    @staticmethod
    def frame(batch: list[Any]) -> pl.DataFrame:
        """One ``not_interested`` event per record."""
        return _rows_frame(
            [(r.event_id, r.user_id, None, "not_interested", r.item_id, r.at_ms, None,
              _json(r.properties)) for r in batch]
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Exposure:
    """The first time a (pseudonymized) user or visitor is served under an experiment.

    ``event_id`` is :func:`exposure_event_id` of the experiment and the unit, so the
    ingest dedupe stores one exposure per user and experiment whichever process logs it.
    """

    kind: ClassVar[str] = "exposure"
    event_id: str
    user_id: str | None
    anonymous_id: str | None
    experiment: str
    variant: str
    at_ms: int
    #: the user's segments when exposed (triggered analysis, breakdown by segment)
    segments: tuple[str, ...] = ()

    @staticmethod
    def frame(batch: list[Any]) -> pl.DataFrame:
        """One ``exposure`` event per record (``properties``: experiment, variant, segments)."""
        return _rows_frame(
            [(r.event_id, r.user_id, r.anonymous_id, "exposure", None, r.at_ms, None,
              _json({"experiment": r.experiment, "variant": r.variant,
                     "segments": list(r.segments)})) for r in batch]
        )  # fmt: skip


def _scores(record: ServedRecommendations) -> list[float | None]:
    """The record's scores, one per item (None where a record carries none)."""
    if len(record.scores) == len(record.item_ids):
        return [float(x) for x in record.scores]
    return [None] * len(record.item_ids)


def exposure_event_id(experiment: str, unit: str) -> str:
    """``exp-`` + the first 32 hex digits of SHA-256 of ``f"{experiment}:{unit}"``."""
    return "exp-" + hashlib.sha256(f"{experiment}:{unit}".encode()).hexdigest()[:32]


def records_frame(batch: list[PlatformRecord]) -> pl.DataFrame:
    """Event rows for records of one or several kinds, in the order kinds first appear."""
    by_kind: dict[str, list[PlatformRecord]] = {}
    for record in batch:
        by_kind.setdefault(record.kind, []).append(record)
    frames = [group[0].frame(group) for group in by_kind.values()]
    if not frames:
        return pl.DataFrame(schema=PLATFORM_EVENT_SCHEMA)
    return pl.concat(frames, how="vertical")


def _rows_frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    schema = dict(PLATFORM_EVENT_SCHEMA)
    schema["timestamp"] = pl.Int64()
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(_datetime("timestamp"))


def _datetime(column: str) -> pl.Expr:
    """Epoch milliseconds as the schema's UTC datetime."""
    return pl.col(column).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC").alias(column)


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()
