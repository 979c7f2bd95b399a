"""The one place that turns errors into HTTP replies: ``{"error": {"code", "message"}}``."""

import asyncio
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import AppError, RateLimited
from app.models.text import printable

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update(extra)
    return JSONResponse({"error": _safe(body)}, status_code=status)


def _safe(value: Any, depth: int = 0) -> Any:
    """Error replies echo parts of the input (field names, ids): make every string in them
    printable, so the reply itself can always be encoded (no lone surrogate, no NUL)."""
    if isinstance(value, str):
        return printable(value, limit=500)
    if depth > 4:
        return None
    if isinstance(value, dict):
        return {printable(str(k)): _safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v, depth + 1) for v in value[:20]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return printable(value)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if isinstance(exc, RateLimited):
        await _refusal_delay(request, exc)
    return app_error_response(exc)


async def _refusal_delay(request: Request, exc: RateLimited) -> None:
    """A 429 waits a little (0.5 s, never more than the Retry-After it says, which is at
    least 1 s) before it is answered: a client that ignores Retry-After and asks again at
    once slows itself down to about two requests a second per connection, instead of
    turning refusals into a flood (also where the bucket refills within milliseconds, as
    the cheap reads' do). Waiting costs the server a sleeping coroutine, nothing more."""
    services = getattr(request.app.state, "services", None)
    delay = services.settings.refusal_delay_s if services is not None else 0.5
    delay = min(delay, retry_after_header(exc.retry_after_s))
    if delay > 0:
        await asyncio.sleep(delay)


def retry_after_header(seconds: float) -> int:
    """Whole seconds, at least 1 (what HTTP's Retry-After can say)."""
    return max(1, math.ceil(seconds))


def app_error_response(exc: AppError) -> JSONResponse:
    extra: dict[str, Any] = {}
    if exc.detail is not None:
        extra["detail"] = exc.detail
    response = error_response(exc.status, exc.code, exc.message, **extra)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(retry_after_header(exc.retry_after_s))
    return response


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "the request body is not valid JSON")
    detail = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": e.get("type"),
        }
        for e in errors[:10]
    ]
    first = detail[0] if detail else {"loc": [], "msg": "invalid input"}
    where = ".".join(p for p in first["loc"] if p != "body") or "request"
    return error_response(422, "invalid_input", f"{where}: {first['msg']}", detail=detail)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    response = error_response(exc.status_code, code, message)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """The database is busy or away (locked, a lost connection): nothing was changed, and
    the same request can be tried again."""
    log.warning("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
    response = error_response(503, "unavailable", "the database is busy; try again shortly")
    response.headers["Retry-After"] = "1"
    return response


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "internal", "something went wrong on our side; nothing was changed")


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
