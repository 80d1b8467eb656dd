"""`tastemaker bench simulate`: the simulator's A/B tests over many seeds.

For each scenario and seed it runs :func:`~tastemaker.simulation.ab.simulate_ab` in a
temporary workspace and prints one JSON document: per scenario the share of seeds with
p < 0.05 and p < 0.01 (for ``aa`` the false-positive rate, expected near 5% and 1%), the
share of intervals covering the true effect, mean estimate and true effect, and seconds.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from tastemaker.cli.simulate import serving_process, train_pair
from tastemaker.simulation.ab import SCENARIOS, SimulationConfig, simulate_ab


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    p = np.array([r["p_value"] for r in runs])
    return {
        "seeds": len(runs),
        "rate_p_below_0.05": float(np.mean(p < 0.05)),
        "rate_p_below_0.01": float(np.mean(p < 0.01)),
        "coverage": float(np.mean([r["covered"] for r in runs])),
        "mean_estimate": float(np.mean([r["estimate"] for r in runs])),
        "mean_true_effect": float(np.mean([r["true_effect"] for r in runs])),
        "mean_seconds": float(np.mean([r["seconds"] for r in runs])),
        "runs": [{k: r[k] for k in ("seed", "estimate", "ci", "p_value", "true_effect")}
                 for r in runs],
    }  # fmt: skip


def _runs(scenario: str, seeds: int, users: int, days: int) -> list[dict[str, Any]]:
    """One simulated A/B test per seed 0..seeds-1, each in a temporary workspace."""
    runs = []
    for seed in range(seeds):
        config = SimulationConfig(scenario=scenario, users=users, days=days, seed=seed)  # type: ignore[arg-type]
        with tempfile.TemporaryDirectory(prefix="tastemaker-sim-") as tmp:
            report = simulate_ab(config, Path(tmp) / "ws", train_pair)
        runs.append({"seed": seed, **report.to_dict()})
    return runs


def bench_simulate(
    scenario: Annotated[str, typer.Option(help="Comma-separated scenarios.")] = "aa,featured,model",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per scenario (0..N-1).")] = 20,
    users: Annotated[int, typer.Option(min=10, help="Synthetic users.")] = 3000,
    days: Annotated[int, typer.Option(min=1, help="Simulated experiment days.")] = 3,
) -> None:
    """Simulated A/B tests over seeds: A/A false-positive rate, coverage of the true effect."""
    began = time.perf_counter()
    names = [s.strip() for s in scenario.split(",") if s.strip()]
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        raise typer.BadParameter(f"unknown scenario '{unknown[0]}'; known: {', '.join(SCENARIOS)}")
    out: dict[str, Any] = {"users": users, "days": days}
    with serving_process():
        for name in names:
            out[name] = _summary(_runs(name, seeds, users, days))
    out["seconds"] = round(time.perf_counter() - began, 1)
    out["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                      "load_1m": os.getloadavg()[0]}  # fmt: skip
    print(json.dumps(out, indent=2))
