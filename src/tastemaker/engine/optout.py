"""Opted-out users get the non-personalized lists: what the engine does about consent.

The profile reader answers an opted-out user with ``UserSignals(personal=False)``: no
recent events, shares or segments, and the profile step then ignores the user's
training-time row too (:func:`tastemaker.engine.profile.build_user_state`), so the lists are
exactly those of an unknown user. What is left for the engine is its per-user caches: a list
computed before the user opted out (or back in) must not be served after this process saw
the change. :func:`watch_consent` drops those entries whenever the consent view re-reads a
change (every ``privacy.consent_refresh_seconds``, from its background thread).
"""

from __future__ import annotations

import weakref

from tastemaker.engine.cache import ResultCache
from tastemaker.profiles.consent import ConsentView


def watch_consent(view: ConsentView, *caches: ResultCache) -> None:
    """Drop the cached entries of users whose consent changed from ``caches`` (held weakly:
    the listener removes itself once they are gone, with the setup that owned them)."""
    refs = [weakref.ref(c) for c in caches]

    def listener(changed: set[str]) -> None:
        alive = [c for c in (r() for r in refs) if c is not None]
        if not alive:
            view.remove_listener(listener)
            return
        for cache in alive:
            cache.invalidate(changed)

    view.add_listener(listener)
