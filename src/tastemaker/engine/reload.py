"""Hot reload of ``recommendations.yaml``: notice a change cheaply, read it, report errors.

:class:`ConfigWatch` is asked by the engine on every request whether a check is due (one
clock read); at most every ``reload_check_seconds`` it ``stat``s the file, and only when
the file's fingerprint (modification time, size, inode) changed does it read and validate
it. A file still being written is left alone until it has been still for
``SETTLE_SECONDS``, so a half-written file is not read. An invalid file is logged (file,
field, reason) and kept in :attr:`ConfigWatch.error`; the engine keeps serving the settings
it has (see ``Engine.config_status``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tastemaker.engine.config import PIPELINE_FILE, PipelineConfig, parse_pipeline_config
from tastemaker.errors import ConfigError

log = logging.getLogger(__name__)

#: A changed file is read once it has not changed for this long (a writer is done).
SETTLE_SECONDS = 0.05

Fingerprint = tuple[int, int, int] | None


def fingerprint(path: Path) -> Fingerprint:
    """(modification time in ns, size, inode) of ``path``; None when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass(frozen=True)
class ConfigStatus:
    """What the engine serves with, for ``/readyz`` and metrics.

    Attributes:
        file: the watched file.
        valid: False when the file's latest version was refused (the previous settings
            still serve).
        error: why it was refused (file, field, reason), or None.
        loaded_at: when the settings in force were read (epoch seconds).
        reloads: settings changes applied since the engine started.
    """

    file: str
    valid: bool
    error: str | None
    loaded_at: float
    reloads: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "file": self.file,
            "valid": self.valid,
            "error": self.error,
            "loaded_at": round(self.loaded_at, 3),
            "reloads": self.reloads,
        }


class ConfigWatch:
    """Tells the engine when ``recommendations.yaml`` holds new, valid settings.

    Args:
        workspace: the workspace folder holding the file.
        check_seconds: least time between two looks at the file (0: every call).
        seen: the fingerprint of the file the settings in force were read from.
    """

    def __init__(self, workspace: Path, check_seconds: float, seen: Fingerprint) -> None:
        self.path = Path(workspace) / PIPELINE_FILE
        self.check_seconds = check_seconds
        self.error: str | None = None
        self.loaded_at = time.time()
        self.reloads = 0
        self._seen = seen
        self._next = time.monotonic() + check_seconds

    def due(self) -> bool:
        """Whether a look at the file is due (a clock read: call it on every request)."""
        return time.monotonic() >= self._next

    def poll(self) -> PipelineConfig | None:
        """Look at the file: its new settings if it changed and is valid, else None.

        An invalid file is logged once and kept in :attr:`error`; it is read again when it
        changes. A missing file means the defaults, as at start-up.
        """
        self._next = time.monotonic() + self.check_seconds
        seen = fingerprint(self.path)
        if seen == self._seen:
            return None
        if seen is not None and time.time() - seen[0] / 1e9 < SETTLE_SECONDS:
            self._next = time.monotonic()  # being written: look again on the next call
            return None
        try:
            text = self.path.read_text() if seen is not None else ""
        except OSError:  # replaced or removed between stat and read: look again
            self._next = time.monotonic()
            return None
        if fingerprint(self.path) != seen:  # changed while read: look again
            self._next = time.monotonic()
            return None
        self._seen = seen
        try:
            return parse_pipeline_config(text, self.path)
        except ConfigError as exc:
            self.refused(exc.message)
            return None

    def refused(self, message: str) -> None:
        """Record (and log) why the new settings cannot serve; the old ones stay."""
        self.error = message
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.loaded_at))
        log.error("%s: recommendations.yaml not reloaded, still serving the settings read "
                  "at %s", message, since)  # fmt: skip

    def applied(self, old: PipelineConfig, new: PipelineConfig) -> None:
        """Record that ``new`` serves now; log which settings changed."""
        self.error = None
        self.reloads += 1
        self.loaded_at = time.time()
        self.check_seconds = new.reload_check_seconds
        changed = changed_settings(old, new)
        log.warning("%s reloaded: %s changed (applied to the next request)",
                    self.path, ", ".join(changed) or "nothing")  # fmt: skip

    def status(self) -> ConfigStatus:
        """The state to report (health, metrics)."""
        return ConfigStatus(str(self.path), self.error is None, self.error, self.loaded_at,
                            self.reloads)  # fmt: skip


def changed_settings(old: PipelineConfig, new: PipelineConfig) -> list[str]:
    """Dotted names of the settings whose values differ (``rerank.pins.pins``, ``seed``)."""
    return _diff(old.model_dump(by_alias=True), new.model_dump(by_alias=True), "")


def _diff(old: Any, new: Any, prefix: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(old.keys() | new.keys()):
            out += _diff(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]
