"""`tastemaker keys create|list|revoke` and `tastemaker audit`, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tastemaker.cli.app import app
from tastemaker.cli.common import console
from tastemaker.serving import create_app
from tastemaker.workspace import Workspace


def test_keys_create_list_revoke_round_trip_and_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "width", 200)  # the table whole, whatever ran before
    runner = CliRunner()
    ws_dir = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", ws_dir]).exit_code == 0
    created = runner.invoke(
        app, ["keys", "create", "--scope", "read", "--scope", "ingest", "--name", "shop-frontend",
              "-w", ws_dir],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    key_id, secret = token.split("_", 2)[1:]
    listed = runner.invoke(app, ["keys", "list", "-w", ws_dir])
    assert key_id in listed.stdout and "shop-frontend" in listed.stdout
    assert "ingest,read" in listed.stdout and secret not in listed.stdout

    ws = Workspace.open(ws_dir)
    try:
        client = TestClient(create_app(ws))  # from another host: the key is needed
        assert client.get("/v1/featured").status_code == 401
        assert client.get("/v1/featured", headers={"X-API-Key": token}).status_code == 200
    finally:
        ws.close()

    assert runner.invoke(app, ["keys", "revoke", key_id, "-w", ws_dir]).exit_code == 0
    again = runner.invoke(app, ["keys", "revoke", key_id, "-w", ws_dir])
    assert again.exit_code == 2 and "no active key" in again.output
    assert runner.invoke(app, ["keys", "create", "--scope", "write", "--name", "x",
                               "-w", ws_dir]).exit_code == 2  # fmt: skip

    audit = runner.invoke(app, ["audit", "-w", ws_dir, "--json"])
    rows = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(r["action"], r["target"], r["outcome"]) for r in rows] == [
        ("keys.create", key_id, "ok"),
        ("keys.revoke", key_id, "ok"),
        ("keys.revoke", key_id, "error"),
    ]
    assert all(r["actor"].startswith("cli:") for r in rows)
    assert secret not in audit.stdout
    table = runner.invoke(app, ["audit", "-w", ws_dir, "--since", "2000-01-01"])
    assert "keys.revoke" in table.stdout
    late = runner.invoke(app, ["audit", "-w", ws_dir, "--since", "2999-01-01", "--json"])
    assert late.stdout == ""
    assert runner.invoke(app, ["audit", "-w", ws_dir, "--since", "soon"]).exit_code == 2
