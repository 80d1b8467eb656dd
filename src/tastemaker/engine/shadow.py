"""Shadow scoring: a candidate version scores the same requests off the hot path.

Its lists are never served; each is written as one JSON line to
``reports/shadow-<version>.jsonl`` next to the served list, with their overlap, so the
candidate can be compared before a canary or promotion. A row names the user by the
pseudonymized key only: raw ids are never written at rest.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from tastemaker.engine.served import ServedList

log = logging.getLogger(__name__)
Job = tuple[str, str, Callable[[], ServedList], ServedList]


class ShadowLogger:
    """Runs shadow jobs in a daemon thread; a full queue drops jobs (counted).

    Args:
        folder: where the JSON Lines files go.
        max_queue: jobs kept waiting.
    """

    def __init__(self, folder: Path, max_queue: int = 1000) -> None:
        self.folder = Path(folder)
        self.done = 0
        self.dropped = 0
        self._queue: queue.Queue[Job] = queue.Queue(max_queue)
        threading.Thread(target=self._run, name="tm-shadow", daemon=True).start()

    def submit(
        self,
        version: str,
        user_key: str,
        run: Callable[[], ServedList],
        served: ServedList,
    ) -> None:
        """Queue a shadow scoring of a request whose ``served`` list went out.

        ``user_key`` is the pseudonymized user id the row is logged under.
        """
        try:
            self._queue.put_nowait((version, user_key, run, served))
        except queue.Full:
            self.dropped += 1

    def join(self) -> None:
        """Wait until every queued job was scored and logged (tests, shutdown)."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            version, user_key, run, served = self._queue.get()
            try:
                shadow = run()
                ours, theirs = served.item_ids, shadow.item_ids
                row = {
                    "request_id": served.request_id,
                    "user_key": user_key,
                    "served_version": served.model_version,
                    "shadow_version": version,
                    "served": ours,
                    "shadow": theirs,
                    "overlap": len(set(ours) & set(theirs)) / max(len(ours), 1),
                    "at": time.time_ns() // 1_000_000,  # epoch ms: retention cuts by it
                }
                self.folder.mkdir(parents=True, exist_ok=True)
                with open(self.folder / f"shadow-{version}.jsonl", "ab") as handle:
                    handle.write(orjson.dumps(row) + b"\n")
                self.done += 1
            except Exception:  # the shadow must never disturb serving
                log.exception("shadow scoring with %s failed", version)
            finally:
                self._queue.task_done()
