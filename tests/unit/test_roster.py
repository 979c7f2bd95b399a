"""Learner names matched to the roster (case- and accent-insensitive, unique prefix)."""

import json
from pathlib import Path

import pytest

from app.roster import fold_name, match_learner, with_roster_names

ROSTER = ["Sofía Hernández", "Aiyana Brooks", "Ahmed Khan", "Ahmad Karimi", "Li Wei"]


def test_folding_ignores_case_accents_and_extra_spaces() -> None:
    assert fold_name("  SOFÍA   Hernández ") == "sofia hernandez"


@pytest.mark.parametrize(
    ("typed", "logged"),
    [
        ("Sofía", "Sofía Hernández"),  # a first name alone
        ("sofia", "Sofía Hernández"),  # no accent, lower case
        ("Aiy", "Aiyana Brooks"),  # a unique prefix
        ("hern", "Sofía Hernández"),  # a prefix of the family name
        ("li wei", "Li Wei"),
        ("Ah", "Ah"),  # Ahmed or Ahmad: ambiguous, kept as typed
        ("Someone", "Someone"),  # not on the roster
    ],
)
def test_a_typed_name_is_logged_as_the_roster_spells_it(typed: str, logged: str) -> None:
    assert match_learner(ROSTER, typed) == logged


def test_only_flag_bodies_change_and_nothing_without_a_roster() -> None:
    body = {"learner": "sofia", "flag": "quiet", "minutes": 20}
    assert with_roster_names(ROSTER, "flag.learner", body) == {**body, "learner": "Sofía Hernández"}
    assert with_roster_names([], "flag.learner", body) is body
    assert with_roster_names(ROSTER, "prompt.time", {"text": "sofia"}) == {"text": "sofia"}
    assert with_roster_names(ROSTER, "flag.learner", "not a dict") == "not a dict"


# The golden vectors the panel's suggestions (web/names.js) also run under node (tests/js/).
NAMES = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "roster" / "names.json").read_text(
        encoding="utf-8"
    )
)


@pytest.mark.parametrize("case", NAMES["cases"], ids=lambda c: f"{c['roster']}:{c['typed']!r}")
def test_each_vector_is_logged_as_its_roster_spelling(case: dict[str, str]) -> None:
    assert match_learner(NAMES["rosters"][case["roster"]], case["typed"]) == case["logged"]


@pytest.mark.parametrize(("name", "folded"), NAMES["fold"], ids=repr)
def test_each_vector_folds_as_the_browser_folds_it(name: str, folded: str) -> None:
    assert fold_name(name) == folded
