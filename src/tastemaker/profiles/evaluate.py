"""Evaluating segment rules on a profile state: membership with hysteresis and a score.

Rules compile once into a plan of small closures (one per segment, in dependency order),
because evaluation runs after every event that changes a profile's counts.
"""

from __future__ import annotations

from collections.abc import Callable

from tastemaker.profiles.model import DAY_MS, ProfileState, recount
from tastemaker.profiles.rules import Composite, Leaf, Node, Ref, SegmentRules

#: (state, was a member, members so far, counts per window) -> (holds, score)
_Fn = Callable[
    [ProfileState, bool, dict[str, float], dict[float, list[dict[str, int]]]], tuple[bool, float]
]


def _compile_leaf(leaf: Leaf, window_days: float, interactions: frozenset[str]) -> _Fn:
    i, entry, leave, min_n = leaf.attr_index, leaf.min_share, leaf.exit_share, leaf.min_events
    values = tuple(leaf.values)
    single = values[0] if len(values) == 1 else None
    full = leaf.window_days >= window_days

    def fn(state: ProfileState, was: bool, _m: dict[str, float],
           cache: dict[float, list[dict[str, int]]]) -> tuple[bool, float]:  # fmt: skip
        if full:
            counts, total = state.counts[i], state.totals[i]
        else:
            got = cache.get(leaf.window_days)
            if got is None:
                since = (state.last_seen or 0) - int(leaf.window_days * DAY_MS)
                got = recount(state.timeline, len(state.counts), interactions, since)
                cache[leaf.window_days] = got
            counts = got[i]
            total = sum(counts.values())
        if not total:
            return False, 0.0
        hits = (
            counts.get(single, 0) if single is not None else sum(counts.get(v, 0) for v in values)
        )
        share = hits / total
        return total >= min_n and share >= (leave if was else entry), share

    return fn


def _compile(node: Node, window_days: float, interactions: frozenset[str]) -> _Fn:
    if isinstance(node, Leaf):
        return _compile_leaf(node, window_days, interactions)
    if isinstance(node, Ref):
        name = node.name

        def ref(_s: ProfileState, _w: bool, members: dict[str, float],
                _c: dict[float, list[dict[str, int]]]) -> tuple[bool, float]:  # fmt: skip
            score = members.get(name)
            return score is not None, score or 0.0

        return ref
    assert isinstance(node, Composite)
    children = [_compile(c, window_days, interactions) for c in node.children]
    every = node.op == "all"

    def combo(state: ProfileState, was: bool, members: dict[str, float],
              cache: dict[float, list[dict[str, int]]]) -> tuple[bool, float]:  # fmt: skip
        results = [c(state, was, members, cache) for c in children]
        if every:
            return all(ok for ok, _ in results), min(s for _, s in results)
        oks = [s for ok, s in results if ok]
        return bool(oks), max(oks) if oks else max(s for _, s in results)

    return combo


#: A top-level single-window leaf, evaluated inline: (i, single value, values, entry, exit,
#: min events).
_Inline = tuple[int, str | None, tuple[str, ...], float, float, int]


def compile_rules(
    rules: SegmentRules, window_days: float, interactions: frozenset[str]
) -> list[tuple[str, _Inline | tuple[str, ...] | None, _Fn]]:
    """The evaluation plan of ``rules`` (cached on the rules object)."""
    key = (window_days, interactions)
    cached = rules.compiled
    if cached is not None and cached[0] == key:
        plan: list[tuple[str, _Inline | tuple[str, ...] | None, _Fn]] = cached[1]
        return plan
    plan = []
    for name, node in rules.segments.items():
        inline: _Inline | tuple[str, ...] | None = None
        if isinstance(node, Composite) and all(isinstance(c, Ref) for c in node.children):
            inline = (node.op, *[c.name for c in node.children if isinstance(c, Ref)])
        elif isinstance(node, Leaf) and node.window_days >= window_days:
            values = tuple(node.values)
            single = values[0] if len(values) == 1 else None
            inline = (node.attr_index, single, values, node.min_share, node.exit_share,
                      node.min_events)  # fmt: skip
        plan.append((name, inline, _compile(node, window_days, interactions)))
    rules.compiled = (key, plan)
    return plan


def evaluate(
    state: ProfileState, rules: SegmentRules, window_days: float, interactions: frozenset[str]
) -> dict[str, float]:
    """Return segment name -> score for the segments ``state`` is a member of.

    Membership uses the state's previous segments for hysteresis: a member stays while the
    share is at least the exit threshold; a non-member enters at the entry threshold.
    """
    previous = state.segments
    members: dict[str, float] = {}
    cache: dict[float, list[dict[str, int]]] = {}
    counts, totals = state.counts, state.totals
    for name, inline, fn in compile_rules(rules, window_days, interactions):
        if inline is not None and isinstance(inline[0], str):  # AND / OR of other segments
            got = [members[r] for r in inline[1:] if r in members]
            if inline[0] == "all" and len(got) == len(inline) - 1:
                members[name] = min(got)
            elif inline[0] == "any" and got:
                members[name] = max(got)
            continue
        if inline is not None:
            i, single, values, entry, leave, min_n = inline
            total = totals[i]
            if total < min_n:
                continue
            c = counts[i]
            hits = c.get(single, 0) if single is not None else sum(c.get(v, 0) for v in values)
            if hits >= total * (leave if name in previous else entry):
                members[name] = round(hits / total, 6)
            continue
        ok, score = fn(state, name in previous, members, cache)
        if ok:
            members[name] = round(score, 6)
    return members
