"""Exceptions of tastemaker. Each knows the HTTP status the API answers with."""

from __future__ import annotations

from typing import Any


class TastemakerError(Exception):
    """Base error: a message that says what is wrong and what to do, plus an HTTP status."""

    status_code: int = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON body the API sends for this error."""
        return {"error": type(self).__name__, "message": self.message, **self.details}

    def headers(self) -> dict[str, str]:
        """Extra HTTP headers of the answer (none by default)."""
        return {}


class ConfigError(TastemakerError):
    """The workspace configuration is missing or invalid."""

    status_code = 500


class WorkspaceNotFoundError(ConfigError):
    """No workspace exists at the given folder."""


class ValidationFailedError(TastemakerError):
    """Input data failed validation (row, field and reason are in the message)."""

    status_code = 422


class NotFoundError(TastemakerError):
    """A named resource (item, user, model version, segment) does not exist."""

    status_code = 404


class UnknownItemError(NotFoundError):
    """An item id is not in the catalog."""

    def __init__(self, item_id: str) -> None:
        super().__init__(f"item '{item_id}' is not in the catalog", item_id=item_id)


class NotFittedError(TastemakerError):
    """A model was used before `fit` was called or loaded."""

    status_code = 503


class ConflictError(TastemakerError):
    """The request conflicts with the current state (e.g. a schema mismatch)."""

    status_code = 409


class PayloadTooLargeError(TastemakerError):
    """A request body is larger than ``ingest.max_body_bytes``."""

    status_code = 413


class StoreUnavailableError(TastemakerError):
    """A backing store (database, Redis) cannot be reached; the client should retry later."""

    status_code = 503
    #: Seconds a client should wait before retrying (the ``Retry-After`` header).
    retry_after = 5

    def headers(self) -> dict[str, str]:
        """``Retry-After``: the outage is expected to pass."""
        return {"Retry-After": str(self.retry_after)}


class AuthError(TastemakerError):
    """The request lacks a valid API key."""

    status_code = 401


class ForbiddenError(TastemakerError):
    """The request's API key is valid but lacks the scope the route needs."""

    status_code = 403


class RateLimitedError(TastemakerError):
    """An API key sent more requests than its scope's rate limit allows."""

    status_code = 429

    def __init__(self, message: str, retry_after: int, **details: object) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """``Retry-After``: seconds until the key's bucket holds a token again."""
        return {"Retry-After": str(self.retry_after)}


class DataLeakageError(ValidationFailedError):
    """An evaluation split lets training see the future (train events after the cutoff)."""
