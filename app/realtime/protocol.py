"""WebSocket protocol v1 frames, in one place."""

import json
import re
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import AppError

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 16 * 1024

# Close codes (RFC 6455 private range 4000-4999 for ours).
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_SESSION_GONE = 4404
CLOSE_HELLO_TIMEOUT = 4408
CLOSE_TOO_SLOW = 4429
CLOSE_TOO_BIG = 1009
CLOSE_GOING_AWAY = 1001


class InvalidFrame(AppError):
    code = "invalid_frame"


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
    since: int = Field(default=0, ge=0, strict=True)


class Send(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    id: Any = None
    kind: Any = None
    body: Any = None


def dumps(obj: Any) -> str:
    """Compact JSON text (orjson: several times faster than the json module on frames)."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:  # what orjson refuses (an int over 64 bits, a lone surrogate)
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


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
    except ValueError:
        raise InvalidJson("frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise InvalidFrame("frame must be a JSON object")
    if not isinstance(obj.get("type"), str):
        raise InvalidFrame("frame needs a string 'type'")
    return obj


def parse_hello(obj: dict[str, Any]) -> Hello:
    try:
        return Hello.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidFrame(f"hello: {loc}: {first['msg']}") from None


def parse_send(obj: dict[str, Any]) -> Send:
    try:
        send = Send.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidFrame(f"send: {loc}: {first['msg']}", detail=obj.get("id")) from None
    if send.kind is None:
        raise InvalidFrame("send needs a 'kind'")
    return send


def error_frame(err: AppError, frame_id: Any = None) -> str:
    if not isinstance(frame_id, str | int) or isinstance(frame_id, bool):
        frame_id = None
    frame: dict[str, Any] = {
        "type": "error",
        "id": frame_id,
        "code": err.code,
        "message": err.message,
    }
    retry = getattr(err, "retry_after_s", None)
    if retry is not None:
        frame["retry_after_s"] = round(retry, 3)
    return dumps(frame)


def event_frame(event: dict[str, Any]) -> str:
    return dumps({"type": "event", "event": event})
