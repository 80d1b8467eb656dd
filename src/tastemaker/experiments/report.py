"""An experiment's HTML report, readable offline: the results table and four plots.

Plots (PNG data URIs, no network): each metric's difference with its 95% interval; the
primary metric's cumulative difference over time with the always-valid confidence sequence
(what a team that looks every day may read); users exposed per variant over time; the
primary metric per segment (membership when exposed) and per device.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from jinja2 import Environment, select_autoescape

from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.analysis import AnalysisResult
from tastemaker.experiments.breakdown import Dimension, breakdown
from tastemaker.experiments.definition import Experiment
from tastemaker.experiments.metrics import MetricSpec, by_variant, metric_values
from tastemaker.experiments.results import PRE_DAYS, exposures
from tastemaker.experiments.sequential import sequential_path
from tastemaker.experiments.stats import Estimate, mean_estimate, ratio_estimate
from tastemaker.figures import png_base64
from tastemaker.storage.base import Store

MAX_LOOKS = 30

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>experiment {{ key }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;font-size:.85rem}th,td{border:1px solid #ccc;padding:.3rem .5rem}
.bad{color:#b00020;font-weight:600} img{max-width:100%;border:1px solid #eee;margin:.5rem 0}
</style></head><body><h1>Experiment {{ key }}</h1>
<p>{{ hypothesis }}</p><p>Generated {{ generated }} &middot; {{ users }} users exposed
&middot; control <b>{{ result.control }}</b> &middot; alpha {{ result.alpha }}</p>
{% if not result.trustworthy %}<p class="bad">Sample ratio mismatch (chi-square p =
{{ "%.2e"|format(result.srm.p_value) }}): the split is not what was declared; do not read
the results.</p>{% endif %}
<table><tr><th>metric</th><th>role</th><th>variant</th><th>control</th><th>value</th>
<th>difference [95% CI]</th><th>relative [95% CI]</th><th>p</th><th>always-valid p</th>
<th>guardrail</th><th>note</th></tr>
{% for r in rows %}<tr><td>{{ r.metric }}</td><td>{{ r.role }}</td>
<td>{{ r.variant }}</td><td>{{ f(r.control_value) }}</td><td>{{ f(r.value) }}</td>
<td>{{ f(r.abs_diff) }} [{{ f(r.abs_ci[0]) }}, {{ f(r.abs_ci[1]) }}]</td>
<td>{{ f(r.rel_diff) }} [{{ f(r.rel_ci[0]) }}, {{ f(r.rel_ci[1]) }}]</td>
<td>{{ f(r.holm_p if r.holm_p is not none else r.p_value) }}</td>
<td>{{ f(r.sequential_p) }}</td><td>{{ r.guardrail or "" }}</td>
<td>{{ r.note or "" }}</td></tr>{% endfor %}</table>
<p>p: Welch's t-test for means, a two-proportion z-test for rates, the delta method for
ratios and relative differences; Holm-adjusted for secondary metrics; CUPED with each
user's pre-period ({{ pre_days }} days) where it exists.</p>
{% for title, img in figures %}<h2>{{ title }}</h2>
<img alt="{{ title }}" src="data:image/png;base64,{{ img }}">{% endfor %}
</body></html>
"""


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _looks(first: datetime, end: datetime) -> list[datetime]:
    """Daily looks when the experiment spans days, else evenly spaced ones."""
    span = end - first
    if span >= timedelta(days=2):
        days = min(int(span / timedelta(days=1)), MAX_LOOKS)
        return [end - span * (days - i - 1) / days for i in range(days)]
    return [first + span * (i + 1) / 10 for i in range(10)]


def _estimate(spec: MetricSpec, frame: pl.DataFrame, variant: str) -> Estimate:
    values = by_variant(frame, "value")[variant]
    if spec.kind == "ratio":
        return ratio_estimate(values, by_variant(frame, "denominator")[variant])
    return mean_estimate(values)


def cumulative_effect(
    store: Store, experiment: Experiment, spec: MetricSpec, end: datetime
) -> dict[str, list[float]]:
    """The first treatment's difference to control at each look, with the fixed-horizon
    95% interval and the always-valid confidence sequence (users exposed before the look)."""
    exposed = exposures(store, experiment.key)
    control, treatment = experiment.variants[0].name, experiment.variants[1].name
    first: datetime = exposed["exposed_at"].min()  # type: ignore[assignment]
    log = store.events(start=first - timedelta(days=PRE_DAYS), end=end)
    out: dict[str, list[float]] = {"t": [], "diff": [], "var": [], "control": []}
    for look in _looks(first, end):
        seen = exposed.filter(pl.col("exposed_at") < look)
        if seen["variant"].n_unique() < 2 or seen.height < 4:
            continue
        frame = metric_values(log, seen, spec, end=look, pre_days=PRE_DAYS)
        try:
            ec, et = _estimate(spec, frame, control), _estimate(spec, frame, treatment)
        except (ValidationFailedError, KeyError):
            continue
        out["t"].append(look.timestamp())
        out["diff"].append(float(et.value) - float(ec.value))
        out["var"].append(float(ec.variance) + float(et.variance))
        out["control"].append(float(ec.value))
    if out["diff"]:
        # tuned for an effect of 5% of the control value, as the analysis' sequential p
        tau = 0.05 * (abs(out["control"][-1]) or 1.0)
        path = sequential_path(out["diff"], out["var"], tau)
        out["cs_low"], out["cs_high"] = path.low.tolist(), path.high.tolist()
    return out


def _effects_plot(rows: list[dict[str, Any]]) -> str:
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(rows)))
    for i, r in enumerate(rows):
        low, high = r["rel_ci"]
        if r["rel_diff"] is None or low is None or high is None:
            continue
        ax.errorbar(r["rel_diff"], i, xerr=[[r["rel_diff"] - low], [high - r["rel_diff"]]],
                    fmt="o", capsize=3)  # fmt: skip
    ax.axvline(0, color="#999", lw=1)
    ax.set_yticks(range(len(rows)), [f"{r['metric']} ({r['variant']})" for r in rows])
    ax.set_xlabel("relative difference to control, 95% interval")
    return png_base64(fig)


def _cumulative_plot(path: dict[str, list[float]]) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    t = np.array([datetime.fromtimestamp(x, UTC).replace(tzinfo=None) for x in path["t"]],
                 dtype="datetime64[ms]")  # fmt: skip
    d, sd = np.array(path["diff"]), np.sqrt(np.array(path["var"]))
    ax.plot(t, d, marker="o", label="difference")
    ax.fill_between(t, d - 1.96 * sd, d + 1.96 * sd, alpha=0.2, label="95% interval (one look)")
    if "cs_low" in path:
        ax.plot(t, path["cs_low"], "k--", lw=1, label="confidence sequence (any look)")
        ax.plot(t, path["cs_high"], "k--", lw=1)
    ax.axhline(0, color="#999", lw=1)
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return png_base64(fig)


def _allocation_plot(exposed: pl.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(7, 3))
    for (variant,), part in sorted(exposed.partition_by("variant", as_dict=True).items()):
        stamps = part["exposed_at"].sort().to_list()
        ax.plot(stamps, range(1, len(stamps) + 1), label=str(variant))
    ax.set_ylabel("users exposed")
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return png_base64(fig)


def _breakdown_plot(
    store: Store, experiment: Experiment, by: Dimension, folder: Path | None
) -> str | None:
    rows = [
        r.to_dict() | {"metric": f"{group.group} ({group.users:,})"}
        for group in breakdown(store, experiment, by, metrics_folder=folder)
        for r in group.results
    ]
    return _effects_plot(rows) if rows else None


def write_experiment_report(
    store: Store,
    experiment: Experiment,
    result: AnalysisResult,
    path: Path,
    *,
    metrics: dict[str, MetricSpec],
    metrics_folder: Path | None = None,
) -> Path:
    """Write the HTML report of ``result`` (the analysis of ``experiment``) to ``path``."""
    rows = [r.to_dict() for r in result.results]
    end = experiment.stop or datetime.now(UTC)
    exposed = exposures(store, experiment.key)
    primary = metrics[experiment.metrics.primary.metric]
    figures = [("Effects", _effects_plot(rows))]
    path_data = cumulative_effect(store, experiment, primary, end)
    if path_data["t"]:
        figures.append((f"{primary.name}: cumulative difference", _cumulative_plot(path_data)))
    figures.append(("Allocation over time", _allocation_plot(exposed)))
    dimensions: tuple[Dimension, ...] = ("segment", "device")
    for by in dimensions:
        plot = _breakdown_plot(store, experiment, by, metrics_folder)
        if plot:
            figures.append((f"{primary.name} by {by} (relative difference)", plot))
    html = Environment(autoescape=select_autoescape(default=True)).from_string(_TEMPLATE).render(
        key=experiment.key, hypothesis=experiment.hypothesis, users=exposed.height,
        result=result, rows=rows, figures=figures, f=_f, pre_days=PRE_DAYS,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
