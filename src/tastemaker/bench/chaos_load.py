"""Mixed ingest + read load for `tastemaker bench chaos`, from client threads of this process.

Each client paces its requests (``rate`` per second over all clients), alternating at random
between posting a batch of events with ids of their own and reading recommendations, the
featured listing or a profile. A batch answered 503, or lost to a refused, reset or timed-out
connection, is sent again with the same ids after the ``Retry-After`` seconds (a
well-behaved client), also after the load ended, for at most ``drain_s`` seconds. Every
answer is counted by endpoint and status; a batch's events count as answered 2xx once.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson

EVENTS = "POST /v1/events"
READS = ("GET /v1/recommendations", "GET /v1/featured", "GET /v1/users/{id}/profile")
#: in the id of an event timestamped before the retention cut (`LoadPlan.late_share`)
LATE = "-late"
_TYPES = ("view", "click", "add_to_cart", "purchase")
_TYPE_WEIGHTS = (0.5, 0.3, 0.12, 0.08)


@dataclass
class LoadPlan:
    """What the clients send: where, how fast, for how long, and with which ids."""

    ports: list[int]
    users: list[str]
    items: list[str]
    seconds: float
    clients: int = 4
    #: requests per second over all clients (a retry waits its turn: it is not extra load)
    rate: float = 60.0
    batch: int = 25
    write_share: float = 0.5
    seed: int = 0
    #: prefix of every event id the clients make (unique per run)
    prefix: str = "chaos"
    timeout_s: float = 30.0
    drain_s: float = 30.0
    #: the key every request sends as ``X-API-Key`` (None: none, for an anonymous workspace)
    api_key: str | None = None
    #: the read endpoints the clients pick from (a subset of `READS`)
    reads: tuple[str, ...] = READS
    #: share of batches timestamped ``late_days`` ago (a client that was offline): with
    #: retention on, older than its cut, so each retention run deletes some under load
    late_share: float = 0.0
    late_days: float = 0.0


def latency_percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of latencies (ms), rounded to 0.1 ms."""
    arr = np.asarray(values)
    return {f"p{q}": round(float(np.percentile(arr, q)), 1) for q in (50, 95, 99)} | {
        "max": round(float(arr.max()), 1)
    }


@dataclass
class Tally:
    """What the clients saw: event ids sent and answered 2xx, answers by endpoint."""

    sent: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    #: ids of batches the clients stopped sending without a 2xx (refused, or past drain_s)
    given_up: set[str] = field(default_factory=set)
    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    resent_batches: int = 0

    def merge(self, other: Tally) -> None:
        """Add another client's tally to this one."""
        self.sent |= other.sent
        self.answered |= other.answered
        self.given_up |= other.given_up
        self.statuses.update(other.statuses)
        for k, v in other.latencies_ms.items():
            self.latencies_ms.setdefault(k, []).extend(v)
        self.resent_batches += other.resent_batches

    def summary(self) -> dict[str, object]:
        """Answers per endpoint and status, 5xx other than 503, connection failures and
        latency percentiles of 2xx answers."""
        by: dict[str, dict[str, int]] = {}
        for (endpoint, status), n in sorted(self.statuses.items()):
            by.setdefault(endpoint, {})[status] = n
        bad = sum(n for (_, s), n in self.statuses.items()
                  if s.isdigit() and s.startswith("5") and s != "503")  # fmt: skip
        failures = sum(n for (_, s), n in self.statuses.items() if not s.isdigit())
        lat = {k: latency_percentiles(v) for k, v in sorted(self.latencies_ms.items()) if v}
        return {"by_endpoint": by, "answered_5xx_not_503": bad,
                "answered_503": sum(n for (_, s), n in self.statuses.items() if s == "503"),
                "connection_failures": failures, "resent_batches": self.resent_batches,
                "latency_ms_2xx": lat}  # fmt: skip


#: uvicorn closes a keep-alive connection idle for 5 s; a client reusing it then would see a
#: reset that says nothing about the server (pooling clients reopen stale connections).
IDLE_S = 4.0


class _Connection:
    """One keep-alive HTTP connection to one port, reopened after a failure or when it was
    idle for `IDLE_S` (after waiting out a 503's Retry-After, say)."""

    def __init__(self, port: int, timeout: float, api_key: str | None = None) -> None:
        self.port, self.timeout = port, timeout
        self.auth = {"X-API-Key": api_key} if api_key else {}
        self.conn: http.client.HTTPConnection | None = None
        self.used = 0.0

    def request(self, method: str, path: str, body: bytes | None) -> tuple[str, float]:
        """Send one request; (status or failure name, Retry-After seconds or 0)."""
        if self.conn is not None and time.monotonic() - self.used > IDLE_S:
            self.conn.close()
            self.conn = None
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        headers.update(self.auth)
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            resp.read()
            retry = resp.getheader("Retry-After")
            self.used = time.monotonic()
            return str(resp.status), float(retry) if retry and retry.isdigit() else 0.0
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = None
            return _failure(exc), 0.0


def _failure(exc: BaseException) -> str:
    """A name for a request that got no answer."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | http.client.RemoteDisconnected):
        return "connection_reset"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return f"error:{type(exc).__name__}"


class Client:
    """One load client: paced requests to one API port until the load's end."""

    def __init__(self, plan: LoadPlan, number: int, start: float, stop: threading.Event) -> None:
        self.plan, self.number, self.start, self.stop = plan, number, start, stop
        self.rng = random.Random(plan.seed * 1000 + number)
        port = plan.ports[number % len(plan.ports)]
        self.conn = _Connection(port, plan.timeout_s, plan.api_key)
        self.tally = Tally()
        self.batches = 0

    def run(self) -> None:
        """Send until ``plan.seconds`` have passed (or ``stop`` is set)."""
        plan = self.plan
        interval = plan.clients / plan.rate
        due = self.start + self.rng.random() * interval
        end = self.start + plan.seconds
        while due < end and not self.stop.is_set():
            if (wait := due - time.monotonic()) > 0:
                self.stop.wait(wait)
            due += interval
            if self.rng.random() < plan.write_share:
                self._post(end + plan.drain_s)
            else:
                self._read()
            due = max(due, time.monotonic())  # after a long retry: go on, no burst

    def _timed(
        self, endpoint: str, method: str, path: str, body: bytes | None
    ) -> tuple[str, float]:
        t0 = time.perf_counter()
        status, retry = self.conn.request(method, path, body)
        self.tally.statuses[(endpoint, status)] += 1
        if status.startswith("2"):
            ms = (time.perf_counter() - t0) * 1000
            self.tally.latencies_ms.setdefault(endpoint, []).append(ms)
        return status, retry

    def _post(self, give_up_at: float) -> None:
        """Post one new batch until it is answered 2xx (503 / no answer: sent again)."""
        ids, body = self._batch()
        self.tally.sent.update(ids)
        pause = 0.2
        while True:
            status, retry = self._timed(EVENTS, "POST", "/v1/events", body)
            if status.startswith("2"):
                self.tally.answered.update(ids)
                return
            resend = status == "503" or not status.isdigit()
            if not resend or time.monotonic() >= give_up_at or self.stop.is_set():
                self.tally.given_up.update(ids)
                return
            self.tally.resent_batches += 1
            self.stop.wait(retry or pause)
            pause = min(pause * 2, 2.0)

    def _batch(self) -> tuple[list[str], bytes]:
        plan, rng = self.plan, self.rng
        at, mark = datetime.now(UTC), ""
        if plan.late_share and rng.random() < plan.late_share:
            at, mark = at - timedelta(days=plan.late_days), LATE
        now = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        ids = [f"{plan.prefix}-c{self.number}-b{self.batches}{mark}-{i}" for i in range(plan.batch)]
        self.batches += 1
        types = rng.choices(_TYPES, _TYPE_WEIGHTS, k=plan.batch)
        events = [{"event_id": event_id, "user_id": rng.choice(plan.users), "type": kind,
                   "item_id": rng.choice(plan.items), "timestamp": now}
                  for event_id, kind in zip(ids, types, strict=True)]  # fmt: skip
        return ids, orjson.dumps(events)

    def _read(self) -> None:
        endpoint = self.rng.choice(self.plan.reads)
        user = self.rng.choice(self.plan.users)
        path = {
            READS[0]: f"/v1/recommendations/{user}?k=10",
            READS[1]: f"/v1/featured?user_id={user}",
            READS[2]: f"/v1/users/{user}/profile",
        }[endpoint]
        self._timed(endpoint, "GET", path, None)


class Load:
    """The clients of one run, each in a thread of this process."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.stop = threading.Event()
        self.clients: list[Client] = []
        self.threads: list[threading.Thread] = []

    def start(self) -> float:
        """Start every client; return the start time (``time.monotonic``)."""
        start = time.monotonic()
        for n in range(self.plan.clients):
            client = Client(self.plan, n, start, self.stop)
            thread = threading.Thread(target=client.run, name=f"chaos-client-{n}", daemon=True)
            self.clients.append(client)
            self.threads.append(thread)
            thread.start()
        return start

    def join(self) -> Tally:
        """Wait for every client (batches still being resent included); the merged tally."""
        for thread in self.threads:
            thread.join()
        total = Tally()
        for client in self.clients:
            total.merge(client.tally)
        return total

    def abort(self) -> None:
        """Stop the clients at once (Ctrl-C, an error)."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=self.plan.timeout_s + 5)
