"""`tastemaker simulate ab` as a user runs it: the featured test finds the personalized
listing's uplift and its interval covers the simulator's true effect; an A/A test's true
effect is exactly 0."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tastemaker.cli.app import app as cli


def simulate(*args: str) -> dict:
    run = CliRunner().invoke(cli, ["simulate", "ab", *args, "--json"])
    assert run.exit_code == 0, run.output
    return json.loads(run.output)


def test_featured_estimate_covers_the_true_effect() -> None:
    # the simulation's pseudonymization key derives from the seed and its history is generated
    # from a fixed moment, so this run replays exactly on any day (see the next test): the
    # truth lies 0.08 standard errors from the estimate, inside the 99% interval's 2.58 (when
    # the history followed the weekday of the run: -0.28 to +1.76 over the seven weekdays)
    args = ["--users", "1500", "--days", "2", "--seed", "1", "--alpha", "0.01"]
    out = simulate("--scenario", "featured", *args)
    assert out["exposed"] > 1000 and set(out["counts"]) == {"control", "treatment"}
    assert out["true_effect"] > 0.02  # the personalized listing really is better
    low, high = out["ci"]
    assert low <= out["true_effect"] <= high and out["covered"] is True
    assert 0 <= out["p_value"] < 0.01


def test_the_same_seed_replays_the_same_run_and_another_seed_splits_anew() -> None:
    args = ["--scenario", "featured", "--users", "400", "--days", "1"]
    first, again, other = (simulate(*args, "--seed", s) for s in ("3", "3", "4"))
    keys = ("exposed", "counts", "estimate", "ci", "p_value", "true_effect")
    assert {k: first[k] for k in keys} == {k: again[k] for k in keys}
    assert first["counts"] != other["counts"] and first["estimate"] != other["estimate"]


def test_identical_arms_have_no_true_effect(tmp_path: Path) -> None:
    ws = tmp_path / "sim"
    out = simulate("--scenario", "aa", "--users", "800", "--days", "2", "-w", str(ws))
    assert out["true_effect"] == 0.0 and out["true_control"] == out["true_treatment"] > 0
    assert 0 <= out["p_value"] <= 1
    assert (ws / "experiments" / "sim-aa.yaml").exists()  # the workspace was kept
    again = CliRunner().invoke(cli, ["simulate", "ab", "-w", str(ws)])
    assert again.exit_code != 0 and "exists" in again.output


def test_an_unknown_scenario_is_refused() -> None:
    run = CliRunner().invoke(cli, ["simulate", "ab", "--scenario", "nope"])
    assert run.exit_code == 2


def test_the_model_scenario_compares_two_trained_versions() -> None:
    out = simulate("--scenario", "model", "--users", "600", "--days", "1")
    assert set(out["counts"]) == {"control", "treatment"} and out["visits"] > 200
    assert 0 <= out["p_value"] <= 1 and out["true_control"] > 0


def test_a_running_server_is_simulated_against_over_http(tmp_path: Path) -> None:
    """The same featured test through a real socket: the server assigns, serves, stores the
    users' events and analyzes; the simulator's local copy gives the truth."""
    from tastemaker.bench.server import http_get, start_server
    from tastemaker.simulation.ab import simulation_key
    from tastemaker.workspace import Workspace

    # the server's key is the simulation's (seed 2), so the server splits the users the same
    # way in every run and the run replays: with a fresh key each run split anew, and the
    # truth's distance from the estimate was a new draw, about N(0, 1) in standard errors
    # (-1.95 to +1.46 over 10 runs) against the 99.9% interval's 3.29, about one failing
    # run in a thousand. With this key it is 0.07 standard errors (-1.69 to +0.21 over the
    # seven weekdays when the history still followed the weekday of the run).
    Workspace.init(tmp_path / "server", key=simulation_key(2)).close()  # loopback: no API key
    proc, port, _ = start_server(tmp_path / "server")
    try:
        url = f"http://127.0.0.1:{port}"
        # a 99.9% interval. (Its two earlier failures were not bad luck: the server counted
        # the events it was sent against the empty catalog it had read at start, so it
        # personalized far less than the local copy the truth is computed on.)
        out = simulate("--users", "600", "--days", "2", "--seed", "2", "--alpha", "0.001",
                       "--url", url)  # fmt: skip
        status, body = http_get(port, "/v1/experiments/sim-featured/results")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert out["url"] == url and out["exposed"] > 300
    assert set(out["counts"]) == {"control", "treatment"}
    assert status == 200 and json.loads(body)["users"] == out["exposed"]  # the server's analysis
    assert out["true_effect"] > 0 and out["ci"][0] <= out["true_effect"] <= out["ci"][1]
    refused = CliRunner().invoke(
        cli, ["simulate", "ab", "--scenario", "model", "--url", url, "--users", "50"]
    )
    assert refused.exit_code != 0 and "in-process only" in " ".join(refused.output.split())
