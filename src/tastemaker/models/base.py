"""The `Recommender` interface every model answers, and the shared scoring machinery.

Models score on dense indices (``Interactions.users`` / ``.items``); the vocabularies
learned at fit time are saved with the model. Subclasses implement ``_fit``, a
scoring hook (``_score_history`` and/or ``_score_users``) and their state arrays; the
base class owns masking, top-k, candidates, batching and the on-disk format
(``manifest.json`` + ``arrays.npz``, no pickle), so evaluation and serving call exactly
the same code. A model whose math allows it scores a few candidates of one history row
without scoring the whole catalog (``_score_candidates``, ``_standardized_candidates``):
serving's ranker stage, checked against ``score_items`` by the contract tests.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.errors import NotFittedError, ValidationFailedError
from tastemaker.models.interactions import Interactions
from tastemaker.models.rows import Row, as_row
from tastemaker.models.scores import standardize, top_k
from tastemaker.models.vocab import Vocabulary

FORMAT_VERSION = 1
_SCORE_BUDGET = 1 << 23  # floats per scoring batch (32 MiB of float32)

State = dict[str, np.ndarray | sp.csr_matrix]


class Recommender(ABC):
    """Base of every model: fit on :class:`Interactions`, recommend top-k item indices.

    Hyperparameters are constructor arguments stored under the same attribute names;
    learned state ends in ``_``. Using a model before ``fit`` or ``load`` raises
    :class:`~tastemaker.errors.NotFittedError`.
    """

    name: ClassVar[str]
    users_: Vocabulary
    items_: Vocabulary

    # --- hyperparameters -----------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Return the constructor arguments (JSON-serializable) of this model."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # --- training ------------------------------------------------------------------
    def fit(self, interactions: Interactions, items: pl.DataFrame | None = None) -> Self:
        """Learn from ``interactions`` (and the item catalog, for content-aware models)."""
        self.users_ = interactions.users
        self.items_ = interactions.items
        self._fit(interactions, items)
        self._fitted = True
        return self

    @abstractmethod
    def _fit(self, interactions: Interactions, items: pl.DataFrame | None) -> None:
        """Learn the model state (subclasses)."""

    def is_trained(self) -> bool:
        """True once ``fit`` or ``load`` has run."""
        return bool(getattr(self, "_fitted", False))

    def _check(self) -> None:
        if not self.is_trained():
            raise NotFittedError(f"model '{self.name}' is not fitted: call fit() or load() first")

    @property
    def n_items(self) -> int:
        """Number of items the model scores (size of its item vocabulary)."""
        self._check()
        return len(self.items_)

    @property
    def n_users(self) -> int:
        """Number of users known at fit time."""
        self._check()
        return len(self.users_)

    # --- scoring hooks -------------------------------------------------------------
    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        """Dense ``[n, n_items]`` scores of known users (default: from training history)."""
        return self._score_history(self._history_of(user_ids))

    @abstractmethod
    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        """Dense ``[n, n_items]`` scores for ad-hoc history rows."""

    def _history_of(self, user_ids: np.ndarray) -> sp.csr_matrix:
        train: sp.csr_matrix | None = getattr(self, "train_", None)
        if train is None:
            return sp.csr_matrix((len(user_ids), self.n_items), dtype=np.float32)
        return train[np.asarray(user_ids, dtype=np.int64)]

    def _similar_scores(self, item_ids: np.ndarray) -> np.ndarray:
        """Dense ``[n, n_items]`` item-to-item scores (default: score a one-item history)."""
        n = len(item_ids)
        onehot = sp.csr_matrix(
            (np.ones(n, np.float32), (np.arange(n), item_ids)), shape=(n, self.n_items)
        )
        return self._score_history(onehot)

    # --- public API ----------------------------------------------------------------
    def recommend(
        self,
        user_ids: np.ndarray,
        k: int,
        *,
        exclude: sp.csr_matrix | None = None,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items for users known at fit time.

        Args:
            user_ids: dense user indices.
            k: list length.
            exclude: CSR ``[len(user_ids), n_items]``; nonzero entries are never returned.
            candidates: item indices to choose from (all items if None).

        Returns:
            ``(item_indices int64 [n, k], scores float32 [n, k])``, padded with -1 / -inf.
        """
        self._check()
        users = self._valid_users(user_ids)
        return self._batched(users, k, exclude, candidates, self._score_users)

    def _valid_users(self, user_ids: np.ndarray) -> np.ndarray:
        users = np.asarray(user_ids, dtype=np.int64).ravel()
        if len(users) and (users.min() < 0 or users.max() >= self.n_users):
            raise ValidationFailedError(
                f"user index out of range [0, {self.n_users}) in recommend()",
                field="user_ids",
            )
        return users

    def recommend_from_history(
        self,
        history: sp.csr_matrix,
        k: int,
        *,
        exclude: sp.csr_matrix | None = None,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items for ad-hoc users described by history rows over the item vocabulary.

        Args:
            history: CSR ``[n, n_items]`` of confidence weights (fresh or unseen users).
            k: list length.
            exclude: CSR ``[n, n_items]`` of items never to return (e.g. the history).
            candidates: item indices to choose from.
        """
        self._check()
        hist = self._as_history(history)
        rows = np.arange(hist.shape[0])
        return self._batched(rows, k, exclude, candidates, lambda r: self._score_history(hist[r]))

    def score_items(
        self, user_ids_or_history: np.ndarray | sp.csr_matrix, item_indices: np.ndarray
    ) -> np.ndarray:
        """Scores of given items: ``item_indices`` is 1-D (same items for all) or ``[n, m]``.

        ``user_ids_or_history`` is an array of user indices or a CSR history matrix.
        Returns float32 ``[n, m]``; index -1 scores ``-inf``.
        """
        self._check()
        if sp.issparse(user_ids_or_history):
            full = self._score_history(self._as_history(user_ids_or_history))
        else:
            full = self._score_users(np.asarray(user_ids_or_history, dtype=np.int64).ravel())
        idx = np.asarray(item_indices, dtype=np.int64)
        if idx.ndim == 1:
            idx = np.broadcast_to(idx, (full.shape[0], len(idx)))
        out = np.take_along_axis(full, np.clip(idx, 0, None), axis=1).astype(np.float32)
        out[idx < 0] = -np.inf
        return out

    def score_candidates(
        self,
        history: Row | sp.spmatrix | sp.sparray,
        candidates: np.ndarray,
        *,
        standardized: bool = False,
    ) -> np.ndarray:
        """Scores of some items for one history row: ``score_items(history)[0][candidates]``.

        Models that can (ALS, item-kNN, hybrid) touch only the candidates, not the whole
        catalog: serving scores a request's candidates with this.

        Args:
            history: a :class:`~tastemaker.models.rows.Row` or a ``[1, n_items]`` CSR row
                (read as a Row: a repeated item's weights summed, non-positive ones dropped).
            candidates: item indices; -1 scores ``-inf``.
            standardized: return the row's z-scores instead (scores minus the mean of the
                full row over every item, divided by its standard deviation, as
                :func:`~tastemaker.models.scores.standardize` gives): the hybrid's blend input.

        Returns:
            float32 ``[len(candidates)]``.

        Raises:
            NotFittedError: before ``fit`` or ``load``.
            ValidationFailedError: a history that is not one row over the model's items, or a
                candidate index past the last item.
        """
        n = self.n_items  # raises NotFittedError first
        row = as_row(history, n)
        cand = np.asarray(candidates, dtype=np.int64).ravel()
        # one pass finds both -1 and indices past the end: negatives wrap to huge unsigned
        odd = len(cand) > 0 and int(cand.view(np.uint64).max()) >= n
        if odd and cand.max() >= n:
            raise ValidationFailedError(
                f"candidate index {int(cand.max())} out of range [0, {n})", field="candidates"
            )
        valid = cand >= 0 if odd else None
        safe = cand if valid is None else np.where(valid, cand, 0)
        if standardized:
            scores = self._standardized_candidates(row, safe)
        else:
            scores = self._score_candidates(row, safe)
        out = np.array(scores, dtype=np.float32)  # a copy: never a model's own array
        if valid is not None:
            out[~valid] = -np.inf
        return out

    def _score_candidates(self, row: Row, candidates: np.ndarray) -> np.ndarray:
        """Scores of valid ``candidates`` for ``row``: a new array (default: full row, picked)."""
        return self._score_history(row.matrix(self.n_items))[0, candidates]

    def _standardized_candidates(self, row: Row, candidates: np.ndarray) -> np.ndarray:
        """Z-scores of valid ``candidates`` within ``row``'s full score row: a new array."""
        return standardize(self._score_history(row.matrix(self.n_items)))[0, candidates]

    def warm_up(self) -> None:
        """Build the caches of the fast scoring paths now (serving: when a version loads)."""
        self._check()

    def similar_items(self, item_ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to each of ``item_ids`` (the item itself excluded)."""
        self._check()
        items = np.asarray(item_ids, dtype=np.int64).ravel()
        rows = np.arange(len(items))
        self_mask = sp.csr_matrix(
            (np.ones(len(items), np.float32), (rows, items)), shape=(len(items), self.n_items)
        )
        return self._batched(rows, k, self_mask, None, lambda r: self._similar_scores(items[r]))

    def _as_history(self, history: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
        hist = sp.csr_matrix(history, dtype=np.float32)
        if hist.shape[1] != self.n_items:
            raise ValidationFailedError(
                f"history has {hist.shape[1]} columns, the model knows {self.n_items} items",
                field="history",
            )
        return hist

    def _batched(
        self,
        rows: np.ndarray,
        k: int,
        exclude: sp.csr_matrix | None,
        candidates: np.ndarray | None,
        score: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        n, m = len(rows), self.n_items
        out_i = np.full((n, k), -1, np.int64)
        out_s = np.full((n, k), -np.inf, np.float32)
        cand_mask = None
        if candidates is not None:
            cand_mask = np.ones(m, dtype=bool)
            c = np.asarray(candidates, dtype=np.int64)
            cand_mask[c[(c >= 0) & (c < m)]] = False
        excl = sp.csr_matrix(exclude) if exclude is not None else None
        step = max(1, _SCORE_BUDGET // max(m, 1))
        for start in range(0, n, step):
            sl = slice(start, min(n, start + step))
            scores = np.asarray(score(rows[sl]), dtype=np.float32)
            if not scores.flags.owndata or not scores.flags.writeable:
                scores = scores.copy()  # never mutate a model's own arrays
            scores[np.isnan(scores)] = -np.inf
            if cand_mask is not None:
                scores[:, cand_mask] = -np.inf
            if excl is not None:
                part = excl[sl].tocoo()
                scores[part.row[part.data != 0], part.col[part.data != 0]] = -np.inf
            out_i[sl], out_s[sl] = top_k(scores, k)
        return out_i, out_s

    # --- persistence ---------------------------------------------------------------
    def _state(self) -> State:
        """Learned arrays to save (subclasses)."""
        return {}

    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore learned arrays (subclasses); sparse entries arrive as CSR."""
        return None

    def save(self, path: Path) -> None:
        """Write the model to folder ``path``: ``manifest.json`` + ``arrays.npz``."""
        self._check()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "__users": self.users_.to_array(),
            "__items": self.items_.to_array(),
        }
        sparse_keys = []
        for key, value in self._state().items():
            if sp.issparse(value):
                m = sp.csr_matrix(value)
                arrays[f"{key}__data"], arrays[f"{key}__indices"] = m.data, m.indices
                arrays[f"{key}__indptr"] = m.indptr
                arrays[f"{key}__shape"] = np.asarray(m.shape, np.int64)
                sparse_keys.append(key)
            else:
                arrays[key] = np.asarray(value)
        np.savez(folder / "arrays.npz", **arrays)  # type: ignore[arg-type]
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "params": self.get_params(),
            "sparse": sparse_keys,
            "n_users": self.n_users,
            "n_items": self.n_items,
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=_jsonable))
        self._save_extra(folder)

    def _save_extra(self, folder: Path) -> None:
        """Hook for models with their own files (e.g. hybrid components)."""
        return None

    def _load_extra(self, folder: Path) -> None:
        """Counterpart of :meth:`_save_extra`."""
        return None

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a model of this class written by :meth:`save`.

        ``tastemaker.models.load_model`` reads a model of any class.

        Raises:
            ValidationFailedError: the folder holds another model.
        """
        folder = Path(path)
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest["model"] != getattr(cls, "name", None):
            raise ValidationFailedError(
                f"{folder}: holds a '{manifest['model']}' model, not a {cls.__name__}"
                " (tastemaker.models.load_model reads any model)",
                field="model",
            )
        model = cls(**manifest["params"])
        with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
            raw = {k: npz[k] for k in npz.files}
        state: dict[str, Any] = {}
        for key in manifest["sparse"]:
            state[key] = sp.csr_matrix(
                (raw.pop(f"{key}__data"), raw.pop(f"{key}__indices"), raw.pop(f"{key}__indptr")),
                shape=tuple(raw.pop(f"{key}__shape")),
            )
        model.users_ = Vocabulary.from_array(raw.pop("__users"))
        model.items_ = Vocabulary.from_array(raw.pop("__items"))
        state.update(raw)
        model._set_state(state)
        model._fitted = True
        model._load_extra(folder)
        return model


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to a model manifest")


def saved_model_name(path: Path) -> str:
    """The short name of the model saved in folder ``path`` (its ``manifest.json``)."""
    manifest = json.loads((Path(path) / "manifest.json").read_text())
    return str(manifest["model"])
