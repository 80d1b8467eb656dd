"""`tastemaker experiments create|list|show|stop` on a fresh workspace."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tastemaker.cli import common
from tastemaker.cli.app import app

DEFINITION = """\
key: diversity-test
hypothesis: more diverse lists raise purchases
variants:
  - {name: control, weight: 1}
  - name: diverse
    weight: 1
    serving: {rerank: {diversity: {lambda: 0.5}}}
targeting: {traffic: 0.5}
metrics:
  primary: purchase_rate
  guardrails: [{metric: latency_p95_ms, direction: decrease, tolerance: 0.05}]
"""


def test_create_list_show_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the console measured its width when first imported; the table's columns must fit
    monkeypatch.setattr(common.console, "width", 200)
    run = CliRunner(env={"COLUMNS": "200"})
    ws = str(tmp_path / "ws")
    assert run.invoke(app, ["init", ws]).exit_code == 0
    assert (tmp_path / "ws" / "experiments").is_dir()
    file = tmp_path / "exp.yaml"
    file.write_text(DEFINITION)
    created = run.invoke(app, ["experiments", "create", str(file), "-w", ws])
    assert created.exit_code == 0, created.output
    assert "diversity-test (running): control 1, diverse 1" in created.output
    listing = run.invoke(app, ["experiments", "list", "-w", ws]).output
    assert "diversity-test" in listing and "50%" in listing and "purchase_rate" in listing
    shown = run.invoke(app, ["experiments", "show", "diversity-test", "-w", ws]).output
    assert "lambda: 0.5" in shown and "salt: diversity-test" in shown
    stopped = run.invoke(app, ["experiments", "stop", "diversity-test", "-w", ws])
    assert stopped.exit_code == 0 and "(stopped)" in stopped.output
    file.write_text(DEFINITION.replace("weight: 1}", "weight: 0}"))
    refused = run.invoke(app, ["experiments", "create", str(file), "-w", ws])
    assert refused.exit_code != 0 and "greater than 0" in refused.output
    missing = run.invoke(app, ["experiments", "show", "nope", "-w", ws])
    assert missing.exit_code != 0 and "does not exist" in missing.output


BANDIT = """\
key: bandit
allocation: thompson
rebalance_hours: 12
variants: [{name: control, weight: 1}, {name: b, weight: 1}]
metrics: {primary: conversion}
"""


def test_rebalance_due_steps_the_bandits_that_are_due(tmp_path: Path) -> None:
    run = CliRunner()
    ws = str(tmp_path / "ws")
    assert run.invoke(app, ["init", ws]).exit_code == 0
    (tmp_path / "ws" / "experiments" / "bandit.yaml").write_text(BANDIT)
    first = run.invoke(app, ["experiments", "rebalance", "--due", "-w", ws])
    assert first.exit_code == 0, first.output
    assert "step 1 recorded in experiments/bandit.allocation.json" in " ".join(first.output.split())
    again = run.invoke(app, ["experiments", "rebalance", "--due", "-w", ws])
    assert again.exit_code == 0 and "no bandit is due" in again.output  # 12 h not passed
    neither = run.invoke(app, ["experiments", "rebalance", "-w", ws])
    assert neither.exit_code == 2 and "--due" in neither.output
