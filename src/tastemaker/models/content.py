"""Content-based: TF-IDF over item text plus one-hot categorical attributes.

Items are recommendable from their catalog row alone, so items with no interactions
(present in the item vocabulary, e.g. via ``Interactions.from_events(item_ids=...)``)
can be recommended and found similar.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.errors import ValidationFailedError
from tastemaker.models._sparse import dense, row_normalize
from tastemaker.models.base import Recommender, State
from tastemaker.models.catalog import register
from tastemaker.models.interactions import Interactions

_SKIP = {"item_id", "title", "text", "price", "in_stock", "created_at"}


@register
class ContentRecommender(Recommender):
    """Cosine similarity between a user's weighted item profile and item feature vectors.

    Args:
        text_columns: item columns joined and vectorized with TF-IDF.
        categorical_columns: one-hot encoded columns; None means ``category``, ``brand`` and
            every other string column with at most ``max_categories`` distinct values.
        categorical_weight: weight of the one-hot block relative to the text block.
        max_features: TF-IDF vocabulary size.
        max_categories: cardinality limit for automatic categorical columns.
        encoder: optional path of a locally installed sentence-transformers model whose
            embeddings are appended (never downloaded at run time).
    """

    name = "content"

    def __init__(
        self,
        text_columns: Sequence[str] = ("title", "text"),
        categorical_columns: Sequence[str] | None = None,
        categorical_weight: float = 1.0,
        max_features: int = 20_000,
        max_categories: int = 200,
        encoder: str | None = None,
    ) -> None:
        self.text_columns = list(text_columns)
        self.categorical_columns = (
            None if categorical_columns is None else list(categorical_columns)
        )
        self.categorical_weight = categorical_weight
        self.max_features = max_features
        self.max_categories = max_categories
        self.encoder = encoder

    def _fit(self, interactions: Interactions, items: pl.DataFrame | None) -> None:
        if items is None or "item_id" not in items.columns:
            raise ValidationFailedError(
                "the content model needs the item catalog: fit(interactions, items)", field="items"
            )
        ids = pl.DataFrame({"item_id": list(interactions.items.ids)}, schema={"item_id": pl.String})
        catalog = items.with_columns(pl.col("item_id").cast(pl.String)).unique("item_id")
        frame = ids.join(catalog, on="item_id", how="left", maintain_order="left")
        blocks = [self._text_block(frame), self._categorical_block(frame)]
        if self.encoder:
            blocks.append(sp.csr_matrix(self._embed(frame)))
        # each block is unit-normalized per item; the concatenation is not re-normalized, so an
        # item missing a block (no text) scores lower instead of being inflated by the others
        kept = [b for b in blocks if b is not None]
        if not kept:
            raise ValidationFailedError(
                "the item catalog has no text or categorical columns to build features from",
                field="items",
            )
        scale = np.float32(1.0 / np.sqrt(1.0 + self.categorical_weight**2))
        self.features_ = sp.csr_matrix(sp.hstack(kept), dtype=np.float32) * scale
        self.train_ = interactions.matrix

    def _text_block(self, frame: pl.DataFrame) -> sp.csr_matrix | None:
        cols = [c for c in self.text_columns if c in frame.columns]
        if not cols:
            return None
        text = frame.select(
            pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in cols], separator=" ")
        ).to_series()
        if not text.str.strip_chars().str.len_chars().sum():
            return None
        # scikit-learn is imported when content features are built, not when serving starts.
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(max_features=self.max_features, sublinear_tf=True)
        return row_normalize(vec.fit_transform(text.to_list()))

    def _categorical_block(self, frame: pl.DataFrame) -> sp.csr_matrix | None:
        cols = self.categorical_columns
        if cols is None:
            cols = [
                c
                for c, t in frame.schema.items()
                if c not in _SKIP
                and c not in self.text_columns
                and t in (pl.String, pl.Categorical, pl.Boolean)
                and 1 < frame[c].n_unique() <= self.max_categories
            ]
        cols = [c for c in cols if c in frame.columns]
        if not cols:
            return None
        values = frame.select([pl.col(c).cast(pl.String).fill_null("\u2205") for c in cols])
        from sklearn.preprocessing import OneHotEncoder

        onehot = OneHotEncoder(handle_unknown="ignore").fit_transform(values.to_numpy())
        return row_normalize(onehot) * np.float32(self.categorical_weight)

    def _embed(self, frame: pl.DataFrame) -> np.ndarray:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ValidationFailedError(
                "encoder set but sentence-transformers is not installed", field="encoder"
            ) from exc
        model = SentenceTransformer(self.encoder, local_files_only=True)
        text = (
            frame.select(
                pl.concat_str(
                    [
                        pl.col(c).cast(pl.String).fill_null("")
                        for c in self.text_columns
                        if c in frame.columns
                    ],
                    separator=" ",
                )
            )
            .to_series()
            .to_list()
        )
        return np.asarray(model.encode(text, normalize_embeddings=True), dtype=np.float32)

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        profile = row_normalize(history @ self.features_)
        return dense(profile @ self.features_.T)

    def _similar_scores(self, item_ids: np.ndarray) -> np.ndarray:
        return dense(self.features_[item_ids] @ self.features_.T)

    def _state(self) -> State:
        return {"features": self.features_, "train": self.train_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.features_ = state["features"]
        self.train_ = state["train"]
