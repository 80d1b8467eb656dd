"""`tastemaker simulate ab`: a simulated A/B test through the real engine, with the truth.

Synthetic users with hidden tastes are served the featured listing by the in-process engine
under the experiment's variants, click and buy by the generator's choice model, and the
logged events are analyzed; the true effect (common random numbers) is printed beside the
estimate. The workspace is a fresh one (a temporary folder unless ``-w`` names a new one).
"""

from __future__ import annotations

import json
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tastemaker.cli.common import console, fail
from tastemaker.errors import TastemakerError

app = typer.Typer(help="Simulated experiments with known ground truth.")


class ScenarioName(StrEnum):
    """The simulated experiments."""

    featured = "featured"
    aa = "aa"


def describe(report: dict[str, object]) -> str:
    """One short paragraph: estimate, interval, p-value and the true effect."""
    low, high = report["ci"]  # type: ignore[misc]
    counts = ", ".join(f"{k} {v:,}" for k, v in report["counts"].items())  # type: ignore[attr-defined]
    covered = "covers" if report["covered"] else "[bold red]misses[/bold red]"
    return (
        f"simulated A/B '{report['scenario']}': {report['exposed']:,} users exposed"
        f" ({counts}), {report['visits']:,} visits\n"
        f"  conversion uplift {report['estimate']:+.4f} [{low:+.4f}, {high:+.4f}]"
        f" p = {report['p_value']:.2g}\n"
        f"  true effect {report['true_effect']:+.4f}"
        f" ({report['true_control']:.4f} -> {report['true_treatment']:.4f}); the interval"
        f" {covered} it ({report['seconds']:.1f} s)"
    )


@app.command("ab")
def ab_command(
    scenario: Annotated[ScenarioName, typer.Option(help="Which experiment.")] = ScenarioName.featured,
    users: Annotated[int, typer.Option(min=10, help="Synthetic users.")] = 3000,
    items: Annotated[int, typer.Option(min=10, help="Synthetic items.")] = 300,
    days: Annotated[int, typer.Option(min=1, help="Simulated experiment days.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="New folder to keep the simulation workspace in."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Simulate an A/B test on synthetic users; print the estimate and the true effect."""
    from tastemaker.simulation.ab import SimulationConfig, simulate_ab

    config = SimulationConfig(scenario=scenario.value, users=users, items=items, days=days,
                              seed=seed)  # type: ignore[arg-type]  # fmt: skip
    if workspace is not None and workspace.exists():
        raise fail(f"{workspace} exists; the simulation needs a new folder")
    try:
        with tempfile.TemporaryDirectory(prefix="tastemaker-sim-") as tmp:
            report = simulate_ab(config, workspace or Path(tmp) / "ws").to_dict()
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    if as_json:
        console.print_json(json.dumps(report))
    else:
        console.print(describe(report))
