"""`tastemaker train` and `tastemaker models ...` as an operator runs them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.workspace import Workspace


@pytest.mark.slow
def test_train_promote_canary_rollback_from_the_command_line(
    tmp_path: Path, tm: Callable[..., Any]
) -> None:
    ws = Workspace.init(tmp_path / "shop")
    m = generate_marketplace(users=80, items=150, days=5, seed=5)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_events(m.events, "test")
    ws.close()
    params = '{"components": ["itemknn", "als"], "weights": [0.5, 0.5]}'
    first = tm("train", "-w", "shop", "--model", "hybrid", "--params", params, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "wrote model version v0001" in first.stdout and "ndcg@10" in first.stdout
    second = tm("train", "-w", "shop", "--model", "itemknn", "--holdout", "0", cwd=tmp_path)
    assert second.returncode == 0 and "v0002" in second.stdout
    assert "active: v0001" in tm("models", "promote", "v0001", "-w", "shop", cwd=tmp_path).stdout
    canary = tm("models", "canary", "v0002", "--share", "10", "-w", "shop", cwd=tmp_path)
    assert "canary: v0002 (10%)" in canary.stdout
    listing = tm("models", "list", "-w", "shop", cwd=tmp_path).stdout
    assert "v0001" in listing and "active" in listing and "canary 10%" in listing
    assert "active: v0002" in tm("models", "promote", "v0002", "-w", "shop", cwd=tmp_path).stdout
    assert "active: v0001" in tm("models", "rollback", "-w", "shop", cwd=tmp_path).stdout
    missing = tm("models", "promote", "v0042", "-w", "shop", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
