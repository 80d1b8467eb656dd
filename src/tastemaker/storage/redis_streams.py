"""Redis Streams event bus: one stream per partition, one consumer group, explicit acks.

Each partition (``<stream>:<p>``) is read by exactly one worker, so a user's events apply in
order. A worker first claims and re-reads entries left pending by a crashed predecessor,
then reads new ones. Entries are acknowledged only after the profiles they change are
written, and applying is idempotent, so a crash loses nothing and counts nothing twice.

An entry holds one publish's events of one partition and the publish time in epoch ms
(``t``): as an LZ4-compressed Arrow IPC stream (field ``a``, written without a Python
object per event) from `ARROW_MIN_ROWS` events on, as JSON columns (``e``) below that
(and in entries of older versions).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import polars as pl
import redis

from tastemaker.config import RedisBusConfig
from tastemaker.errors import StoreUnavailableError
from tastemaker.storage.bus import (
    ARROW_MIN_ROWS,
    Message,
    decode_columns,
    decode_frame,
    encode_events,
    encode_frame,
    split_frames,
)

MAXLEN = 1_000_000
#: Longest wait for a reply (a timeout is an outage: the worker retries with backoff).
SOCKET_TIMEOUT_S = 10.0


class RedisStreamBus:
    """Event bus on Redis Streams consumer groups.

    Args:
        cfg: the ``bus`` settings (url, stream name, group, partitions).
        owned: partitions this process consumes (default: all).
    """

    def __init__(self, cfg: RedisBusConfig, owned: Sequence[int] | None = None) -> None:
        self.cfg = cfg
        self.partitions = cfg.partitions
        self.owned = list(range(cfg.partitions)) if owned is None else list(owned)
        # a read blocks `block_ms` at most: a reply that takes far longer means Redis hangs
        self.client = redis.Redis.from_url(
            cfg.url, socket_connect_timeout=1.0, socket_timeout=SOCKET_TIMEOUT_S
        )
        self._groups_ready = False
        self._claimed = False
        self._pending_done = False

    def stream(self, partition: int) -> str:
        """Name of a partition's stream."""
        return f"{self.cfg.stream}:{partition}"

    def publish(self, events: pl.DataFrame) -> int:
        """Append events to their partitions' streams (one entry per partition)."""
        if events.height == 0:
            return 0
        parts = split_frames(events, self.partitions)
        now = str(int(time.time() * 1000))
        try:
            pipe = self.client.pipeline(transaction=False)
            for p, frame in parts.items():
                fields: dict[Any, Any] = {**_payload(frame), "t": now}
                pipe.xadd(self.stream(p), fields, maxlen=MAXLEN, approximate=True)
            pipe.execute()
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"cannot publish to redis streams: {exc}") from exc
        return len(parts)

    def ensure_groups(self) -> None:
        """Create the consumer group on every owned stream (idempotent)."""
        if self._groups_ready:
            return
        for p in self.owned:
            try:
                self.client.xgroup_create(self.stream(p), self.cfg.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups_ready = True

    def _claim(self, consumer: str) -> None:
        """Take over entries other consumers of our partitions left pending (after a crash)."""
        for p in self.owned:
            start = "0-0"
            while True:
                got: Any = self.client.xautoclaim(
                    self.stream(p), self.cfg.group, consumer, 0, start_id=start, count=1000
                )
                start = got[0].decode() if isinstance(got[0], bytes) else str(got[0])
                if start == "0-0" or not got[1]:
                    break
        self._claimed = True

    def consume(self, consumer: str, *, count: int = 100, block_ms: int = 100) -> list[Message]:
        """Deliver this consumer's pending entries first, then new ones."""
        self.ensure_groups()
        if not self._claimed:
            self._claim(consumer)
        out: list[Message] = []
        if not self._pending_done:  # entries delivered to us before a restart come first
            streams = {self.stream(p): "0" for p in self.owned}
            out = self._read(consumer, streams, count, None)
            self._pending_done = not out
        if not out:
            streams = {self.stream(p): ">" for p in self.owned}
            out = self._read(consumer, streams, count, block_ms)
        return out

    def _read(
        self, consumer: str, streams: dict[str, str], count: int, block: int | None
    ) -> list[Message]:
        keyed: Any = streams
        reply: Any = self.client.xreadgroup(
            self.cfg.group, consumer, keyed, count=count, block=block
        )
        out: list[Message] = []
        for name, entries in reply or []:
            stream = name.decode() if isinstance(name, bytes) else str(name)
            partition = int(stream.rsplit(":", 1)[1])
            for entry_id, fields in entries:
                if not fields:  # deleted by trimming
                    continue
                mid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                out.append(Message(partition, mid, _columns(fields), int(fields[b"t"])))
        return out

    def redeliver(self) -> None:
        """After a failure: check the groups again (a Redis restarted without its data has
        none), take over entries left pending, and re-read this consumer's pending entries
        on the next `consume`."""
        self._groups_ready = False
        self._claimed = False
        self._pending_done = False

    def ack(self, messages: list[Message]) -> None:
        """Acknowledge processed entries."""
        by_stream: dict[str, list[str]] = {}
        for m in messages:
            by_stream.setdefault(self.stream(m.partition), []).append(m.id)
        pipe = self.client.pipeline(transaction=False)
        for stream, ids in by_stream.items():
            pipe.xack(stream, self.cfg.group, *ids)
        pipe.execute()

    def pending(self) -> int:
        """Entries delivered but not acknowledged, over owned partitions."""
        total = 0
        for p in self.owned:
            try:
                info: Any = self.client.xpending(self.stream(p), self.cfg.group)
            except redis.ResponseError:
                continue
            total += int(info["pending"])
        return total

    def lag(self) -> int:
        """Entries not yet delivered to the group, over owned partitions."""
        total = 0
        for p in self.owned:
            try:
                groups: Any = self.client.xinfo_groups(self.stream(p))
            except redis.ResponseError:
                continue
            for g in groups:
                name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
                if name == self.cfg.group:
                    total += int(g.get("lag") or 0)
        return total

    def entries(self, partition: int, count: int = 1_000) -> Iterator[Message]:
        """Every entry still in a partition's stream, oldest first, whatever the group has
        read or acknowledged (audits: which events reached Redis)."""
        start = "-"
        while True:
            got: Any = self.client.xrange(self.stream(partition), start, "+", count=count)
            if not got:
                return
            for entry_id, fields in got:
                mid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                if fields:
                    yield Message(partition, mid, _columns(fields), int(fields[b"t"]))
            start = f"({mid}"

    def erase(self, user_ids: set[str], anonymous_ids: set[str]) -> int:
        """Delete every entry holding an event of these (pseudonymized) ids; return how many.

        An entry holds a batch of many users' events; it is deleted whole, which is safe
        once the group has acknowledged it (every event is applied, and the event log stays
        the record). Entries not acknowledged yet are left alone and counted as pending.

        Raises:
            StoreUnavailableError: Redis failed, or entries holding the ids are still to be
                processed by the workers (try again when they caught up).
        """
        deleted = waiting = 0
        try:
            for p in range(self.cfg.partitions):
                stream = self.stream(p)
                doomed = [m.id for m in self.entries(p) if _holds(m.columns, user_ids,
                                                                  anonymous_ids)]  # fmt: skip
                open_ids = self._unacknowledged(stream)
                done = [i for i in doomed if not open_ids(i)]
                waiting += len(doomed) - len(done)
                if done:
                    deleted += int(self.client.xdel(stream, *done))
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"cannot erase from redis streams: {exc}") from exc
        if waiting:
            raise StoreUnavailableError(
                f"{waiting} stream entries holding the user are not processed yet; "
                "retry when the stream workers caught up"
            )
        return deleted

    def expire_before(self, cut_ms: int, *, dry_run: bool = False) -> tuple[int, int]:
        """Delete acknowledged entries published before ``cut_ms`` or holding only events
        before it; return (deleted, kept because not acknowledged yet). ``dry_run`` counts.

        Raises:
            StoreUnavailableError: Redis failed.
        """
        deleted = waiting = 0
        try:
            for p in range(self.cfg.partitions):
                stream = self.stream(p)
                doomed = [m.id for m in self.entries(p) if _before(m, cut_ms)]
                open_ids = self._unacknowledged(stream)
                done = [i for i in doomed if not open_ids(i)]
                waiting += len(doomed) - len(done)
                if done and not dry_run:
                    deleted += int(self.client.xdel(stream, *done))
                elif done:
                    deleted += len(done)
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"cannot expire redis stream entries: {exc}") from exc
        return deleted, waiting

    def _unacknowledged(self, stream: str) -> Callable[[str], bool]:
        """A test of whether an entry id of ``stream`` is not acknowledged by the group."""
        try:
            groups: Any = self.client.xinfo_groups(stream)
        except redis.ResponseError:  # no stream or no group yet: nothing was read
            return lambda _id: True
        group = next((g for g in groups if _text(g["name"]) == self.cfg.group), None)
        if group is None:
            return lambda _id: True
        last = _entry_id(_text(group["last-delivered-id"]))
        pending: Any = self.client.xpending_range(stream, self.cfg.group, "-", "+", 1_000_000)
        open_ids = {_text(x["message_id"]) for x in pending}
        return lambda i: _entry_id(i) > last or i in open_ids

    def delete_streams(self) -> None:
        """Remove every partition stream (tests and benchmarks)."""
        self.client.delete(*[self.stream(p) for p in range(self.partitions)])

    def close(self) -> None:
        """Release connections."""
        self.client.close()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry_id(text: str) -> tuple[int, int]:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _holds(columns: dict[str, list[Any]], users: set[str], visitors: set[str]) -> bool:
    """True when a decoded entry holds an event of ``users`` or ``visitors``."""
    return bool(users.intersection(columns.get("user_id") or ())) or bool(
        visitors.intersection(columns.get("anonymous_id") or ())
    )


def _payload(frame: pl.DataFrame) -> dict[str, bytes]:
    """A partition's events as an entry field: Arrow (``a``), or JSON (``e``) when small."""
    if frame.height >= ARROW_MIN_ROWS:
        return {"a": encode_frame(frame)}
    return {"e": encode_events(frame.to_dict(as_series=False))}


def _columns(fields: dict[bytes, bytes]) -> dict[str, list[Any]]:
    """An entry's events: an Arrow IPC stream (``a``) or JSON columns (``e``)."""
    if b"a" in fields:
        return decode_frame(fields[b"a"])
    return decode_columns(fields[b"e"])


def _before(message: Message, cut_ms: int) -> bool:
    """True when an entry was published before ``cut_ms`` or holds only events before it."""
    if _entry_id(message.id)[0] < cut_ms:
        return True
    stamps = [int(x) for x in message.columns.get("timestamp") or () if x is not None]
    return bool(stamps) and max(stamps) < cut_ms
