"""`tastemaker simulate ab`: a simulated A/B test through the real engine, with the truth.

Synthetic users with hidden tastes are served the featured listing (scenarios ``featured``:
random vs segment-personalized, ``aa``: identical arms) or 8 recommendations (``model``:
popularity vs itemknn) by the in-process engine under the experiment's variants, click and
buy by the generator's choice model, and the logged events are analyzed; the true effect
(common random numbers) is printed beside the estimate. The workspace is a fresh one (a
temporary folder unless ``-w`` names a new one). With ``--url`` the users are served by a
running server over HTTP (see ``tastemaker.simulation.http``), which also does the analysis.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, cast

import typer

from tastemaker.cli.common import console, fail
from tastemaker.errors import TastemakerError
from tastemaker.workspace import Workspace

app = typer.Typer(help="Simulated experiments with known ground truth.")


class ScenarioName(StrEnum):
    """The simulated experiments."""

    featured = "featured"
    model = "model"
    aa = "aa"


def train_pair(ws: Workspace) -> tuple[str, str]:
    """The model scenario's arms: popularity (promoted, control) and itemknn (treatment)."""
    from tastemaker.training.recommender import registry_of, train_version

    control = train_version(ws, "popularity", {}, holdout=0).version
    treatment = train_version(ws, "itemknn", {}, holdout=0).version
    registry_of(ws).promote(control)
    return control, treatment


@contextmanager
def serving_process() -> Iterator[None]:
    """Tune this process like a server while it simulates (one BLAS thread, see
    ``tastemaker.process``): thousands of small requests, where BLAS thread teams only spin
    (the model scenario ran 15x slower on a loaded 2-CPU machine without it)."""
    from tastemaker.config import ProcessConfig
    from tastemaker.process import ProcessTuning

    tuning = ProcessTuning(ProcessConfig()).apply()
    try:
        yield
    finally:
        tuning.stop()


def describe(report: dict[str, object]) -> str:
    """One short paragraph: estimate, interval, p-value and the true effect."""
    low, high = cast(list[float], report["ci"])
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
    scenario: Annotated[
        ScenarioName, typer.Option(help="Which experiment.")
    ] = ScenarioName.featured,
    users: Annotated[int, typer.Option(min=10, help="Synthetic users.")] = 3000,
    items: Annotated[int, typer.Option(min=10, help="Synthetic items.")] = 300,
    days: Annotated[int, typer.Option(min=1, help="Simulated experiment days.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="New folder to keep the simulation workspace in."),
    ] = None,
    alpha: Annotated[
        float, typer.Option(min=0.0001, max=0.5, help="Significance level (1 - interval level).")
    ] = 0.05,
    url: Annotated[
        str | None,
        typer.Option(
            help="Simulate against a running server (http://host:port; a fresh workspace)"
            " over its HTTP API instead of the in-process engine (featured and aa)."
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="TASTEMAKER_API_KEY",
            help="With --url: a key with the ingest, read and admin scopes.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Simulate an A/B test on synthetic users; print the estimate and the true effect."""
    from tastemaker.simulation.ab import SimulationConfig, simulate_ab
    from tastemaker.simulation.http import HttpServer

    config = SimulationConfig(scenario=scenario.value, users=users, items=items, days=days,
                              seed=seed, alpha=alpha)  # fmt: skip
    if workspace is not None and workspace.exists():
        raise fail(f"{workspace} exists; the simulation needs a new folder")
    try:
        remote = None if url is None else HttpServer(url, api_key)
        with serving_process(), tempfile.TemporaryDirectory(prefix="tastemaker-sim-") as tmp:
            root = workspace or Path(tmp) / "ws"
            report = simulate_ab(config, root, train_pair, remote).to_dict()
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    if url is not None:
        report["url"] = url
    if as_json:
        console.print_json(json.dumps(report))
    else:
        console.print(describe(report))
