"""Purchase-propensity features of a (user, item) pair as of a point in time.

One definition serves both sides: training computes them for every labelled pair as of its
cutoff from the event log, serving computes them for a request as of now from the user's
profile timeline. Only events strictly before ``as_of`` count, so no feature can see its
own label. Three groups:

- ``ui_*`` what the user did with this item in the user window (views, carts, dwell...);
- ``u_*`` the user's activity in the user window, and how the item fits it (category share,
  price against the prices the user looked at);
- ``i_*`` the item's popularity over the item window (all users) and its catalog facts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from tastemaker.profiles.model import ANON_PREFIX
from tastemaker.schema import ITEM_EVENT_TYPES

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
#: Event types that show interest in an item (a purchase is also the label's event).
INTEREST = ("view", "click", "add_to_cart", "purchase", "rating")
KEYS = ("user_id", "item_id", "as_of")
#: Item events in feature shape (offline from the log, online from the profile timeline).
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "item_id": pl.String(),
    "type": pl.String(),
    "value": pl.Float64(),
    "ts": pl.Int64(),
    "from_ms": pl.Int64(),
    "until_ms": pl.Int64(),
}
#: ``until_ms`` of a row that belongs to its user for good.
OPEN_MS = 2**62
#: A row counts for a query at ``as_of`` when ``from_ms < as_of <= until_ms``: a visitor's
#: events belong to ``anon:<id>`` until an ``identify`` links the id, to the user after it
#: (as the profile stitches them).
VISIBLE = (pl.col("from_ms") < pl.col("as_of")) & (pl.col("as_of") <= pl.col("until_ms"))

#: The model's columns, in order, with what each one means.
FEATURES: dict[str, str] = {
    "ui_views": "views of the item by the user in the user window",
    "ui_clicks": "clicks on the item",
    "ui_carts": "add-to-cart events for the item",
    "ui_removes": "remove-from-cart events for the item",
    "ui_in_cart": "carts minus removes (>= 0): the item is probably still in the cart",
    "ui_purchases": "earlier purchases of the item",
    "ui_not_interested": "'not interested' events for the item",
    "ui_dwell": "seconds spent on the item (view/click values)",
    "ui_hours_since": "hours since the user last touched the item (window length if never)",
    "ui_active_days": "distinct days the user touched the item",
    "u_events": "the user's interest events (all items)",
    "u_items": "distinct items the user showed interest in",
    "u_carts": "the user's add-to-cart events",
    "u_purchases": "the user's purchases",
    "u_hours_since": "hours since the user's last item event (window length if none)",
    "u_active_days": "distinct days the user was active",
    "u_cat_share": "share of the user's interest events in the item's category",
    "u_price_ratio": "item price / mean price of the items the user showed interest in",
    "i_views": "views of the item by all users in the item window",
    "i_carts": "add-to-cart events for the item by all users",
    "i_purchases": "purchases of the item by all users",
    "i_users": "distinct users who showed interest in the item",
    "i_conversion": "purchases / (views + clicks + 1) of the item",
    "i_log_price": "log(1 + price)",
    "i_age_days": "days since the item was created (0 when unknown)",
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)
_ITEM_STATS = ("i_views", "i_carts", "i_purchases", "i_users", "i_conversion")


@dataclass(frozen=True)
class PropensityWindows:
    """How far back the features look.

    Attributes:
        user_days: user and user-item aggregates; online they come from the profile
            timeline, so this must not exceed ``profiles.window_days``.
        item_days: item popularity (all users).
    """

    user_days: float = 7.0
    item_days: float = 30.0

    @property
    def user_ms(self) -> int:
        """The user window in milliseconds."""
        return int(self.user_days * DAY_MS)

    @property
    def item_ms(self) -> int:
        """The item window in milliseconds."""
        return int(self.item_days * DAY_MS)


def schema_hash() -> str:
    """Short hash of the feature names: a model only serves the code it was trained for.

    The windows are a version's parameters (kept in its manifest), not part of the schema.
    """
    text = json.dumps({"features": list(FEATURE_NAMES)})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: :func:`identity_links` of a log without identify events.
NO_LINKS = pl.DataFrame(
    schema={"anonymous_id": pl.String, "linked_user": pl.String, "linked_ms": pl.Int64}
)


def identity_links(identifies: pl.DataFrame) -> pl.DataFrame:
    """anonymous_id -> user_id and the time of the link (``linked_ms``), from the log's
    ``identify`` events: the first in log order wins, as the profiles apply them."""
    frame = identifies.filter(
        (pl.col("type") == "identify")
        & pl.col("user_id").is_not_null()
        & pl.col("anonymous_id").is_not_null()
    )
    if "seq" in frame.columns:
        frame = frame.sort("seq")
    return frame.unique("anonymous_id", keep="first", maintain_order=True).select(
        pl.col("anonymous_id").cast(pl.String),
        pl.col("user_id").cast(pl.String).alias("linked_user"),
        pl.col("timestamp").dt.epoch("ms").cast(pl.Int64).alias("linked_ms"),
    )


def item_events(events: pl.DataFrame, links: pl.DataFrame | None = None) -> pl.DataFrame:
    """Item events in feature shape (:data:`EVENT_SCHEMA`), keyed as the profiles key them.

    Accepts the store's event frames (``timestamp`` as Datetime, ``user_id`` null for
    visitors) and frames that already have ``ts``. A visitor's event is keyed
    ``anon:<anonymous_id>``; when ``links`` (:func:`identity_links`) link that id, the event
    is the linked user's from the link on (a second row; see :data:`VISIBLE`).
    """
    frame = events.lazy()
    if "ts" not in events.columns:
        frame = frame.with_columns(pl.col("timestamp").dt.epoch("ms").alias("ts"))
    frame = frame.filter(
        pl.col("type").is_in(list(ITEM_EVENT_TYPES)) & pl.col("item_id").is_not_null()
    ).with_columns(
        pl.lit(0, pl.Int64).alias("from_ms"), pl.lit(OPEN_MS, pl.Int64).alias("until_ms")
    )
    columns = list(EVENT_SCHEMA)[1:]
    if "anonymous_id" not in events.columns:
        return _keyed(frame.select("user_id", *columns))
    frame = frame.join((NO_LINKS if links is None else links).lazy(), on="anonymous_id", how="left")
    linked_visitor = pl.col("user_id").is_null() & pl.col("linked_user").is_not_null()
    own = frame.select(
        pl.coalesce(pl.col("user_id"), pl.lit(ANON_PREFIX) + pl.col("anonymous_id")).alias(
            "user_id"
        ),
        *columns[:-1],
        pl.when(linked_visitor)
        .then(pl.col("linked_ms"))
        .otherwise(pl.col("until_ms"))
        .alias("until_ms"),
    )
    stitched = frame.filter(linked_visitor).select(
        pl.col("linked_user").alias("user_id"),
        *columns[:-2],
        pl.col("linked_ms").alias("from_ms"),
        pl.col("until_ms"),
    )
    return _keyed(pl.concat([own, stitched]))


def _keyed(rows: pl.LazyFrame) -> pl.DataFrame:
    return (
        rows.cast(EVENT_SCHEMA)  # type: ignore[arg-type]
        .filter(pl.col("user_id").is_not_null())
        .collect()
    )


def item_stats(
    events: pl.DataFrame, as_of: Iterable[int], windows: PropensityWindows
) -> pl.DataFrame:
    """Item popularity as of each time: as_of, item_id and the ``i_*`` counts.

    ``events`` in :func:`item_events` shape; only events in ``[t - item window, t)`` count.
    """
    frames = []
    for t in sorted(set(as_of)):
        recent = events.with_columns(pl.lit(t, pl.Int64).alias("as_of")).filter(
            (pl.col("ts") < t) & (pl.col("ts") >= t - windows.item_ms) & VISIBLE
        )
        frames.append(
            recent.group_by("item_id")
            .agg(
                (pl.col("type") == "view").sum().alias("i_views"),
                (pl.col("type") == "click").sum().alias("_clicks"),
                (pl.col("type") == "add_to_cart").sum().alias("i_carts"),
                (pl.col("type") == "purchase").sum().alias("i_purchases"),
                pl.col("user_id")
                .filter(pl.col("type").is_in(INTEREST))
                .n_unique()
                .alias("i_users"),
            )
            .with_columns(pl.lit(t, dtype=pl.Int64).alias("as_of"))
        )
    if not frames:
        empty = {"item_id": pl.String, "as_of": pl.Int64}
        return pl.DataFrame(schema={**empty, **dict.fromkeys(_ITEM_STATS, pl.Float64)})
    stats = pl.concat(frames).with_columns(
        (pl.col("i_purchases") / (pl.col("i_views") + pl.col("_clicks") + 1)).alias("i_conversion")
    )
    return stats.select(
        "item_id", "as_of", *[pl.col(c).cast(pl.Float64) for c in _ITEM_STATS]
    ).sort("as_of")


def pair_features(
    queries: pl.DataFrame,
    events: pl.DataFrame,
    items: pl.DataFrame,
    stats: pl.DataFrame,
    windows: PropensityWindows,
) -> pl.DataFrame:
    """Features of each query row (user_id, item_id, as_of ms): the keys, then FEATURE_NAMES.

    Args:
        queries: the pairs and their times; other columns (a label) are kept.
        events: item events in :func:`item_events` shape (the whole log offline, the user's
            timeline online).
        items: the catalog (item_id, category, price, created_at).
        stats: :func:`item_stats` output; each query takes the latest row at or before its
            time, so a snapshot taken minutes ago serves requests now.
        windows: the look-back windows.
    """
    catalog = _catalog(items)
    ev = events.join(catalog.select("item_id", "category", "price"), on="item_id", how="left")
    seen = (
        queries.select("user_id", "as_of")
        .unique()
        .join(ev, on="user_id")
        .filter(
            (pl.col("ts") < pl.col("as_of"))
            & (pl.col("ts") >= pl.col("as_of") - windows.user_ms)
            & VISIBLE
        )
    )
    per_user, per_pair, per_category = _window_aggregates(seen)
    joined = (
        queries.with_columns(pl.col("as_of").cast(pl.Int64))
        .join(per_pair, on=["user_id", "as_of", "item_id"], how="left")
        .join(per_user, on=["user_id", "as_of"], how="left")
        .join(catalog, on="item_id", how="left")
        .join(per_category, on=["user_id", "as_of", "category"], how="left")
        .sort("as_of")
        # both sides are sorted on as_of just above; polars cannot verify it per group
        .join_asof(
            stats.sort("as_of"),
            on="as_of",
            by="item_id",
            strategy="backward",
            check_sortedness=False,
        )
    )
    return _finish(joined, windows).select(
        *KEYS,
        *[c for c in queries.columns if c not in KEYS],
        *[pl.col(c).cast(pl.Float64) for c in FEATURE_NAMES],
    )


def _window_aggregates(seen: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Per (user, as_of), per (user, as_of, item) and per (user, as_of, category) counts of
    the events in each query's user window."""
    interest = pl.col("type").is_in(INTEREST)

    def hours_since(name: str) -> pl.Expr:
        return ((pl.col("as_of").first() - pl.col("ts").max()) / HOUR_MS).alias(name)

    def count(etype: str, name: str) -> pl.Expr:
        return (pl.col("type") == etype).sum().alias(name)

    active_days = (pl.col("ts") // DAY_MS).n_unique()
    per_user = seen.group_by("user_id", "as_of").agg(
        interest.sum().alias("u_events"),
        pl.col("item_id").filter(interest).n_unique().alias("u_items"),
        count("add_to_cart", "u_carts"),
        count("purchase", "u_purchases"),
        hours_since("u_hours_since"),
        active_days.alias("u_active_days"),
        pl.col("price").filter(interest).mean().alias("_mean_price"),
    )
    per_pair = seen.group_by("user_id", "as_of", "item_id").agg(
        count("view", "ui_views"),
        count("click", "ui_clicks"),
        count("add_to_cart", "ui_carts"),
        count("remove_from_cart", "ui_removes"),
        count("purchase", "ui_purchases"),
        count("not_interested", "ui_not_interested"),
        pl.col("value").filter(pl.col("type").is_in(("view", "click"))).sum().alias("ui_dwell"),
        hours_since("ui_hours_since"),
        active_days.alias("ui_active_days"),
    )
    per_category = (
        seen.filter(interest & pl.col("category").is_not_null())
        .group_by("user_id", "as_of", "category")
        .agg(pl.len().alias("_cat_events"))
    )
    return per_user, per_pair, per_category


def _finish(joined: pl.DataFrame, windows: PropensityWindows) -> pl.DataFrame:
    """Neutral values where a query had no events, and the derived features."""
    counts = [c for c in FEATURE_NAMES if c not in _DERIVED and c not in _HOURS]
    window_h = windows.user_days * 24.0
    return joined.with_columns(
        pl.col(c).cast(pl.Float64).fill_null(0.0) for c in counts
    ).with_columns(
        *[pl.col(c).cast(pl.Float64).fill_null(window_h) for c in _HOURS],
        (pl.col("ui_carts") - pl.col("ui_removes")).clip(lower_bound=0).alias("ui_in_cart"),
        (pl.col("_cat_events").fill_null(0) / pl.col("u_events"))
        .fill_nan(0.0)
        .fill_null(0.0)
        .alias("u_cat_share"),
        (pl.col("price") / pl.col("_mean_price"))
        .fill_nan(1.0)
        .fill_null(1.0)
        .alias("u_price_ratio"),
        pl.col("price").fill_null(0.0).log1p().alias("i_log_price"),
        ((pl.col("as_of") - pl.col("created_at")) / DAY_MS)
        .clip(lower_bound=0)
        .fill_null(0.0)
        .alias("i_age_days"),
    )


_HOURS = ("ui_hours_since", "u_hours_since")
_DERIVED = ("ui_in_cart", "u_cat_share", "u_price_ratio", "i_log_price", "i_age_days")


def _catalog(items: pl.DataFrame) -> pl.DataFrame:
    """item_id, category, price, created_at (ms) of the catalog, whatever columns it has."""
    cols = items.columns
    created = pl.col("created_at") if "created_at" in cols else pl.lit(None)
    if "created_at" in cols and items.schema["created_at"] != pl.Int64:
        created = (
            pl.col("created_at").dt.epoch("ms")
            if items.schema["created_at"].is_temporal()
            else created.cast(pl.Int64, strict=False)
        )
    return items.select(
        pl.col("item_id").cast(pl.String),
        (pl.col("category") if "category" in cols else pl.lit(None))
        .cast(pl.String)
        .alias("category"),
        (pl.col("price") if "price" in cols else pl.lit(None)).cast(pl.Float64).alias("price"),
        created.cast(pl.Int64).alias("created_at"),
    ).unique("item_id", keep="last")
