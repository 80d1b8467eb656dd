"""When a retrain is due: on a schedule, or when an alert arrived since the last retrain.

The last retrain is the newest ``models.retrain`` entry of the audit log (whatever its
verdict: a KEEP also waits a full period), or the newest creation among the live versions
(the live recommender's and the live propensity model's) when later. The worker's job runs
when a recommender or a propensity model is live (a retrain guards what is live: a
workspace serving propensity alone retrains just that), and does nothing while neither is
(there is nothing to guard). Alerts
come from an injected callable ``alerts_since(ts) -> count`` (epoch seconds), e.g. the
monitoring alert log, so this module does not depend on where alerts are kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tastemaker.access.audit import RETRAIN_ACTION, AuditLog
from tastemaker.storage.base import Store
from tastemaker.workspace import Workspace

AlertsSince = Callable[[float], int]


@dataclass(frozen=True)
class Due:
    """Whether to retrain now, and why (``schedule: ...``, ``alert: ...`` or why not)."""

    due: bool
    reason: str


def last_retrain_at(store: Store) -> float | None:
    """Epoch seconds of the newest audited retrain (None: never retrained)."""
    entry = AuditLog(store).last(RETRAIN_ACTION)
    return None if entry is None else entry.at / 1000.0


def _epoch(iso: str) -> float:
    """Epoch seconds of an ISO 8601 UTC time (``2026-01-31T00:00:00Z``)."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class RetrainTrigger:
    """Decides whether a retrain is due.

    Args:
        schedule_hours: retrain this long after the last retrain (0: never on schedule).
        last_retrain: epoch seconds of the last retrain, or None (never).
        alerts_since: number of drift / metric alerts at or after an epoch second; None: no
            alert source.
        clock: the current epoch seconds (tests pass a fake clock).
    """

    def __init__(
        self,
        schedule_hours: float,
        last_retrain: Callable[[], float | None],
        alerts_since: AlertsSince | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.schedule_hours = schedule_hours
        self.last_retrain = last_retrain
        self.alerts_since = alerts_since
        self.clock = clock

    def check(self) -> Due:
        """Due when alerts arrived since the last retrain, or the schedule's period passed.

        Never retrained: due on schedule at once (if a schedule is set) or on any alert.
        """
        now = self.clock()
        last = self.last_retrain()
        if self.alerts_since is not None:
            alerts = self.alerts_since(0.0 if last is None else last)
            if alerts > 0:
                return Due(True, f"alert: {alerts} drift/metric alert(s) since the last retrain")
        if self.schedule_hours <= 0:
            return Due(False, "no alert, and no schedule (retraining.schedule_hours = 0)")
        if last is None:
            return Due(True, "schedule: never retrained")
        hours = (now - last) / 3600.0
        if hours >= self.schedule_hours:
            return Due(True, f"schedule: {hours:.1f} h since the last retrain "
                             f"(every {self.schedule_hours:g} h)")  # fmt: skip
        return Due(False, f"not due: {hours:.1f} h of {self.schedule_hours:g} h since the last "
                          "retrain, no alert")  # fmt: skip


def retrain_if_due(
    ws: Workspace,
    alerts_since: AlertsSince | None = None,
    clock: Callable[[], float] = time.time,
) -> str:
    """Retrain ``ws`` when :class:`RetrainTrigger` says so (the worker's retrain job).

    Due only when a recommender or a propensity model is live; the trigger's "last retrain"
    is never older than the newest of their creations.

    Returns:
        One line for the worker's log: why not, or both verdicts (recommender, then
        propensity; either may be SKIPPED) and their figures.
    """
    from tastemaker.retraining.run import retrain

    born = _newest_live(ws)
    if born is None:
        return (
            "not due: no live version to guard (train one: `tastemaker train --promote` "
            "or `tastemaker propensity train --promote`)"
        )

    def last() -> float:
        return max(last_retrain_at(ws.store) or 0.0, born)

    trigger = RetrainTrigger(ws.settings.retraining.schedule_hours, last, alerts_since, clock)
    due = trigger.check()
    if not due.due:
        return due.reason
    outcome = retrain(ws, reason=due.reason, actor="worker:retrain")
    step = outcome.propensity
    return (f"{due.reason} -> {_said(outcome.verdict, outcome.candidate)}: {outcome.reason}; "
            f"propensity: {_said(step.verdict, step.candidate)}: {step.reason}")  # fmt: skip


def _newest_live(ws: Workspace) -> float | None:
    """Epoch seconds of the newest creation among the live recommender and propensity
    versions (None: neither is live)."""
    from tastemaker.propensity.training import registry_of as propensity_registry
    from tastemaker.training.recommender import registry_of

    born = [
        _epoch(registry.manifest(live).created_at)
        for registry in (registry_of(ws), propensity_registry(ws))
        if (live := registry.state().active) is not None
    ]
    return max(born, default=None)


def _said(verdict: str, candidate: str | None) -> str:
    """A step's verdict with its candidate, when one was trained (``PROMOTE v0004``)."""
    return f"{verdict} {candidate}" if candidate else verdict
