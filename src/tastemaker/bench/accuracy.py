"""`tastemaker bench accuracy`: published protocols on public data, printed as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from tastemaker.bench.protocols import ML100K_MODELS, ml100k_benchmark, retail_benchmark
from tastemaker.cli.common import err_console, fail
from tastemaker.errors import TastemakerError


def bench_accuracy(
    dataset: Annotated[
        str, typer.Option(help="ml-100k, online-retail or marketplace.")
    ] = "ml-100k",
    data: Annotated[
        Path | None, typer.Option(help="Data set folder (default ../shared/data/<dataset>).")
    ] = None,
    models: Annotated[str, typer.Option(help="Comma-separated models.")] = ",".join(ML100K_MODELS),
    seeds: Annotated[int, typer.Option(help="Number of split seeds (ml-100k).")] = 5,
    k: Annotated[int, typer.Option(help="Cut-off.")] = 10,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON here.")] = None,
    nested: Annotated[
        str, typer.Option(help="ml-100k: models to re-tune per seed on its training part.")
    ] = "",
) -> None:
    """Accuracy against published figures: ML-100k (MS Recommenders), Online Retail, marketplace."""
    names = [m.strip() for m in models.split(",") if m.strip()]
    try:
        if dataset == "ml-100k":
            with Progress(console=err_console, transient=True) as bar:
                nested_names = [m.strip() for m in nested.split(",") if m.strip()]
                task = bar.add_task("ml-100k", total=seeds * (len(names) + len(nested_names)))
                result = ml100k_benchmark(
                    names,
                    tuple(range(seeds)),
                    path=data,
                    k=k,
                    nested=nested_names,
                    progress=lambda name, seed: bar.update(
                        task, advance=1, description=f"seed {seed}: {name}"
                    ),
                )
        elif dataset == "online-retail":
            result = retail_benchmark(data, k=k)
        elif dataset == "marketplace":
            from tastemaker.bench.protocols import marketplace_benchmark

            result = marketplace_benchmark(k=k)
        else:
            raise fail(f"unknown dataset '{dataset}' (ml-100k, online-retail, marketplace)")
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    text = json.dumps(result, indent=2, default=str)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    typer.echo(text)
