"""The keys admin API as an operator's tooling calls it: create (shown once), list (no
secrets), revoke, each call audited; only an admin key may call it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tastemaker.access import AuditLog, KeyRing
from tastemaker.serving import create_app
from tastemaker.workspace import Workspace


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[tuple[Workspace, TestClient, str]]:
    """A workspace refusing requests without a key, and an admin key made by the CLI's code."""
    ws = Workspace.init(tmp_path / "ws", allow_anonymous="never")
    token = KeyRing(ws.store, ws.root).create("ops", ["admin"]).token
    with TestClient(create_app(ws)) as client:
        yield ws, client, token
    ws.close()


def _key(token: str) -> dict[str, str]:
    return {"X-API-Key": token}


def test_create_list_revoke_over_the_api_round_trip(
    admin: tuple[Workspace, TestClient, str],
) -> None:
    ws, client, token = admin
    body = {"name": "shop-web", "scopes": ["read", "ingest"]}
    made = client.post("/v1/keys", json=body, headers=_key(token))
    assert made.status_code == 201, made.text
    created = made.json()
    assert created["scopes"] == ["ingest", "read"] and created["name"] == "shop-web"
    new_key = created["key"]
    assert new_key.startswith(f"tm_{created['id']}_")
    # the new key works with its scopes, and only those
    assert client.get("/v1/featured", headers=_key(new_key)).status_code == 200
    assert client.get("/v1/keys", headers=_key(new_key)).status_code == 403
    listed = client.get("/v1/keys", headers=_key(token)).json()["keys"]
    assert [k["name"] for k in listed] == ["ops", "shop-web"]
    assert all("key" not in k and "hash" not in k for k in listed)
    secret = new_key.split("_", 2)[2]
    assert secret not in client.get("/v1/keys", headers=_key(token)).text
    stored = [r for r in KeyRing(ws.store, ws.root).list() if r.id == created["id"]]
    assert stored and secret not in repr(stored[0])  # only the keyed hash rests
    gone = client.delete(f"/v1/keys/{created['id']}", headers=_key(token))
    assert gone.status_code == 200 and gone.json()["revoked_at"] is not None
    # this process forgets the revoked key at once
    assert client.get("/v1/featured", headers=_key(new_key)).status_code == 401
    again = client.delete(f"/v1/keys/{created['id']}", headers=_key(token))
    assert again.status_code == 404 and again.json()["error"] == "NotFoundError"


def test_every_call_is_audited_with_the_key_it_concerns(
    admin: tuple[Workspace, TestClient, str],
) -> None:
    ws, client, token = admin
    made = client.post("/v1/keys", json={"name": "batch", "scopes": ["ingest"]},
                       headers=_key(token)).json()  # fmt: skip
    client.get("/v1/keys", headers=_key(token))
    client.delete(f"/v1/keys/{made['id']}", headers=_key(token))
    assert client.post("/v1/keys", json={"name": "x", "scopes": ["read"]}).status_code == 401
    rows = [(r.action, r.target, r.outcome) for r in AuditLog(ws.store).entries()]
    assert rows == [
        ("POST /v1/keys", made["id"], "ok"),
        ("GET /v1/keys", None, "ok"),
        ("DELETE /v1/keys/{key_id}", made["id"], "ok"),
        ("POST /v1/keys", None, "refused"),
    ]
    first = AuditLog(ws.store).entries()[0]
    assert json.loads(first.detail) == {"name": "batch", "scopes": ["ingest"]}
    assert made["key"].split("_", 2)[2] not in first.detail


@pytest.mark.parametrize(
    "body",
    [{"name": "x", "scopes": ["root"]}, {"name": "", "scopes": ["read"]},
     {"name": "x", "scopes": []}, {"name": "x"}, {"name": "x", "scopes": ["read"], "extra": 1},
     "not json"],
)  # fmt: skip
def test_a_bad_body_is_422_naming_the_field(
    admin: tuple[Workspace, TestClient, str], body: object
) -> None:
    ws, client, token = admin
    sent = {"content": body} if isinstance(body, str) else {"json": body}
    answer = client.post("/v1/keys", headers=_key(token), **sent)  # type: ignore[arg-type]
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "ValidationFailedError"
    assert "body" in answer.json()["message"]
    assert [r.name for r in KeyRing(ws.store, ws.root).list()] == ["ops"]
    assert AuditLog(ws.store).entries()[-1].outcome == "error"


def test_init_anonymous_never_makes_even_loopback_clients_send_a_key(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tastemaker.cli.app import app

    runner = CliRunner()
    done = runner.invoke(app, ["init", str(tmp_path / "ws"), "--anonymous", "never"])
    assert done.exit_code == 0, done.output
    assert "anonymous requests: never" in done.output
    ws = Workspace.open(tmp_path / "ws")
    try:
        local = TestClient(create_app(ws), client=("127.0.0.1", 50000))
        assert local.get("/v1/featured").status_code == 401
        token = KeyRing(ws.store, ws.root).create("web", ["read"]).token
        assert local.get("/v1/featured", headers=_key(token)).status_code == 200
    finally:
        ws.close()
