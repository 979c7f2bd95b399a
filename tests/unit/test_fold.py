"""The fold, one kind at a time, in-process (no server, no database)."""

from typing import Any

import pytest

from app.fold import STATE_KINDS, PlainEvent, SessionFold
from app.models.kinds import KINDS

T0 = 1_780_000_000_000


class Log:
    """Feeds a fold one event at a time and says whether the state changed."""

    def __init__(self) -> None:
        self.fold = SessionFold()
        self.t = T0

    def add(self, kind: str, body: dict[str, Any] | None = None, *, role: str = "producer",
            at_s: float = 0, eid: str | None = None, author: str | None = "p_prod") -> bool:  # fmt: skip
        seq = self.fold.last_seq + 1
        self.t = T0 + int(at_s * 1000)
        e = PlainEvent(seq, eid or f"e{seq}", kind, body or {}, author, role, role, self.t)
        return self.fold.apply(e)


def test_every_kind_that_can_change_the_state_has_a_rule_and_only_those() -> None:
    assert set(KINDS) - STATE_KINDS == {"prompt.time", "message", "flag.learner", "note", "reply"}


def test_the_end_of_the_session_closes_alerts_snoozes_and_requests() -> None:
    log = Log()
    log.add("alert.stop", {"reason": "chat"})
    log.add("alert.stop", {"reason": "break"})
    log.add("ack", {"ref": 2, "status": "snoozed"}, role="facilitator")
    log.add("request", {"action": "poll"}, role="facilitator")
    log.add("session.end", at_s=5)
    assert (log.fold.alerts, log.fold.snoozes, log.fold.requests) == ({}, {}, {})


def test_session_start_and_end_set_the_status() -> None:
    log = Log()
    assert log.fold.status == "planned"
    assert log.add("session.start", at_s=5)
    assert (log.fold.status, log.fold.live_ms, log.fold.started_ms) == (
        "live",
        T0 + 5000,
        T0 + 5000,
    )
    assert log.add("session.end", at_s=60)
    assert (log.fold.status, log.fold.ended_ms) == ("ended", T0 + 60_000)


def test_segment_start_runs_a_segment_and_ends_the_one_before() -> None:
    log = Log()
    log.add("segment.start", {"index": 0})
    assert log.fold.started_ms == T0  # a segment before session.start starts the class
    log.add("segment.start", {"index": 1}, at_s=90)
    assert log.fold.current is not None and log.fold.current.index == 1
    assert log.fold.runs[0].ended_ms == T0 + 90_000
    assert log.fold.runs[0].spent_ms(None) == 90_000


def test_segment_end_stops_only_its_own_segment() -> None:
    log = Log()
    log.add("segment.start", {"index": 1})
    assert log.add("segment.end", {"index": 0}, at_s=10)  # not running: current stays
    assert log.fold.current is not None and log.fold.current.index == 1
    log.add("segment.end", {"index": 1}, at_s=20)
    assert log.fold.current is None and log.fold.runs[1].ended_ms == T0 + 20_000


def test_extensions_add_up_once_and_planned_end_moves_with_them() -> None:
    log = Log()
    log.add("segment.start", {"index": 0})
    log.add("segment.extend", {"index": 0, "minutes": 5}, at_s=60)
    log.add("segment.extend", {"index": 0, "minutes": 1}, at_s=120)
    run = log.fold.current
    assert run is not None and run.extended_minutes == 6
    assert run.planned_end_ms(10) == T0 + 16 * 60_000


def test_an_extension_before_the_start_waits_for_it_and_a_restart_keeps_it() -> None:
    log = Log()
    log.add("segment.extend", {"index": 2, "minutes": 3})
    log.add("segment.start", {"index": 2}, at_s=10)
    assert log.fold.runs[2].extended_minutes == 3
    log.add("segment.start", {"index": 0}, at_s=70)
    log.add("segment.start", {"index": 2}, at_s=100)  # restarted
    run = log.fold.runs[2]
    assert (run.extended_minutes, run.earlier_ms) == (3, 60_000)


def test_a_stop_alert_is_open_until_answered_done_or_declined() -> None:
    for status in ("done", "declined"):
        log = Log()
        log.add("alert.stop", {"reason": "chat", "text": "Li asks"})
        assert list(log.fold.alerts) == [1]
        assert log.add("ack", {"ref": 1, "status": status}, role="facilitator", at_s=3)
        assert log.fold.alerts == {}


def test_seen_marks_an_open_alert_once() -> None:
    log = Log()
    log.add("alert.stop", {"reason": "break"})
    assert log.add("seen", {"ref": 1}, role="facilitator", at_s=2)
    assert not log.add("seen", {"ref": 1}, role="facilitator", at_s=4)
    assert log.fold.alerts[1].seen_ms == T0 + 2000
    log.add("prompt.time", {"text": "hi"})
    assert not log.add("seen", {"ref": 4}, role="facilitator")  # not an alert: no state


def test_a_snooze_pauses_an_alert_and_its_resurface_restarts_escalation() -> None:
    log = Log()
    log.add("alert.stop", {"reason": "problem"})
    log.add("alert.escalated", {"ref": 1, "level": 2}, role="system")
    assert log.add(
        "ack", {"ref": 1, "status": "snoozed", "minutes": 2}, role="facilitator", at_s=10
    )
    alert = log.fold.alerts[1]
    assert alert.snoozed_until_ms == T0 + 130_000 and 1 in log.fold.snoozes
    assert not log.add("alert.resurface", {"ref": 1, "ack": 99}, role="system", at_s=130)
    assert log.add("alert.resurface", {"ref": 1, "ack": 3}, role="system", at_s=130)
    assert (alert.snoozed_until_ms, alert.level, alert.escalate_from_ms) == (None, 0, T0 + 130_000)
    assert alert.resurfaced_by == 3 and log.fold.snoozes == {}


def test_escalation_only_raises_the_level() -> None:
    log = Log()
    log.add("alert.stop", {"reason": "chat"})
    assert log.add("alert.escalated", {"ref": 1, "level": 2}, role="system")
    assert not log.add("alert.escalated", {"ref": 1, "level": 1}, role="system")
    assert log.fold.alerts[1].level == 2


def test_cancel_withdraws_an_alert_and_its_snooze() -> None:
    log = Log()
    log.add("alert.stop", {"reason": "chat"})
    log.add("ack", {"ref": 1, "status": "snoozed"}, role="facilitator")
    assert log.add("alert.cancel", {"ref": 1})
    assert log.fold.alerts == {} and log.fold.snoozes == {}
    assert not log.add("alert.cancel", {"ref": 1})


def test_a_request_stays_open_while_on_it_and_closes_when_done_or_declined() -> None:
    log = Log()
    log.add("request", {"action": "breakout", "text": "pairs"}, role="facilitator", author="p_f")
    request = log.fold.requests[1]
    assert (request.action, request.by, request.status) == ("breakout", "p_f", None)
    assert log.add("request.status", {"ref": 1, "status": "on_it", "text": "2 min"})
    assert (request.status, request.status_text) == ("on_it", "2 min")
    assert log.add("request.status", {"ref": 1, "status": "declined"})
    assert log.fold.requests == {}


def test_presence_keeps_who_is_online_since_when() -> None:
    log = Log()
    body = {"participant_id": "p_f", "status": "online"}
    assert log.add("presence", body, role="system", at_s=1)
    assert not log.add("presence", body, role="system", at_s=2)  # already online: unchanged
    assert log.fold.online == {"p_f": T0 + 1000}
    assert log.add("presence", {"participant_id": "p_f", "status": "offline"}, role="system")
    assert log.fold.online == {}


def test_system_event_ids_are_remembered_for_the_scheduler() -> None:
    log = Log()
    log.add("prompt.time", {"text": "5 min left"}, role="system", eid="auto:0:1:5", author=None)
    assert "auto:0:1:5" in log.fold.system_ids


@pytest.mark.parametrize("kind", ["prompt.time", "message", "note", "reply", "flag.learner"])
def test_kinds_without_a_rule_change_nothing_but_the_last_seq(kind: str) -> None:
    log = Log()
    assert not log.add(kind, {"text": "x", "learner": "A", "flag": "hand"})
    assert log.fold == SessionFold(last_seq=1, last_at_ms=T0)
