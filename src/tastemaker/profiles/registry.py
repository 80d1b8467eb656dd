"""Versioned segment rules kept in the store, picked up by running processes without restart.

Every applied rules file becomes a numbered version in the store; the active version id is
a store setting (``segments.active``). Processes compare it at most once per ``check_every``
seconds and load the new rules when it changes, so `tastemaker segments apply` and
`rollback` take effect everywhere within about a second. A file that fails validation is
refused with its line and reason and the running version stays.
"""

from __future__ import annotations

import logging
import threading
import time
from importlib import resources
from pathlib import Path

from tastemaker.config import Settings
from tastemaker.errors import NotFoundError
from tastemaker.profiles.rules import SegmentRules, parse_rules
from tastemaker.storage.base import SegmentVersion, Store

ACTIVE_KEY = "segments.active"
DEFAULT_RULES_FILE = "default_segments.yaml"
log = logging.getLogger(__name__)


def default_rules_text() -> str:
    """The rules file shipped with tastemaker."""
    return resources.files("tastemaker.profiles").joinpath(DEFAULT_RULES_FILE).read_text()


class RulesRegistry:
    """The active segment rules of a workspace, with versions, hot reload and rollback.

    Args:
        settings: workspace settings (profiled attributes, window, rules file name).
        store: where versions and the active version id live.
        check_every: seconds between two checks of the active version id.
    """

    def __init__(self, settings: Settings, store: Store, check_every: float = 1.0) -> None:
        self.settings = settings
        self.store = store
        self.check_every = check_every
        self._rules: SegmentRules | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def parse(self, text: str, source: str = "segments.yaml") -> SegmentRules:
        """Validate a rules text against this workspace's profile settings."""
        cfg = self.settings.profiles
        return parse_rules(text, cfg.attributes, cfg.window_days, source)

    def current(self) -> SegmentRules:
        """The active rules (re-checked in the store at most once per ``check_every``)."""
        now = time.monotonic()
        rules = self._rules
        if rules is not None and now - self._checked < self.check_every:
            return rules
        with self._lock:
            if self._rules is not None and now - self._checked < self.check_every:
                return self._rules
            try:
                self._rules = self._load_active()
            except Exception as exc:  # store down: keep serving the rules we have
                if self._rules is None:
                    raise
                log.warning("cannot check segment rules version: %s", exc)
            self._checked = now
            return self._rules

    def refresh(self) -> SegmentRules:
        """The active rules, checked in the store now (another process wrote profiles: a
        `segments apply` there re-evaluated them with rules this process may not have yet)."""
        self._checked = -float("inf")
        return self.current()

    def _load_active(self) -> SegmentRules:
        active = self.store.get_meta(ACTIVE_KEY)
        if active is None:
            self.bootstrap()
            active = self.store.get_meta(ACTIVE_KEY)
        version = int(active or 0)
        if self._rules is not None and self._rules.version == version:
            return self._rules
        found = self.version(version)
        rules = self.parse(found.text, f"segments v{version}")
        rules.version = version
        return rules

    def bootstrap(self) -> int:
        """Store the workspace's rules file (or the packaged default) as version 1."""
        path = Path(self.settings.path(self.settings.profiles.segments_file))
        text = path.read_text() if path.is_file() else default_rules_text()
        self.parse(text, path.name)
        try:
            version = self.store.add_segment_version(text, note=f"initial ({path.name})")
        except Exception:  # another process bootstrapped at the same moment
            active = self.store.get_meta(ACTIVE_KEY)
            if active is None:
                raise
            return int(active)
        self.store.set_meta(ACTIVE_KEY, str(version))
        return version

    def version(self, number: int) -> SegmentVersion:
        """One stored version.

        Raises:
            NotFoundError: no such version.
        """
        for v in self.store.segment_versions():
            if v.version == number:
                return v
        raise NotFoundError(f"segment rules version {number} does not exist", version=number)

    def active_version(self) -> int:
        """The active version id (bootstrapping version 1 when the store has none)."""
        return self.current().version

    def apply_text(self, text: str, source: str = "segments.yaml", note: str | None = None) -> int:
        """Validate ``text``, store it as a new version and make it active.

        Raises:
            ValidationFailedError: the file is invalid (line and reason); nothing changes.
        """
        self.parse(text, source)
        self.current()  # make sure version 1 exists before adding ours
        version = self.store.add_segment_version(text, note=note or source)
        self.store.set_meta(ACTIVE_KEY, str(version))
        self._checked = 0.0
        return version

    def rollback(self, version: int | None = None) -> int:
        """Activate ``version`` (default: the version before the active one); return it.

        Raises:
            NotFoundError: the version does not exist or there is nothing to roll back to.
        """
        active = self.current().version
        if version is None:
            older = [v.version for v in self.store.segment_versions() if v.version < active]
            if not older:
                raise NotFoundError(f"no version before the active version {active}")
            version = max(older)
        self.parse(self.version(version).text, f"segments v{version}")
        self.store.set_meta(ACTIVE_KEY, str(version))
        self._checked = 0.0
        return version
