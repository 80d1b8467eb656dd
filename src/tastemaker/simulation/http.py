"""A running tastemaker server as the simulation's counterpart, over its public HTTP API.

The simulated marketplace is uploaded with ``PUT /v1/items``, ``PUT /v1/users`` and
``POST /v1/events`` (batches of 1,000), the scenario's experiment with
``PUT /v1/experiments/{key}``; each visit asks ``GET /v1/featured``, the users' clicks and
purchases go back through ``POST /v1/events``, and the analysis is the server's own
``GET /v1/experiments/{key}/results``. The key (``X-API-Key``) needs the ingest, read and
admin scopes, or the server must allow anonymous access from this address. Run it against a
fresh workspace: the marketplace's user and item ids would mix with any already there.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import polars as pl

from tastemaker.datasets.marketplace import Marketplace
from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.definition import Experiment

BATCH = 1_000
#: running servers look for changed experiment definitions every second: wait this long
#: after a PUT so that every server process serves under the new experiment
PICKUP_SECONDS = 2.0
_JSON_TEXT = ("context", "properties")


def _rows(frame: pl.DataFrame) -> Iterator[dict[str, Any]]:
    """The frame's rows as API bodies: no nulls, timestamps as ISO text, JSON text decoded."""
    for row in frame.iter_rows(named=True):
        out: dict[str, Any] = {}
        for name, value in row.items():
            if value is None:
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif name in _JSON_TEXT and isinstance(value, str):
                value = orjson.loads(value)
            out[name] = value
        yield out


class HttpServer:
    """A tastemaker server at ``url`` (``http://host:port``), one keep-alive connection."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        """Prepare the connection (nothing is sent yet).

        Raises:
            ValidationFailedError: ``url`` is not ``http://host[:port]``.
        """
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValidationFailedError(f"--url '{url}': expected http://host[:port]")
        self.url = url
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["X-API-Key"] = api_key

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """Send one request; return the decoded JSON answer.

        Raises:
            ValidationFailedError: the server is unreachable or answered 4xx/5xx (status and
                its message in the error).
        """
        query = {k: v for k, v in params.items() if v is not None}
        target = path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else orjson.dumps(body)
        try:
            self._conn.request(method, target, body=data, headers=self._headers)
            answer = self._conn.getresponse()
            raw = answer.read()
        except OSError as exc:
            self._conn.close()
            raise ValidationFailedError(f"{self.url}: {method} {path} failed: {exc}") from exc
        if answer.status >= 400:
            text = raw.decode("utf-8", "replace")[:300]
            raise ValidationFailedError(
                f"{self.url}: {method} {path} answered {answer.status}: {text}"
            )
        return orjson.loads(raw) if raw else None

    def upload(self, market: Marketplace) -> None:
        """The marketplace's items, users and event history, in batches."""
        for path, method, frame in (
            ("/v1/items", "PUT", market.items),
            ("/v1/users", "PUT", market.users),
            ("/v1/events", "POST", market.events),
        ):
            self.send(path, method, frame)

    def send(self, path: str, method: str, frame: pl.DataFrame) -> None:
        """Rows of ``frame`` to ``path`` in batches; any refused row is an error.

        Raises:
            ValidationFailedError: a batch failed or the server refused rows.
        """
        for start in range(0, frame.height, BATCH):
            rows = list(_rows(frame.slice(start, BATCH)))
            summary = self.call(method, path, rows)
            refused = summary.get("rejected", 0) if isinstance(summary, dict) else 0
            if refused:
                raise ValidationFailedError(
                    f"{self.url}: {path} refused {refused} rows: {summary.get('rejections')}"
                )

    def put_experiment(self, experiment: Experiment) -> None:
        """Create or replace the experiment on the server; return once its processes serve
        under it."""
        self.call("PUT", f"/v1/experiments/{experiment.key}", experiment.model_dump(mode="json"))
        time.sleep(PICKUP_SECONDS)

    def featured(self, key: str, user: str) -> tuple[str | None, list[str]]:
        """The variant of experiment ``key`` the server assigned ``user`` and the item it
        featured (logging exposure and impression on the server)."""
        answer = self.call("GET", "/v1/featured", user_id=user)
        item = answer.get("item")
        arm = (answer.get("experiments") or {}).get(key)
        return arm, [] if item is None else [str(item["item_id"])]

    def results(self, key: str, alpha: float, exposed: int, wait: float = 30.0) -> dict[str, Any]:
        """The server's analysis of ``key``, once it counts ``exposed`` users (exposures are
        stored by the server's background sink: wait up to ``wait`` seconds for them)."""
        deadline = time.monotonic() + wait
        while True:
            out: dict[str, Any] = self.call("GET", f"/v1/experiments/{key}/results", alpha=alpha)
            if out["users"] >= exposed or time.monotonic() > deadline:
                return out
            time.sleep(0.5)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
