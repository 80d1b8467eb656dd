"""Catalog of the synthetic marketplace: vehicles and goods with prices, text and appeal.

Everything is drawn column-wise with numpy; titles and descriptions are assembled with
polars string expressions so that a 100,000-item catalog takes well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

FUEL_TYPES: tuple[str, ...] = ("electric", "diesel", "petrol", "hybrid")
COLOURS: tuple[str, ...] = (
    "black", "white", "silver", "grey", "blue", "red", "green", "yellow", "orange", "brown",
)  # fmt: skip
BODY_TYPES: tuple[str, ...] = (
    "suv", "hatchback", "sedan", "estate", "coupe", "convertible", "mpv",  # cars
    "van", "pickup",  # vans
    "scooter", "sport", "touring", "cruiser",  # motorbikes
)  # fmt: skip


@dataclass(frozen=True)
class CategorySpec:
    """How items of one category are drawn: share, price law, brands, fuel and body mixes."""

    name: str
    share: float
    vehicle: bool
    median_price: float
    price_sigma: float
    brands: tuple[str, ...]
    fuel_probs: tuple[float, ...] = ()  # aligned with FUEL_TYPES
    bodies: tuple[str, ...] = ()
    body_probs: tuple[float, ...] = ()
    products: tuple[tuple[str, str | None], ...] = ()  # goods: (product type, fuel affinity)


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec(
        "car", 0.40, True, 16_000.0, 0.55,
        ("Aurora", "Brightway", "Castell", "Dynamo", "Everline", "Fjord", "Granta", "Helix",
         "Ionic", "Juno", "Kestrel", "Lumen", "Meridian", "Nordvik", "Orion"),
        fuel_probs=(0.22, 0.26, 0.36, 0.16),
        bodies=("suv", "hatchback", "sedan", "estate", "coupe", "convertible", "mpv"),
        body_probs=(0.28, 0.27, 0.17, 0.12, 0.06, 0.04, 0.06),
    ),
    CategorySpec(
        "motorbike", 0.08, True, 5_500.0, 0.6,
        ("Apex", "Blitz", "Corsa", "Daytona", "Ember", "Falcon"),
        fuel_probs=(0.18, 0.0, 0.82, 0.0),
        bodies=("scooter", "sport", "touring", "cruiser"),
        body_probs=(0.35, 0.25, 0.2, 0.2),
    ),
    CategorySpec(
        "van", 0.07, True, 21_000.0, 0.5,
        ("Atlas", "Cargo", "Hauler", "Mule", "Porter", "Transit Works"),
        fuel_probs=(0.16, 0.66, 0.14, 0.04),
        bodies=("van", "pickup"),
        body_probs=(0.8, 0.2),
    ),
    CategorySpec(
        "parts", 0.15, False, 90.0, 0.9,
        ("Brakeforce", "Drivetek", "Filtra", "Mecano", "Partwell", "Sparko"),
        products=(
            ("brake pads", None), ("oil filter", "diesel"), ("air filter", None),
            ("spark plugs", "petrol"), ("timing belt", "petrol"), ("12V battery", None),
            ("wiper blades", None), ("clutch kit", "diesel"), ("DPF filter", "diesel"),
            ("charging port", "electric"), ("hybrid battery module", "hybrid"),
        ),
    ),
    CategorySpec(
        "accessories", 0.12, False, 35.0, 0.8,
        ("Cabin&Co", "Carrygo", "Roadkit", "Safeseat", "Trailpro"),
        products=(
            ("roof box", None), ("floor mats", None), ("seat covers", None),
            ("phone holder", None), ("bike rack", None), ("child seat", None),
            ("tow bar", "diesel"), ("type 2 charging cable", "electric"),
            ("motorcycle helmet", None), ("riding jacket", None),
        ),
    ),
    CategorySpec(
        "tyres", 0.10, False, 110.0, 0.5,
        ("Contour", "Gripmax", "Polaris", "Roadstar", "Treadwell"),
        products=(
            ("summer tyres", None), ("winter tyres", None), ("all-season tyres", None),
            ("performance tyres", "petrol"), ("EV low-noise tyres", "electric"),
            ("van tyres", "diesel"), ("motorcycle tyres", None),
        ),
    ),
    CategorySpec(
        "electronics", 0.08, False, 140.0, 0.9,
        ("Camtrack", "Chargely", "Navio", "Soundway", "Voltix"),
        products=(
            ("dash cam", None), ("GPS navigator", None), ("home wall charger", "electric"),
            ("OBD scanner", None), ("car stereo", None), ("parking sensors", None),
            ("jump starter", "petrol"), ("tyre inflator", None),
        ),
    ),
)  # fmt: skip
CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
VEHICLE_CATEGORIES: tuple[str, ...] = tuple(c.name for c in CATEGORIES if c.vehicle)

_MODELS = (
    "Vento", "Strada", "Nova", "Terra", "Polar", "Sierra", "Luna", "Vista", "Rapid", "Civa",
    "Arca", "Zephyr", "Metro", "Alto", "Cruz",
)  # fmt: skip
_GENERAL_FEATURES = (
    "air conditioning", "cruise control", "bluetooth", "parking sensors", "navigation",
    "heated seats", "leather seats", "alloy wheels", "rear camera", "lane assist",
    "keyless entry", "apple carplay", "full service history", "one previous owner",
)  # fmt: skip
_FUEL_SENTENCES = {
    "electric": "Fully electric drivetrain with fast charging, long range battery and "
    "regenerative braking. Zero emissions, cheap to run.",
    "diesel": "Economical diesel engine with high torque, ideal for motorway miles and "
    "towing. Strong fuel economy.",
    "petrol": "Responsive petrol engine with turbo, smooth and quiet in town.",
    "hybrid": "Self-charging hybrid combining petrol engine and electric motor, very low "
    "emissions and excellent economy.",
}
_BODY_SENTENCES = {
    "suv": "Spacious SUV with high driving position, roof rails and all-wheel drive.",
    "hatchback": "Compact hatchback, easy to park, perfect city car.",
    "sedan": "Comfortable sedan saloon with a large boot for long journeys.",
    "estate": "Practical estate with a huge boot for family and dog.",
    "coupe": "Sporty two-door coupe with sharp handling.",
    "convertible": "Convertible with soft top roof for summer drives.",
    "mpv": "Seven-seat MPV people carrier for big families.",
    "van": "Panel van with large load space and bulkhead.",
    "pickup": "Double-cab pickup with load bed and towing capacity.",
    "scooter": "Nimble scooter for commuting with under-seat storage.",
    "sport": "Sport bike with race-bred chassis.",
    "touring": "Touring motorbike with panniers and comfortable seat.",
    "cruiser": "Low-slung cruiser motorbike with relaxed riding position.",
}


_TEXT_INPUTS = (
    "cat", "brand", "product", "model", "fuel", "body", "fuel_txt", "body_txt", "aff_txt",
    "colour", "f1", "f2", "f3",
)  # fmt: skip


@dataclass
class Catalog:
    """Hidden and visible item state; arrays are aligned with ``frame`` rows."""

    frame: pl.DataFrame
    category: np.ndarray  # int index into CATEGORIES
    fuel: np.ndarray  # index into FUEL_TYPES, -1 for goods
    body: np.ndarray  # index into BODY_TYPES, -1 for goods
    fuel_affinity: np.ndarray  # goods that serve one fuel type (hidden), else -1
    price: np.ndarray
    in_stock: np.ndarray  # out-of-stock items are viewed but never carted or bought
    price_z: np.ndarray  # log price standardised within category
    created_s: np.ndarray  # creation time, epoch seconds
    log_appeal: np.ndarray  # Zipf-like popularity, log scale (max 0)
    latent: np.ndarray  # (n_items, dim) hidden taste factors


def _categorical(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    cdf = np.cumsum(probs / probs.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(probs) - 1)


def _vehicle_columns(
    rng: np.random.Generator, spec: CategorySpec, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return brand, fuel and body indices for ``n`` vehicles of one category."""
    brand_mix = rng.dirichlet(np.array(spec.fuel_probs) * 6 + 0.05, size=len(spec.brands))
    brand = rng.integers(0, len(spec.brands), n)
    cdf = np.cumsum(brand_mix, axis=1)
    fuel = (rng.random(n)[:, None] > cdf[brand]).sum(axis=1)
    fuel = np.minimum(fuel, len(FUEL_TYPES) - 1)
    fuel = np.where(np.array(spec.fuel_probs)[fuel] == 0, FUEL_TYPES.index("petrol"), fuel)
    body_local = _categorical(rng, np.array(spec.body_probs), n)
    body = np.array([BODY_TYPES.index(b) for b in spec.bodies])[body_local]
    return brand, fuel, body


def _draw_items(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw the structured columns of ``n`` items, category by category."""
    category = np.sort(_categorical(rng, np.array([c.share for c in CATEGORIES]), n))
    rng.shuffle(category)
    brand = np.empty(n, dtype=object)
    product = np.full(n, None, dtype=object)
    fuel = np.full(n, -1)
    body = np.full(n, -1)
    affinity = np.full(n, -1)
    log_price = np.empty(n)
    for c, spec in enumerate(CATEGORIES):
        idx = np.flatnonzero(category == c)
        log_price[idx] = np.log(spec.median_price) + spec.price_sigma * rng.standard_normal(
            idx.size
        )
        if spec.vehicle:
            b, fuel[idx], body[idx] = _vehicle_columns(rng, spec, idx.size)
        else:
            b = rng.integers(0, len(spec.brands), idx.size)
            p = rng.integers(0, len(spec.products), idx.size)
            product[idx] = np.array([name for name, _ in spec.products], dtype=object)[p]
            aff = [FUEL_TYPES.index(a) if a else -1 for _, a in spec.products]
            affinity[idx] = np.array(aff)[p]
        brand[idx] = np.array(spec.brands, dtype=object)[b]
    vehicle = fuel >= 0
    age = np.where(vehicle, np.minimum(rng.geometric(0.16, n) - 1, 18), 0)
    age = np.where(fuel == FUEL_TYPES.index("electric"), age // 2, age)
    boost = np.select(
        [fuel == FUEL_TYPES.index("electric"), fuel == FUEL_TYPES.index("hybrid")], [0.3, 0.15], 0
    )
    log_price = log_price + boost - 0.12 * age
    return {
        "category": category,
        "brand": brand,
        "product": product,
        "fuel": fuel,
        "body": body,
        "affinity": affinity,
        "log_price": log_price,
        "age": age,
    }


def _price(log_price: np.ndarray, vehicle: np.ndarray) -> np.ndarray:
    raw = np.exp(log_price)
    return np.where(vehicle, np.maximum(np.round(raw / 10) * 10, 300.0), np.round(raw) + 0.99)


def _price_z(log_price: np.ndarray, category: np.ndarray) -> np.ndarray:
    z = np.zeros_like(log_price)
    for c in np.unique(category):
        m = category == c
        sd = log_price[m].std()
        z[m] = (log_price[m] - log_price[m].mean()) / (sd if sd > 0 else 1.0)
    return z


def _text_frame(cols: dict[str, np.ndarray], rng: np.random.Generator, n: int) -> pl.DataFrame:
    """Assemble titles and descriptions with polars string expressions."""
    pick = rng.random((n, len(_GENERAL_FEATURES))).argsort(axis=1)[:, :3]
    feats = np.array(_GENERAL_FEATURES, dtype=object)[pick]
    fuel_names = np.array((*FUEL_TYPES, None), dtype=object)
    body_names = np.array((*BODY_TYPES, None), dtype=object)
    fuel_txt = np.array([*(_FUEL_SENTENCES[f] for f in FUEL_TYPES), None], dtype=object)
    body_txt = np.array([*(_BODY_SENTENCES[b] for b in BODY_TYPES), None], dtype=object)
    aff_txt = np.array([*(f"Suitable for {f} vehicles." for f in FUEL_TYPES), ""], dtype=object)
    df = pl.DataFrame(
        {
            "cat": np.array(CATEGORY_NAMES, dtype=object)[cols["category"]].tolist(),
            "brand": cols["brand"].tolist(),
            "product": cols["product"].tolist(),
            "model": np.array(_MODELS, dtype=object)[rng.integers(0, len(_MODELS), n)].tolist(),
            "fuel": fuel_names[cols["fuel"]].tolist(),
            "body": body_names[cols["body"]].tolist(),
            "fuel_txt": fuel_txt[cols["fuel"]].tolist(),
            "body_txt": body_txt[cols["body"]].tolist(),
            "aff_txt": aff_txt[cols["affinity"]].tolist(),
            "colour": cols["colour"].tolist(),
            "year": cols["year"].tolist(),
            "f1": feats[:, 0].tolist(),
            "f2": feats[:, 1].tolist(),
            "f3": feats[:, 2].tolist(),
            "km": (rng.gamma(2.0, 9_000.0, n) * (cols["age"] + 0.3)).astype(np.int64).tolist(),
        },
        schema_overrides={"year": pl.Int64, "km": pl.Int64}
        | {k: pl.String for k in _TEXT_INPUTS},  # all-null columns stay strings
    )
    c = pl.col
    vehicle = c("fuel").is_not_null()
    title = pl.when(vehicle).then(
        pl.format("{} {} {} {} {}", "year", "brand", "model", "fuel", "body")
    )
    text = pl.when(vehicle).then(
        pl.format(
            "{} {} {} {} {} {} for sale, {} km. {} {} Features: {}, {}, {}.",
            pl.col("colour").str.to_titlecase(),
            "year",
            "brand",
            "model",
            "fuel",
            "body",
            "km",
            "fuel_txt",
            "body_txt",
            "f1",
            "f2",
            "f3",
        )
    )
    goods_title = pl.format("{} {}", "brand", "product")
    goods_text = pl.concat_str(
        [
            c("product").str.slice(0, 1).str.to_uppercase(),
            pl.format("{} by {}, new in box, in {}.", c("product").str.slice(1), "brand", "cat"),
            pl.when(c("colour").is_not_null())
            .then(pl.format(" Colour: {}.", "colour"))
            .otherwise(pl.lit("")),
            pl.format(" {}", "aff_txt"),
        ]
    )
    return df.select(
        title.otherwise(goods_title).alias("title"),
        text.otherwise(goods_text).str.strip_chars().alias("text"),
    )


def _items_frame(
    cols: dict[str, np.ndarray],
    price: np.ndarray,
    texts: pl.DataFrame,
    in_stock: np.ndarray,
    created: np.ndarray,
) -> pl.DataFrame:
    """The items frame in the file layout from the drawn columns (no randomness here)."""
    n_items = len(price)
    width = max(6, len(str(n_items - 1)))
    frame = pl.DataFrame(
        {
            "item_id": pl.int_range(n_items, eager=True).cast(pl.String).str.zfill(width),
            "category": np.array(CATEGORY_NAMES)[cols["category"]],
            "brand": cols["brand"].tolist(),
            "price": price,
            "title": texts["title"],
            "text": texts["text"],
            "in_stock": in_stock,
            "created_at": pl.Series(created * 1000).cast(pl.Datetime("ms", "UTC")),
            "fuel_type": np.array((*FUEL_TYPES, None), dtype=object)[cols["fuel"]].tolist(),
            "body_type": np.array((*BODY_TYPES, None), dtype=object)[cols["body"]].tolist(),
            "colour": cols["colour"].tolist(),
            "year": pl.Series(cols["year"].tolist(), dtype=pl.Int32),
        },
        schema_overrides={"brand": pl.String, "fuel_type": pl.String, "body_type": pl.String,
                          "colour": pl.String},
    ).with_columns(pl.concat_str(pl.lit("i"), pl.col("item_id")).alias("item_id"))  # fmt: skip
    return frame


def build_catalog(
    rng: np.random.Generator,
    n_items: int,
    start_s: int,
    days: int,
    *,
    zipf_exponent: float,
    new_item_share: float,
    latent_dim: int,
) -> Catalog:
    """Draw ``n_items`` items: columns, text, hidden appeal and hidden taste factors.

    Args:
        rng: random generator (the catalog's own stream).
        n_items: number of items.
        start_s: start of the event window, epoch seconds.
        days: length of the event window; ``new_item_share`` of the items appear in it.
        zipf_exponent: item appeal is ``rank ** -zipf_exponent`` over a random ranking.
        new_item_share: share of items created during the window (new arrivals).
        latent_dim: dimension of the hidden taste factors.

    Returns:
        The catalog: an items frame in the file layout plus aligned hidden arrays.
    """
    cols = _draw_items(rng, n_items)
    vehicle = cols["fuel"] >= 0
    goods_colour = np.isin(
        cols["category"], [CATEGORY_NAMES.index("accessories"), CATEGORY_NAMES.index("electronics")]
    )
    colour = np.array(COLOURS, dtype=object)[_categorical(rng, np.geomspace(1, 0.2, 10), n_items)]
    colour[~(vehicle | goods_colour)] = None
    cols["colour"] = colour
    year = (2026 - cols["age"]).astype(object)
    year[~vehicle] = None
    cols["year"] = year
    price = _price(cols["log_price"], vehicle)
    new = rng.random(n_items) < new_item_share
    created = np.where(
        new,
        start_s + rng.random(n_items) * days * 86_400,
        start_s - (1 + rng.random(n_items) * 364) * 86_400,
    ).astype(np.int64)
    ranks = rng.permutation(n_items) + 1
    texts = _text_frame(cols, rng, n_items)
    in_stock = rng.random(n_items) < 0.95
    frame = _items_frame(cols, price, texts, in_stock, created)
    return Catalog(
        frame=frame,
        category=cols["category"],
        fuel=cols["fuel"],
        body=cols["body"],
        fuel_affinity=cols["affinity"],
        price=price,
        in_stock=in_stock,
        price_z=_price_z(cols["log_price"], cols["category"]),
        created_s=created,
        log_appeal=-zipf_exponent * np.log(ranks),
        latent=rng.standard_normal((n_items, latent_dim)),
    )
