"""`tastemaker experiments analyze KEY` (results from the event log) and `rebalance KEY`."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tastemaker.cli.common import WorkspaceOpt, console, fail, opened
from tastemaker.errors import TastemakerError
from tastemaker.experiments.allocation import Rebalanced, rebalance, rebalance_due
from tastemaker.experiments.bandit import AllocationHistory
from tastemaker.experiments.breakdown import breakdown
from tastemaker.experiments.report import write_experiment_report
from tastemaker.experiments.results import experiment_results, metric_catalog
from tastemaker.experiments.store import EXPERIMENTS_DIR, ExperimentStore


class Dimension(StrEnum):
    """What a breakdown groups users by."""

    segment = "segment"
    device = "device"


def analyze_command(
    key: Annotated[str, typer.Argument(help="The experiment key.")],
    workspace: WorkspaceOpt = Path("."),
    alpha: Annotated[float, typer.Option(help="Level of the intervals and tests.")] = 0.05,
    triggered: Annotated[
        bool, typer.Option(help="Only users in at least one segment when exposed.")
    ] = False,
    segment: Annotated[
        str | None, typer.Option(help="Only users in this segment when exposed.")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Only users on this device (mobile, desktop, ...).")
    ] = None,
    by: Annotated[
        Dimension | None,
        typer.Option(help="Also show the primary metric per segment or per device."),
    ] = None,
    report: Annotated[
        bool, typer.Option(help="Write the HTML report (reports/experiment-KEY.html).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per variant and metric: value, difference with its interval, p-value, verdicts."""
    with opened(workspace) as ws:
        folder = ws.root / EXPERIMENTS_DIR
        try:
            experiment = ExperimentStore(folder, check_seconds=0).get(key)
            result, exposed = experiment_results(
                ws.store, experiment, metrics_folder=folder, alpha=alpha,
                triggered=triggered, segment=segment, device=device,
            )  # fmt: skip
            groups = (
                []
                if by is None
                else breakdown(ws.store, experiment, by.value, metrics_folder=folder)
            )
            html = ws.settings.path(ws.settings.reports_dir) / f"experiment-{key}.html"
            if report:
                catalog = metric_catalog(folder)
                write_experiment_report(
                    ws.store, experiment, result, html, metrics=catalog, metrics_folder=folder
                )
        except TastemakerError as exc:
            raise fail(exc.message) from exc
    out = {"experiment": key, "users": exposed.height, **result.to_dict()}
    if by is not None:
        out["breakdown"] = {"by": by.value, "groups": [g.to_dict() for g in groups]}
    if as_json:
        console.print_json(json.dumps(out))
        return
    _print(out)
    if by is not None:
        _print_groups(out["breakdown"])
    if report:
        console.print(f"report: {html}")


def _num(x: Any, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _print(out: dict[str, Any]) -> None:
    srm = out["srm"]
    counts = ", ".join(f"{k} {v:,}" for k, v in srm["observed"].items())
    console.print(f"experiment {out['experiment']}: {out['users']:,} users exposed ({counts})")
    if not out["trustworthy"]:
        console.print(
            f"[bold red]UNTRUSTWORTHY[/bold red]: sample ratio mismatch (chi-square p = "
            f"{srm['p_value']:.2e} < {srm['threshold']}); do not read the results below"
        )
    table = Table("metric", "role", "variant", "control", "value", "diff [CI]", "rel [CI]", "p")
    for r in out["results"]:
        low, high = r["abs_ci"]
        rlow, rhigh = r["rel_ci"]
        p = _p(r["holm_p"] if r["holm_p"] is not None else r["p_value"])
        role = r["role"] + (f" ({r['guardrail']})" if r["guardrail"] else "")
        table.add_row(
            r["metric"], role, r["variant"], _num(r["control_value"]), _num(r["value"]),
            f"{_num(r['abs_diff'])} [{_num(low)}, {_num(high)}]",
            f"{_num(r['rel_diff'], 3)} [{_num(rlow, 3)}, {_num(rhigh, 3)}]", p,
        )  # fmt: skip
    console.print(table)
    console.print("p: Holm-adjusted for secondary metrics; CUPED where a pre-period exists")
    for r in out["results"]:
        if r["note"]:
            console.print(f"note: {r['metric']} ({r['variant']}): {r['note']}")
    for r in (r for r in out["results"] if r["role"] == "primary" and not r["note"]):
        _print_sequential(r, out["alpha"])


def _print_sequential(r: dict[str, Any], alpha: float) -> None:
    """The primary metric's fixed-horizon result next to its always-valid one."""
    low, high = r["abs_ci"]
    slow, shigh = r["sequential_ci"]
    level = f"{1 - alpha:.0%}"
    console.print(
        f"primary {r['metric']} ({r['variant']} - control): "
        f"fixed horizon {_num(r['abs_diff'])} [{_num(low)}, {_num(high)}] p = {_p(r['p_value'])}"
        f"; always valid (any look) p = {_p(r['sequential_p'])}, "
        f"{level} confidence sequence [{_num(slow)}, {_num(shigh)}]"
    )


def _p(p_value: float | None) -> str:
    return f"{p_value:.1e}" if p_value is not None and p_value < 1e-4 else _num(p_value)


def _print_groups(breakdown: dict[str, Any]) -> None:
    table = Table(breakdown["by"], "users", "variant", "control", "value", "rel [CI]", "p")
    for group in breakdown["groups"]:
        for r in group["results"]:
            rlow, rhigh = r["rel_ci"]
            table.add_row(
                group["group"], f"{group['users']:,}", r["variant"], _num(r["control_value"]),
                _num(r["value"]), f"{_num(r['rel_diff'], 3)} [{_num(rlow, 3)}, {_num(rhigh, 3)}]",
                _num(r["p_value"]),
            )  # fmt: skip
    console.print(table)
    console.print("per group: the primary metric, not corrected for multiple groups")


def rebalance_command(
    key: Annotated[
        str | None, typer.Argument(help="A bandit experiment (allocation: thompson).")
    ] = None,
    due: Annotated[
        bool,
        typer.Option(
            "--due",
            help="Every running bandit whose last allocation is older than its "
            "rebalance_hours (instead of one KEY).",
        ),
    ] = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """One Thompson-sampling step: new weights from conversions so far (new users follow)."""
    if (key is None) == (not due):
        raise fail("give either an experiment KEY or --due (every bandit that is due)")
    with opened(workspace) as ws:
        store = ExperimentStore(ws.root / EXPERIMENTS_DIR, check_seconds=0)
        if due:
            done = rebalance_due(ws.store, store)
        else:
            try:
                done = [Rebalanced(str(key), rebalance(ws.store, store, str(key)))]
            except TastemakerError as exc:
                raise fail(exc.message) from exc
    if not done:
        console.print("no bandit is due for a rebalance")
    for item in done:
        if item.history is None:
            console.print(f"[red]{item.key}: not rebalanced[/red]: {item.error}")
        else:
            _print_step(item.key, item.history)
    if any(item.error for item in done):
        raise typer.Exit(1)


def _print_step(key: str, history: AllocationHistory) -> None:
    step = history.steps[-1]
    for arm, s, n, share in zip(history.arms, step.successes, step.trials, step.allocation,
                                strict=True):  # fmt: skip
        console.print(f"{key} {arm}: {s:,} of {n:,} converted -> {share:.1%} of new users")
    console.print(f"step {len(history.steps)} recorded in experiments/{key}.allocation.json")
