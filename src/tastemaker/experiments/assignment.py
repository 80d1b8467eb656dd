"""Which variant a user gets: a documented, deterministic hash of the salt and the user.

The rule, precisely (test vectors: ``tests/unit/experiments/assignment_vectors.json``):

* **unit**: the pseudonymized user id; an anonymous visitor's unit is ``anon:<pseudonym of
  the anonymous id>``.
* **bucket**: ``int.from_bytes(sha256(f"{salt}:{unit}".encode("utf-8")).digest()[:8],
  "big") % 10000``, a number in [0, 10000). Nothing else enters the hash, so the same user
  gets the same bucket in every process, after every restart, on every machine.
* **traffic gate**: the user enters when ``bucket(f"{salt}#traffic", unit) <
  round(traffic * 10000)``. The gate has its own salt, so who enters is independent of
  which variant they get, and raising the share only adds users.
* **variant**: with weights ``w`` the boundaries are ``round(10000 * cumsum(w) / sum(w))``;
  the variant is the first whose boundary exceeds the bucket.
* **independence**: two experiments with different salts hash different strings, so one
  assignment says nothing about the other (checked by a chi-square test).
* **stickiness**: a user's first exposure records their variant; from then on the recorded
  variant wins over the hash (and over the traffic gate and targeting), so changing weights
  or traffic mid-run moves only users never exposed. A recorded variant that no longer
  exists falls back to the hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tastemaker.experiments.definition import Experiment, Variant

BUCKETS = 10_000


def bucket(salt: str, unit: str) -> int:
    """The bucket in [0, 10000) of ``unit`` under ``salt`` (see the module docs)."""
    digest = hashlib.sha256(f"{salt}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_traffic(salt: str, unit: str, traffic: float) -> bool:
    """Whether ``unit`` is in the ``traffic`` share (0..1) of an experiment salted ``salt``."""
    return bucket(f"{salt}#traffic", unit) < round(traffic * BUCKETS)


def boundaries(weights: Sequence[float]) -> list[int]:
    """Upper bucket bound of each variant: ``round(10000 * cumsum(w) / sum(w))``."""
    total = float(sum(weights))
    out, running = [], 0.0
    for w in weights:
        running += w
        out.append(round(BUCKETS * running / total))
    out[-1] = BUCKETS
    return out


def pick(experiment: Experiment, unit: str) -> Variant:
    """The variant the hash gives ``unit`` (no traffic gate, no recorded exposure)."""
    b = bucket(experiment.salt, unit)
    bounds = boundaries([v.weight for v in experiment.variants])
    for variant, upper in zip(experiment.variants, bounds, strict=True):
        if b < upper:
            return variant
    return experiment.variants[-1]


def assign(experiment: Experiment, unit: str, recorded: str | None = None) -> Variant | None:
    """The variant of ``unit``: the ``recorded`` one if it still exists, else by hash
    within the traffic share; None when the user is outside the traffic share."""
    if recorded is not None:
        kept = experiment.variant(recorded)
        if kept is not None:
            return kept
    if not in_traffic(experiment.salt, unit, experiment.targeting.traffic):
        return None
    return pick(experiment, unit)
