"""Counting what became of the events of a chaos run, stage by stage.

answered 2xx (the clients) -> stored (distinct ids in the event log) -> published (ids found
in the entries of the partition streams) -> applied (ids in the timeline of their user's
profile in the store; users who opted out are left out: their events build no profile).
Lost at a stage = in the stage before, not in this one. Profiles are
also compared with a replay of the whole log in memory (`ProfileService.simulate`), and the
Redis fast-path copies with the store's.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import polars as pl

from tastemaker.access.audit import AuditLog
from tastemaker.bench.chaos_load import LATE, Tally
from tastemaker.privacy.retention import ACTION as RETENTION
from tastemaker.profiles.model import dumps_state
from tastemaker.profiles.wiring import fast_path
from tastemaker.storage.outbox import WATERMARK
from tastemaker.storage.redis_streams import RedisStreamBus
from tastemaker.workspace import Workspace


def backlog(ws: Workspace, bus: RedisStreamBus) -> dict[str, int]:
    """Events past the outbox watermark, stream entries not delivered / not acknowledged,
    and partitions whose group has a consumer."""
    last, published = ws.store.last_seq(), ws.store.watermark(WATERMARK).seq
    consumers = 0
    for p in range(bus.partitions):
        groups: Any = bus.client.xinfo_groups(bus.stream(p))
        consumers += any(int(g.get("consumers", 0)) > 0 for g in groups)
    return {"last_seq": last, "published_watermark": published,
            "unpublished": max(0, last - published), "lag": bus.lag(),
            "pending": bus.pending(), "partitions_consumed": consumers}  # fmt: skip


def wait_settled(ws: Workspace, bus: RedisStreamBus, timeout: float) -> dict[str, Any]:
    """Wait (up to ``timeout`` s) until everything stored is published, delivered and
    acknowledged, with a consumer on every partition; the last backlog seen, whether it
    settled and how long it took. A backend still recovering is waited for too."""
    t0 = time.monotonic()
    seen: dict[str, Any] = {}
    while True:
        try:
            seen = backlog(ws, bus)
            if (seen["unpublished"] == 0 and seen["lag"] == 0 and seen["pending"] == 0
                    and seen["partitions_consumed"] == bus.partitions):  # fmt: skip
                return {**seen, "settled": True, "seconds": round(time.monotonic() - t0, 1)}
        except Exception as exc:  # a backend still recovering: wait for it
            seen = {"error": f"{type(exc).__name__}: {exc}"}
        if time.monotonic() - t0 >= timeout:
            return {**seen, "settled": False, "seconds": round(time.monotonic() - t0, 1)}
        time.sleep(0.25)


def _stream_ids(bus: RedisStreamBus, prefix: str) -> tuple[set[str], int]:
    """Ids starting with ``prefix`` in every entry of every partition stream; entries."""
    ids: set[str] = set()
    entries = 0
    for p in range(bus.partitions):
        for message in bus.entries(p):
            entries += 1
            ids.update(e for e in message.columns["event_id"] if e.startswith(prefix))
    return ids, entries


def _profiles(ws: Workspace) -> dict[str, Any]:
    """Live profiles against a replay of the log and against their Redis copies; and the
    event ids in each live profile's timeline."""
    live = {k: r.state for k, r in ws.store.load_profiles().items()}
    replayed, _ = ws.profiles.simulate()
    expected = {k: dumps_state(s) for k, s in replayed.items()}
    differing = sorted(k for k in live.keys() | expected.keys() if live.get(k) != expected.get(k))
    fast = fast_path(ws.settings)
    stale = 0
    if fast is not None:
        stale = sum(fast.get(k) != text for k, text in live.items())
        fast.close()
    timelines = {k: {e[1] for e in orjson.loads(text)["tl"]} for k, text in live.items()}
    return {"live": len(live), "replayed": len(expected),
            "differing_from_replay": len(differing), "differing_keys": differing[:10],
            "fast_path_stale": stale, "timelines": timelines}  # fmt: skip


def audit(ws: Workspace, bus: RedisStreamBus, tally: Tally, prefix: str) -> dict[str, Any]:
    """Counts per stage, losses between stages, and the profile comparisons."""
    log = ws.store.events().select("event_id", "user_id")
    ours = log.filter(pl.col("event_id").str.starts_with(prefix))
    # events timestamped before the retention cut: the last retention run deleted them all
    late = ours.filter(pl.col("event_id").str.contains(LATE, literal=True))
    ours = ours.filter(~pl.col("event_id").str.contains(LATE, literal=True))
    answered_late = {e for e in tally.answered if LATE in e}
    tally = Tally(sent={e for e in tally.sent if LATE not in e},
                  answered=tally.answered - answered_late, given_up=tally.given_up)  # fmt: skip
    stored = set(ours["event_id"].to_list())
    in_streams, entries = _stream_ids(bus, prefix)
    in_streams = {e for e in in_streams if LATE not in e}
    published = stored & in_streams
    profiles = _profiles(ws)
    timelines = profiles.pop("timelines")
    applied = {e for e, key in ours.iter_rows() if e in published
               and e in timelines.get(key, ())}  # fmt: skip
    # users who opted out of personalization: their events build no profile, by design
    opted = ws.store.opted_out_users()
    not_to_apply = {e for e, key in ours.iter_rows() if key in opted}
    events = {"sent": len(tally.sent), "answered_2xx": len(tally.answered),
              "stored": len(stored), "published": len(published), "applied": len(applied),
              "opted_out_not_applied": len(not_to_apply),
              "stored_without_2xx": len(stored - tally.answered),
              "late_answered_2xx": len(answered_late),
              "given_up_by_clients": len(tally.given_up)}  # fmt: skip
    lost = {"answered_not_stored": len(tally.answered - stored),
            "stored_not_published": len(stored - published),
            "published_not_applied": len(published - applied - not_to_apply),
            "late_kept_past_retention": late.height}  # fmt: skip
    examples = sorted((tally.answered - stored) | (stored - published)
                      | (published - applied - not_to_apply))  # fmt: skip
    return {"events": events, "lost": lost, "lost_examples": examples[:10],
            "stream_entries": entries, "log_events": log.height,
            "profiles": profiles}  # fmt: skip


def retention_runs(ws: Workspace) -> dict[str, Any]:
    """The retention runs of the audit log: how many, how many deleted events, the events
    they deleted in all, and how many rebuilt the profiles."""
    rows = [orjson.loads(e.detail) for e in AuditLog(ws.store).entries()
            if e.action == RETENTION and e.outcome == "ok"]  # fmt: skip
    deleted = [int(r.get("deleted", {}).get("store:events", 0)) for r in rows]
    return {"runs": len(rows), "runs_deleting_events": sum(n > 0 for n in deleted),
            "events_deleted": sum(deleted),
            "rebuilds": sum(r.get("profiles_rebuilt") is not None for r in rows)}  # fmt: skip
