"""Who the featured listing is chosen for: the user's segments and exclusions, read from
the profile the same way for a served listing and for a simulation's counterfactual."""

from __future__ import annotations

import logging
from dataclasses import replace

from tastemaker.engine.featured import FeaturedUser
from tastemaker.engine.profile import user_exclusions
from tastemaker.engine.setup import EngineSetup
from tastemaker.errors import TastemakerError

log = logging.getLogger(__name__)


def featured_user(
    setup: EngineSetup, key: str | None, policy: str = "personalized"
) -> FeaturedUser:
    """The featured listing's view of pseudonymous ``key`` (None: an unknown visitor) under
    ``policy``: ``random`` keeps the exclusions but drops the segments. A profile store that
    cannot be read gives an anonymous view (the listing never fails for it)."""
    if key is None:
        return FeaturedUser()
    try:
        sig = setup.pipeline.signals(key)
    except (TastemakerError, OSError, RuntimeError) as exc:
        log.warning("profile unavailable for featured listing: %s", exc)
        return FeaturedUser(why="profile store unavailable")
    v = setup.versions.active
    purchased, refused = user_exclusions(v, sig, key)
    ids = v.table.vocab.ids
    excluded = (ids[purchased].tolist(), ids[refused].tolist())
    if not sig.found:
        found = FeaturedUser(why="unknown user", excluded=excluded)
    else:
        found = FeaturedUser(sig.segments, "" if sig.segments else "user has no segment", excluded)
    if policy == "random":
        return replace(found, segments={}, why="experiment variant: random listing")
    return found
