"""When a retrain is due: schedule and alerts, on a fake clock."""

from __future__ import annotations

from tastemaker.retraining.triggers import RetrainTrigger

H = 3600.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_due_on_schedule_after_the_period_since_the_last_retrain() -> None:
    clock = Clock()
    last = clock.t
    trigger = RetrainTrigger(24, lambda: last, None, clock)
    clock.t += 23 * H
    assert not trigger.check().due
    assert "23.0 h of 24 h" in trigger.check().reason
    clock.t += 1 * H
    due = trigger.check()
    assert due.due and due.reason.startswith("schedule: 24.0 h")


def test_never_retrained_is_due_on_a_schedule_but_not_without_one() -> None:
    assert RetrainTrigger(24, lambda: None, None, Clock()).check().due
    off = RetrainTrigger(0, lambda: None, None, Clock()).check()
    assert not off.due and "no schedule" in off.reason


def test_an_alert_since_the_last_retrain_makes_it_due_at_once() -> None:
    clock = Clock()
    last = clock.t - 1 * H
    alerts: list[float] = []

    def alerts_since(ts: float) -> int:
        return sum(1 for a in alerts if a >= ts)

    trigger = RetrainTrigger(168, lambda: last, alerts_since, clock)
    assert not trigger.check().due
    alerts.append(last - 10)  # before the last retrain: already handled
    assert not trigger.check().due
    alerts.append(clock.t)
    due = trigger.check()
    assert due.due and due.reason == "alert: 1 drift/metric alert(s) since the last retrain"
    # alerts count even with the schedule off
    assert RetrainTrigger(0, lambda: last, alerts_since, clock).check().due
