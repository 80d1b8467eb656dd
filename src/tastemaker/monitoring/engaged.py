"""What users engaged with: the behaviour side of drift monitoring, computed one way for both sides.

The lists a version serves (``monitoring.features``) show what the model does; whether
tastes moved shows in what users engage with. An engagement is a distinct (user, item)
pair among the events whose type training counts positively (``event_weights`` above 0:
view, click, add_to_cart, purchase, rating by default); its features are the catalog's
categorical attributes of the item (``features.categorical_features``: category, brand
and the profiles' attributes, price band derived), named ``engaged.<attribute>``, null
where the item lacks one (an item without a fuel type says nothing of the fuel mix).

Each row weighs ``1 / the user's engagements`` (column ``features.WEIGHT``): every user
counts once whatever their activity, so heavy users do not set the mix alone, and the
chi-square test's unit is the user (a user's engagements lean the same way, which makes
them far from independent draws). The reference side is the training events of a version
(``monitoring.baseline``), the checked side the events of the monitoring window
(``monitoring.drift``); both compare through ``monitoring.stats`` like served features.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from tastemaker.config import Settings
from tastemaker.monitoring.features import WEIGHT
from tastemaker.monitoring.impressions import window
from tastemaker.workspace import Workspace

#: The prefix of engaged features (``engaged.fuel_type``), apart from served ones.
PREFIX = "engaged."


def engaged_types(settings: Settings) -> list[str]:
    """The event types that are engagements: those training weighs positively."""
    return sorted(t for t, w in settings.event_weights.items() if w > 0)


def engaged_attributes(names: Sequence[str]) -> list[str]:
    """The attributes of the engaged features among feature ``names`` (prefix removed)."""
    return [n.removeprefix(PREFIX) for n in names if n.startswith(PREFIX)]


def engaged_frame(
    events: pl.DataFrame, items: pl.DataFrame, attributes: Sequence[str], types: Sequence[str]
) -> pl.DataFrame:
    """The engaged features of ``events``, one row per distinct (user, item) engagement.

    Args:
        events: events in the store layout (``user_id``, ``item_id``, ``type``).
        items: the catalog with the attributes as text columns
            (:func:`~tastemaker.monitoring.features.catalog_frame`).
        attributes: the catalog attributes compared.
        types: the event types that are engagements (:func:`engaged_types`).

    Returns:
        Columns ``engaged.<attribute>`` (String, null where the item lacks it, or is not
        in the catalog) and :data:`~tastemaker.monitoring.features.WEIGHT` (Float64,
        ``1 / the user's engagements``).
    """
    pairs = (
        events.lazy()
        .filter(pl.col("type").is_in(list(types)))
        .select(pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String))
        .drop_nulls()
        .unique()
        .with_columns((1.0 / pl.len().over("user_id")).alias(WEIGHT))
    )
    wanted = [a for a in attributes if a in items.columns]
    catalog = (
        items.lazy()
        .select(pl.col("item_id").cast(pl.String), *[pl.col(a).cast(pl.String) for a in wanted])
        .unique("item_id", keep="last")
    )
    joined = pairs.join(catalog, on="item_id", how="left")
    return joined.select(
        *[(pl.col(a) if a in wanted else pl.lit(None, pl.String)).alias(PREFIX + a)
          for a in attributes],
        pl.col(WEIGHT),
    ).collect()  # fmt: skip


def window_engaged(
    ws: Workspace, catalog: pl.DataFrame, attributes: Sequence[str], start_ms: int, end_ms: int
) -> pl.DataFrame:
    """The engaged features (:func:`engaged_frame`) of the events in ``[start_ms, end_ms]``
    (``catalog``: :func:`~tastemaker.monitoring.features.catalog_frame`)."""
    types = engaged_types(ws.settings)
    start, end = window(start_ms, end_ms)
    events = ws.store.events(start=start, end=end, types=types)
    return engaged_frame(events, catalog, attributes, types)
