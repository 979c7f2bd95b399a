"""The session playbook: named one-tap messages, seeded with what producers use most."""

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from app.errors import AppError, InvalidInput
from app.models.kinds import PRODUCER, validate_body
from app.models.text import LINE_CHECK
from app.variables import check_template

PRESETS_MAX = 60


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
    label: Annotated[
        str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True), LINE_CHECK
    ]
    kind: str
    body: dict[str, Any] = Field(default_factory=dict)
    key: Annotated[str, StringConstraints(min_length=1, max_length=1)] | None = None

    @field_validator("key")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and (not value.isprintable() or value.isspace() or value == "?"):
            raise ValueError("key must be one printable character other than '?'")
        return value


def validate_presets(raw: Any) -> list[dict[str, Any]]:
    """Each preset must be a message a producer could send; ids and keys unique."""
    if not isinstance(raw, list):
        raise InvalidInput("presets must be a JSON array")
    if len(raw) > PRESETS_MAX:
        raise InvalidInput(f"at most {PRESETS_MAX} presets")
    out: list[dict[str, Any]] = []
    ids: set[str] = set()
    keys: set[str] = set()
    for i, item in enumerate(raw):
        try:
            p = Preset.model_validate(item)
        except ValidationError as exc:
            raise InvalidInput(f"preset {i}: {_describe(exc)}") from None
        try:
            p.body = validate_body(p.kind, p.body, PRODUCER)
        except AppError as exc:  # not a message a producer may send: bad input, not a 403
            raise InvalidInput(f"preset {i} ({p.preset_id}): {exc.message}") from None
        try:
            check_template(p.body)
        except InvalidInput as exc:
            raise InvalidInput(f"preset {i} ({p.preset_id}): {exc.message}") from None
        if p.preset_id in ids:
            raise InvalidInput(f"preset {i}: preset_id {p.preset_id!r} is used twice")
        if p.key is not None:
            if p.key.lower() in keys:
                raise InvalidInput(f"preset {i}: key {p.key!r} is used twice")
            keys.add(p.key.lower())
        ids.add(p.preset_id)
        out.append(p.model_dump(exclude_none=True))
    return out


def _describe(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors(include_url=False, include_input=False)[:3]:
        loc = ".".join(str(p) for p in e["loc"]) or "preset"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def _p(preset_id: str, label: str, kind: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    return {"preset_id": preset_id, "label": label, "kind": kind, "body": body, "key": key}


DEFAULT_PRESETS: list[dict[str, Any]] = [
    _p("ten-min", "10 min left", "prompt.time", {"text": "10 min left", "minutes_left": 10}, "1"),
    _p("five-min", "5 min left", "prompt.time", {"text": "5 min left", "minutes_left": 5}, "2"),
    _p("two-min", "2 min left", "prompt.time", {"text": "2 min left", "minutes_left": 2}, "3"),
    _p("wrap-up", "Wrap up", "prompt.time", {"text": "Please wrap up", "minutes_left": 0}, "4"),
    _p("over", "Running over", "prompt.time", {"text": "We are running over time"}, "5"),
    _p("slow-down", "Slow down", "prompt.time", {"text": "Slow down a little"}, "6"),
    _p("speed-up", "Pick up pace", "prompt.time", {"text": "Pick up the pace"}, "7"),
    _p("chat-q", "Question in chat", "flag.learner", {"learner": "Someone", "flag": "chat"}, "c"),
    _p("hand", "Hand raised", "flag.learner", {"learner": "Someone", "flag": "hand"}, "h"),
    _p("tech", "Tech trouble", "flag.learner", {"learner": "Someone", "flag": "tech"}, "t"),
    _p(
        "stop-problem",
        "Stop: address a problem",
        "alert.stop",
        {"reason": "problem", "text": "Please pause: something needs your attention"},
        "p",
    ),
    _p(
        "stop-chat",
        "Stop: respond to chat",
        "alert.stop",
        {"reason": "chat", "text": "A question in chat is waiting for you"},
        "r",
    ),
    _p(
        "stop-break",
        "Stop: take a break",
        "alert.stop",
        {"reason": "break", "text": "The group needs a short break"},
        "b",
    ),
]
