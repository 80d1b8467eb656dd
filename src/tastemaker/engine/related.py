"""Item-to-item lists of a loaded version: similar items and items bought together."""

from __future__ import annotations

import numpy as np

from tastemaker.engine.served import RelatedList
from tastemaker.engine.version import LoadedVersion
from tastemaker.errors import UnknownItemError
from tastemaker.retrieval.itemlist import ItemList, Source


def related_items(v: LoadedVersion, item_id: str, k: int, kind: str) -> RelatedList:
    """Similar (``kind="similar"``) or bought-together items of ``item_id``, in stock.

    Raises:
        UnknownItemError: the item is not in the catalog.
    """
    idx = v.table.vocab.index_of(item_id)
    if idx < 0 or not v.table.in_catalog[idx]:
        raise UnknownItemError(item_id)
    blocked = ~(v.table.in_catalog & v.table.in_stock)
    blocked[idx] = True
    cand = _candidates(v, idx, k, kind)
    cand = cand.take(~blocked[cand.index]).head(k)
    title = v.table.titles[idx]
    reason = f"similar to {title}" if kind == "similar" else f"often bought with {title}"
    return RelatedList(
        item_id=item_id,
        model_version=v.name,
        kind=kind,
        item_ids=[str(i) for i in v.table.vocab.decode(cand.index)],
        scores=[round(float(s), 6) for s in cand.score],
        reason=reason,
    )


def _candidates(v: LoadedVersion, idx: int, k: int, kind: str) -> ItemList:
    art = v.artifacts
    wide = 3 * k + 20
    if art is None or idx >= v.table.n_model:
        return _same_attributes(v, idx, wide)
    model = art.model
    if kind == "bought_together":
        fbt = next((m for m in getattr(model, "models_", None) or [] if m.name == "fbt"), None)
        if fbt is None and model.name == "fbt":
            fbt = model
        if fbt is None:
            row = art.neighbors[idx]
            order = np.argsort(-row.data, kind="stable")[:wide]
            return ItemList.of(row.indices[order], row.data[order], Source.RECENT_NEIGHBORS)
        model = fbt
    found, scores = model.similar_items(np.asarray([idx]), wide)
    keep = found[0] >= 0
    return ItemList.of(found[0][keep], scores[0][keep], Source.RECENT_NEIGHBORS)


def _same_attributes(v: LoadedVersion, idx: int, n: int) -> ItemList:
    """Without a model: catalog items sharing the most attributes, popular first."""
    score = np.zeros(len(v.table), np.float32)
    for cat in v.table.categorical.values():
        if cat.codes[idx] >= 0:
            score += (cat.codes == cat.codes[idx]).astype(np.float32)
    score += 0.1 * v.retrieval.popularity
    top = np.argsort(-score, kind="stable")[:n]
    return ItemList.of(top, score[top], Source.POPULAR)
