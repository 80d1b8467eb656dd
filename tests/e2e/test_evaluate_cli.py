"""A data scientist imports MovieLens-format data, tunes, evaluates and opens the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from tastemaker.cli.app import app

runner = CliRunner()


def write_movielens(folder: Path, n_users: int = 40, n_items: int = 30) -> None:
    """A small ML-100k-format folder with two taste clusters (Latin-1 titles)."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    lines = []
    for u in range(1, n_users + 1):
        half = range(1, 16) if u % 2 else range(16, n_items + 1)
        for i in rng.choice(list(half), 10, replace=False):
            lines.append(f"{u}\t{i}\t{rng.integers(1, 6)}\t{880000000 + u * 1000 + int(i)}")
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    flags = "|".join(["0"] * 19)
    items = [f"{i}|Film {i} à la carte (1995)|01-Jan-1995||http://x|{flags}" for i in range(1, 31)]
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    users = [f"{u}|{20 + u}|{'MF'[u % 2]}|writer|0000{u}" for u in range(1, n_users + 1)]
    (folder / "u.user").write_text("\n".join(users) + "\n")


def test_import_tune_evaluate_report(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    data = tmp_path / "ml"
    write_movielens(data)
    result = runner.invoke(app, ["init", str(ws)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["dataset", "import", "movielens", str(data), "-w", str(ws)])
    assert result.exit_code == 0, result.output
    assert "400" in result.output  # 40 users x 10 ratings accepted

    record = tmp_path / "tune.json"
    args = ["tune", "-w", str(ws), "--model", "ease", "--split", "random"]
    result = runner.invoke(app, [*args, "--grid", '{"l2": [1, 10]}', "--out", str(record)])
    assert result.exit_code == 0, result.output
    assert json.loads(record.read_text())["best_params"]["l2"] in (1, 10)

    report = tmp_path / "report.html"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "-w",
            str(ws),
            "--models",
            "popularity,itemknn,ease",
            "--split",
            "random",
            "--k",
            "5,10",
            "--report",
            str(report),
            "--segment-by",
            "gender",
            "--bootstrap",
            "50",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ease" in result.output and "popularity" in result.output
    html = report.read_text()
    assert html.count("data:image/png;base64,") == 4
    saved = json.loads(report.with_suffix(".json").read_text())
    ndcg = {m["name"]: m["metrics"]["ndcg"]["10"]["mean"] for m in saved["models"]}
    assert ndcg["ease"] > ndcg["popularity"]  # clusters are learnable, popularity is not
    assert set(saved["models"][0]["segments"]) == {"F", "M"}


def test_evaluate_without_workspace_fails_clearly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "-w", str(tmp_path / "missing")])
    assert result.exit_code == 2


def test_tune_writes_the_workspace_record_that_train_and_evaluate_use(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    data = tmp_path / "ml"
    write_movielens(data)
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    imported = runner.invoke(app, ["dataset", "import", "movielens", str(data), "-w", str(ws)])
    assert imported.exit_code == 0, imported.output

    tuned = runner.invoke(
        app, ["tune", "-w", str(ws), "--model", "ease", "--grid", '{"l2": [1, 3]}']
    )
    assert tuned.exit_code == 0, tuned.output
    assert "WARNING" in tuned.output and "of the grid" in tuned.output  # best at an end
    record = json.loads((ws / "reports" / "tuning.json").read_text())["models"]["ease"]
    assert record["grid"] == {"l2": [1, 3]} and record["data"]["users"] == 40
    l2 = record["params"]["l2"]

    trained = runner.invoke(app, ["train", "-w", str(ws), "--model", "ease", "--holdout", "0"])
    assert trained.exit_code == 0, trained.output
    assert f'{{"l2": {l2}}} (from tuning record' in trained.output

    args = ["evaluate", "-w", str(ws), "--models", "popularity,ease", "--bootstrap", "20"]
    evaluated = runner.invoke(app, args)
    assert evaluated.exit_code == 0, evaluated.output
    assert "parameters of ease" in evaluated.output and "tuning record" in evaluated.output
    saved = sorted((ws / "reports").glob("evaluation-*.json"))[-1]
    ease = next(m for m in json.loads(saved.read_text())["models"] if m["name"] == "ease")
    assert ease["params"]["l2"] == l2

    ignored = runner.invoke(app, [*args, "--ignore-tuning"])
    assert ignored.exit_code == 0, ignored.output
    assert "from model defaults" in ignored.output
