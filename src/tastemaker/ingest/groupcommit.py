"""Group commit: concurrent API batches of events validated and stored together.

Requests queue their batches; one writer thread takes the queued batches (oldest first, up
to a row limit, all of one shape), stores them with one validation and one transaction,
and answers every one. Batches that arrive while a group is stored wait for the next
group. Under load, the fixed costs of a batch (query plans, a transaction, a stream
publish) are paid once per group instead of once per request; a lone request is stored at
once, as before.

An API request awaits its answer on the event loop (`GroupCommit.submit_async`): it holds
no thread while it waits, and a group wakes the loop once per answered request instead of
waking every waiting thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import polars as pl

from tastemaker.schema import IngestSummary
from tastemaker.storage.outage import is_outage

log = logging.getLogger(__name__)

#: Stores batches of one shape together and answers each (`Ingestor.ingest_event_batches`).
StoreBatches = Callable[[list[pl.DataFrame], str], list[IngestSummary]]


@dataclass
class _Job:
    frame: pl.DataFrame
    source: str
    #: Called (in the writer thread) once the job is answered.
    notify: Callable[[], object]
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
    """Queue batches from many requests; one writer thread stores the queued ones together.

    Args:
        store_batches: stores a list of batches of one shape, returning one summary each.
        max_rows: most rows stored together (a batch larger than this goes alone).
        idle_seconds: the writer thread ends after this long without work (the next batch
            starts a new one), so an idle workspace holds no thread.
    """

    def __init__(
        self, store_batches: StoreBatches, max_rows: int = 8_000, idle_seconds: float = 5.0
    ) -> None:
        self._store_batches = store_batches
        self.max_rows = max_rows
        self.idle_seconds = idle_seconds
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._writer: threading.Thread | None = None

    def submit(self, frame: pl.DataFrame, source: str) -> IngestSummary:
        """Store one batch (possibly together with others); block until it is answered.

        Raises:
            Exception: whatever storing this batch raised (alone, or with its group when
                the store is unreachable).
        """
        done = threading.Event()
        job = _Job(frame, source, done.set)
        self._enqueue(job)
        done.wait()
        return job.answer()

    async def submit_async(self, frame: pl.DataFrame, source: str) -> IngestSummary:
        """`submit` for a coroutine: the event loop keeps serving while the batch is stored.

        A request cancelled while waiting (client gone) is still stored.

        Raises:
            Exception: whatever storing this batch raised (see `submit`).
        """
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[None] = loop.create_future()
        job = _Job(frame, source, partial(loop.call_soon_threadsafe, _resolve, answered))
        self._enqueue(job)
        await answered
        return job.answer()

    def _enqueue(self, job: _Job) -> None:
        with self._cond:
            self._queue.append(job)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write, name="tastemaker-group-commit", daemon=True
                )
                self._writer.start()
            else:
                self._cond.notify()

    def _write(self) -> None:
        """The writer thread: store groups while batches are queued; end when idle."""
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(self.idle_seconds)
                if not self._queue:  # idle: the next batch starts a new writer
                    self._writer = None
                    return
                group = self._take()
            self._run(group)
            for job in group:
                try:
                    job.notify()
                except Exception:  # e.g. the waiting event loop was closed
                    log.exception("group commit: could not deliver an answer")

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
        """Store a group; if it fails, store each batch alone, so that a batch the store
        refuses fails only its own request. An outage fails them all at once (alone they
        would only wait for the same unreachable store)."""
        try:
            summaries = self._store_batches([j.frame for j in group], group[0].source)
            for job, summary in zip(group, summaries, strict=True):
                job.summary = summary
        except Exception as exc:
            if len(group) == 1 or is_outage(exc):
                for job in group:
                    job.error = exc
                return
            log.warning("a group of %d batches failed (%r); storing each alone", len(group), exc)
            for job in group:
                self._run([job])


def _resolve(answered: asyncio.Future[None]) -> None:
    if not answered.done():  # not cancelled meanwhile
        answered.set_result(None)
