"""`tastemaker evaluate`: compare models offline on a workspace's events, a MovieLens folder
or a split read from files; optionally over several seeds with nested tuning."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tastemaker.cli.common import console, fail
from tastemaker.cli.evaluate_output import (
    Source,
    load_source,
    print_result,
    print_seeds,
    tuned_params,
)
from tastemaker.errors import TastemakerError, ValidationFailedError
from tastemaker.evaluation.result import EvaluationResult
from tastemaker.evaluation.runner import Progress as ProgressFn
from tastemaker.evaluation.runner import evaluate_models
from tastemaker.evaluation.seeds import evaluate_seeds
from tastemaker.evaluation.split_files import export_split, read_split
from tastemaker.evaluation.splits import DEFAULT_SPLIT, Split, SplitKind, SplitSpec
from tastemaker.evaluation.workspace_eval import save_result
from tastemaker.models.catalog import MODELS

DEFAULT_MODELS = "popularity,itemknn,als,ease"


class DatasetName(StrEnum):
    """Public data sets ``evaluate --dataset`` reads (``--data`` gives the folder)."""

    ml_100k = "ml-100k"
    movielens = "movielens"


class ExportFormat(StrEnum):
    """Format of the train / valid / test files ``--export-split`` writes."""

    parquet = "parquet"
    csv = "csv"


def _parse_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_seeds(text: str | None) -> list[int] | None:
    """``"3"`` -> seeds 0, 1, 2; ``"0,5,7"`` -> those seeds; None -> one run."""
    if not text:
        return None
    values = [int(x) for x in _parse_list(text)]
    if len(values) == 1:
        if values[0] < 1:
            raise ValidationFailedError("--seeds N needs N >= 1", field="seeds")
        return list(range(values[0]))
    return values


WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", envvar="TASTEMAKER_WORKSPACE", help="Workspace folder."),
]
ModelsOpt = Annotated[
    str, typer.Option(help=f"Comma-separated models ('all' = {','.join(MODELS)}).")
]
SplitOpt = Annotated[
    SplitKind,
    typer.Option(
        help="temporal-user: each user's last --test-fraction of events by time; random:"
        " per-user random fractions; leave-last: each user's last --last-n items;"
        " temporal: one global time cutoff."
    ),
]
TestFractionOpt = Annotated[float, typer.Option(min=0.0, max=1.0, help="Share held out for test.")]
ValidFractionOpt = Annotated[
    float, typer.Option(min=0.0, max=1.0, help="Share held out for validation before test.")
]
MinTrainOpt = Annotated[
    int, typer.Option(min=0, help="Users with fewer training items are not evaluated.")
]
LastNOpt = Annotated[int, typer.Option(min=1, help="Items per user held out by leave-last.")]
KOpt = Annotated[str, typer.Option("--k", help="Comma-separated cut-offs.")]
ReportOpt = Annotated[Path | None, typer.Option(help="HTML report path.")]
SegmentOpt = Annotated[
    str | None, typer.Option(help="User attribute for the per-segment (fairness) view.")
]
SeedOpt = Annotated[int, typer.Option(help="Split and bootstrap seed.")]
SeedsOpt = Annotated[
    str | None,
    typer.Option(
        help="Repeat over seeds: N (seeds 0..N-1) or a list 0,5,7; recorded models are"
        " re-tuned on each seed's training part."
    ),
]
BootstrapOpt = Annotated[int, typer.Option(help="Bootstrap resamples.")]
DatasetOpt = Annotated[
    DatasetName | None,
    typer.Option(help="Evaluate a public data set instead (any MovieLens folder via --data)."),
]
DataOpt = Annotated[Path | None, typer.Option(help="Folder of --dataset.")]
SplitFromOpt = Annotated[
    Path | None,
    typer.Option(help="Read train/valid/test from a folder (Parquet, CSV or RecBole .inter)."),
]
ExportOpt = Annotated[
    Path | None,
    typer.Option("--export-split", help="Write the split (+ RecBole .inter files) there."),
]
ExportFormatOpt = Annotated[
    ExportFormat, typer.Option(help="Format of --export-split's train/valid/test files.")
]
ParamsOpt = Annotated[
    str | None,
    typer.Option(help='Hyperparameters per model as JSON, e.g. {"ease": {"l2": 300}}.'),
]
IgnoreTuningOpt = Annotated[
    bool, typer.Option(help="Ignore the workspace's tuning record (`tastemaker tune`).")
]


def evaluate(
    workspace: WorkspaceOpt = None,
    models: ModelsOpt = DEFAULT_MODELS,
    split: SplitOpt = DEFAULT_SPLIT,
    test_fraction: TestFractionOpt = 0.2,
    valid_fraction: ValidFractionOpt = 0.0,
    min_train: MinTrainOpt = 1,
    last_n: LastNOpt = 1,
    k: KOpt = "10",
    report: ReportOpt = None,
    segment_by: SegmentOpt = None,
    seed: SeedOpt = 0,
    seeds: SeedsOpt = None,
    bootstrap: BootstrapOpt = 1000,
    dataset: DatasetOpt = None,
    data: DataOpt = None,
    split_from: SplitFromOpt = None,
    export_split_to: ExportOpt = None,
    export_format: ExportFormatOpt = ExportFormat.parquet,
    params: ParamsOpt = None,
    ignore_tuning: IgnoreTuningOpt = False,
) -> None:
    """Split, train every model, print the metric table and write an HTML report."""
    names = list(MODELS) if models == "all" else _parse_list(models)
    ks = [int(x) for x in _parse_list(k)]
    spec = SplitSpec(SplitKind(split), test_fraction, valid_fraction, last_n, min_train)
    explicit = json.loads(params) if params else None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    options: dict[str, Any] = {"segment_column": segment_by, "n_bootstrap": bootstrap}
    try:
        seed_list = parse_seeds(seeds)
        if seed_list is not None and split_from is not None:
            raise ValidationFailedError(
                "--seeds makes a new split per seed; it cannot be combined with --split-from",
                field="seeds",
            )
        source = load_source(workspace, dataset, data, segment_by, ignore_tuning, split_from)
        html = report or source.reports / f"evaluation-{stamp}.html"
        options |= {"items": source.items, "user_segments": source.users}
        export = (export_split_to, export_format)
        if seed_list is not None:
            _evaluate_seeds(source, names, spec, ks, seed_list, explicit, html, export, options)
            return
        result = _evaluate_once(source, names, spec, ks, seed, split_from, explicit, export,
                                options)  # fmt: skip
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    print_result(result, save_result(result, html))


def _evaluate_once(
    source: Source,
    names: list[str],
    spec: SplitSpec,
    ks: list[int],
    seed: int,
    split_from: Path | None,
    explicit: dict[str, Any] | None,
    export: tuple[Path | None, ExportFormat],
    options: dict[str, Any],
) -> EvaluationResult:
    """One split (made here or read from ``split_from``), exported if asked, evaluated."""
    fixed = read_split(split_from) if split_from is not None else None
    sp_ = fixed or spec.make(_interactions(source), seed)
    _export(sp_, *export)
    chosen = tuned_params(source.record, names, explicit)
    with _bar(len(names)) as on:
        return evaluate_models(
            sp_.train if fixed else _interactions(source), names, sp_, ks, seed=seed,
            params=chosen, progress=on, **options,
        )  # fmt: skip


def _interactions(source: Source) -> Any:
    if source.inter is None:
        raise ValidationFailedError("pass --workspace, --dataset or --split-from", field="source")
    return source.inter


def _export(split: Split, folder: Path | None, fmt: ExportFormat) -> None:
    if folder is None:
        return
    written = export_split(split, folder, fmt=fmt.value)
    console.print(f"split written to {folder}: {', '.join(p.name for p in written)}")


def _evaluate_seeds(
    source: Source,
    names: list[str],
    spec: SplitSpec,
    ks: list[int],
    seeds: list[int],
    explicit: dict[str, Any] | None,
    html: Path,
    export: tuple[Path | None, ExportFormat],
    options: dict[str, Any],
) -> None:
    """``--seeds``: one split, nested tuning and evaluation per seed; reports per seed."""
    inter = _interactions(source)
    folder, fmt = export
    if folder is not None:
        for s in seeds:
            _export(spec.make(inter, s), folder / f"seed-{s}", fmt)
    with _bar(len(seeds) * len(names)) as on:
        result = evaluate_seeds(
            inter, names, spec, ks, seeds, params=explicit, record=source.record_entries(names),
            progress=on, **options,
        )  # fmt: skip
    for run in result.runs:
        save_result(run.result, html.with_name(f"{html.stem}-seed{run.seed}.html"))
    summary = html.with_suffix(".json")
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps(result.to_dict(), indent=2, default=str))
    print_seeds(result, summary)


@contextmanager
def _bar(total: int) -> Iterator[ProgressFn]:
    """A transient progress bar; the callback shows the stage and moves the bar."""
    columns = (
        SpinnerColumn(),  # moves while a model fits, which reports nothing until it is done
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
    )
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("evaluating", total=total)

        def on(stage: str, done: float, total_: int) -> None:
            bar.update(task, completed=done, total=total_, description=stage)

        yield on
