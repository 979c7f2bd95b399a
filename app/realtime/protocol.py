"""WebSocket protocol v1 frames, in one place."""

import json
import re
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import AppError
from app.models.text import MAX_SAFE_INT, is_clean_line, printable

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 16 * 1024
# Real frames nest three levels (send, body, tags); anything far deeper is refused before it
# can reach an encoder's recursion limit (a pong echoes ``t`` as it came).
MAX_FRAME_DEPTH = 32
TOKEN_MAX = 200

# Close codes (RFC 6455 private range 4000-4999 for ours).
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_SESSION_GONE = 4404
CLOSE_HELLO_TIMEOUT = 4408
CLOSE_TOO_MANY_SOCKETS = 4409
CLOSE_TOO_SLOW = 4429
CLOSE_TOO_BIG = 1009
CLOSE_GOING_AWAY = 1001


class InvalidFrame(AppError):
    code = "invalid_frame"
    frame_id: Any = None


class InvalidJson(AppError):
    code = "invalid_json"


class BinaryFrame(AppError):
    code = "binary_frame"


class UnknownType(AppError):
    code = "unknown_type"


class HelloRequired(AppError):
    code = "hello_required"


class AlreadyHello(AppError):
    code = "already_hello"


class Hello(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    token: Any = None  # checked by the endpoint: a bad or missing token is fatal (4401)
    since: int = Field(default=0, ge=0, le=MAX_SAFE_INT, strict=True)

    @property
    def clean_token(self) -> str | None:
        """The token if it can be one (a short line of text), else None: fatal, 4401."""
        token = self.token
        if isinstance(token, str) and 0 < len(token) <= TOKEN_MAX and is_clean_line(token):
            return token
        return None


class Send(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    id: Any = None
    kind: Any = None
    body: Any = None
    # A playbook preset's id: the server fills its variables (app.variables); ``kind`` may
    # be left out, and ``body`` fields that differ from the preset's are taken as given.
    preset: Any = None


def dumps(obj: Any) -> str:
    """Compact JSON text (orjson: several times faster than the json module on frames)."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:  # what orjson refuses (an int over 64 bits, a lone surrogate)
        # ASCII only: a lone surrogate (only a pong's ``t`` can hold one) is escaped, so the
        # frame can still be encoded as UTF-8 and sent.
        return json.dumps(obj, separators=(",", ":"))


# orjson reads integers beyond 64 bits as floats; json keeps them exact.
_LONG_DIGITS = re.compile(r"\d{19}")


def loads(text: str) -> Any:
    """Parse JSON text exactly as the json module would, fast in the common case."""
    if _LONG_DIGITS.search(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # orjson refuses NaN, lone surrogates and the like that json accepts: decide by json.
        return json.loads(text)


def parse_frame(text: str) -> dict[str, Any]:
    try:
        obj = loads(text)
    except (ValueError, RecursionError):  # RecursionError: 8000 "[" reach the json module
        raise InvalidJson("frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise InvalidFrame("frame must be a JSON object")
    try:
        _check_shape(obj)
    except InvalidFrame as err:
        err.frame_id = obj.get("id")  # so the client can still tell which send was refused
        raise
    if not isinstance(obj.get("type"), str):
        raise InvalidFrame("frame needs a string 'type'")
    return obj


def _check_shape(obj: dict[str, Any]) -> None:
    """At most ``MAX_FRAME_DEPTH`` levels, and every integer within ±(2^53-1), whatever the
    field: such a frame could not be echoed, stored or read back by a JavaScript client.
    (A loop, not recursion: a deep frame must not overflow the stack here either.)"""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        for child in value.values() if isinstance(value, dict) else value:
            if isinstance(child, dict | list):
                if depth >= MAX_FRAME_DEPTH:
                    raise InvalidFrame(f"frame nests deeper than {MAX_FRAME_DEPTH} levels")
                stack.append((child, depth + 1))
            elif isinstance(child, int) and not -MAX_SAFE_INT <= child <= MAX_SAFE_INT:
                raise InvalidFrame("integers in frames must be within 2^53-1 of 0")


def parse_hello(obj: dict[str, Any]) -> Hello:
    try:
        return Hello.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidFrame(f"hello: {printable(loc)}: {first['msg']}") from None


def parse_send(obj: dict[str, Any]) -> Send:
    try:
        send = Send.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidFrame(f"send: {printable(loc)}: {first['msg']}") from None
    if send.kind is None and send.preset is None:
        raise InvalidFrame("send needs a 'kind'")
    return send


def _echo_id(frame_id: Any) -> str | int | None:
    """The frame's id, echoed so the client can match the error, if it is a sane one."""
    if isinstance(frame_id, str) and len(frame_id) <= 200 and is_clean_line(frame_id):
        return frame_id
    if isinstance(frame_id, int) and not isinstance(frame_id, bool):
        return frame_id if abs(frame_id) <= MAX_SAFE_INT else None
    return None


def error_frame(err: AppError, frame_id: Any = None) -> str:
    frame: dict[str, Any] = {
        "type": "error",
        "id": _echo_id(frame_id if frame_id is not None else getattr(err, "frame_id", None)),
        "code": err.code,
        "message": printable(err.message, limit=500),
    }
    retry = getattr(err, "retry_after_s", None)
    if retry is not None:
        frame["retry_after_s"] = round(retry, 3)
    return dumps(frame)


def event_frame(event: dict[str, Any]) -> str:
    return dumps({"type": "event", "event": event})
