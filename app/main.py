"""create_app(): the FastAPI app; the lifespan opens the database and broker and closes them."""

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from app import __version__
from app.api import errors as api_errors
from app.api import events, health, inputs, pages, sessions, stream, webhooks
from app.api.body_limit import BodyLimit
from app.config import Settings, get_settings
from app.db import Database
from app.realtime import ws
from app.realtime.backends import from_url
from app.realtime.hub import Hub
from app.services import Services

log = logging.getLogger("app")


class OneLineProtocolErrors(logging.Filter):
    """uvicorn logs a whole traceback for every text frame that is not UTF-8 (and closes the
    socket with 1007): one client could flood the log with them. Keep a one-line warning."""

    MESSAGES = frozenset({"Invalid UTF-8 sequence received from client."})

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.msg in self.MESSAGES:
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class ShortAccessLines(logging.Filter):
    """uvicorn's access log writes a request's whole path and query string: a 60 KB query
    string made a 60 KB line, per request. Each argument is cut to ``MAX`` characters."""

    MAX = 300

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                a[: self.MAX] + "…" if isinstance(a, str) and len(a) > self.MAX else a
                for a in record.args
            )
        return True


def _quiet_protocol_errors() -> None:
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, OneLineProtocolErrors) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(OneLineProtocolErrors())
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, ShortAccessLines) for f in access_log.filters):
        access_log.addFilter(ShortAccessLines())


def _configure_logging(settings: Settings) -> None:
    """Records of the app and its libraries go to stderr with their level.

    (uvicorn configures only its own loggers; without this, ``log.error`` of the app would
    reach the server log through Python's last-resort handler, with no level to tell it by.)
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)-9s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    log.setLevel(settings.log_level.upper())


class BackchannelApp(FastAPI):
    """FastAPI, with ``/ws`` taken straight to its endpoint.

    A socket's task lives as long as the socket. Through the framework it would run (and
    keep, for its whole life) a frame for every middleware and router layer, and each
    connect would pay for them; none of them does anything for ``/ws``, whose endpoint
    handles its own errors. Other WebSocket paths still go through the router (and 403).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            scope["app"] = self
            await ws.websocket_endpoint(WebSocket(scope, receive, send))
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    _configure_logging(settings)
    _quiet_protocol_errors()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        backends = from_url(settings.broker_url)  # memory:// or redis://: chosen once, here
        broker = backends.broker
        await broker.connect()
        hub = Hub(
            db,
            broker,
            queue_max=settings.send_queue_max,
            trust_s=settings.token_trust_s,
            link_ttl_days=settings.link_ttl_days,
        )
        presence = backends.presence(hub, settings)
        services = Services(
            settings=settings,
            db=db,
            broker=broker,
            hub=hub,
            presence=presence,
            limiter=backends.limiter(),
        )
        app.state.services = services
        await presence.start()
        if settings.gc_freeze:
            services.heap.start()
        if settings.scheduler:
            from app.realtime.session_feed import HubSessionFeed
            from app.scheduler import Scheduler

            feed = HubSessionFeed(hub)
            services.scheduler = Scheduler(db, feed, rescan_s=settings.scheduler_rescan_s)
            await services.scheduler.start()
        worker = None
        if settings.webhooks:
            from app.webhooks.worker import WebhookWorker

            async def describe(session_id: str) -> tuple[str, dict[str, Any]]:
                model = await services.models.current(session_id)
                return model.session.title, model.state_public()

            worker = WebhookWorker(db, settings, describe)
            hub.add_listener(lambda _session_id, _event: worker.wake())
            await worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            if services.scheduler is not None:
                await services.scheduler.stop()
            await services.heap.stop()
            await hub.close_all()
            await presence.stop()
            await broker.disconnect()
            await db.close()

    # /openapi.json is always served; the interactive /docs and /redoc pages load their
    # scripts from a CDN, outside the pages' CSP, so they are off unless a setting asks.
    app = BackchannelApp(
        title="Backchannel",
        version=__version__,
        summary="A private, logged line between a virtual-classroom producer and facilitator.",
        lifespan=lifespan,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
        dependencies=[Depends(inputs.clean_request)],
    )
    api_errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    app.include_router(sessions.router)
    app.include_router(events.router)
    app.include_router(stream.router)
    app.include_router(webhooks.router)
    app.include_router(ws.router)
    if settings.test_hooks:
        from app.api import testing

        app.include_router(testing.router)
    pages.install(app, settings)
    return app
