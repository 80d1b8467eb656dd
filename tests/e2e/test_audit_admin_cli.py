"""Command-line admin actions beyond keys and models write their audit row: experiments
created, refused and stopped, read back with `tastemaker audit --json`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tastemaker.cli.app import app

DEFINITION = """\
key: audit-test
variants:
  - {name: control, weight: 1}
  - {name: treatment, weight: 1}
metrics: {primary: purchase_rate}
"""


def test_experiment_create_stop_and_a_refusal_are_audited(tmp_path: Path) -> None:
    run = CliRunner()
    ws = str(tmp_path / "ws")
    assert run.invoke(app, ["init", ws]).exit_code == 0
    file = tmp_path / "exp.yaml"
    file.write_text(DEFINITION)
    assert run.invoke(app, ["experiments", "create", str(file), "-w", ws]).exit_code == 0
    assert run.invoke(app, ["experiments", "stop", "audit-test", "-w", ws]).exit_code == 0
    file.write_text(DEFINITION.replace("weight: 1}", "weight: 0}"))
    assert run.invoke(app, ["experiments", "create", str(file), "-w", ws]).exit_code != 0
    shown = run.invoke(app, ["audit", "--json", "-w", ws])
    assert shown.exit_code == 0, shown.output
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(r["action"], r["target"], r["outcome"]) for r in rows] == [
        ("experiments create", "audit-test", "ok"),
        ("experiments stop", "audit-test", "ok"),
        ("experiments create", "exp.yaml", "error"),
    ]
    assert all(r["actor"].startswith("cli:") for r in rows)
