"""The SQLite event writer: ADBC (Arrow straight into the log) in a child process.

Why a process of its own: the ADBC driver links its own copy of SQLite, and two copies of
SQLite in one process cannot see each other's POSIX locks. Closing one copy's last
connection then deleted the WAL under the other copy's open connections (their next
commits were lost), and one copy could restart the WAL under the other's readers ("Multiple
copies of SQLite linked into the same application", in SQLite's "How To Corrupt An SQLite
Database File"). Across processes the locks work as SQLite intends, so the ingesting
process keeps Python's ``sqlite3`` for everything else and sends batches here as Arrow IPC.
The insert also runs on another core, outside the ingesting process's GIL.

A batch goes straight into the log; if the unique index on ``event_id`` refuses it (some
events were stored before), the transaction is rolled back and the batch goes into a
temporary table, from which one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` moves the
new rows. The answer is the ids stored and their ``seq``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tastemaker.errors import StoreUnavailableError

if TYPE_CHECKING:
    import polars as pl

# The writer process runs this file as a script and imports only pyarrow and the ADBC
# driver (start-up ~0.3 s); the ingesting side imports polars where it uses it.
_MOVE = (
    "INSERT INTO events ({c}) SELECT {c} FROM _incoming_events WHERE true"
    " ON CONFLICT(event_id) DO NOTHING RETURNING event_id, seq"
)
_UNIQUE_EVENT_ID = "UNIQUE constraint failed: events.event_id"
_INSERT, _CHECKPOINT, _OK, _FAILED = b"I", b"C", b"\x00", b"\x01"


def _ipc(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_ipc_stream(out)
    return out.getvalue()


def _send(stream: IO[bytes], *parts: bytes) -> None:
    """One frame: its length, then the parts (not joined: a batch is megabytes)."""
    stream.write(struct.pack("<Q", sum(len(p) for p in parts)))
    for part in parts:
        stream.write(part)
    stream.flush()


def _widen(stream: IO[bytes]) -> None:
    """A 1 MiB pipe buffer (Linux) instead of 64 KiB: fewer switches per batch."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        import fcntl

        fcntl.fcntl(stream.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ


def _receive(stream: IO[bytes]) -> bytes | None:
    """One frame, or None at end of stream."""
    head = stream.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("<Q", head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def serve(path: str, pragmas: list[str], source: IO[bytes], sink: IO[bytes]) -> None:
    """The writer process: store each batch received, answer with the ids stored (and seq)."""
    import adbc_driver_sqlite.dbapi as adbc_sqlite
    import pyarrow as pa

    # Autocommit, so that pragmas apply; each append is one explicit transaction.
    db = adbc_sqlite.connect(path, autocommit=True)
    cur = db.cursor()
    for pragma in pragmas:
        cur.execute(pragma)
    cur.close()
    try:
        while (message := _receive(source)) is not None and message:
            try:
                table = pa.ipc.open_stream(message[1:]).read_all()
                batch = _store(db, table, checkpoint=message[:1] == _CHECKPOINT)
                sink_buffer = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink_buffer, batch.schema) as writer:
                    writer.write_table(batch)
                _send(sink, _OK, sink_buffer.getvalue().to_pybytes())
            except Exception as exc:  # answered, never fatal: the next batch may succeed
                _send(sink, _FAILED, f"{type(exc).__name__}: {exc}".encode())
    finally:
        db.close()


def _store(db: Any, table: Any, checkpoint: bool) -> Any:
    """Append ``table`` in one transaction; the ids stored and their seq (an Arrow table)."""
    import pyarrow as pa

    def run(work: Any) -> Any:
        cur = db.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            result = work(cur)
            cur.execute("COMMIT")
            if checkpoint:
                cur.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the next batch restarts the log
            return result
        except Exception:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()

    def append(cur: Any) -> Any:
        cur.adbc_ingest("events", table, mode="append")
        # One writer at a time (BEGIN IMMEDIATE): the rows took the seqs after the last one.
        cur.execute("SELECT max(seq) FROM events")
        last = int(cur.fetchone()[0])
        seqs = pa.array(range(last - table.num_rows + 1, last + 1), pa.int64())
        return pa.table({"event_id": table.column("event_id"), "seq": seqs})

    try:
        # New events are the common case: straight into the log, no staging copy.
        return run(append)
    except Exception as exc:  # the driver reports constraint failures as InternalError
        if _UNIQUE_EVENT_ID not in str(exc):
            raise

    def move(cur: Any) -> Any:
        cur.adbc_ingest("_incoming_events", table, mode="create_append", temporary=True)
        cur.execute(_MOVE.format(c=", ".join(table.column_names)))
        inserted = cur.fetch_arrow_table()
        cur.execute("DELETE FROM _incoming_events")
        return inserted

    return run(move)


class EventWriter:
    """Sends event batches to the writer process (this file run as a script, started on the
    first batch or by :meth:`start`; it exits when this side closes or goes away).

    Args:
        path: the SQLite file.
        pragmas: run on the writer's connection when it opens.
    """

    def __init__(self, path: Path, pragmas: tuple[str, ...]) -> None:
        self.path = Path(path)
        self.pragmas = pragmas
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def insert(self, rows: pl.DataFrame, checkpoint: bool = False) -> pl.DataFrame:
        """Store ``rows`` (columns ``EVENT_WRITE_COLUMNS``) skipping stored ids; the new ids
        (``event_id``) with their ``seq``.

        ``checkpoint``: run a passive WAL checkpoint right after the commit.

        Raises:
            StoreUnavailableError: the batch could not be stored (the reason is given).
        """
        with self._lock:
            proc = self._process()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _send(proc.stdin, _CHECKPOINT if checkpoint else _INSERT, _ipc(rows))
                answer = _receive(proc.stdout)
            except OSError as exc:
                self._stop()
                raise StoreUnavailableError(
                    f"the SQLite event writer of {self.path} stopped: {exc}"
                ) from exc
            if answer is None:
                self._stop()
                raise StoreUnavailableError(f"the SQLite event writer of {self.path} stopped")
        if answer[:1] != _OK:
            reason = answer[1:].decode(errors="replace")
            raise StoreUnavailableError(f"could not store events in {self.path}: {reason}")
        import polars as pl

        stored = pl.read_ipc_stream(io.BytesIO(answer[1:]))
        return stored.select(pl.col("event_id").cast(pl.String), pl.col("seq").cast(pl.Int64))

    def start(self) -> None:
        """Start the writer process now (it imports while the caller goes on)."""
        with self._lock:
            self._process()

    def _process(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._stop()
            args = [str(self.path), json.dumps(list(self.pragmas))]
            self._proc = subprocess.Popen(
                [sys.executable, __file__, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    _widen(stream)
        return self._proc

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert proc.stdin is not None
            _send(proc.stdin, b"")  # asks the writer to close its connection and exit
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def close(self) -> None:
        """Let the writer finish and exit."""
        with self._lock:
            self._stop()


if __name__ == "__main__":
    # Frames go to the original stdout; anything a library prints goes to stderr instead.
    frames = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.argv[1], json.loads(sys.argv[2]), sys.stdin.buffer, frames)
