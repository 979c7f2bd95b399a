"""The static pages in ``web/`` and the security headers every reply carries."""

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response
from starlette.types import ASGIApp

from app.config import Settings
from app.errors import NotFound

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
PAGES = {
    "/": "index.html",
    "/producer": "producer.html",
    "/facilitator": "facilitator.html",
    "/debrief": "debrief.html",
    "/console": "console.html",
}

router = APIRouter(include_in_schema=False)


def csp_for(settings: Settings) -> str:
    """The pages' Content-Security-Policy: their own origin, plus the WebSocket origin of the
    configured public URL (never anything taken from the request, such as its Host)."""
    url = urlsplit(settings.public_base)
    ws_scheme = "wss" if url.scheme == "https" else "ws"
    connect = "'self'"
    if url.netloc:
        connect += f" {ws_scheme}://{url.netloc}"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' data: blob:",
            "font-src 'self'",
            f"connect-src {connect}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _page(name: str) -> Callable[[], Awaitable[FileResponse]]:
    async def serve() -> FileResponse:
        path = WEB_DIR / name
        if not path.is_file():
            raise NotFound("page not found")
        return FileResponse(path, media_type="text/html", headers={"Cache-Control": "no-cache"})

    return serve


for _path, _name in PAGES.items():
    router.add_api_route(_path, _page(_name), methods=["GET"])


class SecurityHeaders(BaseHTTPMiddleware):
    def __init__(self, app: ASGIApp, csp: str) -> None:
        super().__init__(app)
        self.csp = csp

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "no-referrer")
        path = request.url.path
        if path in PAGES or path.startswith("/static/"):
            h["Content-Security-Policy"] = self.csp
            h.setdefault("X-Frame-Options", "DENY")
            h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if path.startswith("/static/"):
            h["Cache-Control"] = "no-cache"
        if path.startswith("/api/"):
            h.setdefault("Cache-Control", "no-store")
        return response


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(SecurityHeaders, csp=csp_for(settings))
    app.include_router(router)
    if WEB_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
