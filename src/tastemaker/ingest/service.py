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
from tastemaker.ingest.catalog import validate_items, validate_users
from tastemaker.ingest.groupcommit import GroupCommit
from tastemaker.ingest.pseudonymize import Pseudonymizer
from tastemaker.ingest.validate import ROW, Checked, validate_events
from tastemaker.schema import IngestSummary, Rejection
from tastemaker.storage.base import AppendResult, DeadLetter, Store

#: Called with the events that were newly stored (pseudonymized; timestamp in epoch ms).
EventListener = Callable[[pl.DataFrame], None]

_ID_FIELDS = ("user_id", "anonymous_id")


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
        #: Concurrent API batches of events are stored together (`ingest_event_batches`).
        self.group_commit = GroupCommit(self.ingest_event_batches)

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
        return self._store(prepared, source)

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
            summaries.append(summary)
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

    # --- the two halves of a batch ----------------------------------------------------------
    def _prepare(
        self, kind: str, frame: pl.DataFrame, first_row: int, ids_pseudonymized: bool
    ) -> _Prepared:
        """Validate; replace raw user ids by pseudonyms in valid and refused rows."""
        validator = {"event": validate_events, "item": validate_items, "user": validate_users}
        if kind not in validator:
            raise ValueError(f"unknown kind '{kind}' (expected event, item or user)")
        checked = validator[kind](frame, self.settings.ingest, first_row=first_row)
        if kind != "item" and not ids_pseudonymized:
            names = _ID_FIELDS if kind == "event" else ("user_id",)
            checked = Checked(
                valid=self.pseudonymizer.columns(checked.valid, names),
                rejected=self.pseudonymizer.columns(checked.rejected, _ID_FIELDS),
            )
        return _Prepared(kind, checked, frame.height)

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
        rejected = checked.rejected
        if rejected.height == 0:
            return IngestSummary()
        letters: list[DeadLetter] = []
        rejections: list[Rejection] = []
        for row in rejected.iter_rows(named=True):
            payload = {k: v for k, v in row.items() if not k.startswith("_")}
            event_id = _as_str(
                payload.get("event_id") if kind == "event" else payload.get(f"{kind}_id")
            )
            letters.append(
                DeadLetter(
                    kind=kind,
                    source=source,
                    row_index=int(row[ROW]),
                    field=row["_field"],
                    reason=row["_reason"],
                    payload=orjson.dumps(payload, default=str).decode(),
                    event_id=event_id,
                )
            )
            rejections.append(
                Rejection(
                    index=int(row[ROW]),
                    field=row["_field"],
                    reason=row["_reason"],
                    event_id=event_id,
                )
            )
        self.store.add_dead_letters(letters)
        by_reason = Counter(f"{r.field}: {_reason_kind(r.reason)}" for r in rejections)
        return IngestSummary(
            rejected=len(rejections), rejections=rejections, rejected_by_reason=dict(by_reason)
        )


def _as_str(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value)


def _reason_kind(reason: str) -> str:
    """Group messages by their rule, dropping the offending value."""
    if "' = '" in reason:
        head, _, tail = reason.partition("' = '")
        _, _, rest = tail.partition("' ")
        return f"{head}' {rest}".split("(")[0].strip()
    return reason.split("(")[0].strip()
