"""`tastemaker bench accuracy`: published protocols on public data, printed as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from tastemaker.bench.movielens import ML_MODELS, PROTOCOLS, movielens_benchmark
from tastemaker.bench.protocols import retail_benchmark
from tastemaker.cli.common import err_console, fail
from tastemaker.errors import TastemakerError
from tastemaker.evaluation.protocols import dataset_path

DATASETS = ("movielens", "ml-<name>", "online-retail", "marketplace")


def bench_accuracy(
    dataset: Annotated[
        str,
        typer.Option(
            help="movielens (any release: --data DIR), ml-<name> such as ml-100k (movielens "
            "from ../shared/data/ml-<name> unless --data), online-retail or marketplace."
        ),
    ] = "ml-100k",
    data: Annotated[
        Path | None, typer.Option(help="Data set folder (default ../shared/data/<dataset>).")
    ] = None,
    models: Annotated[str, typer.Option(help="Comma-separated models.")] = ",".join(ML_MODELS),
    seeds: Annotated[int, typer.Option(help="Number of split seeds (movielens).")] = 5,
    k: Annotated[int, typer.Option(help="Cut-off.")] = 10,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON here.")] = None,
    nested: Annotated[
        str, typer.Option(help="movielens: models to re-tune per seed on its training part.")
    ] = "",
    protocol: Annotated[
        str, typer.Option(help=f"movielens: {' or '.join(PROTOCOLS)} (per-user random splits).")
    ] = "ms",
) -> None:
    """Accuracy on MovieLens (any release), Online Retail and the synthetic marketplace.

    MovieLens results are labelled by the folder read (release, users, items, ratings) and
    compared with a published figure only on the published ML-100k files.
    """
    names = [m.strip() for m in models.split(",") if m.strip()]
    try:
        if dataset == "movielens" or dataset.startswith("ml-"):
            if dataset == "movielens" and data is None:
                raise fail("--dataset movielens needs --data DIR (a MovieLens folder)")
            folder = data if data is not None else dataset_path(dataset)
            result = _movielens(folder, names, seeds, protocol, k, nested)
        elif dataset == "online-retail":
            result = retail_benchmark(data, k=k)
        elif dataset == "marketplace":
            from tastemaker.bench.protocols import marketplace_benchmark

            result = marketplace_benchmark(k=k)
        else:
            raise fail(f"unknown dataset '{dataset}' ({', '.join(DATASETS)})")
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    text = json.dumps(result, indent=2, default=str)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    typer.echo(text)


def _movielens(
    data: Path | None, names: list[str], seeds: int, protocol: str, k: int, nested: str
) -> dict[str, Any]:
    """Run the MovieLens benchmark with a progress bar on stderr."""
    nested_names = [m.strip() for m in nested.split(",") if m.strip()]
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("movielens", total=seeds * (len(names) + len(nested_names)))
        return movielens_benchmark(
            data,
            names,
            tuple(range(seeds)),
            protocol=protocol,
            k=k,
            nested=nested_names,
            progress=lambda name, seed: bar.update(
                task, advance=1, description=f"seed {seed}: {name}"
            ),
        )
