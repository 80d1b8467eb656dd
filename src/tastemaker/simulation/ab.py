"""A simulated A/B test through the real engine, with the true effect alongside.

:func:`simulate_ab` builds a workspace holding a generated marketplace's history (so
profiles and segments exist), writes the scenario's experiment definition, and then, day
by day, lets each visiting user ask the in-process :class:`~tastemaker.engine.runtime.Engine`
for the featured listing. The engine assigns the variant (the real experiment code) and logs
the exposure and the impression; the user clicks and buys according to the generator's
ground truth (:class:`~tastemaker.simulation.users.ChoiceModel`), and those events are
ingested, so profiles and segments move in real time. At the end the real analysis
(:func:`~tastemaker.experiments.results.experiment_results`) runs on what was logged.

The true effect uses common random numbers: at each visit the simulator also asks what the
other arm would have shown at that moment (same user, same profile state) and scores both
listings with the same uniform draw. A user's true conversion under an arm is
``1 - prod(1 - P(purchase))`` over their visits; the true effect is the mean over the
exposed users of treatment minus control. Arms with identical serving show the same item,
so an A/A test's true effect is exactly 0. (Only the assigned arm's events feed back into
profiles: the counterfactual is "the other arm, given the state this run reached".)
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from tastemaker.datasets.marketplace import Marketplace
from tastemaker.datasets.marketplace_recent import marketplace_ending
from tastemaker.engine.featured_user import featured_user
from tastemaker.engine.pipeline import Request as PipelineRequest
from tastemaker.engine.runtime import Engine
from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.definition import Experiment, parse_experiment
from tastemaker.experiments.results import experiment_results
from tastemaker.experiments.store import EXPERIMENTS_DIR, ExperimentStore
from tastemaker.rerank.filters import Filters
from tastemaker.simulation.http import HttpServer
from tastemaker.simulation.users import ChoiceModel
from tastemaker.workspace import Workspace

Scenario = Literal["featured", "model", "aa"]
#: Trains two model versions in a workspace; returns their names (control, treatment).
Trainer = Callable[[Workspace], tuple[str, str]]
SLATE = 8  # recommendations shown per visit in the model scenario
_EVENT_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "event_id": pl.String, "user_id": pl.String, "type": pl.String, "item_id": pl.String,
    "value": pl.Float64, "timestamp": pl.Datetime("ms", "UTC"),
}  # fmt: skip
SCENARIOS: dict[str, list[dict[str, Any]]] = {
    "featured": [
        {"name": "control", "weight": 1, "serving": {"featured_policy": "random"}},
        {"name": "treatment", "weight": 1, "serving": {"featured_policy": "personalized"}},
    ],
    "model": [
        {"name": "control", "weight": 1, "serving": {"model_version": "{control}"}},
        {"name": "treatment", "weight": 1, "serving": {"model_version": "{treatment}"}},
    ],
    "aa": [
        {"name": "control", "weight": 1, "serving": {"featured_policy": "personalized"}},
        {"name": "treatment", "weight": 1, "serving": {"featured_policy": "personalized"}},
    ],
}


@dataclass(frozen=True)
class SimulationConfig:
    """One simulated A/B test.

    Attributes:
        scenario: ``featured`` (random vs segment-personalized featured listing), ``model``
            (recommendations of two model versions) or ``aa`` (two identical arms).
        users, items: marketplace size.
        days: simulated experiment days.
        seed: seeds the marketplace, the pseudonyms (so the assignment), the engine's random
            listing, visits and draws: the same seed replays the same run (in-process).
        history_days: generated history before the experiment (profiles, segments, CUPED).
        visit_rate: chance that a user visits on a given day.
        alpha: level of the analysis' intervals and tests.
    """

    scenario: Scenario = "featured"
    users: int = 3000
    items: int = 300
    days: int = 3
    seed: int = 0
    history_days: int = 10
    visit_rate: float = 0.6
    alpha: float = 0.05


@dataclass
class SimulationReport:
    """The analysis' estimate of the primary metric (conversion) against the truth."""

    scenario: str
    users: int
    exposed: int
    visits: int
    estimate: float
    ci: tuple[float, float]
    p_value: float
    true_control: float
    true_treatment: float
    true_effect: float
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def covered(self) -> bool:
        """True when the interval holds the true effect."""
        return self.ci[0] <= self.true_effect <= self.ci[1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "scenario": self.scenario, "users": self.users, "exposed": self.exposed,
            "visits": self.visits, "counts": self.counts, "metric": "conversion",
            "estimate": self.estimate, "ci": list(self.ci), "p_value": self.p_value,
            "true_control": self.true_control, "true_treatment": self.true_treatment,
            "true_effect": self.true_effect, "covered": self.covered,
            "seconds": round(self.seconds, 2),
        }  # fmt: skip


def experiment_for(scenario: str, versions: tuple[str, str] | None = None) -> Experiment:
    """The experiment definition of ``scenario`` (primary metric: conversion); ``model``
    serves the two model ``versions`` (control, treatment).

    Raises:
        ValidationFailedError: an unknown scenario.
    """
    if scenario not in SCENARIOS:
        raise ValidationFailedError(
            f"scenario '{scenario}' is unknown; expected one of {', '.join(SCENARIOS)}"
        )
    variants = copy.deepcopy(SCENARIOS[scenario])
    if scenario == "model":
        if versions is None:
            raise ValidationFailedError("the model scenario needs two model versions")
        for variant, version in zip(variants, versions, strict=True):
            variant["serving"]["model_version"] = version
    body = {"key": f"sim-{scenario}", "variants": variants,
            "metrics": {"primary": "conversion", "secondary": ["ctr", "revenue"]}}  # fmt: skip
    return parse_experiment(body, f"scenario {scenario}")


def simulation_key(seed: int) -> bytes:
    """The pseudonymization key of a simulation's workspace, derived from its seed: its
    users are synthetic, and the experiment's assignment hashes their pseudonyms, so the
    same seed splits the same users the same way and a run replays exactly."""
    return hashlib.sha256(f"tastemaker-simulation:{seed}".encode()).digest()


def prepare_workspace(root: Path, config: SimulationConfig) -> tuple[Workspace, Marketplace]:
    """A new workspace at ``root`` holding a marketplace history ending now."""
    ws = Workspace.init(root, key=simulation_key(config.seed))
    (ws.root / "recommendations.yaml").write_text(f"seed: {config.seed}\nreload_check_seconds: 0\n")
    # generated from a fixed moment and moved to end now: the same seed gives the same history
    # on any day (generated from "ten days ago", it followed the weekday of the run)
    end = datetime.now(UTC).replace(microsecond=0)
    market = marketplace_ending(end, config.users, config.items, config.history_days, config.seed)
    ws.ingestor.ingest_items(market.items, "simulation")
    ws.ingestor.ingest_users(market.users, "simulation")
    ws.ingestor.ingest_events(market.events, "simulation")
    ws.profiles.flush()
    return ws, market


def _listing(engine: Engine, user_id: str, policy: str | None) -> str | None:
    """The item the featured listing would show ``user_id`` under ``policy`` right now (the
    engine's own view of the user; nothing logged)."""
    setup = engine.current()
    found = featured_user(setup, engine.ws.pseudonymizer.one(user_id), policy or "personalized")
    item = setup.featured.choose(found, None).item
    return None if item is None else str(item["item_id"])


@dataclass
class _Truth:
    """Per exposed user: log P(no purchase) summed over visits, under each arm."""

    arms: tuple[str, str]
    log_none: dict[str, np.ndarray] = field(default_factory=dict)
    visits: int = 0

    def add(self, users: list[str], shown: np.ndarray, other: np.ndarray, arm: list[str]) -> None:
        is_control = np.asarray(arm) == self.arms[0]
        under = {self.arms[0]: np.where(is_control, shown, other),
                 self.arms[1]: np.where(is_control, other, shown)}  # fmt: skip
        for k, user in enumerate(users):
            row = self.log_none.setdefault(user, np.zeros(2))
            row += [np.log1p(-under[a][k]) for a in self.arms]
        self.visits += len(users)

    def rates(self) -> tuple[float, float]:
        """Mean true conversion of the exposed users under control and under treatment."""
        none = np.exp(np.array(list(self.log_none.values())).reshape(-1, 2))
        control, treatment = (1.0 - none).mean(axis=0)
        return float(control), float(treatment)


@dataclass
class _Served:
    """One day's served visits: user, assigned arm, the list shown and the other arm's."""

    users: list[str] = field(default_factory=list)
    arms: list[str] = field(default_factory=list)
    shown: list[list[str]] = field(default_factory=list)
    other: list[list[str]] = field(default_factory=list)


def _shown(
    engine: Engine, exp: Experiment, user: str, remote: HttpServer | None
) -> tuple[str | None, list[str]]:
    """The assigned arm and the list served to ``user`` (logging exposure): by the running
    server when there is one, else by the in-process engine."""
    if remote is not None:
        return remote.featured(exp.key, user)
    if exp.key == "sim-model":
        served = engine.recommend(user, SLATE, Filters(), None)
        return served.experiments.get(exp.key), list(served.item_ids)
    result, _ = engine.featured(user, None, None)
    item = [] if result.item is None else [str(result.item["item_id"])]
    return result.experiments.get(exp.key), item


def _counterfactual(engine: Engine, exp: Experiment, user: str, arm: str) -> list[str]:
    """What ``arm`` would show ``user`` now (nothing logged)."""
    serving = next(v.serving for v in exp.variants if v.name == arm)
    if exp.key == "sim-model":
        setup = engine.current()
        version = setup.versions.versions[str(serving.model_version)]
        req = PipelineRequest(user, engine.ws.pseudonymizer.one(user), SLATE)
        return list(setup.pipeline.run(version, req, "simulation").item_ids)
    item = _listing(engine, user, serving.featured_policy)
    return [] if item is None else [item]


def _serve(engine: Engine, exp: Experiment, users: list[str], remote: HttpServer | None) -> _Served:
    """Ask for each visitor's list, and what the other arm would have shown (always the
    in-process engine: over HTTP it runs on a local copy of the same data)."""
    serving = {v.name: v.serving for v in exp.variants}
    control, treatment = (v.name for v in exp.variants)
    out = _Served()
    for user in users:
        arm, shown = _shown(engine, exp, user, remote)
        if arm is None or not shown:
            continue
        alt_arm = treatment if arm == control else control
        alt = shown  # identical serving: the same list (an A/A test's truth is exactly 0)
        if serving[alt_arm] != serving[arm]:
            alt = _counterfactual(engine, exp, user, alt_arm) or shown
        out.users.append(user)
        out.arms.append(arm)
        out.shown.append(shown)
        out.other.append(alt)
    return out


def _events(served: _Served, clicked: np.ndarray, bought: np.ndarray,
            price: dict[str, float], tag: str) -> pl.DataFrame:  # fmt: skip
    """Click and purchase events of the visits, stamped now (after their exposure)."""
    rows: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for k in np.flatnonzero(clicked >= 0):
        user, item = served.users[k], served.shown[k][clicked[k]]
        rows.append({"event_id": f"{tag}-c{k}", "user_id": user, "type": "click",
                     "item_id": item, "value": None, "timestamp": now})  # fmt: skip
        if bought[k]:
            rows.append({"event_id": f"{tag}-p{k}", "user_id": user, "type": "purchase",
                         "item_id": item, "value": price.get(item), "timestamp": now})  # fmt: skip
    return pl.DataFrame(rows, schema=_EVENT_SCHEMA)


def _run_days(
    ws: Workspace,
    market: Marketplace,
    exp: Experiment,
    config: SimulationConfig,
    remote: HttpServer | None,
) -> _Truth:
    """The experiment days: serve, let users act, ingest (into the server too, when there
    is one); return the truth."""
    engine = Engine(ws, watch=False)
    choice = ChoiceModel(market)
    truth = _Truth(arms=(exp.variants[0].name, exp.variants[1].name))
    price = dict(zip(market.items["item_id"], market.items["price"], strict=True))
    rng = np.random.default_rng([config.seed, 14])
    everyone = market.users["user_id"].to_list()
    for d in range(config.days):
        visitors = [u for u in everyone if rng.random() < config.visit_rate]
        served = _serve(engine, exp, visitors, remote)
        if not served.users:  # nobody was served under the experiment today
            continue
        engine.sink.flush()  # exposures and impressions before the users act
        day = config.history_days + d
        out = choice.outcome(served.users, served.shown, day, rng.random((len(served.users), 2)))
        p_other = choice.purchase_probability(served.users, served.other, day)
        truth.add(served.users, out.p_purchase, p_other, served.arms)
        batch = _events(served, out.clicked, out.purchase, price, f"sim{config.seed}d{d}")
        ws.ingestor.ingest_events(batch, "simulation")
        if remote is not None:
            remote.send("/v1/events", "POST", batch)
        ws.profiles.flush()
    engine.close()
    return truth


def simulate_ab(
    config: SimulationConfig,
    root: Path,
    trainer: Trainer | None = None,
    remote: HttpServer | None = None,
) -> SimulationReport:
    """Run the scenario of ``config`` in a new workspace at ``root`` and analyze it.

    Args:
        config: the scenario, sizes and seed.
        root: a new folder for the workspace (over HTTP: the local copy of the data that
            the true effect's counterfactuals are computed on).
        trainer: for ``model``: trains two versions in the prepared workspace and returns
            their names (control, treatment); the first is promoted.
        remote: a running server to simulate against (``featured`` and ``aa`` only): the
            data, the experiment, the visits and the users' events go to it, and the
            analysis is its own.

    Raises:
        ValidationFailedError: an unknown scenario, ``model`` without a trainer or over
            HTTP, the server refused something, or nobody was exposed.
    """
    began = time.perf_counter()
    experiment_for(config.scenario, ("v0001", "v0002"))  # an unknown scenario fails first
    if config.scenario == "model" and (trainer is None or remote is not None):
        raise ValidationFailedError(
            "the model scenario needs a trainer of two versions and runs in-process only"
        )
    ws, market = prepare_workspace(root, config)
    try:
        versions = trainer(ws) if trainer is not None and config.scenario == "model" else None
        exp = experiment_for(config.scenario, versions)
        ExperimentStore(ws.root / EXPERIMENTS_DIR, check_seconds=0).put(exp)
        if remote is not None:
            remote.upload(market)
            remote.put_experiment(exp)
        truth = _run_days(ws, market, exp, config, remote)
        out = _analysis(ws, exp, config, remote, len(truth.log_none))
    finally:
        ws.close()
    primary = next(r for r in out["results"] if r["role"] == "primary")
    control, treatment = truth.rates()
    return SimulationReport(
        scenario=config.scenario, users=config.users, exposed=int(out["users"]),
        visits=truth.visits, estimate=float(primary["abs_diff"]),
        ci=(float(primary["abs_ci"][0]), float(primary["abs_ci"][1])),
        p_value=float(primary["p_value"]),
        true_control=control, true_treatment=treatment, true_effect=treatment - control,
        seconds=time.perf_counter() - began, counts=dict(out["srm"]["observed"]),
    )  # fmt: skip


def _analysis(
    ws: Workspace,
    exp: Experiment,
    config: SimulationConfig,
    remote: HttpServer | None,
    exposed: int,
) -> dict[str, Any]:
    """The analysis as the API answers it: the server's, or the same code run here."""
    if remote is not None:
        return remote.results(exp.key, config.alpha, exposed)
    now = datetime.now(UTC) + timedelta(seconds=1)
    result, frame = experiment_results(ws.store, exp, now=now, alpha=config.alpha)
    return {"users": frame.height, **result.to_dict()}
