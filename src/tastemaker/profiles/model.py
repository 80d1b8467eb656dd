"""The profile of one user: compact mutable state, its JSON form and the public `Profile` view.

The state keeps the item events of the last N days (the timeline) with the catalog attribute
values each event had when it was applied, so counts can be decremented exactly when events
leave the window, plus lifetime affinities decayed exponentially, sessions and segment
membership. Applying an event whose id is already in the timeline changes nothing; events
older than the window are ignored, which makes every apply idempotent.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

DAY_MS = 86_400_000
ANON_PREFIX = "anon:"
STATE_FORMAT = 1

#: One timeline entry: (timestamp ms, event id, type, item id, value, attribute values).
Entry = tuple[int, str, str, str, float | None, tuple[str | None, ...]]


@dataclass
class ProfileState:
    """Mutable per-user state kept by the profile service (one per profile key)."""

    key: str
    timeline: list[Entry] = field(default_factory=list)
    applied: set[str] = field(default_factory=set)
    #: attribute index -> value -> number of interactions in the window.
    counts: list[dict[str, int]] = field(default_factory=list)
    #: attribute index -> interactions in the window with a value for the attribute.
    totals: list[int] = field(default_factory=list)
    #: attribute index -> value -> decayed weight as of ``aff_ts``.
    affinities: list[dict[str, float]] = field(default_factory=list)
    aff_ts: int = 0
    sessions: dict[str, int] = field(default_factory=dict)
    first_seen: int | None = None
    last_seen: int | None = None
    segments: dict[str, float] = field(default_factory=dict)
    rules_version: int = 0
    merged: list[str] = field(default_factory=list)
    #: counts changed since segments were last evaluated.
    dirty: bool = False

    def ensure_attributes(self, n: int) -> None:
        """Make sure there is one counts and one affinity table per attribute."""
        while len(self.counts) < n:
            self.counts.append({})
        while len(self.totals) < n:
            self.totals.append(0)
        while len(self.affinities) < n:
            self.affinities.append({})

    def insert(self, entry: Entry) -> None:
        """Put an entry into the timeline, keeping it ordered by time."""
        if not self.timeline or self.timeline[-1][0] <= entry[0]:
            self.timeline.append(entry)
        else:
            bisect.insort(self.timeline, entry, key=lambda e: e[0])
        self.applied.add(entry[1])


def interaction_mask(weights: dict[str, float]) -> frozenset[str]:
    """Event types that count as interest in an item (positive weight)."""
    return frozenset(t for t, w in weights.items() if w > 0)


def dumps_state(state: ProfileState) -> str:
    """Serialize a state to compact JSON (counts and applied ids are derived on load)."""
    data = {
        "f": STATE_FORMAT,
        "tl": [[*e[:5], list(e[5])] for e in state.timeline],
        "aff": state.affinities,
        "aff_ts": state.aff_ts,
        "ses": state.sessions,
        "first": state.first_seen,
        "last": state.last_seen,
        "seg": state.segments,
        "rv": state.rules_version,
        "merged": state.merged,
    }
    return orjson.dumps(data).decode()


def loads_state(
    key: str, text: str, n_attributes: int, interactions: frozenset[str]
) -> ProfileState:
    """Rebuild a state from its JSON form (the inverse of `dumps_state`)."""
    data: dict[str, Any] = orjson.loads(text)
    timeline: list[Entry] = [
        (int(e[0]), str(e[1]), str(e[2]), str(e[3]), e[4], tuple(e[5])) for e in data["tl"]
    ]
    state = ProfileState(
        key=key,
        timeline=timeline,
        applied={e[1] for e in timeline},
        affinities=[dict(a) for a in data.get("aff", [])],
        aff_ts=int(data.get("aff_ts", 0)),
        sessions=dict(data.get("ses", {})),
        first_seen=data.get("first"),
        last_seen=data.get("last"),
        segments=dict(data.get("seg", {})),
        rules_version=int(data.get("rv", 0)),
        merged=list(data.get("merged", [])),
    )
    state.ensure_attributes(n_attributes)
    state.counts = recount(timeline, n_attributes, interactions)
    state.totals = [sum(c.values()) for c in state.counts]
    return state


def recount(
    timeline: list[Entry], n_attributes: int, interactions: frozenset[str], since: int | None = None
) -> list[dict[str, int]]:
    """Count interactions per attribute value over the timeline (from ``since`` when given)."""
    counts: list[dict[str, int]] = [{} for _ in range(n_attributes)]
    for ts, _eid, etype, _item, _value, attrs in timeline:
        if etype not in interactions or (since is not None and ts < since):
            continue
        for i, v in enumerate(attrs[:n_attributes]):
            if v is not None:
                counts[i][v] = counts[i].get(v, 0) + 1
    return counts


def shares_of(counts: dict[str, int]) -> dict[str, float]:
    """Turn value counts into shares of the events that have a value for the attribute."""
    total = sum(counts.values())
    if total <= 0:
        return {}
    return {v: n / total for v, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n > 0}


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One recent item event of a profile."""

    item_id: str
    type: str
    timestamp: int
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "item_id": self.item_id,
            "type": self.type,
            "timestamp": self.timestamp,
            "value": self.value,
        }


@dataclass
class Profile:
    """The public, read-only view of a user's profile.

    Attributes:
        user_id: pseudonymized user id (``anon:<pseudonym>`` for a visitor not identified).
        timeline: recent item events, oldest first: item_id, type, timestamp (ms), value.
        counts: attribute -> value -> interactions in the window.
        shares: attribute -> value -> share of the interactions with a value for it.
        affinities: attribute -> value -> exponentially decayed weight (as of last_seen).
        segments: segment name -> score, for the segments the user is a member of.
        traits: recency_days, frequency, monetary, sessions, first_seen, last_seen and dwell
            statistics (dwell_count, dwell_mean, dwell_max, dwell_total, in seconds).
        rules_version: version of the segment rules the segments were evaluated with.
        merged_ids: anonymous profiles stitched into this one.
    """

    user_id: str
    timeline: list[TimelineEvent]
    counts: dict[str, dict[str, int]]
    shares: dict[str, dict[str, float]]
    affinities: dict[str, dict[str, float]]
    segments: dict[str, float]
    traits: dict[str, Any]
    rules_version: int = 0
    merged_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the profile as JSON-ready values."""
        return {
            "user_id": self.user_id,
            "segments": self.segments,
            "rules_version": self.rules_version,
            "traits": self.traits,
            "shares": self.shares,
            "counts": self.counts,
            "affinities": self.affinities,
            "timeline": [e.to_dict() for e in self.timeline],
            "merged_ids": self.merged_ids,
        }


def to_profile(
    state: ProfileState,
    attributes: list[str],
    interactions: frozenset[str],
    affinities: list[dict[str, float]] | None = None,
    now_ms: int | None = None,
) -> Profile:
    """Build the public view of a state (traits derived from the timeline).

    Args:
        state: the profile state.
        attributes: profiled attribute names, aligned with the state's tables.
        interactions: event types that count as interest.
        affinities: decayed affinities to show (default: the stored, anchored values).
        now_ms: clock for ``recency_days`` (default: now).
    """
    now = int(time.time() * 1000) if now_ms is None else now_ms
    aff = state.affinities if affinities is None else affinities
    dwell = [e[4] for e in state.timeline if e[2] in ("view", "click") and e[4] is not None]
    dwell_f = [float(d) for d in dwell if math.isfinite(float(d))]
    frequency = sum(1 for e in state.timeline if e[2] in interactions)
    monetary = sum(float(e[4] or 0.0) for e in state.timeline if e[2] == "purchase")
    last = state.last_seen
    traits: dict[str, Any] = {
        "recency_days": None if last is None else round(max(0, now - last) / DAY_MS, 4),
        "frequency": frequency,
        "monetary": round(monetary, 2),
        "sessions": len(state.sessions),
        "first_seen": state.first_seen,
        "last_seen": last,
        "dwell_count": len(dwell_f),
        "dwell_mean": round(sum(dwell_f) / len(dwell_f), 3) if dwell_f else None,
        "dwell_max": max(dwell_f) if dwell_f else None,
        "dwell_total": round(sum(dwell_f), 3),
    }
    counts = {a: dict(state.counts[i]) for i, a in enumerate(attributes) if i < len(state.counts)}
    return Profile(
        user_id=state.key,
        timeline=[TimelineEvent(e[3], e[2], e[0], e[4]) for e in state.timeline],
        counts=counts,
        shares={a: shares_of(c) for a, c in counts.items()},
        affinities={
            a: {v: round(x, 6) for v, x in sorted(aff[i].items(), key=lambda kv: -kv[1])}
            for i, a in enumerate(attributes)
            if i < len(aff)
        },
        segments=dict(state.segments),
        traits=traits,
        rules_version=state.rules_version,
        merged_ids=list(state.merged),
    )
