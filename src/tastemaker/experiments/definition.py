"""What an experiment is: its variants, who it targets, when it runs and what it measures.

An experiment is written in YAML (``experiments/<key>.yaml`` in the workspace) or sent to
``PUT /v1/experiments/{key}``; both are validated here. Example::

    key: diversity-test
    hypothesis: more diverse lists raise purchases
    variants:
      - {name: control, weight: 1}
      - name: diverse
        weight: 1
        serving: {rerank: {diversity: {lambda: 0.5}}}
    targeting: {segments: [electric], users: returning, traffic: 0.5}
    start: 2026-12-01T00:00:00Z
    metrics:
      primary: purchase_rate
      secondary: [{metric: ctr, direction: increase}]
      guardrails: [{metric: latency_p95_ms, direction: decrease, tolerance: 0.05}]

The first variant is the control. A variant's ``serving`` says how the engine serves it:
a model version, re-ranking overrides (sections of ``recommendations.yaml``'s ``rerank``,
spelled the same way, merged over the settings in force) and the featured-listing policy.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tastemaker.config import validation_problems
from tastemaker.errors import ValidationFailedError
from tastemaker.rerank.chain import RerankConfig

KEY_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
FeaturedPolicy = Literal["personalized", "random", "none"]
Status = Literal["draft", "running", "stopped"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Serving(_Model):
    """How the engine serves a variant (every field optional: absent = as configured).

    Attributes:
        model_version: the registry version that scores the list (``v0003``).
        rerank: re-ranking sections as ``recommendations.yaml`` spells them
            (``diversity``, ``exploration``, ``scores``, ``caps``, ``pins``, ``new_items``,
            ``hard``), merged key by key over the settings in force.
        featured_policy: ``personalized`` (segment match), ``random`` (a random eligible
            item) or ``none`` (no featured item).
    """

    model_version: str | None = Field(default=None, pattern=r"^v\d{4,}$")
    rerank: dict[str, Any] | None = None
    featured_policy: FeaturedPolicy | None = None

    @field_validator("rerank")
    @classmethod
    def _rerank_is_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            RerankConfig.model_validate(value)  # raises with the section and field at fault
        return value

    def is_empty(self) -> bool:
        """True when the variant serves exactly as configured (a plain control)."""
        return self.model_version is None and not self.rerank and self.featured_policy is None


class Variant(_Model):
    """One arm: a name, a positive weight and its serving overrides."""

    name: str = Field(pattern=NAME_PATTERN)
    weight: float = Field(gt=0, description="relative share of assigned users")
    serving: Serving = Field(default_factory=Serving)


class Targeting(_Model):
    """Who may enter: segment members (any of), new or returning users, a share of traffic.

    Attributes:
        segments: the user must belong to at least one (empty: everyone).
        users: ``new`` (no profile yet), ``returning`` (a profile exists) or ``all``.
        traffic: share of eligible users that enter, 0..1 (the others are served as usual
            and are not exposed).
    """

    segments: list[str] = Field(default_factory=list)
    users: Literal["all", "new", "returning"] = "all"
    traffic: float = Field(default=1.0, ge=0, le=1)


class MetricSpec(_Model):
    """A metric and the direction that counts as better."""

    metric: str = Field(min_length=1)
    direction: Literal["increase", "decrease"] = "increase"


class Guardrail(MetricSpec):
    """A metric that must not move against ``direction`` by more than ``tolerance``
    (relative: 0.02 = 2% worse than control)."""

    tolerance: float = Field(default=0.0, ge=0)


class Metrics(_Model):
    """One primary metric, secondary metrics and guardrails."""

    primary: MetricSpec
    secondary: list[MetricSpec] = Field(default_factory=list)
    guardrails: list[Guardrail] = Field(default_factory=list)

    @field_validator("primary", mode="before")
    @classmethod
    def _name_only(cls, value: object) -> object:
        return {"metric": value} if isinstance(value, str) else value

    @field_validator("secondary", "guardrails", mode="before")
    @classmethod
    def _names_only(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"metric": v} if isinstance(v, str) else v for v in value]
        return value


class Experiment(_Model):
    """An A/B experiment definition (see the module docs for the YAML form).

    Attributes:
        key: unique id (lower case, digits, ``.-_``); the file is ``experiments/<key>.yaml``.
        salt: hashed with the user to assign a variant (default: the key). Experiments with
            different salts assign independently.
        start, stop: when it runs (UTC; None = open). ``status`` must be ``running`` too.
    """

    key: str = Field(pattern=KEY_PATTERN)
    hypothesis: str = ""
    variants: list[Variant] = Field(min_length=2)
    salt: str = ""
    targeting: Targeting = Field(default_factory=Targeting)
    start: datetime | None = None
    stop: datetime | None = None
    metrics: Metrics
    status: Status = "running"
    allocation: Literal["fixed", "thompson"] = Field(
        default="fixed",
        description="fixed weights, or a Thompson-sampling bandit on the primary conversion "
        "metric that rewrites the weights at each `tastemaker experiments rebalance`",
    )
    min_share: float = Field(default=0.05, ge=0, lt=0.5, description="a bandit arm's floor")
    rebalance_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 366,
        description="a bandit's weights are rebalanced when its last allocation is older "
        "than this (`tastemaker experiments rebalance --due`)",
    )

    @field_validator("start", "stop")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        names = [v.name for v in self.variants]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"variant names must be unique; repeated: {', '.join(repeated)}")
        if "control" in names[1:]:
            raise ValueError("the control is the first variant; only it may be named 'control'")
        if self.start and self.stop and self.stop <= self.start:
            raise ValueError(f"stop ({self.stop.isoformat()}) must be after start")
        if not self.salt:
            self.salt = self.key
        return self

    @property
    def control(self) -> Variant:
        """The first variant."""
        return self.variants[0]

    def variant(self, name: str) -> Variant | None:
        """The variant called ``name``, or None."""
        return next((v for v in self.variants if v.name == name), None)

    def is_running(self, now: datetime | None = None) -> bool:
        """Status ``running`` and ``now`` within [start, stop)."""
        at = now or datetime.now(UTC)
        if self.status != "running":
            return False
        return (self.start is None or self.start <= at) and (self.stop is None or at < self.stop)


def parse_experiment(data: object, where: str = "experiment") -> Experiment:
    """Validate a definition (a mapping read from YAML or JSON).

    Raises:
        ValidationFailedError: naming ``where``, then each field and why.
    """
    if not isinstance(data, dict):
        raise ValidationFailedError(f"{where}: expected a mapping with key, variants, metrics")
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError(f"{where}: {validation_problems(exc)}") from exc


def canary_key(version: str) -> str:
    """The key of the canary experiment of ``version``: ``canary-<version>``."""
    return f"canary-{version}"


def canary_experiment(version: str, share: float) -> Experiment:
    """The experiment ``tastemaker models canary VERSION --share SHARE`` creates.

    Variants: ``control`` (the active version, weight ``100 - share``) and ``treatment``
    (``version``, weight ``share``); at 100% the control keeps a token weight so the
    definition stays valid, and nobody hashes into it.
    """
    return Experiment(
        key=canary_key(version),
        hypothesis=f"model version {version} serves at least as well as the active one",
        variants=[
            Variant(name="control", weight=max(100.0 - share, 1e-9)),
            Variant(name="treatment", weight=share, serving=Serving(model_version=version)),
        ],
        metrics=Metrics(
            primary=MetricSpec(metric="ctr"),
            guardrails=[Guardrail(metric="purchase_rate", tolerance=0.05)],
        ),
    )


def valid_key(key: str) -> bool:
    """Whether ``key`` can name an experiment (and its file)."""
    return re.match(KEY_PATTERN, key) is not None
