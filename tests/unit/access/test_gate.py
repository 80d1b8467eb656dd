"""The one access check: scope matrix, anonymous access, the legacy key, rate limits."""

from __future__ import annotations

import pytest

from tastemaker.access import AccessGate, KeyRing, RateLimiter, is_loopback
from tastemaker.access import ratelimit as ratelimit_module
from tastemaker.config import RateLimit
from tastemaker.errors import AuthError, ForbiddenError, RateLimitedError
from tastemaker.workspace import Workspace


@pytest.fixture
def gate(sqlite_workspace: Workspace) -> AccessGate:
    sqlite_workspace.settings.serving.allow_anonymous = "never"
    return AccessGate(sqlite_workspace.settings, sqlite_workspace.store)


def _token(ws: Workspace, *scopes: str) -> str:
    return KeyRing(ws.store, ws.root).create("-".join(scopes), list(scopes)).token


# route scope -> key scopes that may call it
MATRIX = {
    "ingest": {("ingest",), ("admin",), ("ingest", "read")},
    "read": {("read",), ("admin",), ("ingest", "read")},
    "admin": {("admin",)},
}


@pytest.mark.parametrize("route", ["ingest", "read", "admin"])
def test_scope_matrix(gate: AccessGate, sqlite_workspace: Workspace, route: str) -> None:
    for scopes in [("ingest",), ("read",), ("admin",), ("ingest", "read")]:
        token = _token(sqlite_workspace, *scopes)
        if scopes in MATRIX[route]:
            assert gate.authorize(token, "10.0.0.1", route).scopes == frozenset(scopes)  # type: ignore[arg-type]
        else:
            with pytest.raises(ForbiddenError, match=f"lacks scope '{route}'"):
                gate.authorize(token, "10.0.0.1", route)  # type: ignore[arg-type]


def test_missing_and_unknown_keys_are_401(gate: AccessGate) -> None:
    with pytest.raises(AuthError, match="missing API key"):
        gate.authorize(None, "127.0.0.1", "read")
    with pytest.raises(AuthError, match="unknown, revoked or malformed"):
        gate.authorize("tm_0123456789ab_guess", "127.0.0.1", "read")


@pytest.mark.parametrize(
    ("mode", "host", "allowed"),
    [("never", "127.0.0.1", False), ("loopback", "127.0.0.1", True), ("loopback", "::1", True),
     ("loopback", "10.1.2.3", False), ("loopback", "testclient", False),
     ("always", "10.1.2.3", True)],
)  # fmt: skip
def test_anonymous_access_follows_the_setting(
    gate: AccessGate, mode: str, host: str, allowed: bool
) -> None:
    gate.settings.serving.allow_anonymous = mode  # type: ignore[assignment]
    if allowed:
        assert gate.authorize(None, host, "admin").actor == f"anonymous@{host}"
    else:
        with pytest.raises(AuthError):
            gate.authorize(None, host, "read")


def test_the_legacy_key_acts_as_admin_and_turns_anonymous_access_off(
    gate: AccessGate, caplog: pytest.LogCaptureFixture
) -> None:
    gate.settings.serving.allow_anonymous = "always"
    gate.settings.serving.api_key = "s3cret"
    assert gate.authorize("s3cret", "10.0.0.1", "admin").name == "serving.api_key"
    assert "deprecated" in caplog.text
    with pytest.raises(AuthError):
        gate.authorize(None, "127.0.0.1", "read")
    with pytest.raises(AuthError):
        gate.authorize("s3cre", "10.0.0.1", "read")


@pytest.mark.parametrize(
    ("mode", "host", "token_scopes", "outcome"),
    [("always", "10.0.0.1", None, None), ("loopback", "127.0.0.1", None, None),
     ("loopback", "10.0.0.1", None, AuthError), ("never", "127.0.0.1", None, AuthError),
     ("never", "10.0.0.1", ("read",), None), ("never", "10.0.0.1", ("ingest",), ForbiddenError)],
)  # fmt: skip
def test_open_endpoints_follow_their_setting(
    gate: AccessGate, sqlite_workspace: Workspace, mode: str, host: str,
    token_scopes: tuple[str, ...] | None, outcome: type[Exception] | None,
) -> None:  # fmt: skip
    gate.settings.serving.open_endpoints = mode  # type: ignore[assignment]
    gate.settings.serving.allow_anonymous = "always"  # does not open the endpoints
    token = _token(sqlite_workspace, *token_scopes) if token_scopes else None
    if outcome is None:
        gate.authorize_open(token, host)
    else:
        with pytest.raises(outcome):
            gate.authorize_open(token, host)


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(
    gate: AccessGate, sqlite_workspace: Workspace
) -> None:
    gate.settings.serving.rate_limits["read"] = RateLimit(per_second=0.5, burst=2)
    token = _token(sqlite_workspace, "read")
    gate.authorize(token, "10.0.0.1", "read")
    gate.authorize(token, "10.0.0.1", "read")
    with pytest.raises(RateLimitedError) as refused:
        gate.authorize(token, "10.0.0.1", "read")
    assert refused.value.status_code == 429
    assert refused.value.headers() == {"Retry-After": "2"}
    other = _token(sqlite_workspace, "read")  # each key has its own bucket
    assert gate.authorize(other, "10.0.0.1", "read")


def test_the_token_bucket_refills_at_its_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(ratelimit_module.time, "monotonic", lambda: clock[0])
    limiter, limit = RateLimiter(), RateLimit(per_second=10.0, burst=3)
    assert [limiter.take("k", "read", limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k", "read", limit) == pytest.approx(0.1)
    clock[0] += 0.1
    assert limiter.take("k", "read", limit) == 0.0
    assert limiter.take("k", "ingest", limit) == 0.0  # another scope, another bucket
    assert limiter.take("k", "read", RateLimit(per_second=0, burst=1)) == 0.0  # 0: no limit


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.8.0.1") and is_loopback("::1")
    assert not any(map(is_loopback, ["10.0.0.1", "testclient", "", None, "localhost"]))
