"""Group commit: concurrent API batches of events validated and stored together.

Each request thread queues its batch. If no batch is being stored, the thread leads: it
takes the queued batches (its own among them, oldest first, up to a row limit, all of one
shape) and stores them with one validation and one transaction, then answers every one.
Threads that arrive meanwhile wait and are answered by the next leader. Under load, the
fixed costs of a batch (query plans, a transaction, a stream publish) are paid once per
group instead of once per request; a lone request is stored at once, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from tastemaker.schema import IngestSummary

#: Stores batches of one shape together and answers each (`Ingestor.ingest_event_batches`).
StoreBatches = Callable[[list[pl.DataFrame], str], list[IngestSummary]]


@dataclass
class _Job:
    frame: pl.DataFrame
    source: str
    done: bool = False
    summary: IngestSummary | None = None
    error: Exception | None = None
    shape: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.shape = (self.source, *self.frame.columns)

    def answer(self) -> IngestSummary:
        if self.error is not None:
            raise self.error
        assert self.summary is not None
        return self.summary


class GroupCommit:
    """Queue batches from many threads; store the queued ones together.

    Args:
        store_batches: stores a list of batches of one shape, returning one summary each.
        max_rows: most rows stored together (a batch larger than this goes alone).
    """

    def __init__(self, store_batches: StoreBatches, max_rows: int = 8_000) -> None:
        self._store_batches = store_batches
        self.max_rows = max_rows
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._leading = False

    def submit(self, frame: pl.DataFrame, source: str) -> IngestSummary:
        """Store one batch (possibly together with others); return its own summary.

        Raises:
            Exception: whatever storing the group raised (every batch of it gets the error).
        """
        job = _Job(frame, source)
        with self._cond:
            self._queue.append(job)
            while self._leading and not job.done:
                self._cond.wait()
            if job.done:
                return job.answer()
            self._leading = True
        try:
            while not job.done:
                with self._cond:
                    group = self._take()
                self._run(group)
                with self._cond:
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._leading = False
                self._cond.notify_all()
        return job.answer()

    def _take(self) -> list[_Job]:
        """The oldest queued batch and the ones after it of the same shape, up to ``max_rows``."""
        first = self._queue[0]
        end, rows = 1, first.frame.height
        for job in self._queue[1:]:
            if job.shape != first.shape or rows + job.frame.height > self.max_rows:
                break
            end, rows = end + 1, rows + job.frame.height
        group, self._queue = self._queue[:end], self._queue[end:]
        return group

    def _run(self, group: list[_Job]) -> None:
        try:
            summaries = self._store_batches([j.frame for j in group], group[0].source)
        except Exception as exc:  # every request of the group gets the failure
            for job in group:
                job.error, job.done = exc, True
            return
        for job, summary in zip(group, summaries, strict=True):
            job.summary, job.done = summary, True
