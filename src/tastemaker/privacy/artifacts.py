"""Erase users from trained model versions: their vocabulary entry and their rows.

A model's ``arrays.npz`` holds the user vocabulary (``__users``, pseudonymized ids) and, for
some models, one row per user: ALS / BPR ``user_factors`` and the training matrix ``train``
(EASE, item-kNN, content, hybrid). A version's ``serving/`` arrays hold per-user
``history``, ``purchased`` and ``negative`` rows, indexed like the model's vocabulary. The
erased user's vocabulary entry becomes a tombstone (``~erased-<row>``, which no pseudonym can
equal) and each of their rows becomes zeros, so the version keeps serving everyone else
unchanged and serves the erased user like a stranger. A model whose state gains another
per-user array must name it in :data:`USER_ROWS`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

#: per-user state in a model's arrays.npz (dense arrays, or sparse as key__data ...)
USER_ROWS = ("user_factors", "train")
#: per-user sparse matrices in a version's serving/ folder (indexed like the model's users)
SERVING_ROWS = ("history", "purchased", "negative")
_SPARSE_PARTS = ("data", "indices", "indptr", "shape")


def _zero_sparse_rows(parts: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The CSR parts (data, indices, indptr, shape) with ``rows`` emptied."""
    m = sp.csr_matrix(
        (parts["data"], parts["indices"], parts["indptr"]), shape=tuple(parts["shape"])
    )
    keep = np.ones(m.shape[0], dtype=bool)
    keep[rows[rows < m.shape[0]]] = False
    m = sp.csr_matrix(sp.diags(keep.astype(m.dtype)) @ m)
    m.eliminate_zeros()
    return {"data": m.data, "indices": m.indices, "indptr": m.indptr,
            "shape": np.asarray(m.shape, np.int64)}  # fmt: skip


def _erase_rows(arrays: dict[str, np.ndarray], names: tuple[str, ...], rows: np.ndarray) -> None:
    """Zero ``rows`` of the dense or sparse (``name__data`` ...) arrays ``names``, in place."""
    for name in names:
        if name in arrays and arrays[name].ndim >= 1:
            dense = arrays[name].copy()
            dense[rows[rows < dense.shape[0]]] = 0
            arrays[name] = dense
        elif f"{name}__data" in arrays:
            parts = {p: arrays[f"{name}__{p}"] for p in _SPARSE_PARTS}
            for p, value in _zero_sparse_rows(parts, rows).items():
                arrays[f"{name}__{p}"] = value


def _replace(path: Path, array: np.ndarray | dict[str, np.ndarray]) -> None:
    """Write ``array`` (.npy) or ``arrays`` (.npz) beside ``path``, then swap it in (a reader
    sees the old file or the new one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        if isinstance(array, dict):
            np.savez(handle, **array)  # type: ignore[arg-type]
        else:
            np.save(handle, array, allow_pickle=False)
    os.replace(tmp, path)


def erase_from_model(folder: Path, keys: set[str]) -> np.ndarray:
    """Erase ``keys`` from the model in ``folder`` (its ``arrays.npz``); return their rows."""
    path = folder / "arrays.npz"
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    users = arrays.get("__users")
    if users is None:
        return np.zeros(0, dtype=np.int64)
    rows = np.flatnonzero(np.isin(users, list(keys)))
    if rows.size == 0:
        return rows
    users = users.astype(object)
    users[rows] = [f"~erased-{r}" for r in rows]
    arrays["__users"] = users.astype(str)
    _erase_rows(arrays, USER_ROWS, rows)
    _replace(path, arrays)
    return rows


def erase_from_serving(folder: Path, rows: np.ndarray) -> int:
    """Zero ``rows`` of the per-user serving arrays in ``folder`` (``*.npy``); return how
    many matrices changed."""
    changed = 0
    for name in SERVING_ROWS:
        files = {p: folder / f"{name}__{p}.npy" for p in _SPARSE_PARTS}
        if not all(f.exists() for f in files.values()):
            continue
        parts = {p: np.load(f, allow_pickle=False) for p, f in files.items()}
        for p, value in _zero_sparse_rows(parts, rows).items():
            _replace(files[p], value)
        changed += 1
    return changed


def erase_from_versions(models_root: Path, keys: set[str]) -> dict[str, int]:
    """Erase ``keys`` from every model file under ``models_root``; return the user rows
    erased per file (relative to ``models_root``)."""
    out: dict[str, int] = {}
    if not models_root.exists():
        return out
    for npz in sorted(models_root.rglob("arrays.npz")):
        rows = erase_from_model(npz.parent, keys)
        if rows.size == 0:
            continue
        out[str(npz.relative_to(models_root))] = int(rows.size)
        serving = npz.parent.parent / "serving"
        model_dir = npz.parent.name == "model" and serving.is_dir()
        if model_dir and erase_from_serving(serving, rows):
            out[str(serving.relative_to(models_root))] = int(rows.size)
    return out
