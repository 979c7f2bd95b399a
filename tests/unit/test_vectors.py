"""The golden vectors (tests/vectors/*.json): what the server folds from each scripted log.

The pages' model (web/model.js) runs the same files under node (tests/js/): ``status``, the
whole ``GET …/events/{seq}/status`` of every message (delivered and when, seen when and by
whom, the answer, the escalation level, when it was cancelled or resurfaced), is checked on
both sides, field for field under one name, so the panel's ticks and the endpoint agree.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.vectors.build_state_vectors import (
    dismissed_of,
    expected_status,
    model_for,
    plain_event,
    superseded_of,
)

VECTORS = sorted((Path(__file__).resolve().parent.parent / "vectors").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_are_vectors_for_the_state_and_for_the_cards() -> None:
    names = {p.stem for p in VECTORS}
    assert {
        "state-every-kind",
        "state-extend-twice",
        "state-deliveries",
        "state-clear-all",
    } <= names
    assert any(load(p)["expect"].get("superseded") for p in VECTORS)


def test_the_vectors_give_every_field_of_a_status_a_value_somewhere() -> None:
    """A field both sides leave empty in every vector would be compared for nothing."""
    statuses = [s for p in VECTORS for s in load(p)["expect"].get("status", {}).values()]
    assert statuses
    for field in statuses[0]:
        assert any(s[field] not in (None, False, 0) for s in statuses), field
    assert {s["ack"]["status"] for s in statuses if s["ack"]} >= {
        "done",
        "declined",
        "snoozed",
        "dismissed",
    }


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_the_server_folds_each_vector_as_expected(path: Path) -> None:
    vector = load(path)
    expect = vector["expect"]
    model = model_for(vector)
    if "state" in expect:
        assert model.state_public() == expect["state"]
    if "report" in expect:
        assert model.report_public() == expect["report"]
    if "status" in expect:
        assert expected_status(model, vector["events"]) == expect["status"]
    if "superseded" in expect:
        # The debrief's "replaced, not unanswered" prompts; node checks the overlay's cards.
        assert superseded_of(model.report_public()) == expect["superseded"]
    if "dismissed" in expect:
        assert dismissed_of(model.report_public()) == expect["dismissed"]


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_folding_in_two_halves_gives_the_same_state_as_in_one_go(path: Path) -> None:
    """A model caught up from the log's tail equals one folded from the start."""
    vector = load(path)
    events = vector["events"]
    half = {**vector, "events": events[: len(events) // 2]}
    model = model_for(half)
    for e in events[len(events) // 2 :]:
        model.apply(plain_event(e))
    whole = model_for(vector)
    assert model.state_public() == whole.state_public()
    assert model.report_public() == whole.report_public()


def test_the_countdown_target_counts_each_extension_once() -> None:
    vector = load(next(p for p in VECTORS if p.stem == "state-extend-twice"))
    segment = vector["expect"]["state"]["segment"]
    assert (segment["planned_minutes"], segment["extended_minutes"]) == (10, 6)
    assert segment["planned_end"] == "2026-05-28T20:42:40.000Z"  # started 20:26:40 + 16 min


def test_a_snooze_is_not_an_answer_in_the_report() -> None:
    report = load(next(p for p in VECTORS if p.stem == "state-every-kind"))["expect"]["report"]
    stop = next(m for m in report["messages"] if m["seq"] == 11)
    # Snoozed after 6 s, came back, escalated, done after 141 s.
    assert (stop["first_answer_after_s"], stop["ack_after_s"], stop["snoozes"]) == (6, 141, 1)
    welcome = report["segments"][0]
    assert (welcome["extended_minutes"], welcome["actual_minutes"]) == (6, 16.1)
    assert welcome["overrun_minutes"] == 6.1  # actual - planned, extensions shown apart
    assert report["learners"] == {
        "Ahmed Khan": {},
        "Li Wei": {"hand": 1},
        "Maria Lopez": {"quiet": 1},
    }
