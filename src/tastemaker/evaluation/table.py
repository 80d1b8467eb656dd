"""Render an :class:`EvaluationResult` as a rich table for the terminal."""

from __future__ import annotations

from rich.table import Table

from tastemaker.evaluation.runner import EvaluationResult

DEFAULT_COLUMNS = ("ndcg", "precision", "recall", "map", "mrr", "hit_rate", "coverage", "novelty")


def render_table(
    result: EvaluationResult, columns: tuple[str, ...] = DEFAULT_COLUMNS, ci: bool = True
) -> Table:
    """One row per model and K; each cell ``mean`` plus ``[low, high]`` when ``ci``."""
    table = Table(title=f"Offline evaluation ({result.split}; {result.n_users} users)")
    table.add_column("model", style="bold")
    table.add_column("K", justify="right")
    for c in columns:
        table.add_column(c, justify="right")
    table.add_column("fit s", justify="right")
    best = {(c, k): max(m.value(c, k) for m in result.models) for c in columns for k in result.ks}
    for m in result.models:
        for k in result.ks:
            cells = []
            for c in columns:
                e = m.metrics[c][k]
                text = f"{e.mean:.4f}" + (f" [{e.low:.3f}, {e.high:.3f}]" if ci else "")
                if e.mean == best[(c, k)] and len(result.models) > 1:
                    text = f"[green]{text}[/green]"
                cells.append(text)
            table.add_row(m.name, str(k), *cells, f"{m.fit_seconds:.2f}")
    return table
