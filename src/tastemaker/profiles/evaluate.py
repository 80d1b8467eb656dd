"""Evaluating segment rules on a profile state: membership with hysteresis and a score."""

from __future__ import annotations

from tastemaker.profiles.model import DAY_MS, ProfileState, recount
from tastemaker.profiles.rules import Composite, Leaf, Node, Ref, SegmentRules


class _Context:
    """Counts per window for one state (the profile window's counts are kept incrementally)."""

    def __init__(
        self, state: ProfileState, window_days: float, interactions: frozenset[str]
    ) -> None:
        self.state = state
        self.window_days = window_days
        self.interactions = interactions
        self.by_window: dict[float, list[dict[str, int]]] = {}
        self.members: dict[str, float] = {}

    def counts(self, leaf: Leaf) -> dict[str, int]:
        if leaf.window_days >= self.window_days:
            return self.state.counts[leaf.attr_index]
        got = self.by_window.get(leaf.window_days)
        if got is None:
            since = (self.state.last_seen or 0) - int(leaf.window_days * DAY_MS)
            got = recount(self.state.timeline, len(self.state.counts), self.interactions, since)
            self.by_window[leaf.window_days] = got
        return got[leaf.attr_index]


def _leaf(leaf: Leaf, was_member: bool, ctx: _Context) -> tuple[bool, float]:
    counts = ctx.counts(leaf)
    total = sum(counts.values())
    if total == 0:
        return False, 0.0
    hits = sum(counts.get(v, 0) for v in leaf.values)
    share = hits / total
    threshold = leaf.exit_share if was_member else leaf.min_share
    return total >= leaf.min_events and share >= threshold, share


def _node(node: Node, was_member: bool, ctx: _Context) -> tuple[bool, float]:
    if isinstance(node, Leaf):
        return _leaf(node, was_member, ctx)
    if isinstance(node, Ref):
        score = ctx.members.get(node.name)
        return score is not None, score or 0.0
    results = [_node(c, was_member, ctx) for c in node.children]
    if node.op == "all":
        return all(ok for ok, _ in results), min(s for _, s in results)
    oks = [s for ok, s in results if ok]
    return bool(oks), max(oks) if oks else max(s for _, s in results)


def evaluate(
    state: ProfileState, rules: SegmentRules, window_days: float, interactions: frozenset[str]
) -> dict[str, float]:
    """Return segment name -> score for the segments ``state`` is a member of.

    Membership uses the state's previous segments for hysteresis: a member stays while the
    share is at least the exit threshold; a non-member enters at the entry threshold.
    """
    ctx = _Context(state, window_days, interactions)
    previous = state.segments
    for name, node in rules.segments.items():
        ok, score = _node(node, name in previous, ctx)
        if ok:
            ctx.members[name] = round(score, 6)
    return ctx.members


def node_is_composite(node: Node) -> bool:
    """True for AND / OR rules (used by reports that only score single-attribute segments)."""
    return isinstance(node, Composite)
