"""Experiments in the engine: which running experiments serve a user, and how.

:class:`ExperimentRouter` reads the definitions (``experiments/<key>.yaml``, re-read when
the folder changes) and, for each served list or featured listing, assigns the user to a
variant of every running experiment that targets them (``experiments.assignment``). The
variant's serving overrides reach the engine's own structures:

* ``model_version``: the version that serves the list (the version set loads it);
* ``rerank``: a derived pipeline configuration whose re-ranking stages are compiled once
  per (experiment, variant, settings in force, loaded version) and cached;
* ``featured_policy``: personalized, random or no featured listing.

When several experiments set the same thing for one user, the first key in alphabetical
order wins (re-ranking overrides are merged in key order).

**Canary.** ``tastemaker models canary V --share N`` writes the experiment ``canary-V``
(control: the active version; treatment: V, weights 100-N and N). A workspace whose
``registry.json`` still names a canary (written before experiments) is read as that same
experiment, unless a file ``canary-V.yaml`` exists.

**Exposure.** The first time a unit is served under an experiment, an ``exposure`` event
goes through the engine's event sink, with event id ``exposure_event_id(key, unit)``, so
the ingest dedupe keeps one per user and experiment across processes. Recorded variants
(read from the log when the definitions change, and memoized as they are logged) win over
the hash: changing weights mid-run moves no exposed user.

**Anonymous visitors** are assigned by ``anon:<pseudonymized anonymous id>``. After an
identify links that id to a user, the user keeps the visitor's recorded variant (the link
is looked up in the profile service's identity links) and is exposed under the user key
with that variant.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tastemaker.engine.config import PipelineConfig
from tastemaker.engine.events import Exposure, exposure_event_id
from tastemaker.engine.sink import EventSink
from tastemaker.engine.version import LoadedVersion, reconfigure_version
from tastemaker.errors import TastemakerError
from tastemaker.experiments.assignment import assign
from tastemaker.experiments.definition import Experiment, canary_experiment
from tastemaker.experiments.store import EXPERIMENTS_DIR, ExperimentStore, read_exposures
from tastemaker.profiles.signals import UserSignals
from tastemaker.registry.registry import ModelRegistry
from tastemaker.workspace import Workspace

log = logging.getLogger(__name__)
_DERIVED_LIMIT = 256


@dataclass(frozen=True)
class Routing:
    """How one request is served under the experiments that target its user.

    Attributes:
        assignments: experiment key -> variant name (every impression's context).
        model_version: the version to serve (None: the active one).
        rerank: (experiment, variant, overrides) whose re-ranking overrides apply.
        featured_policy: personalized, random or none (None: personalized).
    """

    assignments: dict[str, str] = field(default_factory=dict)
    model_version: str | None = None
    rerank: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    featured_policy: str | None = None

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        """The assignments as a hashable cache key."""
        return tuple(sorted(self.assignments.items()))


NO_ROUTING = Routing()


class ExperimentRouter:
    """Assigns users to running experiments, logs exposures, derives serving setups.

    Args:
        ws: the workspace (definitions folder, event log, identity links).
        registry: the model registry (a canary named in its pointers is an experiment).
        sink: the engine's event sink (exposures).
        check_seconds: least time between two looks at the definitions and pointers.
        memo_limit: recorded (experiment, unit) variants kept in memory.
    """

    def __init__(
        self,
        ws: Workspace,
        registry: ModelRegistry,
        sink: EventSink,
        check_seconds: float = 1.0,
        memo_limit: int = 1_000_000,
    ) -> None:
        self.ws = ws
        self.registry = registry
        self.sink = sink
        self.check_seconds = check_seconds
        self.memo_limit = memo_limit
        self.store = ExperimentStore(Path(ws.root) / EXPERIMENTS_DIR, check_seconds)
        self._defined: list[Experiment] = []
        self._token: object = None
        self._next = 0.0
        self._recorded: dict[tuple[str, str], str] = {}
        self._reverse: tuple[int, dict[str, list[str]]] = (-1, {})
        self._derived: dict[Any, tuple[LoadedVersion, PipelineConfig, LoadedVersion]] = {}
        self._lock = threading.Lock()

    # --- definitions --------------------------------------------------------------------
    def defined(self) -> list[Experiment]:
        """Every definition (files, and a canary of the registry's pointers), by key."""
        if time.monotonic() >= self._next:
            with self._lock:
                self._next = time.monotonic() + self.check_seconds
                found = self.store.current()
                token = (self.store.generation, self.registry.state_token())
                if token != self._token:
                    self._defined = self._with_registry_canary(dict(found))
                    self._load_recorded()
                    self._token = token
        return self._defined

    def running(self) -> list[Experiment]:
        """The definitions running now, by key."""
        now = datetime.now(UTC)
        return [e for e in self.defined() if e.is_running(now)]

    def model_versions(self) -> frozenset[str]:
        """Model versions that running experiments serve (the version set loads them)."""
        return frozenset(
            v.serving.model_version
            for e in self.running()
            for v in e.variants
            if v.serving.model_version
        )

    def _with_registry_canary(self, found: dict[str, Experiment]) -> list[Experiment]:
        try:
            canary = self.registry.state().canary
        except (OSError, ValueError):
            canary = None
        if canary is not None and canary.share > 0:
            legacy = canary_experiment(canary.version, canary.share)
            found.setdefault(legacy.key, legacy)
        return [found[k] for k in sorted(found)]

    def _load_recorded(self) -> None:
        """Recorded variants of the defined experiments, from the event log."""
        keys = {e.key for e in self._defined}
        if not keys:
            return
        try:
            rows = read_exposures(self.ws.store)
        except Exception as exc:  # stickiness then rests on the memo and the hash
            log.warning("could not read recorded exposures: %s", exc)
            return
        for key, unit, variant, *_ in rows.iter_rows():
            if key in keys and len(self._recorded) < self.memo_limit:
                self._recorded.setdefault((key, unit), variant)

    # --- assignment ---------------------------------------------------------------------
    def route(
        self,
        user_key: str | None,
        anon_key: str | None,
        signals: Callable[[], UserSignals | None],
    ) -> Routing:
        """Assign a user (or visitor) to every running experiment targeting them.

        ``signals`` reads the profile (called at most once, only when targeting needs it;
        None: unavailable, so segment or new/returning targeting does not match).
        """
        running = self.running()
        unit = user_key or (f"anon:{anon_key}" if anon_key else None)
        if not running or unit is None:
            return NO_ROUTING
        assignments: dict[str, str] = {}
        model: str | None = None
        policy: str | None = None
        rerank: list[tuple[str, str, dict[str, Any]]] = []
        sig: list[UserSignals | None] = []
        for exp in running:
            recorded = self._recorded_variant(exp.key, unit, user_key)
            if recorded is None and not _targets(exp, sig, signals):
                continue
            variant = assign(exp, unit, recorded)
            if variant is None:
                continue
            assignments[exp.key] = variant.name
            if self._recorded.get((exp.key, unit)) != variant.name:
                if not sig:  # the segments at exposure: read once, on first exposure only
                    sig.append(signals())
                segments = tuple(sorted(sig[0].segments)) if sig[0] is not None else ()
                self._expose(exp.key, variant.name, unit, (user_key, anon_key), segments)
            serving = variant.serving
            model = model or serving.model_version
            policy = policy or serving.featured_policy
            if serving.rerank:
                rerank.append((exp.key, variant.name, serving.rerank))
        if not assignments:
            return NO_ROUTING
        return Routing(assignments, model, tuple(rerank), policy)

    def _recorded_variant(self, key: str, unit: str, user_key: str | None) -> str | None:
        found = self._recorded.get((key, unit))
        if found is not None or user_key is None:
            return found
        for anon in self._anonymous_ids(user_key):  # a visitor who identified since
            found = self._recorded.get((key, f"anon:{anon}"))
            if found is not None:
                return found
        return None

    def _anonymous_ids(self, user_key: str) -> list[str]:
        """Anonymous ids linked to ``user_key`` (the reverse of the identity links)."""
        try:
            links = self.ws.profiles.links()
        except Exception:  # the store is down: no stitching for now
            return []
        size, reverse = self._reverse
        if size != len(links):
            reverse = {}
            for anon, user in list(links.items()):
                reverse.setdefault(user, []).append(anon)
            self._reverse = (len(links), reverse)
        return reverse.get(user_key, [])

    def _expose(
        self,
        key: str,
        variant: str,
        unit: str,
        who: tuple[str | None, str | None],
        segments: tuple[str, ...],
    ) -> None:
        """Record the exposure of ``unit`` (``who``: user key, visitor key) to ``variant``."""
        if len(self._recorded) < self.memo_limit:
            self._recorded[(key, unit)] = variant
        at_ms = time.time_ns() // 1_000_000
        user_key, anon_key = who
        anon = None if user_key else anon_key
        event_id = exposure_event_id(key, unit)
        self.sink.put(Exposure(event_id, user_key, anon, key, variant, at_ms, segments))

    # --- serving ------------------------------------------------------------------------
    def version_for(
        self,
        base: LoadedVersion,
        config: PipelineConfig,
        routing: Routing,
        segment_attributes: tuple[str, ...],
    ) -> LoadedVersion:
        """``base`` with the routing's re-ranking overrides (cached; ``base`` if none or
        if the overrides do not compile, which is logged)."""
        if not routing.rerank:
            return base
        cache_key = (tuple((k, v) for k, v, _ in routing.rerank), base.name)
        hit = self._derived.get(cache_key)
        if hit is not None and hit[0] is base and hit[1] is config:
            return hit[2]
        try:
            derived = reconfigure_version(base, derive_config(config, routing), segment_attributes)
        except Exception as exc:
            log.error("experiment re-ranking overrides %s do not apply: %s", cache_key[0], exc)
            derived = base
        if len(self._derived) >= _DERIVED_LIMIT:
            self._derived.clear()
        self._derived[cache_key] = (base, config, derived)
        return derived


def derive_config(config: PipelineConfig, routing: Routing) -> PipelineConfig:
    """``config`` with the routing's re-ranking overrides merged in, in key order.

    Raises:
        pydantic.ValidationError: the merged settings are invalid.
    """
    data = config.model_dump(by_alias=True)
    for _, _, overrides in routing.rerank:
        data["rerank"] = _merge(data["rerank"], overrides)
    return PipelineConfig.model_validate(data)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def profile_reader(
    read: Callable[[str], UserSignals], key: str
) -> Callable[[], UserSignals | None]:
    """Reads ``key``'s signals for targeting when called (None when unavailable)."""

    def signals() -> UserSignals | None:
        try:
            return read(key)
        except (TastemakerError, OSError, RuntimeError) as exc:
            log.warning("profile unavailable for experiment targeting: %s", exc)
            return None

    return signals


def _targets(
    exp: Experiment, sig: list[UserSignals | None], signals: Callable[[], UserSignals | None]
) -> bool:
    """Whether the user meets the experiment's segment and new/returning targeting."""
    t = exp.targeting
    if not t.segments and t.users == "all":
        return True
    if not sig:
        sig.append(signals())
    found = sig[0]
    if found is None:
        return False
    if t.users != "all" and found.found != (t.users == "returning"):
        return False
    return not t.segments or any(s in found.segments for s in t.segments)
