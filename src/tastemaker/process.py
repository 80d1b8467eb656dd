"""Process-wide tuning of a long-running process, applied by its entry point only.

A server process answers small requests from many threads: BLAS thread teams only spin,
the interpreter's default 5 ms thread switch interval makes a request that released the
GIL wait for the impression writer, and full garbage-collector passes over the loaded
model (~150,000 objects) and the cached profile states held the GIL for up to 140 ms.
:class:`ProcessTuning` sets all of that in one place, from the ``process`` section of the
settings; ``tastemaker serve``, ``tastemaker worker`` and the benchmarks call
:meth:`ProcessTuning.apply`. Nothing else in the package changes process-wide state.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from dataclasses import dataclass, field

from tastemaker.config import ProcessConfig

log = logging.getLogger(__name__)


@dataclass
class ProcessTuning:
    """Applies a :class:`ProcessConfig` to the current process.

    Args:
        config: the ``process`` section of the settings.
    """

    config: ProcessConfig
    _full_at: float = field(default_factory=time.monotonic)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def apply(self) -> ProcessTuning:
        """Set thread switching, BLAS threads and the collector's schedule; return self."""
        cfg = self.config
        if cfg.switch_interval_ms:
            sys.setswitchinterval(cfg.switch_interval_ms / 1000)
        if cfg.blas_threads:
            from threadpoolctl import threadpool_limits

            threadpool_limits(cfg.blas_threads, "blas")
        if cfg.gc_young_threshold:
            _, older, oldest = gc.get_threshold()
            gc.set_threshold(cfg.gc_young_threshold, older, oldest)
        if cfg.gc_freeze_seconds and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tm-gc", daemon=True)
            self._thread.start()
        return self

    def settle(self, now: float | None = None) -> bool:
        """Freeze what exists out of full collections; True when a full pass ran first.

        Long-lived objects (profile states, cached lists, loaded models) pile up; freezing
        moves them out of the passes, and the cyclic garbage frozen meanwhile is collected
        by one full pass every ``gc_full_seconds``.
        """
        now = time.monotonic() if now is None else now
        full = now - self._full_at >= self.config.gc_full_seconds
        if full:
            self._full_at = now
            gc.unfreeze()
            gc.collect()
        gc.freeze()
        return full

    def stop(self) -> None:
        """Stop the collector's schedule (tests)."""
        self._stop.set()

    def _run(self) -> None:
        interval = self.config.gc_freeze_seconds or 1.0
        while not self._stop.wait(interval):
            try:
                self.settle()
            except Exception:  # tuning must never take a process down
                log.exception("garbage-collector schedule failed")
