"""Who opted out of personalization, as one process knows it: :class:`ConsentView`.

The store keeps the record (``users.consent`` False: opted out). Each process keeps the set
of opted-out users in memory and re-reads it every ``privacy.consent_refresh_seconds``
(lazily on a look-up, and from a background thread while listeners are registered, so a
cached list of a user who opted out is dropped even when nobody asks about them), so every
server process and stream worker sees a change within that time; the process that changed
it calls `refresh` at once.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable

from tastemaker.profiles.update import BatchResult, Columns
from tastemaker.storage.base import Store

log = logging.getLogger(__name__)
#: Called with the keys whose consent changed (opted out or back in).
ConsentListener = Callable[[set[str]], None]
#: Store meta key of the last retention cut (epoch ms): events before it build no profile.
RETENTION_CUT_KEY = "privacy.retention_cut_ms"


class ConsentView:
    """The set of opted-out (pseudonymized) user ids, re-read every ``refresh_seconds``.

    Args:
        store: the store holding ``users.consent``.
        refresh_seconds: how old the set may get.
    """

    def __init__(self, store: Store, refresh_seconds: float) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self._opted: frozenset[str] = frozenset()
        #: the last retention cut (epoch ms, 0: none): a stream worker may still deliver
        #: events retention deleted from the log; they must not build profiles either.
        self.cut_ms = 0
        self._read_at = -float("inf")
        self._lock = threading.Lock()
        self._listeners: list[ConsentListener] = []
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def opted_out(self, user_key: str | None) -> bool:
        """Whether the user (or ``anon:<id>`` of a linked visitor) opted out."""
        if user_key is None:
            return False
        return user_key in self.current()

    def current(self) -> frozenset[str]:
        """The opted-out ids, re-read first when older than ``refresh_seconds`` (when the
        background thread re-reads them, a request waits for a read only if it fell far
        behind)."""
        age = time.monotonic() - self._read_at
        if age >= self.refresh_seconds * (1 if self._thread is None else 3):
            self.refresh()
        return self._opted

    def refresh(self) -> set[str]:
        """Re-read the set now; tell listeners which ids changed; return them.

        A store that cannot be read keeps the last set (logged; retried on the next look).
        """
        with self._lock:
            try:
                fresh = frozenset(self.store.opted_out_users())
                self.cut_ms = int(self.store.get_meta(RETENTION_CUT_KEY) or 0)
            except NotImplementedError:
                fresh = frozenset()
            except Exception:
                log.exception("cannot re-read opted-out users; keeping the last set")
                self._read_at = time.monotonic()
                return set()
            changed = set(fresh.symmetric_difference(self._opted))
            self._opted, self._read_at = fresh, time.monotonic()
            listeners = list(self._listeners)
        if changed:
            for listener in listeners:
                listener(changed)
        return changed

    def add_listener(self, listener: ConsentListener) -> None:
        """Call ``listener`` with changed ids after each re-read that found a change; starts
        the background re-read."""
        with self._lock:
            self._listeners.append(listener)
            if self._thread is None:
                ref = weakref.ref(self)
                self._thread = threading.Thread(target=_refresh_loop, args=(ref,), daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Stop the background re-read (the store is about to close)."""
        self._closed.set()

    def remove_listener(self, listener: ConsentListener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)


def _refresh_loop(ref: weakref.ReferenceType[ConsentView]) -> None:
    """Re-read a view every ``refresh_seconds`` while it lives."""
    while True:
        view = ref()
        if view is None or view._closed.is_set():
            return
        interval, closed = view.refresh_seconds, view._closed
        if time.monotonic() - view._read_at >= interval:
            view.refresh()
        del view
        if closed.wait(interval):
            return


def drop_opted_out(
    result: BatchResult, opted: frozenset[str], newly: frozenset[str] = frozenset()
) -> BatchResult:
    """``result`` with the profiles of opted-out users deleted instead of written: their
    events build no profile (identity links are still recorded, so a later forget finds
    every visitor id of the user). ``newly`` (opted out since the last batch) are deleted
    too: a profile another process wrote before it saw the opt-out goes."""
    for key in [k for k in result.touched if k in opted]:
        del result.touched[key]
        result.deleted.append(key)
    result.deleted.extend(sorted(newly.difference(result.deleted)))
    return result


def drop_before(cols: Columns, cut_ms: int) -> Columns:
    """Events (as columns) at or after ``cut_ms``: older ones were deleted by retention."""
    stamps = cols.get("timestamp") or []
    if not cut_ms or not stamps or min(stamps) >= cut_ms:
        return cols
    keep = [i for i, ts in enumerate(stamps) if ts >= cut_ms]
    return {name: [values[i] for i in keep] for name, values in cols.items()}
