"""An experiment's primary metric per subgroup: by segment (membership when exposed) or by
device (see :func:`~tastemaker.experiments.results.unit_devices`).

Each subgroup is analysed on its own with the same code as the whole experiment, so its
interval is the subgroup's; read many of them with care (they are not corrected for
multiplicity and subgroups overlap for segments).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.analysis import MetricResult
from tastemaker.experiments.definition import Experiment
from tastemaker.experiments.results import experiment_results
from tastemaker.storage.base import Store

#: the most populous groups shown; smaller ones are left out
MAX_GROUPS = 8
Dimension = Literal["segment", "device"]


@dataclass(frozen=True)
class GroupResult:
    """The primary metric of one subgroup: its exposed users and each variant's result."""

    group: str
    users: int
    results: list[MetricResult]

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON-ready)."""
        return {"group": self.group, "users": self.users,
                "results": [r.to_dict() for r in self.results]}  # fmt: skip


def _groups(exposed: pl.DataFrame, by: Dimension) -> list[str]:
    column = exposed.explode("segments")["segments"] if by == "segment" else exposed["device"]
    counts = column.drop_nulls().value_counts(sort=True)
    return [str(g) for g in counts[column.name].head(MAX_GROUPS).to_list()]


def breakdown(
    store: Store, experiment: Experiment, by: Dimension, *, metrics_folder: Path | None = None
) -> list[GroupResult]:
    """The primary metric per ``by`` group (the largest :data:`MAX_GROUPS`), largest first;
    in a group where a variant has fewer than 2 users the row is null with a ``note``.

    Raises:
        ValidationFailedError: the experiment has no exposures yet.
    """
    _, exposed = experiment_results(store, experiment, metrics_folder=metrics_folder)
    rows = []
    for group in _groups(exposed, by):
        try:
            result, part = experiment_results(
                store, experiment, metrics_folder=metrics_folder,
                segment=group if by == "segment" else None,
                device=group if by == "device" else None,
            )  # fmt: skip
        except (ValidationFailedError, ValueError):
            continue
        primary = [r for r in result.results if r.role == "primary"]
        rows.append(GroupResult(group, part.height, primary))
    return rows
