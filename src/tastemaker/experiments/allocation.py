"""The Thompson-sampling bandit as an experiment's allocation: rebalancing its weights.

An experiment with ``allocation: thompson`` starts at its declared weights. Each rebalance
counts, per variant, the exposed units (trials) and those who converted after exposure
(successes: the primary metric, which must be a proportion such as ``conversion``), draws
the Thompson allocation (Beta(1 + s, 1 + n - s) per arm, each arm kept at ``min_share`` at
least), appends the step to ``experiments/<key>.allocation.json`` and writes the new weights
into the definition, which running servers pick up within a second. Assignment stays sticky:
users already exposed keep their variant, only new users follow the new weights.

:func:`rebalance_due` runs that step on a schedule: every running bandit whose last
allocation (its last recorded step, else its ``start``) is older than its definition's
``rebalance_hours`` (default 24) is rebalanced; ``tastemaker experiments rebalance --due``
calls it, and a worker can call it periodically.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tastemaker.errors import TastemakerError, ValidationFailedError
from tastemaker.experiments.bandit import AllocationHistory, AllocationStep
from tastemaker.experiments.definition import Experiment
from tastemaker.experiments.metrics import by_variant, metric_values
from tastemaker.experiments.results import PRE_DAYS, exposures, metric_catalog
from tastemaker.experiments.store import ExperimentStore
from tastemaker.storage.base import Store

log = logging.getLogger(__name__)


def history_path(folder: Path, key: str) -> Path:
    """Where an experiment's allocation history is kept."""
    return folder / f"{key}.allocation.json"


def load_history(folder: Path, experiment: Experiment) -> AllocationHistory:
    """The recorded allocation steps of ``experiment`` (none yet: an empty history)."""
    arms = tuple(v.name for v in experiment.variants)
    path = history_path(folder, experiment.key)
    if not path.exists():
        return AllocationHistory(arms, experiment.min_share)
    data = json.loads(path.read_text())
    steps = tuple(
        AllocationStep(
            datetime.fromisoformat(s["at"]),
            tuple(s["successes"]),
            tuple(s["trials"]),
            tuple(s["allocation"]),
        )
        for s in data["steps"]
    )
    return AllocationHistory(arms, experiment.min_share, steps)


def rebalance(
    store: Store, experiments: ExperimentStore, key: str, *, now: datetime | None = None
) -> AllocationHistory:
    """One bandit step for ``key``: new weights from the log, recorded and applied.

    Raises:
        ValidationFailedError: the experiment is not a bandit, or its primary metric is not a
            proportion.
    """
    experiment = experiments.get(key)
    if experiment.allocation != "thompson":
        raise ValidationFailedError(f"experiment '{key}' has fixed weights (allocation: fixed)")
    spec = metric_catalog(experiments.folder)[experiment.metrics.primary.metric]
    if spec.kind != "proportion":
        raise ValidationFailedError(
            f"a bandit needs a proportion as primary metric; '{spec.name}' is a {spec.kind}"
        )
    at = now or datetime.now(UTC)
    exposed = exposures(store, key)
    arms = [v.name for v in experiment.variants]
    successes, trials = [0] * len(arms), [0] * len(arms)
    if not exposed.is_empty():
        log = store.events(start=exposed["exposed_at"].min(), end=at)  # type: ignore[arg-type]
        values = by_variant(metric_values(log, exposed, spec, end=at, pre_days=PRE_DAYS), "value")
        for i, arm in enumerate(arms):
            successes[i] = int(values[arm].sum()) if arm in values else 0
            trials[i] = int(values[arm].size) if arm in values else 0
    history = load_history(experiments.folder, experiment).record(at, successes, trials)
    path = history_path(experiments.folder, key)
    path.write_text(json.dumps(history.to_dict(), indent=1))
    shares = history.current
    variants = [v.model_copy(update={"weight": max(shares[v.name], 1e-6)})
                for v in experiment.variants]  # fmt: skip
    experiments.put(experiment.model_copy(update={"variants": variants}))
    return history


@dataclass(frozen=True)
class Rebalanced:
    """What :func:`rebalance_due` did for one bandit: its new history, or why it failed."""

    key: str
    history: AllocationHistory | None = None
    error: str | None = None


def last_allocation(folder: Path, experiment: Experiment) -> datetime | None:
    """When ``experiment``'s weights were last set: its last step, else its start (None:
    never rebalanced and no start declared)."""
    steps = load_history(folder, experiment).steps
    return steps[-1].at if steps else experiment.start


def is_due(folder: Path, experiment: Experiment, now: datetime) -> bool:
    """Whether ``experiment`` is a running bandit whose last allocation is older than its
    ``rebalance_hours`` at ``now`` (one never rebalanced, without a start, is due)."""
    if experiment.allocation != "thompson" or not experiment.is_running(now):
        return False
    last = last_allocation(folder, experiment)
    return last is None or now - last >= timedelta(hours=experiment.rebalance_hours)


def rebalance_due(
    store: Store, experiments: ExperimentStore, now: datetime | None = None
) -> list[Rebalanced]:
    """Rebalance every running bandit that is due (see :func:`is_due`), by key.

    A bandit that cannot be rebalanced (e.g. its primary metric is not a proportion) is
    logged and reported with its error; the others still run.

    Args:
        store: the workspace's store (exposures and conversions).
        experiments: the definitions (weights are written back there).
        now: the time of the step (default: now, UTC).
    """
    at = now or datetime.now(UTC)
    done = []
    for experiment in experiments.list():
        if not is_due(experiments.folder, experiment, at):
            continue
        try:
            history = rebalance(store, experiments, experiment.key, now=at)
            done.append(Rebalanced(experiment.key, history))
        except TastemakerError as exc:
            log.error("bandit '%s' not rebalanced: %s", experiment.key, exc.message)
            done.append(Rebalanced(experiment.key, error=exc.message))
    return done
