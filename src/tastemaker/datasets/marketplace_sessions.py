"""Behaviour of the synthetic marketplace: one day of sessions, fully vectorized.

A session is a sequence of steps. A step is either a slate (home, search, category or
recommendations page with ``slate_size`` ranked items) on which the user clicks at most
one item, with position bias, or a direct revisit of an item seen on an earlier day. A
clicked or revisited item is viewed (``value`` = dwell seconds), and may be added to the
cart, removed, bought and rated. Choices follow the hidden utility of
:func:`utility`: item appeal, category taste, fuel and body preference (which drift for
some users), price sensitivity and latent taste factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tastemaker.datasets.marketplace_catalog import BODY_TYPES, CATEGORIES, FUEL_TYPES, Catalog
from tastemaker.datasets.marketplace_users import Population

#: Event type codes; the order is the order of events inside one step.
TYPES: tuple[str, ...] = (
    "identify", "search", "impression", "not_interested", "click", "view",
    "add_to_cart", "remove_from_cart", "purchase", "rating",
)  # fmt: skip
PAGES: tuple[str, ...] = (
    "home", "search", "category", "recommendations", "item", "cart", "checkout", "login",
)  # fmt: skip
_T = {name: code for code, name in enumerate(TYPES)}
_P = {name: code for code, name in enumerate(PAGES)}
_SLATE_PAGE_P = np.array([0.15, 0.40, 0.35, 0.10])  # home, search, category, recommendations
_HOURS = np.array([1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 10, 12, 11, 9, 9, 9, 10, 12, 14, 14, 11, 6, 3])
_DOW = np.array([0.95, 0.95, 0.95, 1.0, 1.0, 1.05, 1.1])  # Monday .. Sunday
#: Seconds spent after each event type before the next event (view uses its dwell).
_PAUSE = np.array([8.0, 3.0, 0.03, 2.0, 1.0, 0.0, 5.0, 4.0, 30.0, 12.0])
_VEHICLE = np.array([c.vehicle for c in CATEGORIES])
_BODY_CATEGORY = np.array(
    [next(i for i, c in enumerate(CATEGORIES) if b in c.bodies) for b in BODY_TYPES]
)
#: Search filters: -1 none, 0..F-1 a fuel type, F..F+B-1 a body type.
N_FILTERS = len(FUEL_TYPES) + len(BODY_TYPES)


@dataclass(frozen=True)
class MarketplaceConfig:
    """Hyperparameters of the synthetic marketplace (defaults give ~100 events per user-month).

    Attributes:
        sessions_per_day: mean sessions per user and day (user activity is log-normal).
        mean_steps: mean steps (slates or revisits) per session.
        slate_size: items per slate.
        impression_share: share of slates whose impressions are logged.
        position_decay: position p is examined with probability ``p ** -position_decay``;
            the user chooses among examined items only (or none).
        zipf_exponent: item appeal is ``rank ** -zipf_exponent``.
        appeal_weight: weight of log appeal in the user's choice utility.
        new_item_share: share of items created during the window.
        drift_share: share of users (with a fuel preference) whose tastes drift.
        anonymous_share: share of sessions starting logged out (then ``identify``).
        revisit_rate: share of steps that revisit an item seen on an earlier day.
        filter_rate: share of vehicle searches filtered on the preferred fuel or body type.
        latent_dim: dimension of hidden taste factors.
        taste_scale: weight of the latent taste term in utility.
        no_click_logit: utility of leaving a slate without a click.
        candidate_popularity: slate candidates are drawn with weight ``appeal ** this``.
        history: items per user remembered for revisits.
    """

    sessions_per_day: float = 0.22
    mean_steps: float = 5.0
    slate_size: int = 8
    impression_share: float = 0.2
    position_decay: float = 0.5
    zipf_exponent: float = 0.9
    appeal_weight: float = 0.3
    new_item_share: float = 0.15
    drift_share: float = 0.2
    anonymous_share: float = 0.12
    revisit_rate: float = 0.15
    filter_rate: float = 0.35
    latent_dim: int = 8
    taste_scale: float = 2.5
    no_click_logit: float = 0.0
    candidate_popularity: float = 0.2
    history: int = 10


def utility(
    cat: Catalog, pop: Population, users: np.ndarray, items: np.ndarray, day: int,
    config: MarketplaceConfig,
) -> np.ndarray:  # fmt: skip
    """Return the hidden utility of ``items`` for ``users`` (same shape) on ``day``.

    This is the ground truth behind every choice: simulators and tests may call it to
    know how much a user likes an item.
    """
    fuel_u = pop.fuel_on(day)[users]
    body_u = pop.body_on(day)[users]
    fuel_i = cat.fuel[items]
    fuel_hit = (fuel_u >= 0) & (fuel_i == fuel_u)
    goods_hit = (fuel_u >= 0) & (cat.fuel_affinity[items] == fuel_u)
    body_hit = (body_u >= 0) & (cat.body[items] == body_u)
    body_near = (body_u >= 0) & (_BODY_CATEGORY[np.maximum(body_u, 0)] == cat.category[items])
    taste = np.einsum("...k,...k->...", pop.latent[users], cat.latent[items])
    return (
        config.appeal_weight * cat.log_appeal[items]
        + np.log(pop.category_pref[users, cat.category[items]] + 0.01)
        + pop.fuel_strength[users] * (fuel_hit + 0.5 * goods_hit)
        - 0.5 * pop.fuel_strength[users] * ((fuel_u >= 0) & (fuel_i >= 0) & ~fuel_hit)
        + pop.body_strength[users] * (body_hit - 0.5 * (body_near & ~body_hit))
        - pop.price_sensitivity[users] * cat.price_z[items]
        + config.taste_scale * taste / np.sqrt(cat.latent.shape[1])
    )


class _Groups:
    """Popularity samplers over item groups: all, category, category x fuel, body type."""

    def __init__(self, cat: Catalog, available: np.ndarray, temperature: float) -> None:
        n_c, n_f = len(CATEGORIES), len(FUEL_TYPES)
        items = np.flatnonzero(available)
        fuel = cat.fuel[items]
        body = cat.body[items]
        gid = np.concatenate(
            [np.zeros(items.size, np.int64), 1 + cat.category[items],
             np.where(fuel >= 0, 1 + n_c + cat.category[items] * n_f + fuel, -1),
             np.where(body >= 0, 1 + n_c + n_c * n_f + body, -1)]
        )  # fmt: skip
        member = np.concatenate([items, items, items, items])
        keep = gid >= 0
        order = np.argsort(gid[keep], kind="stable")
        self.gid, self.items = gid[keep][order], member[keep][order]
        w = np.exp(temperature * cat.log_appeal[self.items])
        self.size = np.bincount(self.gid, minlength=1 + n_c + n_c * n_f + len(BODY_TYPES))
        total = np.bincount(self.gid, weights=w, minlength=self.size.size)
        start = np.concatenate([[0], np.cumsum(self.size)[:-1]])
        csum = np.cumsum(w)
        before = np.where(start > 0, csum[np.maximum(start - 1, 0)], 0.0)
        self.key = self.gid + (csum - before[self.gid]) / total[self.gid]
        self.n_c, self.n_f = n_c, n_f

    def group(self, category: np.ndarray, filt: np.ndarray, home: np.ndarray) -> np.ndarray:
        """Group id for each slate, falling back to wider groups when one is empty."""
        fuel = (filt >= 0) & (filt < self.n_f)
        g_filter = np.where(
            fuel,
            1 + self.n_c + category * self.n_f + np.clip(filt, 0, self.n_f - 1),
            1 + self.n_c + self.n_c * self.n_f + np.maximum(filt - self.n_f, 0),
        )
        g = np.where((filt >= 0) & (self.size[g_filter] > 0), g_filter, 1 + category)
        g = np.where(self.size[g] > 0, g, 0)
        return np.where(home, 0, g)

    def sample(self, rng: np.random.Generator, groups: np.ndarray, k: int) -> np.ndarray:
        """Draw ``k`` items per row (with replacement) from each row's group."""
        query = (groups[:, None] + rng.random((groups.size, k))).ravel()
        order = np.argsort(query)  # sorted queries make the search cache-friendly
        pos = np.empty_like(order)
        pos[order] = np.searchsorted(self.key, query[order], side="left")
        return self.items[np.minimum(pos, self.items.size - 1)].reshape(groups.size, k)


def _dedupe(rng: np.random.Generator, slate: np.ndarray, redraw: np.ndarray) -> np.ndarray:
    """Return a validity mask; repeated items in a row are redrawn once, then masked."""
    for attempt in range(2):
        order = np.argsort(slate, axis=1, kind="stable")
        srt = np.take_along_axis(slate, order, axis=1)
        dup_sorted = np.zeros_like(slate, dtype=bool)
        dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
        dup = np.zeros_like(dup_sorted)
        np.put_along_axis(dup, order, dup_sorted, axis=1)
        if attempt == 0 and dup.any():
            slate[dup] = redraw[dup]
    return ~dup


def _pick(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One column per row, with probability proportional to ``weights`` (Gumbel-max)."""
    return np.argmax(np.log(np.maximum(weights, 1e-300)) + rng.gumbel(size=weights.shape), axis=1)


@dataclass
class _Steps:
    """Per-step arrays of one day (a step is one slate or one revisit)."""

    session: np.ndarray
    number: np.ndarray  # position of the step in its session
    user: np.ndarray
    page: np.ndarray
    category: np.ndarray
    search_filter: np.ndarray  # see N_FILTERS


def _sessions(
    rng: np.random.Generator, pop: Population, day: int, weekday: int, config: MarketplaceConfig
) -> dict[str, np.ndarray]:
    """Draw the sessions of one day: user, start (ms within the day), device, steps, login."""
    n = rng.poisson(pop.activity * _DOW[weekday])
    user = np.repeat(np.arange(n.size), n)
    s = user.size
    hour = _pick(rng, np.broadcast_to(_HOURS.astype(float), (s, 24)))
    start_ms = ((hour + rng.random(s)) * 3_600_000).astype(np.int64)
    steps = np.minimum(rng.geometric(1.0 / config.mean_steps, s), 30)
    anon = rng.random(s) < config.anonymous_share
    never = rng.random(s) < 0.1  # logged-out sessions that never log in
    identify_at = np.where(anon, np.where(never, 10_000, 1 + rng.integers(0, steps)), 0)
    device = np.where(rng.random(s) < 0.85, pop.device[user], rng.integers(0, 3, s))
    return {"user": user, "start_ms": start_ms, "steps": steps, "identify_at": identify_at,
            "device": device}  # fmt: skip


def _steps(
    rng: np.random.Generator, pop: Population, sess: dict[str, np.ndarray], hist_len: np.ndarray,
    day: int, config: MarketplaceConfig,
) -> _Steps:  # fmt: skip
    """Expand sessions into steps: category browsed, page type and search filter."""
    steps = sess["steps"]
    session = np.repeat(np.arange(steps.size), steps)
    number = np.arange(session.size) - np.repeat(np.cumsum(steps) - steps, steps)
    user = sess["user"][session]
    sess_cat = _pick(rng, pop.category_pref[sess["user"]])
    switch = rng.random(session.size) < 0.25
    category = np.where(switch, _pick(rng, pop.category_pref[user]), sess_cat[session])
    page = _pick(rng, np.broadcast_to(_SLATE_PAGE_P, (session.size, 4)))
    revisit = (rng.random(session.size) < config.revisit_rate) & (hist_len[user] > 0)
    page = np.where(revisit, _P["item"], page)
    return _Steps(session, number, user, page, category, _filters(rng, pop, category, user,
                  page, day, config))  # fmt: skip


def _filters(
    rng: np.random.Generator, pop: Population, category: np.ndarray, user: np.ndarray,
    page: np.ndarray, day: int, config: MarketplaceConfig,
) -> np.ndarray:  # fmt: skip
    """Vehicle searches filtered on the user's preferred fuel or (same category) body type."""
    fuel, body = pop.fuel_on(day)[user], pop.body_on(day)[user]
    body_ok = (body >= 0) & (_BODY_CATEGORY[np.maximum(body, 0)] == category)
    search = (page == _P["search"]) & _VEHICLE[category]
    search &= rng.random(user.size) < config.filter_rate
    use_body = body_ok & ((fuel < 0) | (rng.random(user.size) < 0.4))
    filt = np.where(use_body, len(FUEL_TYPES) + body, fuel)
    return np.where(search & (filt >= 0), filt, -1)


def click_choice(
    rng: np.random.Generator, util: np.ndarray, valid: np.ndarray, config: MarketplaceConfig
) -> np.ndarray:
    """The user model on a ranked list: the clicked column per row, or ``n_columns`` if none.

    Position p (1-based) is examined with probability ``p ** -position_decay``; among the
    examined items the user picks one by a logit choice on ``util`` against leaving
    (utility ``no_click_logit``).
    """
    examine = np.arange(1, util.shape[1] + 1, dtype=float) ** -config.position_decay
    seen = valid & (rng.random(util.shape) < examine)
    logits = np.where(seen, util, -np.inf)
    logits = np.concatenate([logits, np.full((util.shape[0], 1), config.no_click_logit)], axis=1)
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


def _choose(
    rng: np.random.Generator, cat: Catalog, pop: Population, groups: _Groups, st: _Steps,
    rows: np.ndarray, day: int, config: MarketplaceConfig,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Build the slates of ``rows`` and let each user click at most one item."""
    g = groups.group(st.category[rows], st.search_filter[rows], st.page[rows] == _P["home"])
    size = config.slate_size
    slate = groups.sample(rng, g, size)
    valid = _dedupe(rng, slate, groups.sample(rng, g, size))
    score = np.where(valid, 0.5 * cat.log_appeal[slate] + rng.gumbel(size=slate.shape), -np.inf)
    order = np.argsort(-score, axis=1, kind="stable")  # the platform ranks by popularity
    slate = np.take_along_axis(slate, order, axis=1)
    valid = np.take_along_axis(valid, order, axis=1)
    util = utility(cat, pop, st.user[rows][:, None], slate, day, config)
    choice = click_choice(rng, util, valid, config)
    worst = np.argmin(np.where(valid, util, np.inf), axis=1)
    return {"slate": slate, "valid": valid, "choice": choice, "worst": worst}


class History:
    """The last ``size`` items each user viewed (most recent first), for revisits."""

    def __init__(self, n_users: int, size: int) -> None:
        self.items = np.full((n_users, size), -1, dtype=np.int64)
        self.length = np.zeros(n_users, dtype=np.int64)

    def sample(self, rng: np.random.Generator, users: np.ndarray) -> np.ndarray:
        """Return one remembered item per user (users must have a non-empty history)."""
        slot = (rng.random(users.size) * self.length[users]).astype(np.int64)
        return self.items[users, slot]

    def update(self, users: np.ndarray, items: np.ndarray, ts: np.ndarray) -> None:
        """Push one day's views (any order) in front of each user's history."""
        n_users, size = self.items.shape
        order = np.lexsort((-ts, users))
        u, it = users[order], items[order]
        n_new = np.bincount(u, minlength=n_users)
        rank = np.arange(u.size) - np.repeat(np.cumsum(n_new) - n_new, n_new)
        new = np.full_like(self.items, -1)
        keep = rank < size
        new[u[keep], rank[keep]] = it[keep]
        for j in range(size):
            dest = j + n_new
            ok = dest < size
            new[ok, dest[ok]] = self.items[ok, j]
        self.items = new
        self.length = np.minimum(self.length + n_new, size)


class _Parts:
    """Collects event columns piece by piece, then concatenates them."""

    names = ("session", "number", "type", "item", "value", "position", "page", "sub", "query")

    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in self.names}

    def add(
        self, session: np.ndarray, number: np.ndarray, type_: str, **cols: np.ndarray | float
    ) -> None:
        """Append events of one type; missing columns get their null (-1, 0 or NaN)."""
        n = session.size
        fill = {
            "item": -1,
            "value": np.nan,
            "position": 0,
            "page": _P["item"],
            "sub": 0,
            "query": -1,
        }
        self.cols["session"].append(session)
        self.cols["number"].append(number)
        self.cols["type"].append(np.full(n, _T[type_]))
        for k, null in fill.items():
            self.cols[k].append(np.broadcast_to(cols.get(k, null), (n,)))

    def build(self) -> dict[str, np.ndarray]:
        """Return the concatenated columns."""
        return {k: np.concatenate(v) if v else np.zeros(0) for k, v in self.cols.items()}


def _slate_events(
    rng: np.random.Generator, parts: _Parts, st: _Steps, rows: np.ndarray,
    ch: dict[str, np.ndarray], config: MarketplaceConfig,
) -> None:  # fmt: skip
    """Emit search, impression and not-interested events of the slates in ``rows``."""
    s, n, page = st.session[rows], st.number[rows], st.page[rows]
    search = page == _P["search"]
    query = st.category[rows] * (N_FILTERS + 1) + st.search_filter[rows] + 1
    parts.add(s[search], n[search], "search", page=_P["search"], query=query[search])
    logged = rng.random(rows.size) < config.impression_share
    r, p = np.nonzero(ch["valid"] & logged[:, None])
    parts.add(s[r], n[r], "impression", item=ch["slate"][r, p], position=p + 1, page=page[r], sub=p)
    nope = (ch["choice"] == config.slate_size) & (rng.random(rows.size) < 0.12)
    w = ch["worst"][nope]
    parts.add(s[nope], n[nope], "not_interested", item=ch["slate"][nope, w], position=w + 1,
              page=page[nope])  # fmt: skip


def _funnel_events(
    rng: np.random.Generator, parts: _Parts, cat: Catalog, pop: Population, st: _Steps,
    rows: np.ndarray, items: np.ndarray, position: np.ndarray, day: int,
    config: MarketplaceConfig,
) -> None:  # fmt: skip
    """Emit click (from a slate), view, cart, purchase and rating events of viewed items."""
    util = utility(cat, pop, st.user[rows], items, day, config)
    vehicle = cat.fuel[items] >= 0
    base = np.log(np.where(vehicle, 60.0, 30.0))
    noise = rng.standard_normal((5, rows.size))
    dwell = np.round(np.clip(np.exp(base + 0.25 * util + 0.6 * noise[0]), 2.0, 1800.0), 1)
    s, n = st.session[rows], st.number[rows]
    slate = position > 0
    parts.add(s[slate], n[slate], "click", item=items[slate], value=dwell[slate],
              position=position[slate], page=st.page[rows][slate])  # fmt: skip
    parts.add(s, n, "view", item=items, value=dwell, position=position, page=_P["item"])
    u = rng.random((4, rows.size))
    cart = cat.in_stock[items] & (u[0] < 1 / (1 + np.exp(3.4 - 0.5 * util - 1.2 * ~vehicle)))
    removed = cart & (u[1] < 0.25)
    bought = cart & ~removed & (u[2] < 1 / (1 + np.exp(0.3 - 0.3 * util + 1.8 * vehicle)))
    rated = bought & (u[3] < 0.5)
    stars = np.clip(np.round(1.9 + 0.5 * util + 0.9 * noise[1]), 1, 5)
    for mask, type_, page, value in (
        (cart, "add_to_cart", _P["item"], np.nan),
        (removed, "remove_from_cart", _P["cart"], np.nan),
        (bought, "purchase", _P["checkout"], cat.price[items]),
        (rated, "rating", _P["item"], stars),
    ):
        val = np.broadcast_to(value, (rows.size,))[mask]
        parts.add(s[mask], n[mask], type_, item=items[mask], value=val, page=page)


def _timestamps(
    rng: np.random.Generator, ev: dict[str, np.ndarray], start_ms: np.ndarray
) -> np.ndarray:
    """Milliseconds since the day's start, strictly increasing inside each session."""
    pause = _PAUSE[ev["type"]] * rng.lognormal(0.0, 0.4, ev["type"].size)
    pause = np.where(ev["type"] == _T["view"], ev["value"], pause)
    step_end = np.ones(pause.size, dtype=bool)
    step_end[:-1] = (ev["session"][1:] != ev["session"][:-1]) | (
        ev["number"][1:] != ev["number"][:-1]
    )
    pause = pause + step_end * rng.lognormal(np.log(6.0), 0.6, pause.size)
    dur = np.maximum(np.round(pause * 1000).astype(np.int64), 1)
    csum = np.cumsum(dur)
    first = np.ones(dur.size, dtype=bool)
    first[1:] = ev["session"][1:] != ev["session"][:-1]
    base = np.maximum.accumulate(np.where(first, csum - dur, 0))
    return start_ms[ev["session"]] + csum - dur - base


def simulate_day(
    rng: np.random.Generator, cat: Catalog, pop: Population, history: History, day: int,
    day_start_s: int, config: MarketplaceConfig,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Simulate one day of sessions and return its events as numeric columns, in order.

    Columns: session (index within the day), user, known (user id visible), anonymous,
    type (index into TYPES), item (-1 none), value (NaN none), ts_ms (epoch ms),
    position (0 none), page (index into PAGES), device, query (-1 none). ``history``
    is updated with the day's views.
    """
    weekday = int((day_start_s // 86_400 + 3) % 7)  # 1970-01-01 was a Thursday
    sess = _sessions(rng, pop, day, weekday, config)
    st = _steps(rng, pop, sess, history.length, day, config)
    parts = _Parts()
    rows = np.flatnonzero(st.page != _P["item"])
    available = cat.created_s < day_start_s
    viewed = [np.zeros(0, np.int64)] * 3
    if rows.size and available.any():
        groups = _Groups(cat, available, temperature=config.candidate_popularity)
        ch = _choose(rng, cat, pop, groups, st, rows, day, config)
        _slate_events(rng, parts, st, rows, ch, config)
        hit = ch["choice"] < config.slate_size
        viewed = [rows[hit], ch["slate"][hit, ch["choice"][hit]], ch["choice"][hit] + 1]
    back = np.flatnonzero(st.page == _P["item"])
    rows = np.concatenate([viewed[0], back])
    items = np.concatenate([viewed[1], history.sample(rng, st.user[back])])
    position = np.concatenate([viewed[2], np.zeros(back.size, np.int64)])
    _funnel_events(rng, parts, cat, pop, st, rows, items, position, day, config)
    ident = np.flatnonzero((sess["identify_at"] > 0) & (sess["identify_at"] < 10_000))
    parts.add(ident, sess["identify_at"][ident], "identify", page=_P["login"])
    ev = parts.build()
    order = np.lexsort((ev["sub"], ev["type"], ev["number"], ev["session"]))
    ev = {k: v[order] for k, v in ev.items()}
    ev["ts_ms"] = day_start_s * 1000 + _timestamps(rng, ev, sess["start_ms"])
    ev["user"] = sess["user"][ev["session"]]
    ev["anonymous"] = sess["identify_at"][ev["session"]] > 0
    ev["known"] = ev["number"] >= sess["identify_at"][ev["session"]]
    ev["device"] = sess["device"][ev["session"]]
    is_view = ev["type"] == _T["view"]
    history.update(ev["user"][is_view], ev["item"][is_view], ev["ts_ms"][is_view])
    del ev["number"], ev["sub"]
    return ev
