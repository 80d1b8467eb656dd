"""One guarded retrain: rolling window -> candidate version -> guard -> promote or keep.

``retrain`` guards what is live. The training window is the ``retraining.window_days`` of
events that end where the holdout (the freshest ``retraining.holdout_days``) begins. The
recommender step trains a candidate on it, registers it, lets the guard
(:mod:`tastemaker.retraining.guard`) compare it with the live version on the holdout, and
promotes it on PROMOTE (unless a dry run); with nothing live at all, the first candidate is
promoted. When a propensity model is live but no recommender is, the recommender step is
SKIPPED (nothing trained, nothing promoted). When a propensity model is live, the same
window and holdout then retrain and guard it (:mod:`tastemaker.retraining.propensity_step`),
promoted or kept independently of the recommender. One audit-log entry
(``models.retrain``) records both verdicts and their figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from tastemaker.access.audit import RETRAIN_ACTION, AuditLog, cli_actor
from tastemaker.errors import TastemakerError, ValidationFailedError
from tastemaker.models.base import Recommender
from tastemaker.models.catalog import load_model
from tastemaker.propensity.training import registry_of as propensity_registry
from tastemaker.registry.artifacts import MODEL_DIR
from tastemaker.registry.manifest import Manifest
from tastemaker.registry.registry import ModelRegistry
from tastemaker.retraining.guard import (
    GuardResult,
    HoldoutPeriod,
    compare,
    favoured_note,
    holdout_period,
)
from tastemaker.retraining.propensity_step import (
    PropensityOutcome,
    StepVerdict,
    retrain_propensity,
)
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace

DEFAULT_MODEL = "hybrid"
#: The recommender step's reason when a propensity model is live but no recommender is.
NO_RECOMMENDER = (
    "no recommender is live: nothing to retrain (train one: `tastemaker train --promote`)"
)


@dataclass
class RetrainOutcome:
    """What a retrain did, with the guard's figures.

    Attributes:
        verdict: the recommender step's: ``PROMOTE`` or ``KEEP`` (the guard's), or
            ``SKIPPED`` (a propensity model is live but no recommender is).
        reason: the guard's sentence (why), or why the step was skipped.
        promoted: the candidate is live now (False on KEEP, SKIPPED and in a dry run).
        dry_run: evaluated without promoting.
        trigger: why the retrain ran (``manual``, ``schedule: ...``, ``alert: ...``).
        live: the recommender version live before (None when none).
        window_start, window_end: the training window of both steps (ISO 8601 UTC).
        train_events: events in the window.
        candidate, model: the recommender version trained now and its model (None when
            SKIPPED).
        guard: the guard's figures (None when SKIPPED: no comparison was made).
        seconds: wall time of the whole retrain.
        notes: caveats of the recommender's comparison.
        propensity: the propensity step's outcome (``SKIPPED`` when no propensity model
            is live).
    """

    verdict: StepVerdict
    reason: str
    promoted: bool
    dry_run: bool
    trigger: str
    live: str | None
    window_start: str
    window_end: str
    train_events: int
    candidate: str | None = None
    model: str | None = None
    guard: GuardResult | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    propensity: PropensityOutcome = field(
        default_factory=lambda: PropensityOutcome("SKIPPED", "not run")
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready outcome (the guard's figures nested under ``guard``, None when SKIPPED)."""
        return {
            "verdict": self.verdict, "reason": self.reason, "promoted": self.promoted,
            "dry_run": self.dry_run, "trigger": self.trigger, "live": self.live,
            "candidate": self.candidate, "model": self.model,
            "window": {"start": self.window_start, "end": self.window_end,
                       "events": self.train_events},
            "guard": None if self.guard is None else self.guard.to_dict(),
            "seconds": round(self.seconds, 2), "notes": self.notes,
            "propensity": self.propensity.to_dict(),
        }  # fmt: skip


def _as_utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _live_model(
    registry: ModelRegistry, live: str | None
) -> tuple[Recommender | None, Manifest | None]:
    """The live version's model and manifest (None, None when nothing is live)."""
    if live is None:
        return None, None
    manifest = registry.check_schema(live)
    return load_model(registry.path(live) / MODEL_DIR), manifest


@dataclass(frozen=True)
class _Window:
    """The events both steps train on: ``[start, end)``, ending where the holdout begins."""

    start: datetime
    end: datetime
    events: pl.DataFrame


def _training_window(ws: Workspace, period: HoldoutPeriod) -> _Window:
    """The ``retraining.window_days`` of events that end where ``period`` begins.

    Raises:
        ValidationFailedError: no events in the window.
    """
    cfg = ws.settings.retraining
    start = period.start - timedelta(days=cfg.window_days)
    events = period.history.filter(pl.col("timestamp") >= start)
    if events.is_empty():
        raise ValidationFailedError(
            f"no events between {start:%Y-%m-%d %H:%M} and {period.start:%Y-%m-%d %H:%M} "
            f"UTC to retrain on (retraining.window_days = {cfg.window_days}, holdout_days "
            f"= {cfg.holdout_days}); import events or widen the window"
        )
    return _Window(start, period.start, events)


def _train_candidate(
    ws: Workspace, window: _Window, live: str | None, live_manifest: Manifest | None,
    reason: str,
) -> tuple[Manifest, Recommender]:  # fmt: skip
    """Train and register a recommender candidate on ``window``: its manifest and model."""
    name = ws.settings.retraining.model or (live_manifest.model if live_manifest else DEFAULT_MODEL)
    params = live_manifest.params if live_manifest and live_manifest.model == name else {}
    made: dict[str, object] = {
        "retraining": {"trigger": reason, "window_start": window.start.isoformat(),
                       "window_end": window.end.isoformat(), "live": live},
    }  # fmt: skip
    manifest = train_version(ws, name, params, holdout=0, events=window.events, extra=made)
    return manifest, load_model(registry_of(ws).path(manifest.version) / MODEL_DIR)


def _recommender_step(
    ws: Workspace, period: HoldoutPeriod, window: _Window, reason: str, *, dry_run: bool
) -> RetrainOutcome:
    """Train, guard and promote (or keep) a recommender candidate; SKIPPED when a
    propensity model is live but no recommender is (the propensity step not yet run)."""
    registry = registry_of(ws)
    live = registry.state().active
    base: dict[str, Any] = dict(
        dry_run=dry_run, trigger=reason, live=live, window_start=window.start.isoformat(),
        window_end=window.end.isoformat(), train_events=window.events.height,
    )  # fmt: skip
    if live is None and propensity_registry(ws).state().active is not None:
        return RetrainOutcome("SKIPPED", NO_RECOMMENDER, promoted=False, **base)
    live_model, live_manifest = _live_model(registry, live)
    manifest, model = _train_candidate(ws, window, live, live_manifest, reason)
    version = manifest.version
    weights = dict(ws.settings.event_weights)
    cfg = ws.settings.retraining
    guard = compare(live_model, model, period, cfg, weights, (live, version))
    promote = guard.verdict == "PROMOTE" and not dry_run
    if promote:
        registry.promote(version)
    return RetrainOutcome(
        guard.verdict, guard.reason, promoted=promote, candidate=version, model=manifest.model,
        guard=guard, notes=favoured_note("version", live, live_manifest, period), **base,
    )  # fmt: skip


def retrain(
    ws: Workspace,
    now: datetime | None = None,
    reason: str = "manual",
    *,
    dry_run: bool = False,
    actor: str | None = None,
) -> RetrainOutcome:
    """Retrain what is live on the rolling window, guard, and promote each candidate or keep
    the live version.

    Args:
        ws: the workspace (events, registries, settings ``retraining``).
        now: the end of the holdout (default: the current time); events after it are
            ignored, so a past moment can be replayed.
        reason: why the retrain runs (recorded in the outcome and the audit log).
        dry_run: register and evaluate the candidates but never promote them.
        actor: who retrains, for the audit log (default ``cli:<os user>``).

    Returns:
        The outcome: the recommender step's verdict, reason, versions, window and guard
        figures (SKIPPED when a propensity model is live but no recommender is), and the
        propensity step's (SKIPPED when no propensity model is live).

    Raises:
        ValidationFailedError: no usable events in the training window (audited as an error).
        ConflictError: the live version was built for another feature schema.
    """
    began = time.perf_counter()
    audit = AuditLog(ws.store)
    who = actor or cli_actor()
    live = registry_of(ws).state().active
    try:
        days = ws.settings.retraining.holdout_days
        period = holdout_period(ws.store.events(), _as_utc(now), days)
        window = _training_window(ws, period)
        outcome = _recommender_step(ws, period, window, reason, dry_run=dry_run)
    except TastemakerError as exc:
        audit.record(who, RETRAIN_ACTION, live, "error", trigger=reason, error=exc.message)
        raise
    step = retrain_propensity(ws, period, window.start, reason, dry_run=dry_run)
    outcome = replace(outcome, propensity=step, seconds=time.perf_counter() - began)
    audit.record(who, RETRAIN_ACTION, outcome.candidate, "ok", **outcome.to_dict())
    return outcome
