"""Learner names matched to the roster (case- and accent-insensitive, unique prefix)."""

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
