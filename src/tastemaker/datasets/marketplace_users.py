"""Users of the synthetic marketplace: demographics and hidden ground-truth preferences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from tastemaker.datasets.marketplace_catalog import (
    BODY_TYPES,
    CATEGORIES,
    FUEL_TYPES,
)

AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
GENDERS: tuple[str, ...] = ("female", "male", "undisclosed")
REGIONS: tuple[str, ...] = ("central", "north", "south", "east", "west")
DEVICES: tuple[str, ...] = ("mobile", "desktop", "tablet")

_AGE_P = np.array([0.12, 0.24, 0.22, 0.18, 0.14, 0.10])
_GENDER_P = np.array([0.46, 0.48, 0.06])
_REGION_P = np.array([0.30, 0.20, 0.20, 0.15, 0.15])
_DEVICE_P = np.array([0.60, 0.32, 0.08])
#: Fuel preference base rates (electric, diesel, petrol, hybrid) and demographic tilts.
_FUEL_BASE = np.log(np.array([0.24, 0.26, 0.34, 0.16]))
_FUEL_BY_AGE = np.array(
    [[0.5, -0.5, 0.2, 0.0], [0.4, -0.3, 0.0, 0.1], [0.1, 0.0, 0.0, 0.1],
     [-0.1, 0.2, 0.0, 0.1], [-0.3, 0.3, 0.1, 0.1], [-0.5, 0.3, 0.2, 0.2]]
)  # fmt: skip
_FUEL_BY_REGION = np.array(
    [[0.5, -0.5, 0.0, 0.2], [-0.2, 0.3, 0.0, 0.0], [0.1, 0.0, 0.0, 0.1],
     [0.0, 0.1, 0.0, 0.0], [-0.2, 0.4, 0.0, -0.1]]
)  # fmt: skip
#: Drift targets: tastes move mostly towards electric and hybrid.
_DRIFT_FUEL_P = np.array([0.65, 0.04, 0.08, 0.23])


@dataclass
class Population:
    """Hidden user state; arrays are aligned with ``frame`` rows.

    ``fuel``/``body`` are -1 for users without that preference. ``drift_day`` is -1
    for users whose tastes do not drift; from ``drift_day`` on, ``fuel_after`` and
    ``body_after`` replace ``fuel`` and ``body``.
    """

    frame: pl.DataFrame
    category_pref: np.ndarray  # (n_users, n_categories), rows sum to 1
    fuel: np.ndarray
    fuel_strength: np.ndarray
    body: np.ndarray
    body_strength: np.ndarray
    price_sensitivity: np.ndarray
    latent: np.ndarray  # (n_users, dim)
    activity: np.ndarray  # expected sessions per day
    device: np.ndarray
    drift_day: np.ndarray
    fuel_after: np.ndarray
    body_after: np.ndarray

    def fuel_on(self, day: int) -> np.ndarray:
        """Return each user's preferred fuel index (-1 none) on ``day``."""
        return np.where((self.drift_day >= 0) & (day >= self.drift_day), self.fuel_after, self.fuel)

    def body_on(self, day: int) -> np.ndarray:
        """Return each user's preferred body index (-1 none) on ``day``."""
        return np.where((self.drift_day >= 0) & (day >= self.drift_day), self.body_after, self.body)


def _pick(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """Sample one column per row from unnormalised log-probabilities (Gumbel-max)."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


def _body_pref(rng: np.random.Generator, category_pref: np.ndarray) -> np.ndarray:
    """Body preference: pick a vehicle category by the user's taste, then a body in it."""
    vehicle = np.array([c.vehicle for c in CATEGORIES])
    weights = np.where(vehicle, category_pref + 1e-3, 0.0)
    cat = _pick(rng, np.log(np.maximum(weights, 1e-300)))
    logits = np.full((len(CATEGORIES), len(BODY_TYPES)), -np.inf)
    for c, spec in enumerate(CATEGORIES):
        for b, p in zip(spec.bodies, spec.body_probs, strict=True):
            logits[c, BODY_TYPES.index(b)] = np.log(p)
    return _pick(rng, logits[cat])


def _drift(
    rng: np.random.Generator, fuel: np.ndarray, body: np.ndarray, days: int, share: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose drifting users, their drift day and their new fuel (and sometimes body)."""
    n = fuel.size
    drifts = (rng.random(n) < share) & (fuel >= 0) & (days >= 3)
    lo, hi = max(1, int(days * 0.3)), max(2, int(np.ceil(days * 0.7)))
    drift_day = np.where(drifts, rng.integers(lo, hi, n), -1)
    logits = np.broadcast_to(np.log(_DRIFT_FUEL_P), (n, len(FUEL_TYPES))).copy()
    logits[np.arange(n), np.maximum(fuel, 0)] = -np.inf  # always a different fuel
    fuel_after = np.where(drifts, _pick(rng, logits), fuel)
    new_body = np.where(rng.random(n) < 0.5, BODY_TYPES.index("suv"), BODY_TYPES.index("hatchback"))
    body_moves = drifts & (body >= 0) & (body != new_body) & (rng.random(n) < 0.3)
    body_after = np.where(body_moves, new_body, body)
    return drift_day, fuel_after, body_after


def build_users(
    rng: np.random.Generator,
    n_users: int,
    days: int,
    *,
    sessions_per_day: float,
    drift_share: float,
    latent_dim: int,
) -> Population:
    """Draw ``n_users`` users with demographics and hidden preferences.

    Args:
        rng: random generator (the users' own stream).
        n_users: number of users.
        days: length of the event window (drift days fall in its middle 40%).
        sessions_per_day: mean sessions per user and day.
        drift_share: share of users with a fuel preference whose tastes drift.
        latent_dim: dimension of the hidden taste factors.

    Returns:
        The population: a users frame in the file layout plus aligned hidden arrays.
    """
    age = _pick(rng, np.broadcast_to(np.log(_AGE_P), (n_users, _AGE_P.size)))
    gender = _pick(rng, np.broadcast_to(np.log(_GENDER_P), (n_users, _GENDER_P.size)))
    region = _pick(rng, np.broadcast_to(np.log(_REGION_P), (n_users, _REGION_P.size)))
    device = _pick(rng, np.broadcast_to(np.log(_DEVICE_P), (n_users, _DEVICE_P.size)))
    base = np.array([c.share for c in CATEGORIES])
    young = (age <= 1)[:, None] * np.array([0, 0.6, 0, 0, 0, 0, 0.5])  # motorbikes, gadgets
    category_pref = rng.dirichlet(base * 1.0 + 0.03, size=n_users) * np.exp(young)
    category_pref /= category_pref.sum(axis=1, keepdims=True)
    fuel_logits = _FUEL_BASE + _FUEL_BY_AGE[age] + _FUEL_BY_REGION[region]
    fuel = np.where(rng.random(n_users) < 0.85, _pick(rng, fuel_logits), -1)
    body = np.where(rng.random(n_users) < 0.8, _body_pref(rng, category_pref), -1)
    drift_day, fuel_after, body_after = _drift(rng, fuel, body, days, drift_share)
    width = max(6, len(str(n_users - 1)))
    frame = pl.DataFrame(
        {
            "user_id": pl.int_range(n_users, eager=True).cast(pl.String).str.zfill(width),
            "consent": rng.random(n_users) < 0.97,
            "age_band": np.array(AGE_BANDS)[age],
            "gender": np.array(GENDERS)[gender],
            "region": np.array(REGIONS)[region],
            "device": np.array(DEVICES)[device],
        }
    ).with_columns(pl.concat_str(pl.lit("u"), pl.col("user_id")).alias("user_id"))
    return Population(
        frame=frame,
        category_pref=category_pref,
        fuel=fuel,
        fuel_strength=np.where(fuel >= 0, rng.uniform(2.0, 3.5, n_users), 0.0),
        body=body,
        body_strength=np.where(body >= 0, rng.uniform(1.5, 3.0, n_users), 0.0),
        price_sensitivity=rng.lognormal(np.log(0.5), 0.5, n_users),
        latent=rng.standard_normal((n_users, latent_dim)),
        activity=sessions_per_day * rng.lognormal(-0.32, 0.8, n_users),
        device=device,
        drift_day=drift_day,
        fuel_after=fuel_after,
        body_after=body_after,
    )
