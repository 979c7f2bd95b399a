"""Event kinds v1: one spec per kind (``SPECS``): its body, who may send and see it, its rules
and its words on the pages. Every set of kinds elsewhere is derived from it."""

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args, get_origin

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


@dataclass(frozen=True)
class RefRule:
    """What a kind's ``ref`` must point at, besides an earlier event of its session."""

    must_be: str | None = None
    must_not_be: str | None = None
    otherwise: str = ""  # the refusal's words: "ref 12 is not <otherwise>"


@dataclass(frozen=True)
class KindSpec:
    """Everything the server and the pages know of one kind: the ONE place to add a kind.

    Every set of kinds (``log``'s rules, the fold's handlers, the report's messages, the
    scheduler's wake-ups, the pages' tables in ``web/kinds.json``) is derived from these.
    """

    body: type[Body]
    senders: frozenset[str]
    label: str  # the pages' chip: label, icon and colour tone (colour is never the only cue)
    icon: str
    tone: str
    hidden_from: frozenset[str] = frozenset()  # roles that never see it
    after_end: bool = False  # accepted after session.end
    ref: RefRule | None = None
    changes_state: bool = False  # the fold has a handler for it (app/fold.py)
    tracked: bool = False  # a message to the facilitator: ticks and the report follow it
    card: bool = False  # the overlay shows it as a card
    wakes_scheduler: bool = False  # its arrival can move a timer (app/scheduler.py)
    sound: str | None = None  # the facilitator's sound when it arrives live
    words: dict[str, dict[str, str]] = field(default_factory=dict)  # body field -> value -> words


_P, _F, _S = frozenset({PRODUCER}), frozenset({FACILITATOR}), frozenset({SYSTEM})
_ON_A_MESSAGE = RefRule(must_not_be="note", otherwise="a message for the facilitator")

SPECS: dict[str, KindSpec] = {
    "prompt.time": KindSpec(
        PromptTime,
        frozenset({PRODUCER, SYSTEM}),
        "Time",
        "clock",
        "time",
        tracked=True,
        card=True,
        sound="time",
    ),
    "flag.learner": KindSpec(
        FlagLearner,
        _P,
        "Learner",
        "person",
        "learner",
        tracked=True,
        card=True,
        sound="learner",
        words={
            "flag": {
                "quiet": "quiet",
                "question": "has a question",
                "hand": "hand raised",
                "tech": "tech trouble",
                "left": "left the room",
                "joined": "joined",
                "chat": "question in chat",
            }
        },
    ),
    "message": KindSpec(
        Message, _P, "Message", "bubble", "message", tracked=True, card=True, sound="learner"
    ),
    "alert.stop": KindSpec(
        AlertStop,
        _P,
        "Stop",
        "stop",
        "stop",
        changes_state=True,
        tracked=True,
        wakes_scheduler=True,
        sound="stop",
        words={
            "reason": {
                "problem": "Stop: address a problem",
                "chat": "Stop: respond to chat",
                "break": "Stop: take a break",
                "other": "Stop, please",
            }
        },
    ),
    "alert.cancel": KindSpec(
        AlertCancel,
        _P,
        "Cancelled",
        "x",
        "muted",
        ref=RefRule(must_be="alert.stop", otherwise="an alert.stop"),
        changes_state=True,
        wakes_scheduler=True,
    ),
    "note": KindSpec(
        Note,
        frozenset({PRODUCER, OBSERVER}),
        "Note",
        "pen",
        "note",
        hidden_from=frozenset({FACILITATOR}),
        after_end=True,
    ),
    "seen": KindSpec(
        Seen, _F, "Seen", "eye", "muted", after_end=True, ref=_ON_A_MESSAGE, changes_state=True
    ),
    "ack": KindSpec(
        Ack,
        _F,
        "Answer",
        "check",
        "reply",
        after_end=True,
        ref=_ON_A_MESSAGE,
        changes_state=True,
        wakes_scheduler=True,
        words={
            "status": {
                "done": "Done",
                "snoozed": "Snoozed",
                "declined": "Declined",
                "dismissed": "Cleared unanswered",
            }
        },
    ),
    "reply": KindSpec(Reply, _F, "Reply", "bubble", "reply"),
    "request": KindSpec(
        Request,
        _F,
        "Request",
        "hand",
        "request",
        changes_state=True,
        words={
            "action": {
                "breakout": "Open breakouts",
                "poll": "Launch the poll",
                "whiteboard": "Open the whiteboard",
                "break": "Take a break",
                "chat": "Check the chat",
                "tech": "Tech help",
                "other": "Request",
            }
        },
    ),
    "request.status": KindSpec(
        RequestStatus,
        _P,
        "Request",
        "check",
        "request",
        ref=RefRule(must_be="request", otherwise="a request"),
        changes_state=True,
        words={"status": {"on_it": "On it", "done": "Done", "declined": "Declined"}},
    ),
    "segment.start": KindSpec(
        SegmentRef, _P, "Segment", "flag", "muted", changes_state=True, wakes_scheduler=True
    ),
    "segment.end": KindSpec(
        SegmentRef, _P, "Segment", "flag", "muted", changes_state=True, wakes_scheduler=True
    ),
    "segment.extend": KindSpec(
        SegmentExtend, _P, "Segment", "flag", "muted", changes_state=True, wakes_scheduler=True
    ),
    "session.start": KindSpec(
        Empty, _P, "Session", "flag", "muted", changes_state=True, wakes_scheduler=True
    ),
    "session.end": KindSpec(
        Empty, _P, "Session", "flag", "muted", changes_state=True, wakes_scheduler=True
    ),
    # Presence is no message: it still records who opens the session's links after the end.
    "presence": KindSpec(
        Presence,
        _S,
        "Presence",
        "dot",
        "muted",
        after_end=True,
        changes_state=True,
        words={"status": {"online": "online", "offline": "offline"}},
    ),
    "alert.escalated": KindSpec(
        AlertEscalated,
        _S,
        "Escalated",
        "stop",
        "stop",
        changes_state=True,
        wakes_scheduler=True,
    ),
    "alert.resurface": KindSpec(
        Resurface, _S, "Back", "clock", "muted", changes_state=True, wakes_scheduler=True
    ),
}


def kinds_where(flag: str) -> frozenset[str]:
    """The kinds whose spec has ``flag`` set (``kinds_where("tracked")``)."""
    return frozenset(kind for kind, spec in SPECS.items() if getattr(spec, flag))


# kind -> (body model, roles that may send it)
KINDS: dict[str, tuple[type[Body], frozenset[str]]] = {
    kind: (spec.body, spec.senders) for kind, spec in SPECS.items()
}

# Kinds hidden from a role: facilitators never see producer/observer notes.
HIDDEN: dict[str, frozenset[str]] = {
    role: frozenset(kind for kind, spec in SPECS.items() if role in spec.hidden_from)
    for role in sorted({role for spec in SPECS.values() for role in spec.hidden_from})
}


def visible_to(role: str, kind: str) -> bool:
    hidden = HIDDEN.get(role)
    return hidden is None or kind not in hidden


def pages_json() -> str:
    """The text of ``web/kinds.json``, exactly as checked in."""
    return json.dumps(for_pages(), indent=2, ensure_ascii=False) + "\n"


def enum_values(model: type[Body]) -> dict[str, tuple[str, ...]]:
    """The body's fields that take one of a fixed set of strings, with those strings."""
    out: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        for option in (info.annotation, *get_args(info.annotation)):
            if get_origin(option) is Literal:
                out[name] = tuple(str(v) for v in get_args(option))
    return out


def for_pages() -> dict[str, Any]:
    """What the pages read of the kinds: ``web/kinds.json`` (``backchannel kinds``)."""
    return {
        "about": "Generated from app/models/kinds.py by `backchannel kinds`: edit that, not this.",
        "kinds": {
            kind: {
                "label": spec.label,
                "icon": spec.icon,
                "tone": spec.tone,
                "sound": spec.sound,
                "tracked": spec.tracked,
                "card": spec.card,
                "senders": sorted(spec.senders),
                "hidden_from": sorted(spec.hidden_from),
                "after_end": spec.after_end,
                "words": spec.words,
            }
            for kind, spec in SPECS.items()
        },
    }


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
