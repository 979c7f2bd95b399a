"""Event kinds v1: one body model per kind, who may send it, and who may see it."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from app.errors import InvalidBody, KindNotAllowed, UnknownKind
from app.models.session import NAME_MAX, TEXT_MAX
from app.models.text import LINE_CHECK, MAX_SAFE_INT, TEXT_CHECK

Text = Annotated[str, StringConstraints(max_length=TEXT_MAX), TEXT_CHECK]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX), TEXT_CHECK]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=NAME_MAX, strip_whitespace=True), LINE_CHECK
]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=40), LINE_CHECK]
Seq = Annotated[int, Field(ge=1, le=MAX_SAFE_INT)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PromptTime(Body):
    text: ShortText
    minutes_left: Annotated[int, Field(ge=-600, le=600)] | None = None
    segment: Annotated[int, Field(ge=0, lt=50)] | None = None


class FlagLearner(Body):
    learner: Name  # logged as the roster spells it (app/roster.py)
    flag: Literal["quiet", "question", "hand", "tech", "left", "joined", "chat"]
    text: Text | None = None
    minutes: Annotated[int, Field(ge=1, le=600)] | None = None  # quiet for this long


class Message(Body):
    """Free text for the facilitator (not a timing prompt)."""

    text: ShortText
    urgent: bool | None = None


class AlertStop(Body):
    reason: Literal["problem", "chat", "break", "other"]
    text: Text | None = None


class AlertCancel(Body):
    ref: Seq


class Note(Body):
    text: ShortText
    tags: (
        Annotated[
            list[Tag],
            Field(max_length=10),
        ]
        | None
    ) = None


class Seen(Body):
    ref: Seq


class Ack(Body):
    """An answer; ``dismissed`` (the overlay's "Clear all") closes the card but answers nothing."""

    ref: Seq
    status: Literal["done", "snoozed", "declined", "dismissed"]
    text: Text | None = None
    minutes: Annotated[int, Field(ge=1, le=120)] | None = None


class Reply(Body):
    text: ShortText
    ref: Seq | None = None


class Request(Body):
    action: Literal["breakout", "poll", "whiteboard", "break", "chat", "tech", "other"]
    text: Text | None = None


class RequestStatus(Body):
    """The producer's answer to a facilitator's request."""

    ref: Seq
    status: Literal["on_it", "done", "declined"]
    text: Text | None = None


class SegmentRef(Body):
    index: Annotated[int, Field(ge=0, lt=50)]


class SegmentExtend(Body):
    index: Annotated[int, Field(ge=0, lt=50)]
    minutes: Annotated[int, Field(ge=-240, le=240)]


class Empty(Body):
    pass


class Presence(Body):
    participant_id: Annotated[str, StringConstraints(min_length=1, max_length=32), LINE_CHECK]
    status: Literal["online", "offline"]


class AlertEscalated(Body):
    ref: Seq
    level: Annotated[int, Field(ge=1, le=100)]


class Resurface(Body):
    """A snoozed message comes back (system)."""

    ref: Seq
    ack: Seq


PRODUCER = "producer"
FACILITATOR = "facilitator"
OBSERVER = "observer"
SYSTEM = "system"

# kind -> (body model, roles that may send it)
KINDS: dict[str, tuple[type[Body], frozenset[str]]] = {
    "prompt.time": (PromptTime, frozenset({PRODUCER, SYSTEM})),
    "flag.learner": (FlagLearner, frozenset({PRODUCER})),
    "message": (Message, frozenset({PRODUCER})),
    "alert.stop": (AlertStop, frozenset({PRODUCER})),
    "alert.cancel": (AlertCancel, frozenset({PRODUCER})),
    "note": (Note, frozenset({PRODUCER, OBSERVER})),
    "seen": (Seen, frozenset({FACILITATOR})),
    "ack": (Ack, frozenset({FACILITATOR})),
    "reply": (Reply, frozenset({FACILITATOR})),
    "request": (Request, frozenset({FACILITATOR})),
    "request.status": (RequestStatus, frozenset({PRODUCER})),
    "segment.start": (SegmentRef, frozenset({PRODUCER})),
    "segment.end": (SegmentRef, frozenset({PRODUCER})),
    "segment.extend": (SegmentExtend, frozenset({PRODUCER})),
    "session.start": (Empty, frozenset({PRODUCER})),
    "session.end": (Empty, frozenset({PRODUCER})),
    "presence": (Presence, frozenset({SYSTEM})),
    "alert.escalated": (AlertEscalated, frozenset({SYSTEM})),
    "alert.resurface": (Resurface, frozenset({SYSTEM})),
}

# Kinds hidden from a role: facilitators never see producer/observer notes.
HIDDEN: dict[str, frozenset[str]] = {FACILITATOR: frozenset({"note"})}


def visible_to(role: str, kind: str) -> bool:
    hidden = HIDDEN.get(role)
    return hidden is None or kind not in hidden


def validate_body(kind: Any, body: Any, role: str) -> dict[str, Any]:
    """Check the kind exists, the role may send it, and the body fits; return the clean body."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise UnknownKind(f"unknown kind {kind!r}; see docs/protocol.md for the v1 kinds")
    model, senders = KINDS[kind]
    if role not in senders:
        raise KindNotAllowed(f"a {role} may not send {kind!r}")
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidBody("body must be a JSON object")
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        raise InvalidBody(_describe(exc), detail=_errors(exc)) from None
    return parsed.model_dump(exclude_none=True)


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]


def _describe(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors(include_url=False, include_input=False)[:3]:
        loc = ".".join(str(p) for p in e["loc"]) or "body"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)
