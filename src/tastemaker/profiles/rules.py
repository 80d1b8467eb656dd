"""Segment rules: the YAML format, its validation (with line numbers) and compiled rule trees.

A rules file looks like::

    defaults: {min_share: 0.5, exit_share: 0.4, min_events: 3, window_days: 10}
    featured: {pool: "sponsored:true", tie_break: freshness}
    segments:
      electric: {attribute: fuel_type, value: electric}
      suv: {attribute: body_type, value: suv, min_share: 0.4, exit_share: 0.3}
      green: {attribute: fuel_type, value: [electric, hybrid]}
      electric_suv: {all: [{segment: electric}, {segment: suv}]}
      family: {any: [{attribute: body_type, value: mpv}, {attribute: body_type, value: estate}]}

A leaf rule holds when, among the user's interactions of the last ``window_days`` whose item
has a value for ``attribute``, at least ``min_events`` exist and the share with ``value``
reaches ``min_share`` (the seed's p >= 0.5). A member leaves only when the share falls below
``exit_share`` (hysteresis). ``all`` / ``any`` compose rules (AND / OR); ``segment: name``
refers to another segment. The segment score is the share (min over ``all``, max over
``any``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from tastemaker.errors import ValidationFailedError

NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
TIE_BREAKS = ("freshness", "sponsored", "price_low", "price_high")
_LEAF_KEYS = {"attribute", "value", "min_share", "exit_share", "min_events", "window_days"}
_DEFAULT_KEYS = {"min_share", "exit_share", "min_events", "window_days"}


@dataclass(frozen=True)
class Leaf:
    """Share of ``values`` of one attribute among the user's recent interactions."""

    attribute: str
    attr_index: int
    values: frozenset[str]
    min_share: float
    exit_share: float
    min_events: int
    window_days: float


@dataclass(frozen=True)
class Composite:
    """AND (``all``) or OR (``any``) of rules."""

    op: str
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Ref:
    """The membership of another segment."""

    name: str


Node = Leaf | Composite | Ref


@dataclass(frozen=True)
class FeaturedConfig:
    """How the featured listing picks among matching items."""

    pool: str | None = None
    tie_break: str = "freshness"


@dataclass
class SegmentRules:
    """A validated, compiled rules file: segments in evaluation order and featured settings."""

    segments: dict[str, Node]
    featured: FeaturedConfig = field(default_factory=FeaturedConfig)
    descriptions: dict[str, str] = field(default_factory=dict)
    version: int = 0
    text: str = ""
    #: evaluation plan, built on first use (see `tastemaker.profiles.evaluate`).
    compiled: Any = field(default=None, repr=False, compare=False)

    def leaves(self) -> list[Leaf]:
        """Every leaf rule, for windows and reports."""
        out: list[Leaf] = []

        def walk(node: Node) -> None:
            if isinstance(node, Leaf):
                out.append(node)
            elif isinstance(node, Composite):
                for c in node.children:
                    walk(c)

        for node in self.segments.values():
            walk(node)
        return out


class _Map(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int]


class _List(list[Any]):
    line: int = 0


def _convert(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = _Map()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for k, v in node.value:
            key = str(loader.construct_object(k, deep=True))
            out[key] = _convert(v, loader)
            out.key_lines[key] = k.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = _List(_convert(v, loader) for v in node.value)
        seq.line = node.start_mark.line + 1
        return seq
    return loader.construct_object(node, deep=True)


def _fail(source: str, line: int, reason: str) -> ValidationFailedError:
    return ValidationFailedError(f"{source} line {line}: {reason}", line=line, reason=reason)


def _line(m: Any, key: str | None = None) -> int:
    if isinstance(m, _Map) and key is not None and key in m.key_lines:
        return m.key_lines[key]
    return int(getattr(m, "line", 1))


def _load(text: str, source: str) -> _Map:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise _fail(source, line, f"not valid YAML: {exc.problem or exc}") from exc
    finally:
        loader.dispose()
    data = _convert(node, loader) if node is not None else None
    if not isinstance(data, _Map):
        raise _fail(source, 1, "expected a mapping with a 'segments' key")
    return data


class _Parser:
    def __init__(self, source: str, attributes: list[str], max_window_days: float) -> None:
        self.source = source
        self.attributes = attributes
        self.max_window = max_window_days
        self.defaults: dict[str, Any] = {
            "min_share": 0.5,
            "exit_share": None,
            "min_events": 3,
            "window_days": max_window_days,
        }

    def fail(self, m: Any, key: str | None, reason: str) -> ValidationFailedError:
        """An error naming the line of ``m`` (or of its ``key``)."""
        return _fail(self.source, _line(m, key), reason)

    def number(self, m: _Map, key: str, lo: float, hi: float, integer: bool = False) -> float:
        """Read a number (or integer) in [lo, hi] from ``m[key]``."""
        v = m[key]
        ok_type = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok_type or not (lo <= v <= hi):
            kind = "an integer" if integer else "a number"
            raise self.fail(m, key, f"'{key}' = {v!r} must be {kind} between {lo:g} and {hi:g}")
        return float(v)

    def read_defaults(self, m: Any) -> None:
        """Read the ``defaults`` section."""
        if not isinstance(m, _Map):
            raise self.fail(m, None, "'defaults' must be a mapping")
        for key in m:
            if key not in _DEFAULT_KEYS:
                raise self.fail(m, key, f"unknown key '{key}' in defaults")
        self.defaults.update(self.thresholds(m, self.defaults))

    def thresholds(self, m: _Map, base: dict[str, Any]) -> dict[str, Any]:
        """Thresholds of a rule: its own values over ``base``."""
        out = dict(base)
        if "min_share" in m:
            out["min_share"] = self.number(m, "min_share", 0.0, 1.0)
        if "exit_share" in m:
            out["exit_share"] = self.number(m, "exit_share", 0.0, 1.0)
        if "min_events" in m:
            out["min_events"] = int(self.number(m, "min_events", 1, 1_000_000, integer=True))
        if "window_days" in m:
            out["window_days"] = self.number(m, "window_days", 1e-6, self.max_window)
        exit_share = out["exit_share"]
        if exit_share is not None and exit_share > out["min_share"]:
            key = "exit_share" if "exit_share" in m else "min_share"
            raise self.fail(
                m, key, f"exit_share {exit_share:g} must not exceed min_share {out['min_share']:g}"
            )
        return out

    def leaf(self, m: _Map) -> Leaf:
        """Compile an attribute/value rule."""
        for key in m:
            if key not in _LEAF_KEYS and key != "description":
                raise self.fail(
                    m, key, f"unknown key '{key}' (expected one of {sorted(_LEAF_KEYS)})"
                )
        if "attribute" not in m or "value" not in m:
            raise self.fail(m, None, "a rule needs 'attribute' and 'value'")
        attr = m["attribute"]
        if attr not in self.attributes:
            raise self.fail(
                m, "attribute", f"attribute '{attr}' is not profiled (profiled: {self.attributes})"
            )
        raw = m["value"]
        values = list(raw) if isinstance(raw, list) else [raw]
        if not values or any(v is None or isinstance(v, (dict, list)) for v in values):
            raise self.fail(m, "value", "'value' must be a value or a list of values")
        t = self.thresholds(m, self.defaults)
        exit_share = t["exit_share"] if t["exit_share"] is not None else t["min_share"]
        return Leaf(
            attribute=str(attr),
            attr_index=self.attributes.index(attr),
            values=frozenset(str(v).lower() if isinstance(v, bool) else str(v) for v in values),
            min_share=float(t["min_share"]),
            exit_share=float(min(exit_share, t["min_share"])),
            min_events=int(t["min_events"]),
            window_days=float(t["window_days"]),
        )

    def node(self, m: Any, names: set[str]) -> Node:
        """Compile a rule: a reference, an ``all`` / ``any`` or a leaf."""
        if not isinstance(m, _Map):
            raise self.fail(m, None, "a rule must be a mapping")
        ops = [k for k in ("all", "any") if k in m]
        if "segment" in m:
            if len(m) != 1:
                raise self.fail(m, None, "'segment' references stand alone")
            name = m["segment"]
            if name not in names:
                raise self.fail(m, "segment", f"unknown segment '{name}'")
            return Ref(str(name))
        if not ops:
            return self.leaf(m)
        if len(ops) > 1 or any(k not in (*ops, "description") for k in m):
            raise self.fail(m, ops[0], "use either 'all' or 'any' alone in a rule")
        children = m[ops[0]]
        if not isinstance(children, _List) or not children:
            raise self.fail(m, ops[0], f"'{ops[0]}' must be a non-empty list of rules")
        return Composite(ops[0], tuple(self.node(c, names) for c in children))


def _order(segments: dict[str, Node], m: _Map, source: str) -> dict[str, Node]:
    """Order segments so references come first; refuse cycles."""
    done: dict[str, Node] = {}
    visiting: set[str] = set()

    def refs(node: Node) -> list[str]:
        if isinstance(node, Ref):
            return [node.name]
        if isinstance(node, Composite):
            return [r for c in node.children for r in refs(c)]
        return []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise _fail(source, _line(m, name), f"segment '{name}' refers to itself (a cycle)")
        visiting.add(name)
        for r in refs(segments[name]):
            visit(r)
        visiting.discard(name)
        done[name] = segments[name]

    for name in segments:
        visit(name)
    return done


def _featured(m: Any, parser: _Parser) -> FeaturedConfig:
    if m is None:
        return FeaturedConfig()
    if not isinstance(m, _Map):
        raise parser.fail(m, None, "'featured' must be a mapping")
    for key in m:
        if key not in ("pool", "tie_break"):
            raise parser.fail(m, key, f"unknown key '{key}' in featured (pool, tie_break)")
    tie = m.get("tie_break", "freshness")
    if tie not in TIE_BREAKS:
        raise parser.fail(m, "tie_break", f"tie_break '{tie}' is not one of {list(TIE_BREAKS)}")
    pool = m.get("pool")
    if pool is not None and not isinstance(pool, str):
        raise parser.fail(m, "pool", "pool must be a filter string such as 'sponsored:true'")
    return FeaturedConfig(pool=pool, tie_break=str(tie))


def parse_rules(
    text: str,
    attributes: list[str],
    max_window_days: float = 10.0,
    source: str = "segments.yaml",
) -> SegmentRules:
    """Validate and compile a rules file.

    Args:
        text: the YAML text.
        attributes: profiled attributes (``settings.profiles.attributes``).
        max_window_days: the profile timeline length; no rule may look further back.
        source: file name used in messages.

    Raises:
        ValidationFailedError: the message names the line and the reason.
    """
    data = _load(text, source)
    parser = _Parser(source, list(attributes), max_window_days)
    for key in data:
        if key not in ("defaults", "featured", "segments"):
            raise parser.fail(data, key, f"unknown top-level key '{key}'")
    if "defaults" in data:
        parser.read_defaults(data["defaults"])
    raw = data.get("segments")
    if not isinstance(raw, _Map):
        raise parser.fail(data, "segments", "'segments' must be a mapping of name -> rule")
    names = set(raw)
    segments: dict[str, Node] = {}
    descriptions: dict[str, str] = {}
    for name, rule in raw.items():
        if not NAME.match(name):
            raise parser.fail(raw, name, f"segment name '{name}' must match {NAME.pattern}")
        segments[name] = parser.node(rule, names)
        if isinstance(rule, _Map) and "description" in rule:
            descriptions[name] = str(rule["description"])
    return SegmentRules(
        segments=_order(segments, raw, source),
        featured=_featured(data.get("featured"), parser),
        descriptions=descriptions,
        text=text,
    )
