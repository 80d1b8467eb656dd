"""Segment quality: precision and recall as the seed defines them, and against ground truth.

Profiles are replayed from the event log up to a split time; membership at the split is then
judged on the following period:

- precision of segment S = views by members of S on items that match S / views by members
  of S ("how focused the segment is");
  views count only on items that have a value for the rule's attributes (a fuel-type segment
  is not judged on tyres), as shares are computed;
- recall of S = views on items that match S made by members of S / all views on items that
  match S ("how many relevant views membership captures").

On synthetic data, membership is also compared with the generator's hidden preferences
(``ground_truth.json``): precision = members whose hidden preference is the segment's value /
members, recall = such members / active users with that preference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from tastemaker.engine.featured import CatalogIndex
from tastemaker.profiles.rules import Composite, Leaf, Node, Ref, SegmentRules
from tastemaker.profiles.service import ProfileService
from tastemaker.workspace import Workspace

DEFAULT_HORIZON_DAYS = 7.0


@dataclass
class SegmentQuality:
    """Quality figures of one segment (None where undefined, e.g. no members)."""

    segment: str
    members: int
    views_by_members: int
    precision: float | None
    recall: float | None
    truth_precision: float | None = None
    truth_recall: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def _known(index: CatalogIndex, node: Node, rules: SegmentRules) -> np.ndarray:
    """Items that have a value for every attribute the rule looks at."""
    if isinstance(node, Leaf):
        cat = index.table.categorical.get(node.attribute)
        return np.zeros(len(index.table), bool) if cat is None else cat.codes >= 0
    if isinstance(node, Ref):
        return _known(index, rules.segments[node.name], rules)
    assert isinstance(node, Composite)
    out = np.ones(len(index.table), bool)
    for child in node.children:
        out &= _known(index, child, rules)
    return out


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def default_split(ws: Workspace, horizon_days: float) -> datetime:
    """The split leaving ``horizon_days`` of the event log for evaluation."""
    last = ws.store.events(types=["view"])["timestamp"].max()
    if last is None:
        raise ValueError("no view events in the workspace")
    assert isinstance(last, datetime)
    return last - timedelta(days=horizon_days)


def _members(service: ProfileService, split: datetime) -> dict[str, set[str]]:
    states, _ = service.simulate(end=split)
    out: dict[str, set[str]] = {}
    for key, state in states.items():
        for name in state.segments:
            out.setdefault(name, set()).add(key)
    return out


def _truth_members(truth: dict[str, Any], leaf: Leaf, ws: Workspace, split: datetime) -> set[str]:
    users = truth.get("users", {})
    wanted = set(leaf.values)
    start = truth.get("params", {}).get("start")
    split_day = (split - datetime.fromisoformat(start.replace("Z", "+00:00"))).days if start else 0
    out: set[str] = set()
    for raw, prefs in users.items():
        value = prefs.get(leaf.attribute)
        drift = prefs.get("drift")
        if drift and drift.get("day", 10**9) <= split_day:
            value = drift.get(leaf.attribute, value)
        if value in wanted:
            out.add(ws.pseudonymizer.one(raw))
    return out


def segment_quality(
    ws: Workspace,
    split: datetime | None = None,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    truth: dict[str, Any] | None = None,
) -> tuple[datetime, list[SegmentQuality]]:
    """Precision and recall of every segment at ``split`` on the following period.

    Args:
        ws: the workspace (its event log and active rules).
        split: membership is taken as of this time (default: ``horizon_days`` before the
            last view).
        horizon_days: length of the following period.
        truth: parsed ``ground_truth.json`` of the synthetic generator, if any.

    Returns:
        The split used and one `SegmentQuality` per segment.
    """
    service = ProfileService(ws.settings, ws.store)
    rules: SegmentRules = service.rules.current()
    split = split or default_split(ws, horizon_days)
    members = _members(service, split)
    views = ws.store.events(start=split, end=split + timedelta(days=horizon_days),
                            types=["view"])  # fmt: skip
    index = CatalogIndex(service.catalog.items())
    pos = {iid: i for i, iid in enumerate(index.items["item_id"].to_list())}
    item_pos = np.array([pos.get(i, -1) for i in views["item_id"].to_list()], dtype=np.int64)
    users = views["user_id"].to_numpy()
    known = item_pos >= 0
    active = set(ws.store.events(end=split)["user_id"].drop_nulls().to_list())
    report: list[SegmentQuality] = []
    for name, node in rules.segments.items():
        match = np.zeros(len(item_pos), bool)
        match[known] = index.node_mask(node, rules)[item_pos[known]]
        about = np.zeros(len(item_pos), bool)  # views of items the rule can judge
        about[known] = _known(index, node, rules)[item_pos[known]]
        who = members.get(name, set())
        by_members = about & (np.isin(users, list(who)) if who else np.zeros(len(users), bool))
        q = SegmentQuality(
            name, len(who), int(by_members.sum()),
            _ratio(int((by_members & match).sum()), int(by_members.sum())),
            _ratio(int((by_members & match).sum()), int(match.sum())),
        )  # fmt: skip
        if truth is not None and isinstance(node, Leaf) and node.attribute in (
            "fuel_type", "body_type",
        ):  # fmt: skip
            relevant = _truth_members(truth, node, ws, split) & active
            q.truth_precision = _ratio(len(who & relevant), len(who))
            q.truth_recall = _ratio(len(who & relevant), len(relevant))
        report.append(q)
    return split, report


def quality_frame(report: list[SegmentQuality]) -> pl.DataFrame:
    """The report as a frame (one row per segment)."""
    return pl.DataFrame([q.to_dict() for q in report])
