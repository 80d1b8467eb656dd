"""Process tuning: applied by entry points, one object for switch interval, BLAS and the GC."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from tastemaker.config import ProcessConfig
from tastemaker.process import ProcessTuning


@pytest.fixture
def restored() -> Iterator[None]:
    """Put the interpreter's settings back after a test that tunes this process."""
    switch, threshold = sys.getswitchinterval(), gc.get_threshold()
    yield
    sys.setswitchinterval(switch)
    gc.set_threshold(*threshold)
    gc.unfreeze()


def test_apply_sets_the_switch_interval_and_the_young_threshold(restored: None) -> None:
    config = ProcessConfig(
        switch_interval_ms=2.0, gc_young_threshold=12_345, gc_freeze_seconds=None
    )
    ProcessTuning(config).apply()
    assert sys.getswitchinterval() == pytest.approx(0.002)
    assert gc.get_threshold()[0] == 12_345


def test_settle_freezes_and_runs_a_full_pass_when_due(restored: None) -> None:
    tuning = ProcessTuning(ProcessConfig(gc_freeze_seconds=None, gc_full_seconds=600))
    gc.unfreeze()
    start = tuning._full_at
    assert tuning.settle(now=start + 1) is False and gc.get_freeze_count() > 0
    gc.unfreeze()
    due = start + 600.001
    assert tuning.settle(now=due) is True and gc.get_freeze_count() > 0  # full pass, frozen
    assert tuning.settle(now=due + 1) is False


def test_none_leaves_python_defaults(restored: None) -> None:
    before = (sys.getswitchinterval(), gc.get_threshold())
    config = ProcessConfig(
        switch_interval_ms=None, blas_threads=None, gc_freeze_seconds=None, gc_young_threshold=None
    )
    ProcessTuning(config).apply()
    assert (sys.getswitchinterval(), gc.get_threshold()) == before
    assert gc.get_freeze_count() == 0
