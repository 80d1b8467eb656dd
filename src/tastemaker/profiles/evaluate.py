"""Evaluating segment rules on a profile state: membership with hysteresis and a score.

Rules compile once into a plan of small closures (one per segment, in dependency order),
because evaluation runs after every event that changes a profile's counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


#: Top-level single-window leaves of one attribute: (attribute index, smallest min_events,
#: [(name, single value or None, values, entry, exit, min_events), ...]).
_Group = tuple[int, int, list[tuple[str, str | None, tuple[str, ...], float, float, int]]]
#: Everything else, in dependency order: (name, ("all"|"any", ref names...) or None, fn).
_Rest = tuple[str, tuple[str, ...] | None, _Fn]


@dataclass
class Plan:
    """Compiled rules: inline leaves grouped by attribute, then composites in order."""

    groups: list[_Group]
    rest: list[_Rest]


def compile_rules(rules: SegmentRules, window_days: float, interactions: frozenset[str]) -> Plan:
    """The evaluation plan of ``rules`` (cached on the rules object).

    Plain leaves depend on nothing, so they run first, grouped by attribute (one total
    check skips a whole group); composites and other rules follow in dependency order.
    """
    key = (window_days, interactions)
    cached = rules.compiled
    if cached is not None and cached[0] == key:
        plan: Plan = cached[1]
        return plan
    by_attr: dict[int, list[tuple[str, str | None, tuple[str, ...], float, float, int]]] = {}
    rest: list[_Rest] = []
    for name, node in rules.segments.items():
        if isinstance(node, Leaf) and node.window_days >= window_days:
            values = tuple(sorted(node.values))
            single = values[0] if len(values) == 1 else None
            by_attr.setdefault(node.attr_index, []).append(
                (name, single, values, node.min_share, node.exit_share, node.min_events)
            )
        elif isinstance(node, Composite) and all(isinstance(c, Ref) for c in node.children):
            refs = (node.op, *[c.name for c in node.children if isinstance(c, Ref)])
            rest.append((name, refs, _compile(node, window_days, interactions)))
        else:
            rest.append((name, None, _compile(node, window_days, interactions)))
    groups = [(i, min(leaf[5] for leaf in leaves), leaves) for i, leaves in by_attr.items()]
    plan = Plan(groups, rest)
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
    counts, totals = state.counts, state.totals
    plan = compile_rules(rules, window_days, interactions)
    for i, floor, leaves in plan.groups:
        total = totals[i]
        if total < floor:
            continue
        c = counts[i]
        for name, single, values, entry, leave, min_n in leaves:
            if total < min_n:
                continue
            hits = c.get(single, 0) if single is not None else sum(c.get(v, 0) for v in values)
            if hits >= total * (leave if name in previous else entry):
                members[name] = round(hits / total, 6)
    cache: dict[float, list[dict[str, int]]] = {}
    for name, refs, fn in plan.rest:
        if refs is not None:  # AND / OR of other segments
            got = [members[r] for r in refs[1:] if r in members]
            if refs[0] == "all" and len(got) == len(refs) - 1:
                members[name] = min(got)
            elif refs[0] == "any" and got:
                members[name] = max(got)
            continue
        ok, score = fn(state, name in previous, members, cache)
        if ok:
            members[name] = round(score, 6)
    return members
