"""The model registry: versioned artifact folders and the pointers serving follows.

Layout under the workspace's models folder::

    models/
      registry.json        {"active", "history", "canary": {version, share}, "shadow"}
      v0001/manifest.json  + model/, retrieval/, serving/ (see registry.artifacts)
      v0002/...

``registry.json`` is replaced atomically; servers poll its modification time (one
``stat`` per second) and pick up a promotion or rollback without restart. A canary is an
experiment now (``canary-<version>``, ``engine/experiments.py``); the ``canary`` pointer is
still read (as that experiment) from workspaces written before.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from tastemaker.errors import ConflictError, NotFoundError, ValidationFailedError
from tastemaker.registry.manifest import MANIFEST_FILE, Manifest, feature_schema_hash

STATE_FILE = "registry.json"
_VERSION = re.compile(r"^v(\d{4,})$")


class Canary(BaseModel):
    """A candidate version served to a stable share (percent) of users."""

    version: str
    share: float = Field(ge=0, le=100)


class RegistryState(BaseModel):
    """Which versions serve: the active one, earlier actives, canary and shadow."""

    active: str | None = None
    history: list[str] = Field(default_factory=list)
    canary: Canary | None = None
    shadow: str | None = None
    #: bumped when versions' files were rewritten in place (a user erased from them):
    #: serving processes then reload every version from disk
    rewrites: int = 0


def in_canary(user_key: str, canary: Canary | None) -> bool:
    """Stable assignment: the same user always lands on the same side for a canary."""
    if canary is None or canary.share <= 0:
        return False
    digest = hashlib.blake2b(f"{canary.version}:{user_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 < canary.share * 100


class ModelRegistry:
    """Versions, manifests and the serving pointers in one folder.

    Args:
        root: the models folder (``Settings.path(settings.models_dir)``).
        schema_hash: the feature schema hash of the running code (promote refuses others).
    """

    def __init__(self, root: Path, schema_hash: str | None = None) -> None:
        self.root = Path(root)
        self.schema_hash = schema_hash or feature_schema_hash()

    # --- versions --------------------------------------------------------------------
    def versions(self) -> list[str]:
        """Version names, oldest first."""
        if not self.root.is_dir():
            return []
        names = [p.name for p in self.root.iterdir() if _VERSION.match(p.name)]
        return sorted(n for n in names if (self.root / n / MANIFEST_FILE).is_file())

    def path(self, version: str) -> Path:
        """Folder of ``version``.

        Raises:
            NotFoundError: no such version.
        """
        folder = self.root / version
        if not _VERSION.match(version) or not (folder / MANIFEST_FILE).is_file():
            known = ", ".join(self.versions()) or "none yet: run `tastemaker train`"
            raise NotFoundError(f"model version '{version}' does not exist (known: {known})")
        return folder

    def manifest(self, version: str) -> Manifest:
        """The manifest of ``version``."""
        return Manifest.model_validate_json((self.path(version) / MANIFEST_FILE).read_text())

    def create(self, manifest_fields: dict[str, object], write: Callable[[Path], None]) -> Manifest:
        """Write a new version: ``write(folder)`` fills the artifacts, then the manifest.

        The folder is built under a temporary name and renamed, so a half-written
        version is never listed.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            numbers = [int(_VERSION.match(v).group(1)) for v in self.versions()]  # type: ignore[union-attr]
            version = f"v{(max(numbers, default=0) + 1):04d}"
            tmp = self.root / f".tmp-{version}-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            try:
                write(tmp)
                created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                manifest = Manifest.model_validate(
                    {**manifest_fields, "version": version, "created_at": created}
                )
                (tmp / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2))
                tmp.rename(self.root / version)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return manifest

    # --- pointers --------------------------------------------------------------------
    def state(self) -> RegistryState:
        """The current pointers (empty when nothing was promoted yet)."""
        path = self.root / STATE_FILE
        if not path.is_file():
            return RegistryState()
        return RegistryState.model_validate_json(path.read_text())

    def state_token(self) -> tuple[int, int]:
        """A cheap fingerprint of the pointers (modification time, size): poll this."""
        try:
            st = (self.root / STATE_FILE).stat()
        except FileNotFoundError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    def check_schema(self, version: str) -> Manifest:
        """The manifest of ``version`` when its feature schema matches the running code.

        Raises:
            ConflictError: built against another feature schema (retrain it).
        """
        manifest = self.manifest(version)
        if manifest.feature_schema_hash != self.schema_hash:
            raise ConflictError(
                f"refusing model version '{version}': it was built for feature schema "
                f"{manifest.feature_schema_hash} (code {manifest.code_version}) but the running "
                f"code expects {self.schema_hash}; retrain with `tastemaker train` to get a "
                "compatible version",
                version=version,
                expected=self.schema_hash,
                found=manifest.feature_schema_hash,
            )
        return manifest

    def promote(self, version: str) -> RegistryState:
        """Make ``version`` the active one (the previous active goes to history).

        A canary or shadow of ``version`` ends: it is live now.
        """
        self.check_schema(version)

        def change(s: RegistryState) -> None:
            if s.active and s.active != version:
                s.history.append(s.active)
            s.active = version
            if s.canary and s.canary.version == version:
                s.canary = None
            if s.shadow == version:
                s.shadow = None

        return self._update(change)

    def rollback(self) -> RegistryState:
        """Re-activate the previous active version.

        Raises:
            ConflictError: there is no earlier version to return to.
        """

        def change(s: RegistryState) -> None:
            if not s.history:
                raise ConflictError("nothing to roll back to: no version was active before")
            s.active = s.history.pop()

        return self._update(change)

    def set_canary(self, version: str, share: float) -> RegistryState:
        """Serve ``version`` to ``share`` percent of users (0 stops the canary)."""
        if not 0 <= share <= 100:
            raise ValidationFailedError(f"canary share must be 0..100 percent, got {share}")
        if share > 0:
            self.check_schema(version)

        def change(s: RegistryState) -> None:
            s.canary = Canary(version=version, share=share) if share > 0 else None

        return self._update(change)

    def set_shadow(self, version: str | None) -> RegistryState:
        """Score every request with ``version`` too, logging its list without serving it."""
        if version is not None:
            self.check_schema(version)

        def change(s: RegistryState) -> None:
            s.shadow = version

        return self._update(change)

    def mark_rewritten(self) -> RegistryState:
        """Record that version files changed in place: every process reloads them."""

        def change(s: RegistryState) -> None:
            s.rewrites += 1

        return self._update(change)

    def _update(self, change: Callable[[RegistryState], None]) -> RegistryState:
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            state = self.state()
            change(state)
            tmp = self.root / f".{STATE_FILE}.{os.getpid()}"
            tmp.write_text(state.model_dump_json(indent=2))
            os.replace(tmp, self.root / STATE_FILE)
        return state

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def describe(manifest: Manifest) -> dict[str, object]:
    """A short JSON-ready summary of a manifest (for listings)."""
    return json.loads(
        manifest.model_dump_json(include={"version", "created_at", "model", "metrics", "data"})
    )
