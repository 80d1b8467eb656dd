"""Telling a backend outage from a bug: driver errors that mean "cannot reach the store now".

Such errors become `StoreUnavailableError` (HTTP 503 with ``Retry-After``): in the SQL
stores through SQLAlchemy's ``handle_error`` event and around raw driver calls, and in the
API's error handler for anything that escaped (a Redis call, say). Classes are matched by
name so that no driver is imported for the check.
"""

from __future__ import annotations

import logging

from tastemaker.errors import StoreUnavailableError

log = logging.getLogger(__name__)

#: Driver errors of the DB-API's "operational" kind (connection lost or refused, server
#: shutting down, database locked) and the client libraries' connection errors.
_OUTAGES = frozenset(
    {
        "sqlalchemy.exc.OperationalError",
        "sqlalchemy.exc.InterfaceError",
        "sqlalchemy.exc.DisconnectionError",
        "psycopg.OperationalError",
        "psycopg.InterfaceError",
        "sqlite3.OperationalError",
        "redis.exceptions.ConnectionError",
        "redis.exceptions.TimeoutError",
        "builtins.ConnectionError",
    }
)


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` says a backend cannot be reached or cannot answer now."""
    if isinstance(exc, StoreUnavailableError):
        return True
    return any(f"{c.__module__}.{c.__qualname__}" in _OUTAGES for c in type(exc).__mro__)


def unavailable(exc: BaseException, backend: str = "store") -> StoreUnavailableError:
    """The `StoreUnavailableError` answering ``exc`` (itself if it is one already).

    The driver's message (hosts, ports) is logged, not put into the answer.
    """
    if isinstance(exc, StoreUnavailableError):
        return exc
    log.warning("%s unavailable: %s: %s", backend, type(exc).__name__, exc)
    return StoreUnavailableError(f"the {backend} cannot be reached; retry later", backend=backend)
