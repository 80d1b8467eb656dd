"""An experiment's results from the event log: exposures, per-user metrics, the analysis.

Who is in the experiment and in which variant comes from its ``exposure`` events (the first
per unit); what they did from the rest of the log over [exposure, stop or now), and the
pre-period before it for CUPED. A visitor's events count for the user an ``identify``
linked them to, so a visitor who signs in stays one unit. Metrics are the built-in ones
(:data:`~tastemaker.experiments.metrics.BUILTIN_METRICS`) and those declared in the
workspace's ``experiments/metrics.yaml``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import yaml

from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.analysis import AnalysisResult, MetricInput, analyze, metric_input
from tastemaker.experiments.definition import Experiment, Guardrail
from tastemaker.experiments.metrics import BUILTIN_METRICS, MetricSpec, metric_values
from tastemaker.experiments.stats import Guardrail as StatsGuardrail
from tastemaker.experiments.store import METRICS_FILE, read_exposures
from tastemaker.storage.base import Store

PRE_DAYS = 14


def metric_catalog(folder: Path | None) -> dict[str, MetricSpec]:
    """Built-in metrics plus the ones declared in ``<folder>/metrics.yaml`` (a list of specs).

    Raises:
        ValidationFailedError: the file is not a list of valid metric specs.
    """
    catalog = {m.name: m for m in BUILTIN_METRICS}
    path = None if folder is None else folder / METRICS_FILE
    if path is None or not path.exists():
        return catalog
    try:
        declared = yaml.safe_load(path.read_text()) or []
        specs = [MetricSpec.model_validate(item) for item in declared]
    except Exception as exc:  # yaml or pydantic: one clear message with the file
        raise ValidationFailedError(f"{path}: not a list of metric specs: {exc}") from exc
    return catalog | {m.name: m for m in specs}


def _linked(visitor: pl.Expr, links: dict[str, str]) -> pl.Expr:
    """The user a visitor id was linked to by an identify (null when none)."""
    return visitor.replace_strict(links, default=None, return_dtype=pl.String)


def _unit(links: dict[str, str]) -> pl.Expr:
    """The unit of an event: its user, the user its visitor id was linked to, or the visitor."""
    visitor = pl.col("anonymous_id")
    return pl.coalesce(pl.col("user_id"), _linked(visitor, links), pl.lit("anon:") + visitor)


def exposures(store: Store, key: str) -> pl.DataFrame:
    """``user_id`` (the unit), ``variant`` and ``exposed_at`` (first exposure) of ``key``.

    A visitor exposed before and after signing in is one unit: the user the visitor id was
    linked to (the variant is the same, the assignment is sticky).
    """
    visitor = pl.col("user_id").str.strip_prefix("anon:")
    unit = pl.when(pl.col("user_id").str.starts_with("anon:")).then(
        _linked(visitor, store.identity_links())
    )
    return (
        read_exposures(store, key)
        .with_columns(pl.coalesce(unit, pl.col("user_id")).alias("user_id"))
        .sort("exposed_at")
        .unique("user_id", keep="first", maintain_order=True)
        .select("user_id", "variant", "exposed_at", "segments")
    )


def unit_devices(log: pl.DataFrame, exposed: pl.DataFrame, users: pl.DataFrame) -> pl.Series:
    """The device of each exposed unit, in ``exposed``'s order: the device (event context)
    of its last event up to its exposure, else of its first event after it, else the user's
    ``device`` attribute, else ``unknown``.

    ``log`` must carry the unit in ``user_id`` (visitors mapped to their users).
    """
    seen = log.select(
        "user_id", "timestamp", pl.col("context").str.json_path_match("$.device").alias("device")
    ).drop_nulls()
    timed = exposed.select("user_id", "exposed_at").join(seen, on="user_id", how="inner")
    before = timed.filter(pl.col("timestamp") <= pl.col("exposed_at")).sort("timestamp")
    after = timed.filter(pl.col("timestamp") > pl.col("exposed_at")).sort("timestamp")
    last = before.group_by("user_id").agg(pl.col("device").last().alias("_before"))
    first = after.group_by("user_id").agg(pl.col("device").first().alias("_after"))
    attribute = (
        users.select("user_id", pl.col("device").cast(pl.String).alias("_attribute"))
        if "device" in users.columns
        else pl.DataFrame(schema={"user_id": pl.String, "_attribute": pl.String})
    )
    found = (
        exposed.select("user_id")
        .join(last, on="user_id", how="left")
        .join(first, on="user_id", how="left")
        .join(attribute, on="user_id", how="left")
    )
    return found.select(
        pl.coalesce("_before", "_after", "_attribute", pl.lit("unknown")).alias("device")
    )["device"]


def _subset(
    exposed: pl.DataFrame, triggered: bool, segment: str | None, device: str | None
) -> pl.DataFrame:
    """The exposed units of a triggered analysis, a segment or a device."""
    if triggered:
        exposed = exposed.filter(pl.col("segments").list.len() > 0)
    if segment is not None:
        exposed = exposed.filter(pl.col("segments").list.contains(segment))
    if device is not None:
        exposed = exposed.filter(pl.col("device") == device)
    return exposed


def _roles(
    experiment: Experiment, catalog: dict[str, MetricSpec]
) -> list[tuple[str, str, Guardrail | None]]:
    """Each metric of ``experiment`` with its role (and guardrail), checked against the
    catalog."""
    roles: list[tuple[str, str, Guardrail | None]] = [
        (experiment.metrics.primary.metric, "primary", None),
        *[(m.metric, "secondary", None) for m in experiment.metrics.secondary],
        *[(g.metric, "guardrail", g) for g in experiment.metrics.guardrails],
    ]
    unknown = [name for name, _, _ in roles if name not in catalog]
    if unknown:
        raise ValidationFailedError(
            f"metric '{unknown[0]}' is neither built in nor declared in {METRICS_FILE}; "
            f"known: {', '.join(sorted(catalog))}"
        )
    return roles


def _guardrail(spec: Guardrail) -> StatsGuardrail:
    if spec.direction == "increase":
        return StatsGuardrail(better="higher", tolerance=spec.tolerance)
    return StatsGuardrail(better="lower", tolerance=spec.tolerance)


def experiment_results(
    store: Store,
    experiment: Experiment,
    *,
    metrics_folder: Path | None = None,
    now: datetime | None = None,
    alpha: float = 0.05,
    triggered: bool = False,
    segment: str | None = None,
    device: str | None = None,
) -> tuple[AnalysisResult, pl.DataFrame]:
    """The analysis of ``experiment`` on what the log holds, and its exposures.

    Args:
        triggered: only units that could have seen a difference: in at least one segment
            when exposed (a segment-personalized listing differs only for them).
        segment: only units in this segment when exposed (the breakdown by segment).
        device: only units on this device (see :func:`unit_devices`; the breakdown by
            device).

    The exposures returned carry each unit's ``device``.

    Raises:
        ValidationFailedError: nobody (in the subset) was exposed yet, or a metric is not in
            the catalog.
    """
    exposed = exposures(store, experiment.key)
    if exposed.is_empty():
        raise ValidationFailedError(f"experiment '{experiment.key}' has no exposures yet")
    end = experiment.stop or now or datetime.now(UTC)
    first: datetime = exposed["exposed_at"].min()  # type: ignore[assignment]
    log = store.events(start=first - timedelta(days=PRE_DAYS), end=end).with_columns(
        _unit(store.identity_links()).alias("user_id")
    )
    exposed = _subset(
        exposed.with_columns(unit_devices(log, exposed, store.users())), triggered, segment, device
    )
    if exposed.is_empty():
        key = experiment.key
        raise ValidationFailedError(f"experiment '{key}' has no exposures in this subset")
    catalog = metric_catalog(metrics_folder)
    inputs: list[MetricInput] = []
    for name, role, guard in _roles(experiment, catalog):
        values = metric_values(log, exposed, catalog[name], end=end, pre_days=PRE_DAYS)
        inputs.append(metric_input(catalog[name], values, role,  # type: ignore[arg-type]
                                   _guardrail(guard) if guard else None))  # fmt: skip
    weights = {v.name: v.weight for v in experiment.variants}
    if experiment.allocation == "thompson":  # weights moved: the split is what was observed
        counts = exposed["variant"].value_counts()
        weights = dict(zip(counts["variant"], counts["count"].cast(pl.Float64), strict=True))
    result = analyze(inputs, weights, experiment.variants[0].name, alpha=alpha)
    return result, exposed
