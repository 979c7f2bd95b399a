"""Learner names as the roster spells them: a producer types "sofia" or "Sof", the log
says "Sofía Hernández" — so every client, the Stream Deck and the debrief count one person
once.
"""

import unicodedata
from typing import Any


def fold_name(name: str) -> str:
    """Case- and accent-insensitive form: "Sofía  HERNÁNDEZ" -> "sofia hernandez"."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def match_learner(roster: list[str], typed: str) -> str:
    """The roster's spelling of ``typed``: an exact match (ignoring case and accents), else
    the one name that it is a prefix of (of the whole name or of one of its words); with no
    match, or several, the name as typed."""
    key = fold_name(typed)
    if not key:
        return typed
    folded = [(fold_name(name), name) for name in roster]
    exact = [name for f, name in folded if f == key]
    if exact:
        return exact[0]
    hits = {
        name for f, name in folded if f.startswith(key) or any(w.startswith(key) for w in f.split())
    }
    return hits.pop() if len(hits) == 1 else typed


def with_roster_names(roster: list[str], kind: Any, body: Any) -> Any:
    """A ``flag.learner`` body with its learner as the roster spells it (others unchanged)."""
    if kind != "flag.learner" or not isinstance(body, dict) or not roster:
        return body
    learner = body.get("learner")
    if not isinstance(learner, str):
        return body
    matched = match_learner(roster, learner.strip())
    return body if matched == learner else {**body, "learner": matched}
