"""The monitoring HTML report, readable offline: drift table and plots, online metrics.

Plots (PNG data URIs, no network): the population stability index per feature against
its threshold; for each numeric feature, its share per reference bin in the reference and
in served traffic; for each categorical one (engaged ones too), its largest categories on
both sides;
click-through and conversion per day for each model version and variant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from jinja2 import Environment, select_autoescape

from tastemaker.config import MonitoringConfig
from tastemaker.figures import png_base64
from tastemaker.monitoring.alerts import Alert
from tastemaker.monitoring.checks import MonitorResult
from tastemaker.monitoring.features import WEIGHT
from tastemaker.monitoring.reference import CategoricalReference, Reference

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tastemaker monitoring</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;font-size:.85rem}th,td{border:1px solid #ccc;padding:.3rem .5rem}
.bad{color:#b00020;font-weight:600} img{max-width:100%;border:1px solid #eee;margin:.5rem 0}
</style></head><body><h1>Monitoring</h1><p>Generated {{ generated }}</p>
<h2>Drift</h2>{% if drift %}<p>Version <b>{{ drift.version }}</b>, window
{{ start }} to {{ end }} (UTC): {{ drift.lists }} lists, {{ drift.items }} items{% if
drift.engaged is not none %}; {{ drift.engaged }} engagements (user-item pairs, features
<code>engaged.*</code>, each user weighing 1){% endif %}.
{% if drift.drifted %}<span class="bad">Drift.</span>{% elif drift.enough or
drift.engaged_enough %}No drift.{% else %}Figures only, no verdict.{% endif %}
{% if not drift.enough %}Fewer than {{ drift.min_samples }} served items: no verdict on served
features.{% endif %}{% if drift.engaged is not none and not drift.engaged_enough %} Fewer than
{{ drift.min_samples }} engagements: no verdict on engaged features.{% endif %}
A feature drifts when PSI &ge; {{ cfg.psi_threshold }} and its test's p is below
{{ cfg.ks_p_threshold }} (Kolmogorov-Smirnov) or {{ cfg.chi2_p_threshold }} (chi-square).</p>
<table><tr><th>feature</th><th>kind</th><th>n</th><th>PSI</th><th>test</th><th>statistic</th>
<th>p</th><th>reference mean</th><th>served mean</th><th>drifted</th></tr>
{% for f in drift.features %}<tr><td>{{ f.feature }}</td><td>{{ f.kind }}</td><td>{{ f.n }}</td>
<td>{{ n(f.psi) }}</td><td>{{ f.test }}</td><td>{{ n(f.statistic) }}</td><td>{{ n(f.p_value) }}</td>
<td>{{ n(f.reference_mean) }}</td><td>{{ n(f.current_mean) }}</td>
<td{% if f.drifted %} class="bad"{% endif %}>{{ "yes" if f.drifted else "no" }}</td></tr>
{% endfor %}</table>{% else %}<p>No drift check: {{ error }}</p>{% endif %}
<h2>Online metrics</h2>{% if online %}<table><tr><th>day</th><th>version / variant</th>
<th>impressions</th><th>clicks</th><th>CTR</th><th>conversions</th><th>conversion</th></tr>
{% for r in online %}<tr><td>{{ r.day }}</td><td>{{ r.series }}</td><td>{{ r.impressions }}</td>
<td>{{ r.clicks }}</td><td>{{ n(r.ctr) }}</td><td>{{ r.conversions }}</td>
<td>{{ n(r.conversion) }}</td></tr>{% endfor %}</table>{% else %}<p>No impressions in the
window.</p>{% endif %}
<h2>Alerts</h2>{% if alerts %}<table><tr><th>time (UTC)</th><th>kind</th><th>subject</th>
<th>version</th></tr>{% for a in alerts %}<tr><td>{{ t(a.ts) }}</td><td>{{ a.kind }}</td>
<td>{{ a.subject }}</td><td>{{ a.version or "" }}</td></tr>{% endfor %}</table>
{% else %}<p>None.</p>{% endif %}
{% for title, img in figures %}<h2>{{ title }}</h2>
<img alt="{{ title }}" src="data:image/png;base64,{{ img }}">{% endfor %}
</body></html>
"""


def _n(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:.2e}" if x != 0 and abs(x) < 1e-3 else f"{x:.4g}"


def _t(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _psi_plot(result: MonitorResult, cfg: MonitoringConfig) -> str:
    assert result.drift is not None
    feats = result.drift.features
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.4 * len(feats)))
    values = [f.psi if np.isfinite(f.psi) else 0.0 for f in feats]
    ax.barh([f.feature for f in feats], values,
            color=["#b00020" if f.drifted else "#4a7ab5" for f in feats])  # fmt: skip
    ax.axvline(cfg.psi_threshold, color="#999", ls="--", lw=1, label="threshold")
    ax.set_xlabel("population stability index")
    ax.legend(fontsize=7)
    return png_base64(fig)


def _shares_plot(reference: Reference, served: pl.DataFrame, feature: str) -> str:
    """Reference and current shares of ``feature`` (a column of ``served``, weighed by its
    ``WEIGHT`` column if any)."""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    if feature in reference.numeric:
        ref = reference.numeric[feature]
        counts = ref.bin_counts(served[feature].to_numpy())
        cur = counts / max(counts.sum(), 1)
        labels = [f"<{e:.3g}" for e in ref.edges] + [
            f">={ref.edges[-1]:.3g}" if ref.edges else "all"
        ]
        base = np.asarray(ref.shares)
    else:
        shares = reference.categorical[feature].shares
        weights = served[WEIGHT] if WEIGHT in served.columns else None
        cur_map = CategoricalReference.of(served[feature], weights).shares
        labels = sorted(set(shares) | set(cur_map), key=lambda k: -shares.get(k, 0.0))[:12]
        base = np.array([shares.get(k, 0.0) for k in labels])
        cur = np.array([cur_map.get(k, 0.0) for k in labels])
    x = np.arange(len(labels))
    ax.bar(x - 0.2, base, 0.4, label="reference")
    ax.bar(x + 0.2, cur, 0.4, label="window")
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share")
    ax.legend(fontsize=7)
    return png_base64(fig)


def _online_plot(result: MonitorResult, metric: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 3))
    series: dict[str, list[tuple[str, float]]] = {}
    for r in result.online:
        series.setdefault(r.series, []).append((r.day, getattr(r, metric)))
    for name, points in sorted(series.items()):
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    ax.set_ylabel(metric)
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return png_base64(fig)


def write_monitor_report(
    path: Path,
    result: MonitorResult,
    cfg: MonitoringConfig,
    *,
    alerts: list[Alert] | None = None,
) -> Path:
    """Write the HTML report of one monitoring pass to ``path``.

    Args:
        path: the HTML file.
        result: the pass (:func:`~tastemaker.monitoring.checks.run_monitor`).
        cfg: the thresholds shown.
        alerts: alerts to list.
    """
    figures: list[tuple[str, str]] = []
    drift = result.drift
    if drift is not None and drift.features:
        figures.append(("Population stability index per feature", _psi_plot(result, cfg)))
        # share plots of the frames the check compared (none for a pass read back from disk)
        frames = [f for f in (drift.served, drift.engaged_frame) if f is not None and f.height]
        reference = drift.reference
        for f in drift.features:
            frame = next((x for x in frames if f.feature in x.columns), None)
            if reference is not None and frame is not None:
                figures.append((f"{f.feature}: reference and current shares",
                                _shares_plot(reference, frame, f.feature)))  # fmt: skip
    if result.online:
        figures.append(("Click-through per day", _online_plot(result, "ctr")))
        figures.append(("Conversion per day", _online_plot(result, "conversion")))
    context: dict[str, Any] = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "drift": drift, "error": result.drift_error, "cfg": cfg, "online": result.online,
        "alerts": alerts or [], "figures": figures, "n": _n, "t": _t,
        "start": _t(drift.start_ms / 1000) if drift else "",
        "end": _t(drift.end_ms / 1000) if drift else "",
    }  # fmt: skip
    html = Environment(autoescape=select_autoescape(default=True)).from_string(_TEMPLATE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html.render(**context), encoding="utf-8")
    return path
