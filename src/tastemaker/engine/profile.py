"""The profile step of a request: what one user did, as arrays over the version's items.

The signals come from the profile reader (``Workspace.profiles.signals``: recent item
events, attribute shares, segments); :func:`build_user_state` turns them plus the
training-time history into the arrays the later stages read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from tastemaker.engine.version import LoadedVersion
from tastemaker.models.rows import Row, row_of
from tastemaker.profiles.signals import ITEM_TYPES, UserSignals
from tastemaker.registry.artifacts import ServingArtifacts
from tastemaker.retrieval.sources import CandidateQuery, Segment

_ITEM_TYPES = frozenset(ITEM_TYPES)
_POSITIVE = frozenset(("view", "click", "add_to_cart", "purchase", "rating"))


@dataclass
class UserState:
    """The profile step's output: history over model items and what to exclude.

    Attributes:
        row: training-time history plus fresh events (weighted), over model items.
        n_items: items of the model (width of the history row).
        recent: item indices engaged with, most recent first.
        purchased, not_interested, seen: item indices to exclude.
        query: what the candidate sources read.
        cold: nothing is known about the user.
        affinity: per attribute, item codes and the user's recent share of each code.
    """

    row: Row
    n_items: int
    recent: np.ndarray
    purchased: np.ndarray
    not_interested: np.ndarray
    seen: np.ndarray
    query: CandidateQuery
    cold: bool
    affinity: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    @property
    def history(self) -> sp.csr_matrix:
        """The history row as a ``[1, n_items]`` CSR matrix."""
        return self.row.matrix(self.n_items)


@dataclass(frozen=True)
class ProfileParams:
    """What the profile step reads from configuration."""

    event_weights: dict[str, float]
    recent_boost: float
    segment_min_share: float
    #: catalog attributes whose values act as user segments (``profiles.attributes``)
    segment_attributes: tuple[str, ...] = ()


def _user_row(v: LoadedVersion, sig: UserSignals, user_key: str) -> int:
    """The user's row in the version's model (-1: unknown, or opted out: nobody to it)."""
    art = v.artifacts
    if art is None or not sig.personal:
        return -1
    return art.model.users_.index_of(user_key)


def user_exclusions(
    v: LoadedVersion, sig: UserSignals, user_key: str
) -> tuple[np.ndarray, np.ndarray]:
    """Item indices the user bought and refused ("not interested"), training time and since."""
    art = v.artifacts
    user_row = _user_row(v, sig, user_key)
    _, _, purchased, negative = _training_rows(art, user_row)
    if not len(sig):
        return purchased, negative
    idx = v.table.lookup(sig.item_ids)
    types = np.asarray(sig.types, dtype=object)
    known = idx >= 0
    bought, refused = known & (types == "purchase"), known & (types == "not_interested")
    return np.concatenate([purchased, idx[bought]]), np.concatenate([negative, idx[refused]])


def build_user_state(
    v: LoadedVersion, sig: UserSignals, user_key: str, params: ProfileParams
) -> UserState:
    """Training-time history of the user plus fresh events, over the version's items."""
    table, n_model = v.table, v.table.n_model
    n = len(sig)
    idx = table.lookup(sig.item_ids)
    types = sig.types
    w = np.fromiter((params.event_weights.get(t, 0.0) for t in types), np.float32, n)
    positive = np.fromiter((t in _POSITIVE for t in types), bool, n) & (idx >= 0)
    fresh = sig.timestamps > v.data_end_ms
    art = v.artifacts
    user_row = _user_row(v, sig, user_key)
    cols, vals, _, _ = _training_rows(art, user_row)
    purchased, negative = user_exclusions(v, sig, user_key)
    use = fresh & (idx >= 0) & (idx < n_model) & (w != 0)
    row = row_of(
        np.concatenate([cols, idx[use]]),
        np.concatenate([vals, w[use] * np.float32(params.recent_boost)]),
    )
    recent = _unique_newest(idx[positive])
    if len(recent) == 0 and len(row.cols):
        recent = row.cols[np.argsort(-row.vals, kind="stable")][:5]
    seen = np.union1d(row.cols, idx[positive]).astype(np.int64)
    attrs = params.segment_attributes
    segments = _segments(v, sig.shares, np.union1d(row.cols, recent), params.segment_min_share,
                         attrs)  # fmt: skip
    vector = None
    if len(row.cols) and v.query_als is not None:
        vector = v.query_als.user_vector(row).astype(np.float32)
    query = CandidateQuery(vector, recent.astype(np.int64), segments)
    cold = len(row.cols) == 0 and len(recent) == 0
    return UserState(row, n_model, recent, purchased, negative, seen, query, cold,
                     _affinity(v, sig.shares, attrs))  # fmt: skip


def _segments(
    v: LoadedVersion,
    shares: dict[str, dict[str, float]],
    items: np.ndarray,
    min_share: float,
    attributes: tuple[str, ...],
) -> list[Segment]:
    out: list[Segment] = []
    items = items.astype(np.int64)
    for column in attributes:
        cat = v.table.categorical.get(column)
        if cat is None:
            continue
        col_shares = shares.get(column) or _shares(cat.codes[items], cat.labels)
        if not col_shares:
            continue
        label, share = max(col_shares.items(), key=lambda kv: kv[1])
        code = cat.code_of(label)
        if share >= min_share and code >= 0:
            out.append(Segment(column, code, cat.labels[code], float(share)))
    return sorted(out, key=lambda s: -s.weight)


def _training_rows(
    art: ServingArtifacts | None, row: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """History (columns, weights), purchases and not-interested items at training time."""
    empty = np.empty(0, np.int64)
    if art is None or row < 0:
        return empty, np.empty(0, np.float32), empty, empty

    def cols(m: sp.csr_matrix) -> np.ndarray:
        return np.asarray(m.indices[m.indptr[row] : m.indptr[row + 1]], np.int64)

    h = art.history
    vals = np.asarray(h.data[h.indptr[row] : h.indptr[row + 1]], np.float32)
    return cols(h), vals, cols(art.purchased), cols(art.negative)


def _affinity(
    v: LoadedVersion, shares: dict[str, dict[str, float]], attributes: tuple[str, ...]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per attribute: item codes and the user's recent share of each code (0 for none)."""
    out = []
    for column in attributes:
        cat = v.table.categorical.get(column)
        col_shares = shares.get(column)
        if cat is None or not col_shares:
            continue
        by_code = np.zeros(len(cat.labels) + 1, np.float32)  # last slot: items without a value
        for label, share in col_shares.items():
            code = cat.code_of(label)
            if code >= 0:
                by_code[code] = share
        out.append((v.filled_codes(column), by_code))
    return out


def _unique_newest(idx: np.ndarray) -> np.ndarray:
    """Distinct indices, most recent (last) first."""
    rev = idx[::-1]
    _, first = np.unique(rev, return_index=True)
    return rev[np.sort(first)]


def _shares(codes: np.ndarray, labels: list[str]) -> dict[str, float]:
    codes = codes[codes >= 0]
    if len(codes) == 0:
        return {}
    counts = np.bincount(codes, minlength=len(labels)).astype(np.float64)
    top = int(counts.argmax())
    return {labels[top]: float(counts[top] / counts.sum())}
