"""Synthetic vehicle-and-goods marketplace: catalog, users with hidden tastes, and sessions.

``generate_marketplace`` draws a catalog (cars, motorbikes, vans, parts, accessories, tyres,
electronics), users with demographics and hidden preferences (fuel type, body type,
categories, price sensitivity, latent taste, a drift of tastes for some), and D days of
sessions with impressions, clicks, views, carts, purchases, ratings, searches and
identify events. ``write_marketplace`` writes ``events``, ``items`` and ``users`` files
that ``tastemaker import`` reads, plus ``ground_truth.json``. The same arguments always
give the same files, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from tastemaker.datasets.marketplace_catalog import (
    BODY_TYPES,
    CATEGORY_NAMES,
    FUEL_TYPES,
    Catalog,
    build_catalog,
)
from tastemaker.datasets.marketplace_sessions import (
    PAGES,
    TYPES,
    History,
    MarketplaceConfig,
    click_choice,
    simulate_day,
    utility,
)
from tastemaker.datasets.marketplace_users import DEVICES, Population, build_users
from tastemaker.errors import ValidationFailedError

FileFormat = Literal["parquet", "csv", "jsonl"]
FILE_FORMATS: tuple[str, ...] = ("parquet", "csv", "jsonl")
DEFAULT_START = date(2026, 1, 1)
_ISO = "%Y-%m-%dT%H:%M:%S%.3fZ"
_TRUTH_FORMAT = "tastemaker.marketplace.ground_truth"


@dataclass
class Marketplace:
    """A generated marketplace: the three frames in file layout plus the ground truth.

    Attributes:
        events: event log (columns of ``tastemaker.schema.EVENT_COLUMNS``), time-ordered.
        items: catalog (item core columns, then fuel_type, body_type, colour, year).
        users: user_id, consent, age_band, gender, region, device.
        ground_truth: hidden preferences per user, appeal per item, generation parameters
            (the content of ``ground_truth.json``).
        config: the behaviour hyperparameters the data was generated with.

    The hidden state behind the data stays attached, so :meth:`utility` and
    :meth:`respond` answer like the simulated users did.
    """

    events: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame
    ground_truth: dict[str, Any]
    config: MarketplaceConfig = field(default_factory=MarketplaceConfig)
    _catalog: Catalog | None = field(default=None, repr=False)
    _population: Population | None = field(default=None, repr=False)

    def utility(self, user_ids: list[str], item_ids: list[str], day: int) -> np.ndarray:
        """Return the hidden utility of each (user, item) pair on ``day`` (0-based).

        Simulators use it to answer "how much does this user like this item?" the way
        the generator did. Pairs are aligned: ``user_ids[k]`` with ``item_ids[k]``.

        Raises:
            ValidationFailedError: an id is not part of this marketplace.
        """
        if self._catalog is None or self._population is None:
            raise ValidationFailedError("this Marketplace carries no hidden state")
        users = _index_of(self.users["user_id"], user_ids, "user_id")
        items = _index_of(self.items["item_id"], item_ids, "item_id")
        return utility(self._catalog, self._population, users, items, day, self.config)

    def respond(
        self, user_ids: list[str], slates: list[list[str]], day: int, seed: int = 0
    ) -> np.ndarray:
        """Simulate each user's click on a ranked list, with the generator's user model.

        Args:
            user_ids: one user per list.
            slates: ranked item ids, one list per user, all of the same length.
            day: day of the window (0-based), which decides drifted tastes.
            seed: random seed of the simulated clicks.

        Returns:
            The clicked 0-based position per user, -1 where the user clicked nothing.

        Raises:
            ValidationFailedError: lists of different lengths, or unknown ids.
        """
        if len(slates) != len(user_ids) or len({len(s) for s in slates}) > 1:
            raise ValidationFailedError("respond needs one list per user, all of one length")
        if self._catalog is None or self._population is None or not slates:
            raise ValidationFailedError("respond needs a generated marketplace and lists")
        size = len(slates[0])
        users = np.repeat(_index_of(self.users["user_id"], user_ids, "user_id"), size)
        flat = [item for s in slates for item in s]
        items = _index_of(self.items["item_id"], flat, "item_id")
        util = utility(self._catalog, self._population, users, items, day, self.config)
        util = util.reshape(len(slates), size)
        rng = np.random.default_rng(seed)
        choice = click_choice(rng, util, np.ones_like(util, dtype=bool), self.config)
        return np.where(choice < size, choice, -1)


def _index_of(ids: pl.Series, wanted: list[str], name: str) -> np.ndarray:
    lookup = pl.DataFrame({name: ids, "idx": pl.int_range(ids.len(), eager=True)})
    found = pl.DataFrame({name: wanted}, schema={name: pl.String}).join(
        lookup, on=name, how="left", maintain_order="left"
    )
    if found["idx"].null_count():
        missing = found.filter(pl.col("idx").is_null())[name][0]
        raise ValidationFailedError(f"{name} '{missing}' is not in this marketplace")
    return found["idx"].to_numpy()


def _start_seconds(start: date | datetime | str) -> int:
    if isinstance(start, str):
        start = datetime.fromisoformat(start.replace("Z", "+00:00"))
    if not isinstance(start, datetime):
        start = datetime(start.year, start.month, start.day, tzinfo=UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return int(start.timestamp())


def _simulate(
    seeds: list[np.random.SeedSequence], cat: Catalog, pop: Population, days: int,
    start_s: int, config: MarketplaceConfig,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Run the day loop and return all events as numeric columns, ordered by time."""
    history = History(pop.activity.size, config.history)
    chunks, n_sessions = [], 0
    for day in range(days):
        rng = np.random.default_rng(seeds[day])
        ev = simulate_day(rng, cat, pop, history, day, start_s + day * 86_400, config)
        if ev["session"].size:
            ev["session"] = ev["session"] + n_sessions
            n_sessions = int(ev["session"].max()) + 1
        chunks.append(ev)
    ev = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    order = np.lexsort((np.arange(ev["ts_ms"].size), ev["ts_ms"]))
    return {k: v[order] for k, v in ev.items()}


def _lookup(values: list[str], codes: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather(codes)


def _ids(prefix: str, idx: np.ndarray, width: int, present: np.ndarray | None = None) -> pl.Series:
    s = pl.Series(idx.astype(np.int64)).cast(pl.String).str.zfill(width)
    out = pl.select(pl.concat_str(pl.lit(prefix), s)).to_series()
    if present is None:
        return out
    return pl.select(pl.when(pl.Series(present)).then(out)).to_series()


def _context_values(slate_size: int) -> list[str]:
    """JSON context for every (device, page, position) code."""
    out = []
    for device in DEVICES:
        for page in PAGES:
            for pos in range(slate_size + 1):
                ctx: dict[str, Any] = {"device": device, "page": page}
                if pos:
                    ctx["position"] = pos
                out.append(json.dumps(ctx, separators=(",", ":")))
    return out


def _property_values() -> list[str]:
    """JSON properties: code 0 "{}", 1 a purchase, 2+ one search query per code."""
    out = ["{}", '{"currency":"EUR","quantity":1}']
    options = [
        None,
        *(("fuel_type", f) for f in FUEL_TYPES),
        *(("body_type", b) for b in BODY_TYPES),
    ]
    for category in CATEGORY_NAMES:
        for option in options:
            filters = {"category": category} | (dict([option]) if option else {})
            query = f"{option[1]} {category}" if option else category
            out.append(json.dumps({"query": query, "filters": filters}, separators=(",", ":")))
    return out


def _events_frame(
    ev: dict[str, np.ndarray], n_users: int, n_items: int, prefix: str, anon_ids: list[str],
    config: MarketplaceConfig,
) -> pl.DataFrame:  # fmt: skip
    """Turn the numeric event columns into the file layout with string ids and JSON."""
    n = ev["ts_ms"].size
    width = max(8, len(str(n)))
    ctx_code = (ev["device"] * len(PAGES) + ev["page"]) * (config.slate_size + 1) + ev["position"]
    purchase = ev["type"] == TYPES.index("purchase")
    prop_code = np.where(ev["query"] >= 0, ev["query"] + 2, purchase.astype(np.int64))
    return pl.DataFrame(
        {
            "event_id": _ids(f"{prefix}-", np.arange(n), width),
            "user_id": _ids("u", ev["user"], max(6, len(str(n_users - 1))), ev["known"]),
            "anonymous_id": pl.select(
                pl.when(pl.Series(ev["anonymous"])).then(_lookup(anon_ids, ev["user"]))
            ).to_series(),
            "type": _lookup(list(TYPES), ev["type"]),
            "item_id": _ids("i", ev["item"], max(6, len(str(n_items - 1))), ev["item"] >= 0),
            "value": pl.Series(ev["value"].astype(np.float64), nan_to_null=True),
            "timestamp": pl.Series(ev["ts_ms"]).cast(pl.Datetime("ms", "UTC")),
            "session_id": _ids(f"{prefix}-s", ev["session"], 7),
            "context": _lookup(_context_values(config.slate_size), ctx_code),
            "properties": _lookup(_property_values(), prop_code),
        }
    )


def _name(values: tuple[str, ...], code: int) -> str | None:
    return values[code] if code >= 0 else None


def _ground_truth(
    cat: Catalog, pop: Population, params: dict[str, Any], start_s: int,
    user_ids: list[str], item_ids: list[str],
) -> dict[str, Any]:  # fmt: skip
    """The hidden truth behind the data, as plain JSON-ready values."""
    users: dict[str, Any] = {}
    for u, uid in enumerate(user_ids):
        drift = None
        if pop.drift_day[u] >= 0:
            day = int(pop.drift_day[u])
            drift = {
                "day": day,
                "date": datetime.fromtimestamp(start_s + day * 86_400, UTC).date().isoformat(),
                "fuel_type": _name(FUEL_TYPES, int(pop.fuel_after[u])),
                "body_type": _name(BODY_TYPES, int(pop.body_after[u])),
            }
        prefs = pop.category_pref[u]
        users[uid] = {
            "fuel_type": _name(FUEL_TYPES, int(pop.fuel[u])),
            "fuel_strength": round(float(pop.fuel_strength[u]), 4),
            "body_type": _name(BODY_TYPES, int(pop.body[u])),
            "body_strength": round(float(pop.body_strength[u]), 4),
            "categories": {
                CATEGORY_NAMES[c]: round(float(prefs[c]), 4) for c in np.argsort(-prefs)
            },
            "price_sensitivity": round(float(pop.price_sensitivity[u]), 4),
            "sessions_per_day": round(float(pop.activity[u]), 4),
            "drift": drift,
        }
    appeal = np.exp(cat.log_appeal)
    items = {
        iid: {"appeal": round(float(appeal[i]), 6),
              "fuel_affinity": _name(FUEL_TYPES, int(cat.fuel_affinity[i]))}
        for i, iid in enumerate(item_ids)
    }  # fmt: skip
    return {"format": _TRUTH_FORMAT, "version": 1, "params": params,
            "users": users, "items": items}  # fmt: skip


def generate_marketplace(
    users: int,
    items: int,
    days: int,
    seed: int,
    start: date | datetime | str = DEFAULT_START,
    config: MarketplaceConfig | None = None,
) -> Marketplace:
    """Generate a synthetic vehicle-and-goods marketplace, deterministically for a seed.

    Args:
        users: number of users (ids ``u000000`` ...).
        items: number of items (ids ``i000000`` ...).
        days: length of the event window in days.
        seed: random seed; the same arguments give the same data.
        start: first day of the window (UTC), a date, datetime or ISO string.
        config: behaviour hyperparameters; defaults give about 100 events per user-month.

    Returns:
        The marketplace: events, items and users frames plus the ground truth.

    Raises:
        ValidationFailedError: a size is not positive.
    """
    for name, value in (("users", users), ("items", items), ("days", days)):
        if value < 1:
            raise ValidationFailedError(f"{name} must be at least 1, got {value}")
    config = config or MarketplaceConfig()
    start_s = _start_seconds(start)
    params: dict[str, Any] = {
        "users": users, "items": items, "days": days, "seed": seed,
        "start": datetime.fromtimestamp(start_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": asdict(config),
    }  # fmt: skip
    digest = hashlib.blake2b(json.dumps(params, sort_keys=True).encode(), digest_size=4)
    seeds = np.random.SeedSequence(seed).spawn(3 + days)
    cat = build_catalog(
        np.random.default_rng(seeds[0]), items, start_s, days,
        zipf_exponent=config.zipf_exponent, new_item_share=config.new_item_share,
        latent_dim=config.latent_dim,
    )  # fmt: skip
    pop = build_users(
        np.random.default_rng(seeds[1]), users, days, sessions_per_day=config.sessions_per_day,
        drift_share=config.drift_share, latent_dim=config.latent_dim,
    )  # fmt: skip
    anon = np.random.default_rng(seeds[2]).integers(0, 2**48, users, dtype=np.int64)
    anon_ids = [f"anon-{a:012x}" for a in anon.tolist()]
    ev = _simulate(seeds[3:], cat, pop, days, start_s, config)
    user_ids = pop.frame["user_id"].to_list()
    item_ids = cat.frame["item_id"].to_list()
    return Marketplace(
        events=_events_frame(ev, users, items, digest.hexdigest(), anon_ids, config),
        items=cat.frame,
        users=pop.frame,
        ground_truth=_ground_truth(cat, pop, params, start_s, user_ids, item_ids),
        config=config,
        _catalog=cat,
        _population=pop,
    )


def regenerate_marketplace(ground_truth: dict[str, Any] | str | Path) -> Marketplace:
    """Rebuild a marketplace, hidden state included, from its ``ground_truth.json``.

    Generation is deterministic, so the result equals the original data; simulators use
    it to get :meth:`Marketplace.utility` for data that was written to files earlier.

    Args:
        ground_truth: the ground-truth dict, or the path of ``ground_truth.json``.

    Raises:
        ValidationFailedError: the file is not a marketplace ground truth.
    """
    truth = ground_truth
    if not isinstance(truth, dict):
        truth = json.loads(Path(truth).read_text(encoding="utf-8"))
    if not isinstance(truth, dict) or truth.get("format") != _TRUTH_FORMAT:
        raise ValidationFailedError(f"'{ground_truth}' is not a marketplace ground truth")
    p = truth["params"]
    return generate_marketplace(
        p["users"], p["items"], p["days"], p["seed"], start=p["start"],
        config=MarketplaceConfig(**p["config"]),
    )  # fmt: skip


def _for_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Datetimes as ISO 8601 UTC strings, for CSV and JSON Lines."""
    return frame.with_columns(pl.col(pl.Datetime).dt.to_string(_ISO))


def write_marketplace(
    m: Marketplace, out_dir: str | Path, fmt: FileFormat = "parquet"
) -> dict[str, Path]:
    """Write ``events``, ``items`` and ``users`` files plus ``ground_truth.json``.

    Args:
        m: the generated marketplace.
        out_dir: folder to write into (created if missing; files are overwritten).
        fmt: ``parquet`` (timestamps typed), ``csv`` or ``jsonl`` (ISO 8601 UTC strings).

    Returns:
        The written paths by name: events, items, users, ground_truth.

    Raises:
        ValidationFailedError: unknown format.
    """
    if fmt not in FILE_FORMATS:
        raise ValidationFailedError(f"format '{fmt}' is not one of {', '.join(FILE_FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in (("events", m.events), ("items", m.items), ("users", m.users)):
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.write_parquet(path, statistics=True)
        elif fmt == "csv":
            _for_text(frame).write_csv(path)
        else:
            _for_text(frame).write_ndjson(path)
        paths[name] = path
    truth = out / "ground_truth.json"
    truth.write_text(json.dumps(m.ground_truth, indent=1) + "\n", encoding="utf-8")
    paths["ground_truth"] = truth
    return paths
