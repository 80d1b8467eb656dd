"""Following the event log past a persisted watermark, in ``seq`` order, under a lease.

Derived state (profiles applied in process, the outbox to Redis Streams) is computed by a
follower of the log rather than by whichever process appended an event: after its append a
process asks its follower to reach the events it stored. The follower takes the lease of its
watermark, reads the log past it (or uses the batch it was handed when that batch comes
right after the watermark, which saves reading back what was just written), hands each chunk
to ``step``, which does the work and moves the watermark in the same transaction, and gives
the lease up. A batch is kept only while the watermark's version is the one this follower
left: a version moved elsewhere may mean events were deleted from the log since (a forget,
a retention), and a kept copy would bring them back. When another process holds the
lease, the request returns at once and a background thread of this process retries until
the watermark has passed its events (the holder may stop short of them); it does the same,
with backoff, when the work fails (the store or the bus is down). `flush` waits for that,
so a process that exits has seen its events applied. A crashed holder's lease expires after
``ttl_ms``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import polars as pl

from tastemaker.storage.base import Lease, LeaseLostError, Store

log = logging.getLogger(__name__)

#: Do the work of a chunk of events (``seq`` order) and move the watermark to its last
#: ``seq`` in the same transaction (giving the lease up when ``release``); the moved lease.
Step = Callable[[pl.DataFrame, Lease, bool], Lease]

#: Frames of this process's own appends kept for the follower (beyond, it reads the log).
_KNOWN_MAX = 32


def holder_name() -> str:
    """A lease holder id unique to this process and object (host, pid, random)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def holding(store: Store, name: str, ttl_ms: int, timeout: float = 600.0) -> Iterator[Lease]:
    """Wait for the lease of watermark ``name`` (a holder of its own), hold it for the block
    and give it up afterwards (unless the block's last write gave it up already).

    Raises:
        LeaseLostError: the lease did not come free within ``timeout`` seconds.
    """
    holder, deadline, pause = holder_name(), time.monotonic() + timeout, 0.005
    lease = store.take_lease(name, holder, ttl_ms)
    while not lease.acquired:
        if time.monotonic() >= deadline:
            raise LeaseLostError(f"the lease of '{name}' stayed with {lease.holder}")
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
        lease = store.take_lease(name, holder, ttl_ms)
    try:
        yield lease
    finally:
        store.release_lease(lease)


def wait_free(store: Store, name: str, timeout: float) -> int:
    """Wait up to ``timeout`` seconds until no process holds the lease of watermark ``name``
    (a rebuild); return the watermark's version then (the last one read after a timeout)."""
    deadline, pause = time.monotonic() + timeout, 0.005
    mark = store.watermark(name)
    while mark.holder is not None and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
        mark = store.watermark(name)
    return mark.version


def renew(store: Store, lease: Lease, ttl_ms: int) -> None:
    """Keep a held lease alive during long work.

    Raises:
        LeaseLostError: it expired and another process took it.
    """
    if not store.take_lease(lease.name, str(lease.holder), ttl_ms).acquired:
        raise LeaseLostError(f"the lease of '{lease.name}' expired and was taken over")


class LogFollower:
    """Brings one derived state up to the event log, one process at a time.

    Args:
        store: the store holding the log and the watermark.
        name: the watermark's name (``profiles``, ``published``).
        step: does the work of a chunk and moves the watermark (see `Step`).
        ttl_ms: how long a lease lasts unless renewed (every step renews it).
        chunk: most events read from the log per step.
        retry_max_s: longest pause between background retries (they start at 5 ms and
            double while another process holds the lease or the work fails).
    """

    def __init__(
        self,
        store: Store,
        name: str,
        step: Step,
        *,
        ttl_ms: int = 30_000,
        chunk: int = 10_000,
        retry_max_s: float = 1.0,
    ) -> None:
        self.store = store
        self.name = name
        self.step = step
        self.ttl_ms = ttl_ms
        self.chunk = chunk
        self.retry_max_s = retry_max_s
        self.holder = holder_name()
        #: the highest seq this process needs followed; the watermark last seen.
        self.owed = 0
        self.seen = 0
        #: the watermark's version this follower last saw or left (None: not seen yet).
        self.version: int | None = None
        #: the last failure of the work (None after a success).
        self.error: Exception | None = None
        self._known: dict[int, pl.DataFrame] = {}
        self._state = threading.Lock()  # owed, known frames, the retry thread
        self._work = threading.Lock()  # one thread of this process follows at a time
        self._retry: threading.Thread | None = None
        self._closed = False

    @property
    def retrying(self) -> bool:
        """Whether a background thread is retrying (lease held elsewhere, or failures)."""
        return self._retry is not None and self._retry.is_alive()

    def request(self, appended: pl.DataFrame | None = None) -> bool:
        """Follow the log past the events just appended (a frame with ``seq``; None or empty:
        up to the log's current end). True when done. False when another process holds the
        lease, or while a background retry is under way: that thread of this process then
        follows up to these events too.

        Raises:
            Exception: what the work raised (a background retry is started).
        """
        if appended is not None and appended.height and "seq" in appended.columns:
            until = int(appended["seq"].max())  # type: ignore[arg-type]
        else:
            until = self.store.last_seq()
        with self._state:
            self.owed = max(self.owed, until)
            if appended is not None and appended.height and "seq" in appended.columns:
                self._remember(appended)
            if self.retrying:
                return False
        try:
            with self._work:
                done = self._attempt()
        except Exception:
            self._retry_later()
            raise
        if not done:
            self._retry_later()
        return done

    def flush(self, timeout: float = 300.0, failing: float = 10.0) -> bool:
        """Wait until the watermark has passed every event this process appended; True when
        it has. Gives up after ``timeout`` seconds, or once the work has kept failing for
        ``failing`` seconds (the events wait in the log for the next follower or a rebuild).
        """
        now = time.monotonic()
        deadline, pause, failed_at = now + timeout, 0.005, None
        while self.seen < self.owed:
            try:
                with self._work:
                    self._attempt()
                failed_at = None
            except Exception:  # logged by _attempt
                failed_at = failed_at or time.monotonic()
            if self.seen >= self.owed:
                break
            now = time.monotonic()
            if now >= deadline or (failed_at is not None and now - failed_at >= failing):
                log.warning("%s: %d events not followed yet; the next process to append (or a "
                            "rebuild) follows them", self.name, self.owed - self.seen)  # fmt: skip
                return False
            time.sleep(pause)
            pause = min(pause * 2, self.retry_max_s)
        return True

    def close(self) -> None:
        """Stop retrying in the background (call `flush` first to wait for the work)."""
        self._closed = True

    # --- one attempt ------------------------------------------------------------------------
    def _attempt(self) -> bool:
        """Take the lease and follow up to ``owed``; False when another process holds it."""
        lease = self.store.take_lease(self.name, self.holder, self.ttl_ms)
        self.seen = lease.seq
        if not lease.acquired:
            return lease.seq >= self.owed
        if lease.version != self.version:  # moved elsewhere: kept batches may hold deleted events
            with self._state:
                self._known.clear()
            self.version = lease.version
        try:
            lease = self._follow(lease)
        except LeaseLostError as exc:  # another process took over: it goes on from there
            log.warning("%s: %s", self.name, exc)
            return False
        except Exception as exc:
            if self.error is None:  # state changes are logged, not every retry
                log.warning("%s: following the event log failed, retrying: %s", self.name, exc)
            self.error = exc
            self._release(lease)
            raise
        if self.error is not None:
            log.warning("%s: following the event log works again", self.name)
        self.error = None
        self._release(lease)
        return True

    def _follow(self, lease: Lease) -> Lease:
        while lease.seq < self.owed:
            with self._state:
                frame = self._known.pop(lease.seq + 1, None)
            if frame is None:
                frame = self.store.events(after_seq=lease.seq, limit=self.chunk)
                if frame.height == 0:
                    self.owed = lease.seq  # the events owed were deleted meanwhile
                    break
            last = int(frame["seq"].max())  # type: ignore[arg-type]
            lease = self.step(frame, lease, last >= self.owed)
            self.seen, self.version = lease.seq, lease.version
            with self._state:
                for first in [f for f in self._known if f <= lease.seq]:
                    del self._known[first]
        return lease

    def _release(self, lease: Lease) -> None:
        if lease.acquired:
            self.store.release_lease(lease)

    def _remember(self, appended: pl.DataFrame) -> None:
        """Keep a batch this process appended whose seqs are one run (the common case),
        keyed by its first seq, so the follower need not read it back from the log."""
        seqs = appended["seq"]
        first, last = int(seqs.min()), int(seqs.max())  # type: ignore[arg-type]
        if last - first + 1 != appended.height:
            return
        if len(self._known) >= _KNOWN_MAX:
            self._known.pop(min(self._known))
        self._known[first] = appended if seqs.is_sorted() else appended.sort("seq")

    # --- retrying in the background ----------------------------------------------------------
    def _retry_later(self) -> None:
        with self._state:
            if self.retrying or self._closed:
                return
            self._retry = threading.Thread(
                target=self._retry_loop, name=f"tastemaker-follow-{self.name}", daemon=True
            )
            self._retry.start()

    def _retry_loop(self) -> None:
        pause = 0.005
        while not self._closed:
            time.sleep(pause)
            try:
                with self._work:
                    self._attempt()
            except Exception:  # the store or the bus is down (logged): the events wait
                pass
            with self._state:
                if self.seen >= self.owed:
                    self._retry = None
                    return
            pause = min(pause * 2, self.retry_max_s)
