"""`recommendations.yaml` is watched cheaply and swapped whole into a running engine."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import polars as pl
import pytest

from tastemaker.engine import reload
from tastemaker.engine.config import PIPELINE_FILE, PipelineConfig
from tastemaker.engine.reload import ConfigWatch, changed_settings, fingerprint
from tastemaker.engine.runtime import Engine
from tastemaker.engine.setup import EngineSetup
from tastemaker.rerank.filters import Filters
from tastemaker.workspace import Workspace


def save(folder: Path, text: str, age: float = 1.0) -> Path:
    """Write the file as if saved ``age`` seconds ago (0: this instant, still settling)."""
    path = folder / PIPELINE_FILE
    path.write_text(text)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def watch_of(folder: Path, check_seconds: float = 0.0) -> ConfigWatch:
    return ConfigWatch(folder, check_seconds, fingerprint(folder / PIPELINE_FILE))


def test_an_unchanged_file_is_not_read_and_a_changed_one_is(tmp_path: Path) -> None:
    save(tmp_path, "seed: 1\n", age=5)
    watch = watch_of(tmp_path)
    assert watch.poll() is None
    save(tmp_path, "seed: 2\n")
    found = watch.poll()
    assert found is not None and found.seed == 2
    assert watch.poll() is None  # read once


def test_a_file_being_written_is_read_once_it_settled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a settle time of a minute, not 50 ms: with 50 ms, a stall of the test process between
    # the write and the poll (a busy CI machine) let the poll read the file as settled
    monkeypatch.setattr(reload, "SETTLE_SECONDS", 60.0)
    save(tmp_path, "seed: 1\n", age=5 * 60)
    watch = watch_of(tmp_path, check_seconds=60)
    path = save(tmp_path, "seed: 2\n", age=0)
    assert watch.poll() is None and watch.due()  # looks again on the next request
    then = time.time() - 61
    os.utime(path, (then, then))
    found = watch.poll()
    assert found is not None and found.seed == 2
    assert not watch.due()  # next look in a minute


def test_a_look_is_due_at_most_every_check_interval(tmp_path: Path) -> None:
    assert not watch_of(tmp_path, check_seconds=60).due()
    assert watch_of(tmp_path, check_seconds=0).due()


def test_an_invalid_file_is_reported_once_with_file_field_and_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch = watch_of(tmp_path)
    path = save(tmp_path, "candidates:\n  limit: 0\n")
    with caplog.at_level(logging.ERROR, logger="tastemaker.engine.reload"):
        assert watch.poll() is None
        assert watch.poll() is None
    status = watch.status()
    assert not status.valid and status.reloads == 0
    assert status.error is not None
    assert str(path) in status.error and "candidates.limit" in status.error
    assert "greater than or equal to 1" in status.error
    assert len(caplog.records) == 1 and "still serving" in caplog.text

    fixed = save(tmp_path, "candidates:\n  limit: 40\n", age=2)
    assert fingerprint(fixed) is not None
    found = watch.poll()
    assert found is not None
    watch.applied(PipelineConfig(), found)
    assert watch.status().valid and watch.status().reloads == 1


def test_a_removed_file_means_the_defaults(tmp_path: Path) -> None:
    path = save(tmp_path, "seed: 1\n")
    watch = watch_of(tmp_path)
    path.unlink()
    assert watch.poll() == PipelineConfig()


def test_changed_settings_are_named_by_their_dotted_path() -> None:
    new = PipelineConfig.model_validate({"seed": 4, "rerank": {"diversity": {"lambda": 0.5}}})
    assert changed_settings(PipelineConfig(), new) == ["rerank.diversity.lambda", "seed"]


def _consistent(setup: EngineSetup) -> bool:
    """Every part of a setup was built from its own config."""
    config = setup.config
    versions = setup.versions.versions.values()
    pins = [getattr(dict(v.stages)["pins"], "config", None) for v in versions]
    return (
        setup.pipeline.config is config
        and setup.versions.config is config
        and setup.featured.hard is config.rerank.hard
        and all(p is config.rerank.pins for p in pins)
        and setup.users.ttl == config.user_cache_seconds
    )


def test_a_request_holding_the_old_setup_keeps_it_whole(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    ws.ingestor.ingest_items(
        pl.DataFrame({"item_id": ["a", "b", "c"], "category": ["x", "y", "x"]}), "test"
    )
    save(ws.root, "reload_check_seconds: 0\n", age=5)
    engine = Engine(ws, watch=False)
    try:
        old = engine.current()
        assert engine.current() is old  # unchanged file: same setup
        assert engine.featured(None, None, "category:x")[0].item is not None
        save(ws.root, "reload_check_seconds: 0\nuser_cache_seconds: 5\n"
             "rerank:\n  pins: {pins: [{item_id: b, position: 1}]}\n")  # fmt: skip
        new = engine.current()
        assert new is not old and _consistent(old) and _consistent(new)
        assert old.config.user_cache_seconds == 60 and new.config.user_cache_seconds == 5
        assert engine.recommend("u", 3, Filters(), None).item_ids[0] == "b"
        # catalog arrays are shared, not rebuilt; memos of the old hard filters are not
        assert new.versions.active.table is old.versions.active.table
        assert new.featured.index().table is old.featured.index().table
        assert new.featured.index().eligible == {} != old.featured.index().eligible
        status = engine.config_status()
        assert status is not None and status.valid and status.reloads == 1
    finally:
        engine.close()


def test_an_engine_given_its_settings_follows_no_file(sqlite_workspace: Workspace) -> None:
    save(sqlite_workspace.root, "seed: 1\n", age=5)
    engine = Engine(sqlite_workspace, config=PipelineConfig(seed=9), watch=False)
    try:
        save(sqlite_workspace.root, "seed: 2\n")
        assert engine.current().config.seed == 9 and engine.config_status() is None
    finally:
        engine.close()
