"""Run an offline evaluation: split, fit each model, recommend as serving does, score.

Models are called through ``Recommender.recommend`` with each user's training (and
validation) items excluded, exactly as serving calls them, over the whole catalog (full
ranking). Relevant items are a user's test items not already in training or validation;
users with no training history or no relevant item are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.evaluation.metrics import (
    ACCURACY_METRICS,
    Estimate,
    accuracy_at_k,
    bootstrap_ci,
    bootstrap_global,
    intra_list_diversity,
    novelty,
)
from tastemaker.evaluation.paired import Comparison, compare_all
from tastemaker.evaluation.result import EvaluationResult, ModelEvaluation, precision_warnings
from tastemaker.evaluation.splits import (
    Split,
    SplitSpec,
    assert_no_leakage,
    assert_user_order,
    make_split,
)
from tastemaker.models.base import Recommender
from tastemaker.models.catalog import make_model
from tastemaker.models.interactions import Interactions

BEYOND_METRICS = ("coverage", "novelty", "diversity", "gini")
Progress = Callable[[str, float, int], None]
SCORE_BATCH = 256
"""Users recommended for in the first call while scoring; later batches are sized to take
about :data:`BATCH_SECONDS` each, so progress moves at least every second."""
BATCH_SECONDS = 0.5


ModelSpec = str | tuple[str, Mapping[str, Any]] | Recommender


def _instantiate(spec: ModelSpec, params: Mapping[str, Mapping[str, Any]]) -> Recommender:
    if isinstance(spec, Recommender):
        return spec
    if isinstance(spec, tuple):
        return make_model(spec[0], **dict(spec[1]))
    return make_model(spec, **dict(params.get(spec, {})))


def relevant_matrix(split: Split) -> sp.csr_matrix:
    """Binary test matrix with pairs already in training or validation removed."""
    test = split.test.binary()
    seen = split.excluded()
    rel = test - test.multiply(seen > 0)
    rel = sp.csr_matrix(rel)
    rel.eliminate_zeros()
    return rel


def evaluation_users(split: Split, relevant: sp.csr_matrix) -> np.ndarray:
    """Users with at least one training interaction and one relevant test item."""
    has_train = np.diff(split.train.matrix.indptr) > 0
    has_test = np.diff(relevant.indptr) > 0
    return np.flatnonzero(has_train & has_test)


def score_model(
    model: Recommender,
    split: Split,
    ks: Sequence[int],
    *,
    users: np.ndarray | None = None,
    relevant: sp.csr_matrix | None = None,
    n_bootstrap: int = 1000,
    segments: np.ndarray | None = None,
    seed: int = 0,
    per_user_out: dict[tuple[str, int], np.ndarray] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> tuple[dict[str, dict[int, Estimate]], dict[str, dict[str, dict[int, Estimate]]], float, float]:
    """Recommend for ``users`` with a fitted ``model`` and compute every metric at each K.

    Returns ``(metrics, per_segment, recommend_seconds, mean_rec_popularity)``; the per-user
    values of each ``(metric, k)`` are also stored into ``per_user_out`` when given.
    Users are recommended for in batches of :data:`SCORE_BATCH`; ``progress(stage, share)``
    is called after each batch and each K (share of this model's work, fit counted as 0.5).
    """
    rel_all = relevant_matrix(split) if relevant is None else relevant
    users = evaluation_users(split, rel_all) if users is None else users
    kmax = max(ks)
    t0 = time.perf_counter()
    recs = _recommend_batches(model, split, users, kmax, progress)
    rec_seconds = time.perf_counter() - t0
    rel = rel_all[users]
    pop = split.train.item_popularity()
    item_vectors = sp.csr_matrix(split.train.binary().T)
    n_items = split.train.n_items
    out: dict[str, dict[int, Estimate]] = {m: {} for m in (*ACCURACY_METRICS, *BEYOND_METRICS)}
    per_user: dict[tuple[str, int], np.ndarray] = {}
    for i, k in enumerate(ks):
        if progress:
            progress(f"metrics of {model.name} at K={k}", 0.8 + 0.2 * i / len(ks))
        r = recs[:, :k]
        values = accuracy_at_k(r, rel, k)
        values["novelty"] = novelty(r, pop, split.train.n_users)
        values["diversity"] = intra_list_diversity(r, item_vectors)
        for m, v in values.items():
            out[m][k] = bootstrap_ci(v, n_resamples=n_bootstrap, seed=seed)
            per_user[(m, k)] = v
        n_glob = min(n_bootstrap, 200)
        out["coverage"][k] = bootstrap_global(r, "coverage", n_items, n_resamples=n_glob, seed=seed)
        out["gini"][k] = bootstrap_global(r, "gini", n_items, n_resamples=n_glob, seed=seed)
    if per_user_out is not None:
        per_user_out.update(per_user)
    seg_out = (
        _per_segment(per_user, np.asarray(segments)[users], ks, n_bootstrap, seed)
        if segments is not None
        else {}
    )
    valid = recs[recs >= 0]
    mean_pop = float(pop[valid].mean() / max(split.train.n_users, 1)) if len(valid) else 0.0
    return out, seg_out, rec_seconds, mean_pop


def _recommend_batches(
    model: Recommender,
    split: Split,
    users: np.ndarray,
    k: int,
    progress: Callable[[str, float], None] | None,
) -> np.ndarray:
    """Top-``k`` lists of ``users`` (training and validation items excluded), in batches
    sized to take about :data:`BATCH_SECONDS`; progress shows users done and users/s."""
    seen = split.excluded()
    parts = []
    start, size, t0 = 0, SCORE_BATCH, time.perf_counter()
    while start < len(users):
        batch = users[start : start + size]
        t = time.perf_counter()
        parts.append(model.recommend(batch, k, exclude=seen[batch])[0])
        start += len(batch)
        took = max(time.perf_counter() - t, 1e-6)
        size = int(np.clip(len(batch) * BATCH_SECONDS / took, 32, 16384))
        if progress:
            rate = start / max(time.perf_counter() - t0, 1e-6)
            progress(
                f"scoring {model.name}: users {start:,}/{len(users):,} ({rate:,.0f} users/s)",
                0.5 + 0.3 * start / len(users),
            )
    return np.vstack(parts) if parts else np.zeros((0, k), dtype=np.int64)


def _per_segment(
    per_user: dict[tuple[str, int], np.ndarray],
    labels: np.ndarray,
    ks: Sequence[int],
    n_bootstrap: int,
    seed: int,
) -> dict[str, dict[str, dict[int, Estimate]]]:
    """Accuracy metrics with intervals for each segment label (the fairness view)."""
    out: dict[str, dict[str, dict[int, Estimate]]] = {}
    for label in sorted({str(x) for x in labels if x is not None}):
        mask = labels.astype(str) == label
        out[label] = {
            m: {
                k: bootstrap_ci(per_user[(m, k)][mask], n_resamples=n_bootstrap, seed=seed)
                for k in ks
            }
            for m in ACCURACY_METRICS
        }
    return out


def _segment_labels(
    inter: Interactions, user_segments: pl.DataFrame | None, column: str | None
) -> np.ndarray | None:
    if user_segments is None or column is None:
        return None
    labels = np.full(inter.n_users, None, dtype=object)
    idx = inter.users.index(user_segments["user_id"].cast(pl.String))
    vals = user_segments[column].cast(pl.String).to_numpy()
    labels[idx[idx >= 0]] = vals[idx >= 0]
    return labels


def _split_of(
    data: Interactions | pl.DataFrame,
    split: str | SplitSpec | Split,
    seed: int,
    event_weights: Mapping[str, float] | None,
) -> tuple[Interactions, Split]:
    """The interactions and their split (a hand-made temporal split gets the leakage guard)."""
    inter = (
        data if isinstance(data, Interactions) else Interactions.from_events(data, event_weights)
    )
    if isinstance(split, Split):
        sp_ = split
    elif isinstance(split, SplitSpec):
        sp_ = split.make(inter, seed)
    else:
        sp_ = make_split(inter, split, seed=seed)
    if sp_.cutoff is not None:
        assert_no_leakage(sp_.train, sp_.cutoff)
    if sp_.kind == "temporal-user":
        assert_user_order(sp_.train, sp_.test)
    return inter, sp_


def _moved(scored: tuple[Any, Any, float, Any]) -> tuple[float, Any, Any, Any]:
    """``score_model``'s (metrics, segments, seconds, mean popularity) in the order
    :class:`ModelEvaluation` takes them after the fit time."""
    metrics, segs, rec_s, mean_pop = scored
    return rec_s, metrics, segs, mean_pop


def _model_progress(
    progress: Progress | None, n: int, total: int
) -> Callable[[str, float], None] | None:
    """``progress`` of the whole run seen from model ``n``: ``(stage, share of this model)``."""
    if progress is None:
        return None
    return lambda stage, share: progress(stage, n + share, total)


def _fit_and_score(
    model: Recommender,
    sp_: Split,
    items: pl.DataFrame | None,
    ks: Sequence[int],
    progress: Callable[[str, float], None] | None,
    score_kw: Mapping[str, Any],
) -> tuple[ModelEvaluation, dict[tuple[str, int], np.ndarray]]:
    """Fit ``model`` on the training part and score it; return it and its per-user values."""
    if progress:
        progress(f"fitting {model.name}", 0.0)
    t0 = time.perf_counter()
    model.fit(sp_.train, items)
    fit_s = time.perf_counter() - t0
    per_user: dict[tuple[str, int], np.ndarray] = {}
    if progress:
        progress(f"scoring {model.name} (fitted in {fit_s:.1f} s)", 0.5)
    scored = score_model(model, sp_, ks, per_user_out=per_user, progress=progress, **score_kw)
    return ModelEvaluation(model.name, model.get_params(), fit_s, *_moved(scored)), per_user


def evaluate_models(
    data: Interactions | pl.DataFrame,
    model_names: Sequence[ModelSpec],
    split: str | SplitSpec | Split = SplitSpec(),
    ks: Sequence[int] = (10,),
    *,
    seed: int = 0,
    items: pl.DataFrame | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    event_weights: Mapping[str, float] | None = None,
    user_segments: pl.DataFrame | None = None,
    segment_column: str | None = None,
    n_bootstrap: int = 1000,
    progress: Progress | None = None,
) -> EvaluationResult:
    """Split ``data``, fit and score every model, and return all metrics with CIs.

    Args:
        data: interactions, or an event frame in the store schema.
        model_names: short names (``"ease"``), ``(name, params)`` pairs or model objects.
        split: a kind (``temporal-user``, ``random``, ``leave-last``, ``temporal`` with
            default options), a :class:`SplitSpec` (default: each user's last 20% of
            events by time), or a ready :class:`Split` (e.g. read from files).
        ks: cut-offs.
        seed: split and bootstrap seed.
        items: item catalog, passed to ``fit`` (content-aware models).
        params: hyperparameters per model name.
        event_weights: event-type weights when ``data`` is an event frame.
        user_segments: frame with ``user_id`` and ``segment_column`` for the fairness view.
        segment_column: the column of ``user_segments`` to break metrics down by.
        n_bootstrap: bootstrap resamples per metric.
        progress: called as ``progress(stage, done, total)`` (``done`` counts models).

    The result carries the users dropped by ``min_train`` and :func:`precision_warnings`.
    """
    started = time.perf_counter()
    inter, sp_ = _split_of(data, split, seed, event_weights)
    rel = relevant_matrix(sp_)
    users = evaluation_users(sp_, rel)
    labels = _segment_labels(inter, user_segments, segment_column)
    ks_sorted = sorted({int(k) for k in ks})
    results = []
    vectors: dict[str, dict[tuple[str, int], np.ndarray]] = {}
    specs = list(model_names)
    score_kw: dict[str, Any] = dict(
        users=users, relevant=rel, n_bootstrap=n_bootstrap, segments=labels, seed=seed
    )
    for n, spec in enumerate(specs):
        model = _instantiate(spec, params or {})
        on = _model_progress(progress, n, len(specs))
        evaluated, vectors[model.name] = _fit_and_score(model, sp_, items, ks_sorted, on, score_kw)
        results.append(evaluated)
    compared, losers = _compare(vectors, results, ks_sorted, n_bootstrap, seed, progress)
    result = EvaluationResult(
        sp_.describe(), ks_sorted, len(users), inter.n_items, results, segment_column,
        time.perf_counter() - started, compared, losers, sp_.dropped_users,
        users_with_data=_users_with_data(inter, sp_),
    )  # fmt: skip
    result.warnings = precision_warnings(result)
    return result


def _compare(
    vectors: dict[str, dict[tuple[str, int], np.ndarray]],
    results: list[ModelEvaluation],
    ks: list[int],
    n_bootstrap: int,
    seed: int,
    progress: Progress | None,
) -> tuple[dict[str, dict[int, dict[str, Comparison]]], dict[int, list[str]]]:
    """Paired comparisons of the models (the last step, reported as such)."""
    n = len(results)
    if progress:
        progress("comparing models (paired tests)", n - 1e-9, n)
    estimates = {m.name: m.metrics for m in results}
    compared, losers = compare_all(vectors, estimates, ks, n_resamples=n_bootstrap, seed=seed)
    if progress:
        progress("done", n, n)
    return compared, losers


def _users_with_data(inter: Interactions, split: Split) -> int:
    """Users with at least one interaction in ``inter`` or any part of ``split``."""
    parts = [inter, split.train, split.test, *([split.validation] if split.validation else [])]
    return pl.concat([p.log.select("user") for p in parts])["user"].n_unique()
