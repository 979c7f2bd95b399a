"""Preset variables: ``{learner}``, ``{segment}``, ``{next}``, ``{minutes_left}`` and
``{facilitator}`` in a preset's text, filled from the session's state when it is sent.

A template is checked when the playbook is saved (any other ``{name}`` is refused then, not
when the button is pressed in class) and filled when the preset is sent, by whatever route:
the logged event holds the filled text. ``{{`` and ``}}`` are literal braces; a brace that
opens no ``{name}`` is literal too.
"""

import math
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.clock import now_ms, parse_iso
from app.db import Database
from app.errors import InvalidInput
from app.models import Event
from app.roster import match_learner
from app.session_model import SessionModel

VARIABLES = ("learner", "segment", "next", "minutes_left", "facilitator")

# What a variable says when the state has nothing for it (no segment running, no learner
# flagged yet): words that still read well in "… {segment}, next: {next}".
FALLBACKS = {
    "learner": "someone",
    "segment": "this segment",
    "next": "the end",
    "minutes_left": "0",
    "facilitator": "the facilitator",
}

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}\n]*)\}")


def _strings(body: dict[str, Any], path: str = "") -> Iterator[tuple[str, str]]:
    for key, value in body.items():
        if isinstance(value, str):
            yield f"{path}{key}", value
        elif isinstance(value, dict):
            yield from _strings(value, f"{path}{key}.")


def names_in(text: str) -> list[str]:
    """The variable names a template uses, in order (``{{``/``}}`` are no variables)."""
    return [m[1] for m in _TOKEN.finditer(text) if m[1] is not None]


def uses_variables(body: dict[str, Any]) -> bool:
    return any(names_in(text) for _, text in _strings(body))


def check_template(body: dict[str, Any]) -> None:
    """Refuse a body whose text names a variable that does not exist."""
    for field, text in _strings(body):
        for name in names_in(text):
            if name not in VARIABLES:
                known = ", ".join("{" + v + "}" for v in VARIABLES)
                raise InvalidInput(
                    f"{field}: unknown variable {{{name}}}; the variables are {known} "
                    "(write {{ and }} for literal braces)"
                )


def fill(text: str, values: dict[str, str]) -> str:
    """The template with its variables filled and ``{{``/``}}`` made single braces."""

    def one(m: re.Match[str]) -> str:
        token = m[0]
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        return values.get(m[1], token)

    return _TOKEN.sub(one, text)


def fill_body(body: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, str):
            out[key] = fill(value, values)
        elif isinstance(value, dict):
            out[key] = fill_body(value, values)
        else:
            out[key] = value
    return out


def values_from_state(
    state: dict[str, Any],
    facilitators: list[tuple[str, str]],
    learner: str | None,
    at_ms: int | None = None,
) -> dict[str, str]:
    """Each variable's words, from a session's public state.

    ``facilitators``: (participant id, name) of the session's facilitator links; an online
    one is named first. ``learner``: the learner this send is about, or the last one flagged.
    """
    values = dict(FALLBACKS)
    segment = state.get("segment")
    if segment:
        values["segment"] = str(segment["title"])
        planned_end = segment.get("planned_end")
        if planned_end:
            left_ms = parse_iso(planned_end) - (now_ms() if at_ms is None else at_ms)
            values["minutes_left"] = str(max(0, math.ceil(left_ms / 60_000)))
    nxt = state.get("next_segment")
    if nxt:
        values["next"] = str(nxt["title"])
    online = {o["participant_id"] for o in state.get("online", [])}
    ranked = sorted(facilitators, key=lambda f: f[0] not in online)
    if ranked:
        values["facilitator"] = ranked[0][1]
    if learner:
        values["learner"] = learner
    return values


# -- sending a preset ---------------------------------------------------------------------


def merge_given(template: dict[str, Any], given: Any) -> dict[str, Any]:
    """The fields a client sent with a preset that differ from the preset's own (a learner
    picked, a detail typed): taken as they are, never filled."""
    if not isinstance(given, dict):
        return {}
    return {k: v for k, v in given.items() if template.get(k) != v}


async def last_flagged_learner(db: Database, session_id: str) -> str | None:
    """The learner of the session's latest ``flag.learner``: who ``{learner}`` means when
    the send names nobody."""
    async with db.session() as s:
        row = (
            await s.execute(
                select(col(Event.body))
                .where(col(Event.session_id) == session_id, col(Event.kind) == "flag.learner")
                .order_by(col(Event.seq).desc())
                .limit(1)
            )
        ).first()
    learner = row[0].get("learner") if row is not None and isinstance(row[0], dict) else None
    return learner if isinstance(learner, str) else None


async def preset_body(
    db: Database,
    model: SessionModel,
    preset: dict[str, Any],
    given: dict[str, Any],
    learner_named: Any = None,
) -> dict[str, Any]:
    """The body a preset sends now: its template filled from the session's state, then
    what the client gave instead of the template's fields (``merge_given``).

    ``{learner}`` is the learner this send names (``learner_named``, or a flag's
    ``learner`` given or fixed in the preset, as the roster spells it), else the last one
    flagged.
    """
    template: dict[str, Any] = preset["body"]
    if learner_named is not None and "learner" in template:
        given = {**given, "learner": learner_named}  # a flag preset: whom it flags
    if not uses_variables(template):
        return {**template, **given}
    named = learner_named if learner_named is not None else given.get("learner")
    if named is None:
        named = template.get("learner")
    learner: str | None = None
    if isinstance(named, str) and named.strip() and not names_in(named):
        learner = match_learner(model.session.roster, named.strip())
    elif _needs(template, "learner"):
        learner = await last_flagged_learner(db, model.session.id)
    facilitators = [
        (p.id, p.name)
        for p in model.participants.values()
        if p.role == "facilitator" and p.revoked_ms is None
    ]
    values = values_from_state(model.state_public(), facilitators, learner)
    return {**fill_body(template, values), **given}


def _needs(template: dict[str, Any], name: str) -> bool:
    return any(name in names_in(text) for _, text in _strings(template))
