"""Offline HTML report of an evaluation: tables and plots embedded as base64 PNG.

The file needs no network: styles are inline and figures are data URIs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
from jinja2 import Environment, select_autoescape

from tastemaker.evaluation.metrics import ACCURACY_METRICS
from tastemaker.evaluation.paired import Comparison
from tastemaker.evaluation.result import EvaluationResult, ModelEvaluation
from tastemaker.figures import png_base64

BAR_METRICS = ("ndcg", "precision", "recall", "map", "mrr", "hit_rate")
TABLE_METRICS = (*ACCURACY_METRICS, "coverage", "novelty", "diversity", "gini")

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1rem 0;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left} .best{background:#e3f6e3;font-weight:600}
.tied{background:#fbf6dc} .loses{color:#b00020;font-weight:600}
.ci{color:#777;font-size:.75rem} img{max-width:100%;border:1px solid #eee;margin:.5rem 0}
</style></head><body>
<h1>{{ title }}</h1>
<p>Generated {{ generated }} &middot; split: <code>{{ result.split }}</code> &middot;
{{ result.n_users }} evaluated users &middot; {{ result.n_items }} items &middot;
{{ "%.1f"|format(result.wall_seconds) }} s. Intervals are 95% bootstrap intervals over users.
{% if result.dropped_users %}{{ result.dropped_users }} users with a test part were not
evaluated (too few training items).{% endif %}</p>
{% for w in result.warnings %}<p class="loses">Warning: {{ w }}</p>{% endfor %}
<p>Best by NDCG@{{ result.ks[0] }}: <b>{{ best }}</b>. A cell is green (best) only when a
paired test over users (Wilcoxon signed-rank, p &lt; 0.05) separates it from every other
model, and yellow when it is tied with the best; under each value: its difference to the
best with a 95% paired bootstrap interval and p-value. Gini is better when lower.
Coverage and Gini are catalog-wide: best there means disjoint intervals.</p>
{% for k in result.ks %}{% if result.loses_to_popularity.get(k) %}
<p class="loses">Loses to popularity at NDCG@{{ k }} (significantly below it):
{{ result.loses_to_popularity[k]|join(", ") }}.</p>{% endif %}{% endfor %}
{% for k in result.ks %}
<h2>Metrics at K={{ k }}</h2>
<table><tr><th>model</th>{% for m in metrics %}<th>{{ m }}</th>{% endfor %}
<th>fit s</th><th>recommend s</th></tr>
{% for row in result.models %}<tr><td>{{ row.name }}{% if row.name in
result.loses_to_popularity.get(k, []) %} <span class="loses">loses to popularity</span>
{% endif %}</td>
{% for m in metrics %}{% set e = row.metrics[m][k] %}{% set c = compared(m, k, row.name) %}
<td class="{{ c.status if c.status in ('best', 'tied') else '' }}">{{ "%.4f"|format(e.mean) }}
<div class="ci">[{{ "%.4f"|format(e.low) }}, {{ "%.4f"|format(e.high) }}]</div>
{% if c.status in ('tied', 'below') %}<div class="ci">&Delta; {{ "%+.4f"|format(c.diff) }}
{% if c.low == c.low %}[{{ "%.4f"|format(c.low) }}, {{ "%.4f"|format(c.high) }}]
p={{ "%.3f"|format(c.p_value) }}{% endif %}</div>{% endif %}</td>{% endfor %}
<td>{{ "%.2f"|format(row.fit_seconds) }}</td><td>{{ "%.2f"|format(row.recommend_seconds) }}</td>
</tr>{% endfor %}</table>
{% endfor %}
{% for title, img in figures %}<h2>{{ title }}</h2>
<img alt="{{ title }}" src="data:image/png;base64,{{ img }}">
{% endfor %}
{% if segments %}<h2>Per segment ({{ result.segment_column }}): NDCG@{{ result.ks[0] }}</h2>
<p>Fairness check: the gap is the best minus the worst segment mean; a gap whose segment
intervals do not overlap is marked <b>!</b>.</p>
<table><tr><th>segment</th>{% for row in result.models %}<th>{{ row.name }}</th>{% endfor %}</tr>
{% for seg in segments %}<tr><td>{{ seg }}</td>{% for row in result.models %}
{% set e = row.segments[seg]['ndcg'][result.ks[0]] %}<td>{{ "%.4f"|format(e.mean) }}
<div class="ci">[{{ "%.4f"|format(e.low) }}, {{ "%.4f"|format(e.high) }}]</div></td>
{% endfor %}</tr>{% endfor %}
<tr><td><b>gap</b></td>{% for row in result.models %}{% set g = gaps[row.name] %}
<td>{{ "%.4f"|format(g[0]) }}{% if g[1] %} <b>!</b>{% endif %}</td>{% endfor %}</tr>
</table>{% endif %}
<h2>Definitions</h2><p>Relevance is binary (a user's test items not already in training).
Precision = hits/K; recall = hits/|relevant|; NDCG with 1/log2(rank+1) gains; MAP =
average precision normalized by min(|relevant|, K); MRR = 1/rank of the first hit;
coverage = share of items recommended to anyone; novelty = mean -log2(share of training
users who saw the item); diversity = mean pairwise cosine distance within a list;
Gini = inequality of recommendation counts across the catalog.</p>
</body></html>
"""


def _bars(result: EvaluationResult) -> str:
    k = result.ks[0]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(len(result.models), 1)
    for j, model in enumerate(result.models):
        xs = [i + j * width for i in range(len(BAR_METRICS))]
        est = [model.metrics[m][k] for m in BAR_METRICS]
        err = [[e.mean - e.low for e in est], [e.high - e.mean for e in est]]
        ax.bar(xs, [e.mean for e in est], width, yerr=err, capsize=2, label=model.name)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(BAR_METRICS))], BAR_METRICS)
    ax.set_ylabel(f"value at K={k}")
    ax.legend(fontsize=8, ncols=3)
    return png_base64(fig)


def _versus_k(result: EvaluationResult) -> str:
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, metric in zip(axes, ("ndcg", "recall", "precision"), strict=True):
        for model in result.models:
            ax.plot(
                result.ks, [model.value(metric, k) for k in result.ks], marker="o", label=model.name
            )
        ax.set_title(f"{metric} vs K")
        ax.set_xlabel("K")
    axes[0].legend(fontsize=8)
    return png_base64(fig)


def _popularity_bias(result: EvaluationResult) -> str:
    k = result.ks[0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for model in result.models:
        axes[0].scatter(model.mean_rec_popularity, model.value("ndcg", k), s=40)
        axes[0].annotate(
            model.name, (model.mean_rec_popularity, model.value("ndcg", k)), fontsize=8
        )
        axes[1].scatter(model.value("coverage", k), model.value("gini", k), s=40)
        axes[1].annotate(
            model.name, (model.value("coverage", k), model.value("gini", k)), fontsize=8
        )
    axes[0].set_xlabel("mean share of users who saw a recommended item")
    axes[0].set_ylabel(f"NDCG@{k}")
    axes[1].set_xlabel(f"catalog coverage@{k}")
    axes[1].set_ylabel(f"popularity Gini@{k}")
    return png_base64(fig)


def _segments(result: EvaluationResult, segments: list[str]) -> str:
    k = result.ks[0]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    width = 0.8 / max(len(result.models), 1)
    for j, model in enumerate(result.models):
        est = [model.segments[s]["ndcg"][k] for s in segments]
        xs = [i + j * width for i in range(len(segments))]
        err = [[e.mean - e.low for e in est], [e.high - e.mean for e in est]]
        ax.bar(xs, [e.mean for e in est], width, yerr=err, capsize=2, label=model.name)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(segments))], segments, rotation=30)
    ax.set_ylabel(f"NDCG@{k}")
    ax.legend(fontsize=8, ncols=3)
    return png_base64(fig)


def segment_gap(model: ModelEvaluation, k: int, metric: str = "ndcg") -> tuple[float, bool]:
    """Best minus worst segment mean, and whether their intervals are disjoint."""
    est = [seg[metric][k] for seg in model.segments.values()]
    if len(est) < 2:
        return 0.0, False
    hi = max(est, key=lambda e: e.mean)
    lo = min(est, key=lambda e: e.mean)
    return hi.mean - lo.mean, lo.high < hi.low


_NONE = Comparison(0.0, 0.0, 0.0, float("nan"), "")


def _best_text(result: EvaluationResult) -> str:
    """The significantly best model by NDCG at the first K, or who is tied."""
    if not result.models:
        return "-"
    best = result.best("ndcg")
    if best is not None:
        return best.name
    k = result.ks[0]
    tied = [m.name for m in result.models if result.status("ndcg", k, m.name) == "tied"]
    return "none significantly; tied: " + ", ".join(tied)


def render_report(result: EvaluationResult, title: str = "tastemaker evaluation") -> str:
    """Return the report as one self-contained HTML string."""
    segments = sorted({s for m in result.models for s in m.segments})
    figures = [
        ("Metrics with 95% intervals", _bars(result)),
        ("Metrics vs K", _versus_k(result)),
        ("Popularity bias", _popularity_bias(result)),
    ]
    if segments:
        figures.append((f"Per segment ({result.segment_column})", _segments(result, segments)))
    gaps = {m.name: segment_gap(m, result.ks[0]) for m in result.models} if segments else {}
    env = Environment(autoescape=select_autoescape(default=True))
    return env.from_string(_TEMPLATE).render(
        title=title,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        result=result,
        metrics=TABLE_METRICS,
        compared=lambda m, k, name: result.comparisons.get(m, {}).get(k, {}).get(name, _NONE),
        best=_best_text(result),
        figures=figures,
        segments=segments,
        gaps=gaps,
    )


def write_report(
    result: EvaluationResult, path: Path, title: str = "tastemaker evaluation"
) -> Path:
    """Write :func:`render_report` to ``path`` (parents created) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result, title), encoding="utf-8")
    return path
