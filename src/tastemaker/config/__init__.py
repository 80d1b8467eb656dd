"""Typed settings: one object read from the workspace file, overridable by environment.

A workspace is a folder holding ``tastemaker.yaml`` (this configuration), the SQLite
database of the embedded default, the pseudonymization key, model artifacts and reports.
Environment variables ``TASTEMAKER__SECTION__FIELD`` override file values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError

from tastemaker.config.base import Strict as _Strict
from tastemaker.config.operations import MonitoringConfig, PrivacyConfig, RetrainingConfig
from tastemaker.errors import ConfigError, WorkspaceNotFoundError

CONFIG_FILE = "tastemaker.yaml"
#: The commented ``tastemaker.yaml`` holding every default (packaged beside this module).
TEMPLATE_FILE = "default_settings.yaml"
KEY_FILE = "secret.key"
ENV_PREFIX = "TASTEMAKER__"


class SqliteStoreConfig(_Strict):
    """Embedded default: one SQLite file inside the workspace."""

    type: Literal["sqlite"] = "sqlite"
    path: str = "tastemaker.db"


class PostgresStoreConfig(_Strict):
    """PostgreSQL backend, e.g. ``postgresql://user@127.0.0.1:5432/test``."""

    type: Literal["postgres"] = "postgres"
    url: str
    schema_name: str | None = None


StoreConfig = Annotated[SqliteStoreConfig | PostgresStoreConfig, Field(discriminator="type")]


class InProcessBusConfig(_Strict):
    """Accepted events are applied to profiles inside the ingesting process."""

    type: Literal["inprocess"] = "inprocess"


class RedisBusConfig(_Strict):
    """Accepted events go to a Redis Stream; `tastemaker worker` processes consume them."""

    type: Literal["redis"] = "redis"
    url: str = "redis://127.0.0.1:6379/0"
    stream: str = "tastemaker:events"
    group: str = "profiles"
    partitions: int = Field(default=4, ge=1, le=256)


BusConfig = Annotated[InProcessBusConfig | RedisBusConfig, Field(discriminator="type")]


class CacheConfig(_Strict):
    """Optional Redis fast path for profiles and per-user result caches."""

    redis_url: str | None = None
    result_ttl_seconds: float = Field(default=60.0, ge=0)


class IngestConfig(_Strict):
    """Rules and limits applied to incoming events, items and users (API bodies and files).

    A request over ``max_body_bytes`` is answered 413; a batch over ``max_batch`` 422; a row
    over any other limit is refused on its own (row, field, reason naming the limit) and kept
    as a dead letter holding at most ``dead_letter_excerpt_bytes`` of the row.
    """

    #: Events in one API batch.
    max_batch: int = Field(default=1000, ge=1)
    #: Characters of an id (event, user, visitor, item, session).
    max_id_length: int = Field(default=256, ge=8)
    max_future_seconds: float = Field(default=86_400.0, ge=0)
    min_timestamp: str = "1990-01-01T00:00:00Z"
    #: Bytes of one request body, checked while it is read (before parsing).
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    #: Characters of any other text field (title, text, category, brand, attribute values).
    max_string_length: int = Field(default=65_536, ge=1)
    #: Bytes of one JSON field (an event's context or properties) written as compact JSON.
    max_json_bytes: int = Field(default=65_536, ge=2)
    #: Nesting levels of a JSON value (context, properties, attribute values); `{}` is 1.
    max_json_depth: int = Field(default=32, ge=1, le=250)
    #: Attributes of one item or user (fields beside the core columns).
    max_attributes: int = Field(default=64, ge=0)
    #: Distinct attribute names across the catalog (and, separately, across users).
    max_attribute_names: int = Field(default=256, ge=0)
    #: Bytes of a refused row kept in its dead letter (a longer row keeps an excerpt).
    dead_letter_excerpt_bytes: int = Field(default=4096, ge=256)


class ProfileConfig(_Strict):
    """How user profiles are kept: timeline window, decay and traits per catalog attribute."""

    window_days: float = Field(default=10.0, gt=0)
    half_life_days: float = Field(default=3.0, gt=0)
    attributes: list[str] = Field(
        default_factory=lambda: ["fuel_type", "body_type", "category", "brand", "price_band"]
    )
    price_bands: list[float] = Field(default_factory=lambda: [1_000.0, 10_000.0, 30_000.0])
    segments_file: str = "segments.yaml"
    #: How often the stream worker owning partition 0 records segment sizes (0: never).
    stats_interval_minutes: float = Field(default=60.0, ge=0)
    #: A process applying the event log to profiles holds a lease this long unless it
    #: renews it (each step does); a crashed holder's lease passes on after it.
    lease_seconds: float = Field(default=30.0, gt=0)


#: Who may call without a key, or reach the open endpoints: nobody, loopback clients only
#: (127.0.0.0/8, ::1), or everyone.
Openness = Literal["never", "loopback", "always"]
#: What an API key may do: ingest (events, catalog, users), read (lists, profiles,
#: propensity) or admin (everything, and the admin actions).
Scope = Literal["ingest", "read", "admin"]


class RateLimit(_Strict):
    """A token bucket: ``per_second`` requests on average, up to ``burst`` at once."""

    per_second: float = Field(ge=0, description="0: no limit")
    burst: int = Field(ge=1)


def _default_rate_limits() -> dict[Scope, RateLimit]:
    return {
        "ingest": RateLimit(per_second=500.0, burst=1000),
        "read": RateLimit(per_second=2000.0, burst=4000),
        "admin": RateLimit(per_second=5.0, burst=20),
    }


class ServingConfig(_Strict):
    """HTTP server settings, access control included (see docs/operations.md)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: Deprecated: one shared key acting as an admin key (use `tastemaker keys create`).
    #: While set, every request needs a key, whatever ``allow_anonymous`` says.
    api_key: str | None = None
    #: Requests without a key: refused (never), accepted from loopback only, or accepted.
    allow_anonymous: Openness = "never"
    #: ``/metrics``, ``/docs``, ``/redoc``, ``/openapi.json`` without a key (else: a read key).
    open_endpoints: Openness = "loopback"
    #: A verified key's row is reused this long: a revocation takes effect within it.
    key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    #: Requests per key and scope, in each server process.
    rate_limits: dict[Scope, RateLimit] = Field(default_factory=_default_rate_limits)
    #: Bytes of an API request's query string (ids, filters, k, context): more is 422.
    max_query_bytes: int = Field(default=8192, ge=256)
    default_k: int = Field(default=10, ge=1, le=500)


class ProcessConfig(_Strict):
    """Tuning of a long-running process (server, stream worker, benchmark).

    Applied once by the process's entry point (``tastemaker serve``, ``tastemaker worker``,
    benchmarks) through :class:`tastemaker.process.ProcessTuning`; library code never
    changes process-wide state.
    """

    switch_interval_ms: float | None = Field(
        default=1.0,
        gt=0,
        description="thread switch interval (None: Python's 5 ms); a request that releases "
        "the GIL (numpy, faiss, SQLite) waits up to one interval to get it back",
    )
    blas_threads: int | None = Field(
        default=1, ge=1, description="BLAS threads (None: leave as is); requests are small"
    )
    gc_freeze_seconds: float | None = Field(
        default=1.0,
        gt=0,
        description="freeze long-lived objects out of full collections this often (None: off)",
    )
    gc_full_seconds: float = Field(
        default=600.0, gt=0, description="one full collection (frozen objects too) this often"
    )
    gc_young_threshold: int | None = Field(
        default=20_000,
        ge=700,
        description="allocations between young-generation collections (None: Python's 700); "
        "a request body's short-lived dicts then die before a collection walks them",
    )


DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "add_to_cart": 4.0,
    "remove_from_cart": -1.0,
    "purchase": 8.0,
    "rating": 3.0,
    "impression": 0.0,
    "search": 0.0,
    "not_interested": -8.0,
    "identify": 0.0,
}


class Settings(_Strict):
    """Every setting of a workspace, in one typed object."""

    workspace: Path = Path(".")
    store: StoreConfig = Field(default_factory=SqliteStoreConfig)
    bus: BusConfig = Field(default_factory=InProcessBusConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    profiles: ProfileConfig = Field(default_factory=ProfileConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    process: ProcessConfig = Field(default_factory=ProcessConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    retraining: RetrainingConfig = Field(default_factory=RetrainingConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    event_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    models_dir: str = "models"
    reports_dir: str = "reports"

    def path(self, relative: str) -> Path:
        """Resolve a path relative to the workspace folder."""
        p = Path(relative)
        return p if p.is_absolute() else self.workspace / p

    @property
    def key_path(self) -> Path:
        """Location of the HMAC pseudonymization key."""
        return self.workspace / KEY_FILE

    def to_file_dict(self) -> dict[str, Any]:
        """Return the settings as they are written to ``tastemaker.yaml``."""
        data = self.model_dump(mode="json", exclude={"workspace"})
        return data


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(value)
    return data


def load_settings(workspace: str | Path, environ: dict[str, str] | None = None) -> Settings:
    """Read the settings of the workspace at ``workspace``.

    Args:
        workspace: the workspace folder (the one ``tastemaker init`` created).
        environ: environment to read overrides from; defaults to ``os.environ``.

    Raises:
        WorkspaceNotFoundError: the folder has no ``tastemaker.yaml``.
        ConfigError: the file is not valid YAML or does not match the settings schema.
    """
    root = Path(workspace).resolve()
    cfg = root / CONFIG_FILE
    if not cfg.is_file():
        raise WorkspaceNotFoundError(
            f"no workspace at {root}: {CONFIG_FILE} is missing (run `tastemaker init {workspace}`)"
        )
    try:
        data = yaml.safe_load(cfg.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{cfg}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{cfg}: expected a mapping at the top level")
    data = _apply_env(data, dict(os.environ if environ is None else environ))
    data["workspace"] = str(root)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{cfg}: invalid settings: {validation_problems(exc)}") from exc


def validation_problems(exc: ValidationError) -> str:
    """Each problem of a settings file as ``field.path: reason (got value)``, joined by "; "."""
    problems = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = "" if e["type"] in ("missing", "extra_forbidden") else f" (got {e['input']!r})"
        problems.append(f"{where}: {e['msg']}{got}")
    return "; ".join(problems)


def settings_text(settings: Settings) -> str:
    """The text of ``tastemaker.yaml`` for ``settings``: the commented template of defaults.

    Each top-level section (or setting) whose value differs from the default replaces the
    template's block for it, written as plain YAML under the template's comment; the other
    blocks keep their comments. Loading the text gives ``settings`` back.
    """
    text = Path(__file__).parent.parent.joinpath(TEMPLATE_FILE).read_text()
    defaults = Settings().to_file_dict()
    for key, value in settings.to_file_dict().items():
        if value == defaults[key]:
            continue
        kept = _replace_scalars(text, key, value, defaults[key])
        if kept is not None:
            text = kept
        else:
            text = _replace_block(text, key, yaml.safe_dump({key: value}, sort_keys=False))
    return text


def _replace_scalars(text: str, key: str, value: Any, default: Any) -> str | None:
    """The template with the changed scalar settings of section ``key`` rewritten in place,
    their comments kept; None when a changed value is not a scalar or its line is not
    found."""
    if (
        not isinstance(value, dict)
        or not isinstance(default, dict)
        or value.keys() != default.keys()
    ):
        return None
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith(f"{key}:")), None)
    for name, new in value.items():
        if new == default.get(name):
            continue
        if start is None or isinstance(new, dict | list):
            return None
        prefix = f"  {name}: "
        at = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(prefix)), None)
        if at is None or not lines[at].startswith("  "):
            return None
        rest = lines[at][len(prefix) :]
        comment = rest[rest.index("#") - 1 :] if " #" in rest else "\n"
        shown = yaml.safe_dump(new, default_flow_style=True).removesuffix("\n...\n").strip()
        lines[at] = f"{prefix}{shown}".ljust(len(lines[at]) - len(comment)) + comment
    return "".join(lines)


def _replace_block(text: str, key: str, block: str) -> str:
    """Replace the lines of top-level ``key:`` and the indented lines under it by ``block``
    (appended when the template has no such key)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith(f"{key}:")), None)
    if start is None:
        return text + block
    end = start + 1
    while end < len(lines) and lines[end].startswith(" "):
        end += 1
    return "".join(lines[:start]) + block + "".join(lines[end:])


def write_settings(settings: Settings) -> Path:
    """Write ``settings`` to the workspace's ``tastemaker.yaml`` (commented, see
    :func:`settings_text`) and return its path."""
    settings.workspace.mkdir(parents=True, exist_ok=True)
    path = settings.workspace / CONFIG_FILE
    path.write_text(settings_text(settings))
    return path
