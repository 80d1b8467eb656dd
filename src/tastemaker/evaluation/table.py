"""Render an :class:`EvaluationResult` as a rich table for the terminal."""

from __future__ import annotations

from rich.table import Table

from tastemaker.evaluation.result import EvaluationResult

DEFAULT_COLUMNS = ("ndcg", "precision", "recall", "map", "mrr", "hit_rate", "coverage", "novelty")
COMPACT_COLUMNS = ("ndcg", "precision", "recall", "hit_rate", "coverage")
SHORT = {"precision": "prec", "hit_rate": "hit", "coverage": "cov", "novelty": "nov"}


def render_table(
    result: EvaluationResult, columns: tuple[str, ...] = DEFAULT_COLUMNS, ci: bool = True
) -> Table:
    """One row per model and K; the first metric also shows its 95% interval half-width.

    A value is green when a paired test over users says it is the best of its column, and
    yellow (``≈``) when it is tied with the best; a model whose NDCG is significantly below
    popularity's is marked "loses to popularity". Full intervals are in the report and JSON.
    """
    table = Table(title=f"Offline evaluation ({result.split}; {result.n_users} users evaluated)")
    width = max([len(m.name) for m in result.models] + [5])
    table.add_column("model", style="bold", no_wrap=True, min_width=width)
    table.add_column("K", justify="right", no_wrap=True)
    for c in columns:
        table.add_column(SHORT.get(c, c), justify="right", no_wrap=True)
    table.add_column("fit s", justify="right", no_wrap=True)
    for m in result.models:
        for k in result.ks:
            cells = []
            for n, c in enumerate(columns):
                e = m.metrics[c][k]
                text = f"{e.mean:.4f}"
                if ci and n == 0:
                    text += f"±{(e.high - e.low) / 2:.4f}"
                status = result.status(c, k, m.name) if len(result.models) > 1 else ""
                if status == "best":
                    text = f"[green]{text}[/green]"
                elif status == "tied":
                    text = f"[yellow]≈{text}[/yellow]"
                cells.append(text)
            name = m.name
            if m.name in result.loses_to_popularity.get(k, []):
                name += " [red](loses to popularity)[/red]"
            table.add_row(name, str(k), *cells, f"{m.fit_seconds:.1f}")
    return table
