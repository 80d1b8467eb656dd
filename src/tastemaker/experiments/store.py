"""Experiment definitions kept as YAML files: ``experiments/<key>.yaml`` in the workspace,
and the exposures the engine recorded in the event log (:func:`read_exposures`).

:class:`ExperimentStore` lists, reads, writes and stops definitions. A running server
picks up a new or changed file like the segment rules: :meth:`ExperimentStore.current`
looks at the folder (one ``stat`` per file) at most every ``check_seconds`` and re-reads
it only when a file's modification time, size or the set of files changed. A file that
does not validate is logged and left out (the others keep serving); ``errors`` names it.
The folder's ``metrics.yaml`` declares metrics and is never read as a definition.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import polars as pl
import yaml

from tastemaker.errors import ConflictError, NotFoundError, ValidationFailedError
from tastemaker.experiments.definition import Experiment, parse_experiment, valid_key
from tastemaker.registry.registry import ModelRegistry
from tastemaker.storage.base import Store

log = logging.getLogger(__name__)

#: The folder of definitions in a workspace.
EXPERIMENTS_DIR = "experiments"
#: The file in that folder that declares metrics (not an experiment; no experiment may be
#: called ``metrics``).
METRICS_FILE = "metrics.yaml"


def _is_definition(name: str) -> bool:
    """Whether a file name in the folder is an experiment definition."""
    return name.endswith(".yaml") and not name.startswith(".") and name != METRICS_FILE


class ExperimentStore:
    """Definitions in one folder, re-read when the folder changes.

    Args:
        folder: ``<workspace>/experiments`` (created on the first write).
        check_seconds: least time between two looks at the folder (0: every call).
    """

    def __init__(self, folder: Path, check_seconds: float = 1.0) -> None:
        self.folder = Path(folder)
        self.check_seconds = check_seconds
        self.errors: dict[str, str] = {}
        self.generation = 0
        self._experiments: dict[str, Experiment] = {}
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._next = 0.0
        self._lock = threading.Lock()

    # --- reading ------------------------------------------------------------------------
    def current(self) -> dict[str, Experiment]:
        """Every valid definition by key (re-read when the folder changed; see module docs)."""
        if time.monotonic() >= self._next:
            with self._lock:
                self._next = time.monotonic() + self.check_seconds
                seen = self._fingerprint()
                if seen != self._seen:
                    self._experiments, self.errors = self._read_all()
                    self._seen = seen
                    self.generation += 1
        return self._experiments

    def list(self) -> list[Experiment]:
        """Every valid definition, by key."""
        self._next = 0.0
        return [self.current()[k] for k in sorted(self.current())]

    def get(self, key: str) -> Experiment:
        """The definition of ``key``.

        Raises:
            NotFoundError: no valid definition has that key.
        """
        self._next = 0.0
        found = self.current().get(key)
        if found is None:
            why = self.errors.get(key)
            extra = f" (its file is invalid: {why})" if why else ""
            raise NotFoundError(f"experiment '{key}' does not exist{extra}", key=key)
        return found

    # --- writing ------------------------------------------------------------------------
    def put(self, experiment: Experiment) -> Experiment:
        """Write (create or replace) a definition; running servers pick it up."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = experiment.model_dump(mode="json", exclude_none=True)
        path = self._path(experiment.key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(yaml.safe_dump(data, sort_keys=False))
        os.replace(tmp, path)
        self._next = 0.0
        return experiment

    def stop(self, key: str) -> Experiment:
        """Set ``status: stopped`` (users return to the usual serving; exposures stay).

        Raises:
            NotFoundError: no such experiment.
        """
        stopped = self.get(key).model_copy(update={"status": "stopped"})
        return self.put(stopped)

    # --- files --------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        if not valid_key(key):
            raise ValidationFailedError(f"'{key}' is not a valid experiment key", key=key)
        if f"{key}.yaml" == METRICS_FILE:
            why = f"'{key}' is reserved: {EXPERIMENTS_DIR}/{METRICS_FILE} declares metrics"
            raise ValidationFailedError(f"{why}; choose another experiment key", key=key)
        return self.folder / f"{key}.yaml"

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return ()
        out = []
        for e in entries:
            if _is_definition(e.name):
                try:
                    st = e.stat()
                except FileNotFoundError:
                    continue
                out.append((e.name, st.st_mtime_ns, st.st_size))
        return tuple(sorted(out))

    def _read_all(self) -> tuple[dict[str, Experiment], dict[str, str]]:
        found: dict[str, Experiment] = {}
        errors: dict[str, str] = {}
        for path in sorted(self.folder.glob("*.yaml")) if self.folder.is_dir() else []:
            if not _is_definition(path.name):
                continue
            try:
                exp = parse_experiment(yaml.safe_load(path.read_text()), str(path))
                if exp.key != path.stem:
                    why = f"{path}: key '{exp.key}' differs from the file name"
                    raise ValidationFailedError(why)
            except (ValidationFailedError, yaml.YAMLError, OSError) as exc:
                message = getattr(exc, "message", None) or f"{path}: {exc}"
                errors[path.stem] = message
                log.error("experiment definition left out: %s", message)
                continue
            found[exp.key] = exp
        return found, errors


def check_model_versions(experiment: Experiment, registry: ModelRegistry) -> None:
    """Refuse a definition whose variants name a model version that cannot serve.

    Raises:
        ValidationFailedError: the version does not exist or was built for another
            feature schema (the message says which variant and why).
    """
    for variant in experiment.variants:
        version = variant.serving.model_version
        if version is None:
            continue
        try:
            registry.check_schema(version)
        except (NotFoundError, ConflictError) as exc:
            raise ValidationFailedError(
                f"experiment '{experiment.key}', variant '{variant.name}': {exc.message}"
            ) from exc


def read_exposures(store: Store, key: str | None = None) -> pl.DataFrame:
    """The first exposure of each unit per experiment, from the event log.

    Args:
        store: the workspace's store (``exposure`` events, see ``engine/experiments.py``).
        key: one experiment (None: every experiment).

    Returns:
        ``experiment``, ``user_id`` (the unit: the pseudonymized user id, or
        ``anon:<pseudonymized anonymous id>`` for a visitor), ``variant`` and
        ``exposed_at`` (UTC datetime) and ``segments`` (the user's segments when exposed),
        one row per experiment and unit.
    """
    events = store.events(types=["exposure"])
    props = pl.col("properties").str.json_decode(
        pl.Struct({"experiment": pl.String, "variant": pl.String, "segments": pl.List(pl.String)})
    )
    unit = pl.coalesce(pl.col("user_id"), pl.lit("anon:") + pl.col("anonymous_id"))
    rows = events.select(
        props.struct.field("experiment").alias("experiment"),
        unit.alias("user_id"),
        props.struct.field("variant").alias("variant"),
        pl.col("timestamp").alias("exposed_at"),
        props.struct.field("segments").fill_null([]).alias("segments"),
    ).filter(pl.col("experiment").is_not_null() & pl.col("user_id").is_not_null())
    if key is not None:
        rows = rows.filter(pl.col("experiment") == key)
    return rows.group_by("experiment", "user_id", maintain_order=True).first()
