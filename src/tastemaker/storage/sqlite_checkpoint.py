"""Checkpoints of the SQLite write-ahead log in a background thread.

In WAL mode every commit appends pages to the log, and by default the committing connection
copies the log back into the database file once it passes 1,000 pages (an automatic
checkpoint, with an fsync). The event writer turns that off for itself and asks this thread
to checkpoint after its commits instead, as SQLite's documentation suggests for busy
writers: the copy and the fsync then overlap the next batch instead of delaying it.
``PASSIVE`` checkpoints never block readers or the writer.

A writer that never pauses would keep appending behind the checkpoint, so the log would
never start over: once it holds more than `MAX_LOG_PAGES`, the writer checkpoints the rest
itself between two batches (cheap, most pages are copied already) and the log restarts.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

#: Pages in the log past which the writer catches up itself (64 MB with 4 KB pages).
MAX_LOG_PAGES = 16_384


class Checkpointer:
    """A thread that checkpoints one SQLite database's WAL when nudged.

    Args:
        path: the database file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.checkpoints = 0
        #: Pages in the log at the last checkpoint.
        self.log_pages = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def nudge(self) -> None:
        """Ask for a checkpoint soon (nudges while one runs are merged into the next)."""
        with self._lock:
            if self._stopping:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tastemaker-sqlite-checkpoint", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=30000")
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    _, self.log_pages, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # the next nudge tries again
                    log.warning("checkpoint of %s failed: %s", self.path, exc)
        finally:
            conn.close()

    def log_too_long(self) -> bool:
        """Whether the writer should checkpoint itself so that the log can start over."""
        return self.log_pages > MAX_LOG_PAGES

    def close(self) -> None:
        """Stop the thread (the last connection to close checkpoints what is left)."""
        with self._lock:
            self._stopping = True
            thread, self._thread = self._thread, None
        self._wake.set()
        if thread is not None:
            thread.join()
