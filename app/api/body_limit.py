"""Request bodies limited before anything reads or parses them (an ASGI middleware).

FastAPI reads and parses a route's JSON body before it resolves the route's dependencies,
the token check among them: without this, anyone could make the server hold and parse a
body of any size (a 30 MB ``[{},{},…]`` took 700 MB) before the 401. So, for every HTTP
request, in this order:

1. a declared ``Content-Length`` above the limit is refused with 413 ``payload_too_large``
   at once, with nothing read;
2. on a session's routes (``/api/v1/sessions/{id}/…``, which all need a token) the bearer
   token is checked before a byte of the body is read: 401 (or 404 for another session's
   token) with nothing read;
3. while the body streams in (chunked, or a lying ``Content-Length``), the bytes are
   counted, and the request is refused with 413 as soon as they pass the limit.

It runs in the app itself, so ``backchannel serve`` (``make run``, ``docker run``) is safe
without nginx in front (whose ``client_max_body_size`` says the same in compose).
"""

import re
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import app_error_response, error_response
from app.deps import PARTICIPANT_SCOPE_KEY, participant_for_session
from app.errors import AppError

_SESSION_ROUTE = re.compile(r"^/api/v1/sessions/([^/]+)/?")


class PayloadTooLarge(HTTPException):
    """Raised from ``receive`` when the body grows past the limit (FastAPI lets an
    ``HTTPException`` from reading the body through, and ``app.api.errors`` answers it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def too_large(limit: int) -> Any:
    return error_response(
        413, "payload_too_large", f"the request body is larger than {limit} bytes"
    )


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    return (length is not None and length.strip() not in ("", "0")) or (
        "transfer-encoding" in headers
    )


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            await too_large(self.max_bytes)(scope, receive, send)
            return
        if _has_body(headers):
            refusal = await self._check_token(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_bytes

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(limit)
            return message

        return counted

    async def _check_token(self, scope: Scope) -> Any:
        """On a session's routes, the token before the body: an error reply, or None."""
        found = _SESSION_ROUTE.match(scope["path"])
        if found is None:
            return None
        app = scope.get("app")
        services = getattr(getattr(app, "state", None), "services", None)
        if services is None:
            return None
        try:
            participant = await participant_for_session(Request(scope), services, found[1])
        except AppError as exc:
            return app_error_response(exc)
        scope[PARTICIPANT_SCOPE_KEY] = participant
        return None
