"""The engine's background work: the registry watch loop and the weak ingest listener.

Both hold the engine by a weak reference, so an engine nobody uses any more is collected
(its thread then ends and its listener does nothing).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from typing import Protocol

import polars as pl

log = logging.getLogger(__name__)


class _Watched(Protocol):
    @property
    def config(self) -> _HasWatchSeconds: ...

    def current(self) -> object: ...

    def refresh(self, force: bool = False) -> bool: ...

    def on_events(self, frame: pl.DataFrame) -> None: ...


class _HasWatchSeconds(Protocol):
    watch_seconds: float


def weak_listener(engine: _Watched) -> Callable[[pl.DataFrame], None]:
    """An ingestor listener calling ``engine.on_events`` while the engine lives."""
    ref = weakref.ref(engine)

    def listener(frame: pl.DataFrame) -> None:
        target = ref()
        if target is not None:
            target.on_events(frame)

    return listener


def watch_loop(ref: weakref.ReferenceType[_Watched]) -> None:
    """Every ``watch_seconds``: apply a changed settings file and refresh the versions."""
    while True:
        engine = ref()
        if engine is None:
            return
        interval = engine.config.watch_seconds
        try:
            engine.current()  # a changed settings file is applied without waiting for a request
            engine.refresh()
        except Exception:
            log.exception("registry refresh failed")
        del engine
        time.sleep(interval)
