"""Issue #12 point 1: several processes appending to one workspace lose no profile update.

Two `tastemaker import events` processes import disjoint files at once while this process
(standing in for `tastemaker serve`) ingests a third stream in API-sized batches. The three
streams share their users, so every profile gets events from every writer. Afterwards each
stored profile (segments included) equals what `profiles rebuild` computes from the log.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.workspace import Workspace

CLI = [sys.executable, "-c", "from tastemaker.cli.app import main; main()"]


def _streams(seed: int) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Catalog and three disjoint event streams over the same users (impressions left out)."""
    market = generate_marketplace(users=300, items=200, days=3, seed=seed)
    events = market.events.filter(pl.col("type") != "impression")
    part = np.random.default_rng(seed).integers(0, 3, events.height)
    return market.items, [events.filter(pl.Series(part == i)) for i in range(3)]


def _stored(root: Path) -> dict[str, str]:
    ws = Workspace.open(root)
    try:
        return {key: row.state for key, row in ws.store.load_profiles().items()}
    finally:
        ws.close()


def test_two_importers_and_a_server_leave_the_profiles_of_a_rebuild(
    workspace: Workspace, tmp_path: Path
) -> None:
    items, (first, second, api) = _streams(seed=21)
    workspace.ingestor.ingest_items(items, "items")
    head = api.height // 10
    workspace.ingestor.ingest_events(api.slice(0, head), "api")  # the server knows its users
    files = []
    for name, frame in (("first", first), ("second", second)):
        files.append(tmp_path / f"{name}.parquet")
        frame.write_parquet(files[-1])
    root = workspace.root
    importers = [
        subprocess.Popen([*CLI, "import", "events", str(f), "-w", str(root)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for f in files
    ]  # fmt: skip
    for start in range(head, api.height, 20):  # API-sized batches while both import
        workspace.ingestor.ingest_events(api.slice(start, 20), "api")
    for proc in importers:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    workspace.close()  # the server stops: what it still owed is applied first

    live = _stored(root)
    assert workspace.store.count_events() == first.height + second.height + api.height
    rebuilder = Workspace.open(root)
    try:
        assert rebuilder.profiles.rebuild() == len(live)
        members = sum(bool(rebuilder.profiles.segments(k)) for k in live)
    finally:
        rebuilder.close()
    rebuilt = _stored(root)
    assert len(live) > 80 and members > 20
    differing = sorted(k for k in live if live[k] != rebuilt.get(k))
    assert differing == [], f"{len(differing)} of {len(live)} profiles differ from a rebuild"
