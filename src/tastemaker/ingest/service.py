"""The ingestion service: validate, pseudonymize, dedupe, store, dead-letter, notify listeners."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

import numpy as np
import orjson
import polars as pl

from tastemaker.config import Settings
from tastemaker.ingest import limits
from tastemaker.ingest.catalog import attribute_columns, validate_items, validate_users
from tastemaker.ingest.groupcommit import GroupCommit
from tastemaker.ingest.pseudonymize import Pseudonymizer
from tastemaker.ingest.validate import ROW, Checked, validate_events
from tastemaker.schema import ITEM_CORE_COLUMNS, USER_CORE_COLUMNS, IngestSummary, Rejection
from tastemaker.storage.base import AppendResult, DeadLetter, Store

#: Called with the events that were newly stored (pseudonymized; timestamp in epoch ms).
EventListener = Callable[[pl.DataFrame], None]

_ID_FIELDS = ("user_id", "anonymous_id")
_CORE = {"item": ITEM_CORE_COLUMNS, "user": USER_CORE_COLUMNS}
_TABLE = {"item": "items", "user": "users"}


class BatchOptions(TypedDict, total=False):
    """Options of one batch: ``first_row`` numbers the first row in messages (1 for data rows
    of a file); ``ids_pseudonymized`` says user ids are pseudonyms already (replays)."""

    first_row: int
    ids_pseudonymized: bool


@dataclass(frozen=True)
class _Prepared:
    """A validated batch with pseudonymized ids, ready to be stored."""

    kind: str
    checked: Checked
    received: int


class Ingestor:
    """Accepts events, items and users from files or the API, one row at a time semantics.

    Valid rows are stored (events idempotently by ``event_id``); each refused row is
    answered with its index, field and reason and kept in the dead-letter table.
    """

    def __init__(self, settings: Settings, store: Store, pseudonymizer: Pseudonymizer) -> None:
        self.settings = settings
        self.store = store
        self.pseudonymizer = pseudonymizer
        self.listeners: list[EventListener] = []
        #: Called with (kind, source, summary) of every batch stored (metrics).
        self.observers: list[Callable[[str, str, IngestSummary], None]] = []
        #: Concurrent API batches of events are stored together (`ingest_event_batches`).
        self.group_commit = GroupCommit(self.ingest_event_batches)
        #: Attribute names stored items / users hold (re-read when a batch brings new ones).
        self._names: dict[str, frozenset[str]] = {}

    def add_listener(self, listener: EventListener) -> None:
        """Register a callable that receives every batch of newly stored events."""
        self.listeners.append(listener)

    # --- batches and streams of chunks --------------------------------------------------
    def ingest(
        self,
        kind: str,
        frame: pl.DataFrame,
        source: str,
        *,
        first_row: int = 0,
        ids_pseudonymized: bool = False,
    ) -> IngestSummary:
        """Validate and store one batch of ``kind`` (events, items or users)."""
        prepared = self._prepare(kind, frame, first_row, ids_pseudonymized)
        return self._observed(kind, source, self._store(prepared, source))

    def _observed(self, kind: str, source: str, summary: IngestSummary) -> IngestSummary:
        for observe in self.observers:
            observe(kind, source, summary)
        return summary

    def ingest_chunks(
        self, kind: str, chunks: Iterable[tuple[pl.DataFrame, int]], source: str
    ) -> Iterator[IngestSummary]:
        """Ingest ``(frame, first_row)`` chunks in order, validating one while the last is stored.

        The store (and listeners and dead letters) run in one writer thread, chunk after
        chunk, so results and side effects are those of calling `ingest` on each chunk in
        turn; the database works while the next chunk is validated and pseudonymized.

        Yields:
            One summary per chunk, in order.
        """
        if kind == "events":
            self.store.prepare_writes()  # starts while the first chunk is read and validated
        with ThreadPoolExecutor(1, thread_name_prefix="tastemaker-store") as writer:
            pending: Future[IngestSummary] | None = None
            for frame, first_row in chunks:
                prepared = self._prepare(kind, frame, first_row, False)
                if pending is not None:
                    yield pending.result()
                pending = writer.submit(self._store, prepared, source)
            if pending is not None:
                yield pending.result()

    def ingest_events(
        self, frame: pl.DataFrame, source: str, **options: Unpack[BatchOptions]
    ) -> IngestSummary:
        """Validate and store a batch of raw events.

        Args:
            frame: raw events (columns of `tastemaker.schema.EVENT_COLUMNS`).
            source: where they came from (file name or ``api``), kept with dead letters.
            **options: `BatchOptions` (number of the first row, ids already pseudonymized).

        Returns:
            Counts of accepted, duplicate and refused events, with the reasons.
        """
        return self.ingest("event", frame, source, **options)

    def ingest_event_batches(self, frames: list[pl.DataFrame], source: str) -> list[IngestSummary]:
        """Validate and store several batches of events (of the same columns) as one.

        Each batch is answered as if it had been ingested alone after the ones before it:
        refusals carry its own row numbers (from 0), and an event_id repeated in a later
        batch of the group is that batch's duplicate.

        Returns:
            One summary per batch, in order.
        """
        if len(frames) == 1:
            return [self.ingest("event", frames[0], source)]
        prepared = self._prepare("event", pl.concat(frames, how="vertical"), 0, False)
        new, _ = self._store_events(prepared.checked.valid)
        starts = np.cumsum([0, *[f.height for f in frames]])
        valid_per = np.diff(np.searchsorted(prepared.checked.valid[ROW].to_numpy(), starts))
        new_per = np.diff(np.searchsorted(np.sort(new[ROW].to_numpy()), starts))
        rejected = prepared.checked.rejected
        summaries = []
        for k, frame in enumerate(frames):
            own = rejected
            if rejected.height:
                lo, hi = int(starts[k]), int(starts[k + 1])
                own = rejected.filter(pl.col(ROW).is_between(lo, hi - 1))
                own = own.with_columns(pl.col(ROW) - lo)
            summary = self._dead_letter(Checked(prepared.checked.valid, own), "event", source)
            summary.received, summary.accepted = frame.height, int(new_per[k])
            summary.duplicates = int(valid_per[k] - new_per[k])
            summaries.append(self._observed("event", source, summary))
        return summaries

    def ingest_items(
        self, frame: pl.DataFrame, source: str, *, first_row: int = 0
    ) -> IngestSummary:
        """Validate and upsert catalog items."""
        return self.ingest("item", frame, source, first_row=first_row)

    def ingest_users(
        self, frame: pl.DataFrame, source: str, **options: Unpack[BatchOptions]
    ) -> IngestSummary:
        """Validate, pseudonymize and upsert users."""
        return self.ingest("user", frame, source, **options)

    def patch(
        self, kind: str, frame: pl.DataFrame, present: list[frozenset[str]], source: str
    ) -> IngestSummary:
        """Merge items or users into the stored rows (``PATCH``).

        Each row is validated as for an upsert; then only the fields it gave change (an
        explicit null clears one, an attribute too), absent fields keep their stored
        values, and an id not stored yet is created.

        Args:
            kind: ``item`` or ``user``.
            frame: the rows (an API body's all-text frame).
            present: the keys each row gave, in row order.
            source: where they came from, kept with dead letters.
        """
        prepared = self._prepare(kind, frame, 0, False)
        valid = prepared.checked.valid
        key = f"{kind}_id"
        patches = []
        for row in valid.iter_rows(named=True):
            given = present[row[ROW]]
            attributes = orjson.loads(row["attributes"])
            patch: dict[str, Any] = {key: row[key]}
            for name in given - {key}:
                if name in _CORE[kind]:
                    patch[name] = row[name]
                else:  # absent from the packed attributes when null: cleared
                    patch.setdefault("attributes", {})[name] = attributes.get(name)
            patches.append(patch)
        accepted = self.store.patch_rows(_TABLE[kind], patches)
        self._remember_names(kind, prepared.checked.attribute_names)
        summary = self._dead_letter(prepared.checked, kind, source)
        summary.received, summary.accepted = prepared.received, accepted
        return self._observed(kind, source, summary)

    # --- the two halves of a batch ----------------------------------------------------------
    def _prepare(
        self, kind: str, frame: pl.DataFrame, first_row: int, ids_pseudonymized: bool
    ) -> _Prepared:
        """Validate; replace raw user ids by pseudonyms in valid and refused rows."""
        cfg = self.settings.ingest
        if kind == "event":
            checked = validate_events(frame, cfg, first_row=first_row)
        elif kind in _CORE:
            validate = validate_items if kind == "item" else validate_users
            known = self._known_names(kind, frame)
            checked = validate(frame, cfg, first_row=first_row, known_names=known)
        else:
            raise ValueError(f"unknown kind '{kind}' (expected event, item or user)")
        if kind != "item" and not ids_pseudonymized:
            names = _ID_FIELDS if kind == "event" else ("user_id",)
            checked = Checked(
                valid=self.pseudonymizer.columns(checked.valid, names),
                rejected=self.pseudonymizer.columns(checked.rejected, _ID_FIELDS),
                attribute_names=checked.attribute_names,
            )
        return _Prepared(kind, checked, frame.height)

    def _known_names(self, kind: str, frame: pl.DataFrame) -> frozenset[str]:
        """Attribute names the stored items / users hold, re-read from the store only when
        ``frame`` brings a name this process has not seen stored."""
        known = self._names.get(kind)
        names = attribute_columns(frame.columns, _CORE[kind])
        if known is None or not known.issuperset(names):
            known = frozenset(self.store.attribute_names(_TABLE[kind]))
            self._names[kind] = known
        return known

    def _remember_names(self, kind: str, names: frozenset[str]) -> None:
        if names:
            self._names[kind] = self._names.get(kind, frozenset()) | names

    def _store(self, prepared: _Prepared, source: str) -> IngestSummary:
        """Store valid rows, notify listeners, keep refused rows as dead letters."""
        valid = prepared.checked.valid
        duplicates = 0
        if prepared.kind == "event":
            _, result = self._store_events(valid)
            accepted, duplicates = result.inserted, result.duplicates
        elif prepared.kind == "item":
            accepted = self.store.upsert_items(valid.drop(ROW))
        else:
            accepted = self.store.upsert_users(valid.drop(ROW))
        self._remember_names(prepared.kind, prepared.checked.attribute_names)
        summary = self._dead_letter(prepared.checked, prepared.kind, source)
        summary.received, summary.accepted = prepared.received, accepted
        summary.duplicates = duplicates
        return summary

    def _store_events(self, valid: pl.DataFrame) -> tuple[pl.DataFrame, AppendResult]:
        """Append events; notify listeners of the new ones (returned).

        Listeners get the new events with their ``seq``, in log order, after every append of
        valid rows, even when all were stored before: a follower of the log (profiles, the
        outbox) then also catches up on what an earlier failure left behind.
        """
        stored = valid.drop(ROW)
        result = self.store.append_events(stored)
        new = valid
        seqs = result.inserted_seqs
        if result.duplicates:
            new = valid.filter(pl.col("event_id").is_in(result.inserted_ids.implode())).unique(
                "event_id", keep="first", maintain_order=True
            )
            order = pl.DataFrame({"event_id": result.inserted_ids, "seq": seqs})
            new = new.join(order, on="event_id", how="left").sort("seq")
            seqs = new["seq"]
            stored = new.drop(ROW, "seq")
        if self.listeners and valid.height:
            appended = stored.with_columns(seqs.alias("seq"))
            for listener in self.listeners:
                listener(appended)
        return new, result

    # --- refusals -------------------------------------------------------------------------
    def _dead_letter(self, checked: Checked, kind: str, source: str) -> IngestSummary:
        """Keep refused rows (bounded: an excerpt past ``dead_letter_excerpt_bytes``) and
        answer each with its row, field and reason."""
        rejected = checked.rejected
        if rejected.height == 0:
            return IngestSummary()
        size = self.settings.ingest.dead_letter_excerpt_bytes
        letters: list[DeadLetter] = []
        rejections: list[Rejection] = []
        for row in rejected.iter_rows(named=True):
            payload = {k: v for k, v in row.items() if not k.startswith("_")}
            if row.get("_dropped") is not None:
                payload[limits.DROPPED_KEY] = row["_dropped"]
            key = payload.get("event_id") if kind == "event" else payload.get(f"{kind}_id")
            event_id = _as_str(key)
            field = limits.clip(row["_field"], limits.LABEL_CHARS)
            reason = limits.clip(row["_reason"], limits.LABEL_CHARS)
            letters.append(
                DeadLetter(
                    kind=kind,
                    source=source,
                    row_index=int(row[ROW]),
                    field=field,
                    reason=reason,
                    payload=limits.bounded_payload(payload, size),
                    event_id=event_id,
                )
            )
            rejections.append(
                Rejection(index=int(row[ROW]), field=field, reason=reason, event_id=event_id)
            )
        self.store.add_dead_letters(letters)
        by_reason = Counter(f"{r.field}: {_reason_kind(r.reason)}" for r in rejections)
        return IngestSummary(
            rejected=len(rejections), rejections=rejections, rejected_by_reason=dict(by_reason)
        )


def _as_str(value: Any) -> str | None:
    """An id as a refusal names it: None when blank, else cut to `limits.LABEL_CHARS`."""
    text = "" if value is None else str(value)
    return limits.clip(text, limits.LABEL_CHARS) if text.strip() else None


def _reason_kind(reason: str) -> str:
    """Group messages by their rule, dropping the offending value."""
    if "' = '" in reason:
        head, _, tail = reason.partition("' = '")
        _, _, rest = tail.partition("' ")
        return f"{head}' {rest}".split("(")[0].strip()
    return reason.split("(")[0].strip()
