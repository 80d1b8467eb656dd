"""One guarded retrain: rolling window -> candidate version -> guard -> promote or keep.

``retrain`` trains the candidate on the ``retraining.window_days`` of events that end where
the holdout (the freshest ``retraining.holdout_days``) begins, registers it, lets the guard
(:mod:`tastemaker.retraining.guard`) compare it with the live version on the holdout,
promotes it on PROMOTE (unless a dry run). When a propensity model is live, the same
window and holdout then retrain and guard it (:mod:`tastemaker.retraining.propensity_step`),
promoted or kept independently of the recommender. One audit-log entry
(``models.retrain``) records both verdicts and their figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from tastemaker.access.audit import RETRAIN_ACTION, AuditLog, cli_actor
from tastemaker.errors import TastemakerError, ValidationFailedError
from tastemaker.models.base import Recommender
from tastemaker.models.catalog import load_model
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
from tastemaker.retraining.propensity_step import PropensityOutcome, retrain_propensity
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace

AUDIT_ACTION = RETRAIN_ACTION
DEFAULT_MODEL = "hybrid"


@dataclass
class RetrainOutcome:
    """What a retrain did, with the guard's figures.

    Attributes:
        verdict: ``PROMOTE`` or ``KEEP`` (the guard's).
        reason: the guard's sentence (why).
        promoted: the candidate is live now (False on KEEP and in a dry run).
        dry_run: evaluated without promoting.
        trigger: why the retrain ran (``manual``, ``schedule: ...``, ``alert: ...``).
        live: the version live before; candidate: the version trained now.
        window_start, window_end: the training window (ISO 8601 UTC).
        train_events: events in the window.
        guard: the guard's figures.
        seconds: wall time of the whole retrain.
        notes: caveats of the recommender's comparison.
        propensity: the propensity step's outcome (``SKIPPED`` when no propensity model
            is live).
    """

    verdict: str
    reason: str
    promoted: bool
    dry_run: bool
    trigger: str
    live: str | None
    candidate: str
    model: str
    window_start: str
    window_end: str
    train_events: int
    guard: GuardResult
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    propensity: PropensityOutcome = field(
        default_factory=lambda: PropensityOutcome("SKIPPED", "not run")
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready outcome (the guard's figures nested under ``guard``)."""
        return {
            "verdict": self.verdict, "reason": self.reason, "promoted": self.promoted,
            "dry_run": self.dry_run, "trigger": self.trigger, "live": self.live,
            "candidate": self.candidate, "model": self.model,
            "window": {"start": self.window_start, "end": self.window_end,
                       "events": self.train_events},
            "guard": self.guard.to_dict(), "seconds": round(self.seconds, 2),
            "notes": self.notes, "propensity": self.propensity.to_dict(),
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
class _Candidate:
    """A trained candidate: its manifest and model, and the window it was trained on."""

    manifest: Manifest
    model: Recommender
    start: datetime
    events: int


def _train_candidate(
    ws: Workspace, period: HoldoutPeriod, live: str | None, live_manifest: Manifest | None,
    reason: str,
) -> _Candidate:  # fmt: skip
    """Train and register a candidate on the window that ends where ``period`` begins.

    Raises:
        ValidationFailedError: no events in the window.
    """
    cfg = ws.settings.retraining
    start = period.start - timedelta(days=cfg.window_days)
    window = period.history.filter(pl.col("timestamp") >= start)
    if window.is_empty():
        raise ValidationFailedError(
            f"no events between {start:%Y-%m-%d %H:%M} and {period.start:%Y-%m-%d %H:%M} "
            f"UTC to retrain on (retraining.window_days = {cfg.window_days}, holdout_days "
            f"= {cfg.holdout_days}); import events or widen the window"
        )
    name = cfg.model or (live_manifest.model if live_manifest else DEFAULT_MODEL)
    params = live_manifest.params if live_manifest and live_manifest.model == name else {}
    made: dict[str, object] = {
        "retraining": {"trigger": reason, "window_start": start.isoformat(),
                       "window_end": period.start.isoformat(), "live": live},
    }  # fmt: skip
    manifest = train_version(ws, name, params, holdout=0, events=window, extra=made)
    model = load_model(registry_of(ws).path(manifest.version) / MODEL_DIR)
    return _Candidate(manifest, model, start, window.height)


def retrain(
    ws: Workspace,
    now: datetime | None = None,
    reason: str = "manual",
    *,
    dry_run: bool = False,
    actor: str | None = None,
) -> RetrainOutcome:
    """Retrain on the rolling window, guard, and promote the candidate or keep the live one.

    Args:
        ws: the workspace (events, registry, settings ``retraining``).
        now: the end of the holdout (default: the current time); events after it are
            ignored, so a past moment can be replayed.
        reason: why the retrain runs (recorded in the outcome and the audit log).
        dry_run: register and evaluate the candidate but never promote it.
        actor: who retrains, for the audit log (default ``cli:<os user>``).

    Returns:
        The outcome: verdict, reason, versions, window and the guard's figures, and the
        propensity step's (SKIPPED when no propensity model is live).

    Raises:
        ValidationFailedError: no usable events in the training window (audited as an error).
        ConflictError: the live version was built for another feature schema.
    """
    began = time.perf_counter()
    cfg = ws.settings.retraining
    audit = AuditLog(ws.store)
    who = actor or cli_actor()
    registry = registry_of(ws)
    live = registry.state().active
    try:
        live_model, live_manifest = _live_model(registry, live)
        period = holdout_period(ws.store.events(), _as_utc(now), cfg.holdout_days)
        cand = _train_candidate(ws, period, live, live_manifest, reason)
        version = cand.manifest.version
        weights = dict(ws.settings.event_weights)
        guard = compare(live_model, cand.model, period, cfg, weights, (live, version))
        promote = guard.verdict == "PROMOTE" and not dry_run
        if promote:
            registry.promote(version)
    except TastemakerError as exc:
        audit.record(who, AUDIT_ACTION, live, "error", trigger=reason, error=exc.message)
        raise
    step = retrain_propensity(ws, period, cand.start, reason, dry_run=dry_run)
    outcome = RetrainOutcome(
        verdict=guard.verdict, reason=guard.reason, promoted=promote, dry_run=dry_run,
        trigger=reason, live=live, candidate=version, model=cand.manifest.model,
        window_start=cand.start.isoformat(), window_end=period.start.isoformat(),
        train_events=cand.events, guard=guard, seconds=time.perf_counter() - began,
        notes=favoured_note("version", live, live_manifest, period), propensity=step,
    )  # fmt: skip
    audit.record(who, AUDIT_ACTION, version, "ok", **outcome.to_dict())
    return outcome
