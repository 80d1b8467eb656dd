"""`tastemaker experiments power`: users per variant and days of traffic an A/B test needs."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from tastemaker.cli.common import console, fail, opened
from tastemaker.errors import TastemakerError
from tastemaker.experiments.power import runtime_days, sample_size
from tastemaker.workspace import Workspace

TRAFFIC_DAYS = 7


def users_per_day(ws: Workspace, days: int = TRAFFIC_DAYS) -> float:
    """Distinct users (signed-in or visitors) of the log's last ``days`` days, per day.

    Distinct over the whole period, not summed per day: a user who comes back enters an
    experiment once. The period ends at the time of the last event appended.
    """
    last = ws.store.events(after_seq=ws.store.last_seq() - 1)
    if last.is_empty():
        return 0.0
    recent = ws.store.events(start=last["timestamp"][0] - timedelta(days=days))
    visitors = pl.coalesce(pl.col("user_id"), pl.lit("anon:") + pl.col("anonymous_id"))
    return float(recent.select(visitors.n_unique()).item()) / days


def power_command(
    baseline: Annotated[float, typer.Option(help="Control conversion rate, e.g. 0.05.")],
    mde: Annotated[
        float, typer.Option(help="Smallest absolute change worth detecting, e.g. 0.02.")
    ],
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
    power: Annotated[float, typer.Option(help="Chance to detect an effect of size mde.")] = 0.8,
    treatment_share: Annotated[
        float, typer.Option(help="Share of the experiment's users in the treatment.")
    ] = 0.5,
    traffic: Annotated[
        float | None,
        typer.Option(
            "--users-per-day",
            help="Users entering the experiment per day (default: measured from -w's log).",
        ),
    ] = None,
    workspace: Annotated[
        Path | None, typer.Option("--workspace", "-w", help="Workspace to measure traffic in.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Users per variant for a two-proportion z-test, and the days of traffic that takes."""
    if not 0 < treatment_share < 1:
        raise fail(f"--treatment-share must be within (0, 1), got {treatment_share}")
    weights = (1 - treatment_share, treatment_share)
    try:
        size = sample_size(baseline, mde, alpha=alpha, power=power, ratio=weights[1] / weights[0])
        if traffic is None and workspace is not None:
            with opened(workspace) as ws:
                traffic = users_per_day(ws)
        days = runtime_days(size, traffic, weights) if traffic else None
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    out = {**size.to_dict(), "users_per_day": traffic, "days": days,
           "baseline": baseline, "mde": mde, "alpha": alpha, "power": power}  # fmt: skip
    if as_json:
        console.print_json(json.dumps(out))
        return
    console.print(
        f"{size.control:,} users in control and {size.treatment:,} in treatment detect "
        f"{baseline:.4g} -> {baseline + mde:.4g} (alpha {alpha}, power {power}; Cohen's h "
        f"{size.effect_size:.4f})"
    )
    if days is not None:
        console.print(f"at {traffic:,.0f} users per day: {days} days")
    else:
        console.print("pass --users-per-day or -w WORKSPACE for the runtime")
