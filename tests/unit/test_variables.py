"""The preset variable filler: names found, unknown ones refused, braces escaped, values
taken from a session's state."""

import pytest

from app.clock import iso, now_ms
from app.errors import InvalidInput
from app.variables import check_template, fill, fill_body, names_in, values_from_state

VALUES = {
    "learner": "Maria",
    "segment": "Practice",
    "next": "Close",
    "minutes_left": "4",
    "facilitator": "Sam",
}


def test_every_variable_is_filled_and_double_braces_are_literal() -> None:
    text = "{facilitator}: {learner} asks; {minutes_left} min of {segment}, then {next}"
    assert fill(text, VALUES) == "Sam: Maria asks; 4 min of Practice, then Close"
    assert fill("{{segment}} is {segment}", VALUES) == "{segment} is Practice"
    assert fill("}} {{ {{{segment}}}", VALUES) == "} { {Practice}"
    assert fill("a lone { or } stays", VALUES) == "a lone { or } stays"
    assert fill("no variables at all", VALUES) == "no variables at all"


def test_names_are_read_in_order_and_escapes_are_no_names() -> None:
    assert names_in("{segment} {{x}} {next} {segment}") == ["segment", "next", "segment"]
    assert names_in("{}") == [""]


@pytest.mark.parametrize("text", ["{name}", "Hi {Learner}", "{minutes}", "{}", "{ segment }"])
def test_an_unknown_variable_is_refused_with_its_name(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_template({"text": text})
    inner = text[text.index("{") + 1 : text.index("}")]
    assert "{" + inner + "}" in err.value.message and "text" in err.value.message


def test_known_variables_and_escaped_braces_pass() -> None:
    check_template({"text": "{{name}} {segment} {learner}", "learner": "{learner}"})


def test_fill_body_fills_every_string_and_leaves_the_rest() -> None:
    body = {"text": "{learner}", "minutes_left": 5, "urgent": True, "learner": "{learner}"}
    assert fill_body(body, VALUES) == {
        "text": "Maria",
        "minutes_left": 5,
        "urgent": True,
        "learner": "Maria",
    }


def test_values_come_from_the_state_with_fallbacks() -> None:
    now = now_ms()
    state = {
        "segment": {"title": "Practice", "planned_end": iso(now + 4 * 60_000 + 1_000)},
        "next_segment": {"title": "Close"},
        "online": [{"participant_id": "p2"}],
    }
    facilitators = [("p1", "Offline Olga"), ("p2", "Online Omar")]
    values = values_from_state(state, facilitators, "Maria", at_ms=now)
    assert values == {
        "learner": "Maria",
        "segment": "Practice",
        "next": "Close",
        "minutes_left": "5",  # 4 min 1 s left: "5 min left" until the last minute begins
        "facilitator": "Online Omar",
    }
    over = {"segment": {"title": "Practice", "planned_end": iso(now - 90_000)}}
    assert values_from_state(over, [], None, at_ms=now)["minutes_left"] == "0"
    empty = values_from_state({}, [], None, at_ms=now)
    assert empty == {
        "learner": "someone",
        "segment": "this segment",
        "next": "the end",
        "minutes_left": "0",
        "facilitator": "the facilitator",
    }
