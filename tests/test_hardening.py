"""Smaller hardening: the CSP takes nothing from the request, the organizer key only as a
Bearer token, SQL errors without their parameters, /docs off unless asked for."""

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from app.db import Database
from tests.inprocess import InProcessServer
from tests.support import Api, Server, http_client, postgres_database


async def test_the_csp_never_copies_the_host_header(server: Server) -> None:
    async with http_client(server.url) as http:
        for path in ("/", "/producer", "/facilitator", "/debrief"):
            r = await http.get(path, headers={"Host": "evil.example:666"})
            csp = r.headers["content-security-policy"]
            assert "evil.example" not in csp, csp
            connect = next(d for d in csp.split("; ") if d.startswith("connect-src"))
            # its own origin, and the WebSocket origin of BACKCHANNEL_PUBLIC_URL
            assert connect == f"connect-src 'self' ws://{urlsplit(server.url).netloc}", csp


ORGANIZER_KEY = "0rganizer-k3y-with-some-length"


@pytest.fixture
async def guarded(tmp_path: Path) -> Any:
    srv = await InProcessServer(
        tmp_path,
        env={
            "BACKCHANNEL_ORGANIZER_KEY": ORGANIZER_KEY,
            "BACKCHANNEL_API_DOCS": "1",
            "BACKCHANNEL_PUBLIC_URL": "https://bc.example.org/",
        },
    ).start()
    try:
        yield srv
    finally:
        await srv.stop()


async def test_the_organizer_key_is_taken_only_as_a_bearer_token(guarded: Server) -> None:
    api = Api(guarded.url)
    try:
        url = "/api/v1/sessions"
        refused = [
            f"Basic {ORGANIZER_KEY}",
            f"Token {ORGANIZER_KEY}",
            f"Digest {ORGANIZER_KEY}",
            f"{ORGANIZER_KEY}",
            f"Bearer {ORGANIZER_KEY}x",
            f"Bearer {ORGANIZER_KEY[:-1]}",
            "Bearer",
        ]
        for header in refused:
            r = await api.http.post(url, json={"title": "x"}, headers={"Authorization": header})
            assert r.status_code == 401, (header, r.text)
            assert r.json()["error"]["code"] == "unauthorized"
        for scheme in ("Bearer", "bearer", "BEARER"):
            r = await api.http.post(
                url, json={"title": "x"}, headers={"Authorization": f"{scheme} {ORGANIZER_KEY}"}
            )
            assert r.status_code == 201, (scheme, r.text)
        # The CSP follows the configured public URL (https: wss), not the request.
        page = await api.http.get("/", headers={"Host": "evil.example"})
        assert "connect-src 'self' wss://bc.example.org;" in page.headers["content-security-policy"]
        # With BACKCHANNEL_API_DOCS=1 the interactive pages are served.
        assert (await api.http.get("/docs")).status_code == 200
        assert (await api.http.get("/redoc")).status_code == 200
    finally:
        await api.close()


async def test_the_api_docs_pages_are_off_by_default_but_the_spec_is_served(
    server: Server, api: Api
) -> None:
    assert (await api.http.get("/docs")).status_code == 404
    assert (await api.http.get("/redoc")).status_code == 404
    assert (await api.http.get("/docs/oauth2-redirect")).status_code == 404
    spec = await api.http.get("/openapi.json")
    assert spec.status_code == 200 and "/api/v1/sessions" in spec.json()["paths"]


async def _failing_statement(db: Database) -> str:
    """A statement that fails with a secret among its parameters: the error's text."""
    secret = "tokenhash-5f1c0ffee"
    try:
        async with db.engine.connect() as conn:
            await conn.execute(
                text("INSERT INTO no_such_table (token_hash) VALUES (:h)"), {"h": secret}
            )
    except Exception as exc:
        message = str(exc)
    else:
        raise AssertionError("the statement should have failed")
    assert "no_such_table" in message  # the statement itself is still there to debug
    return message.replace(secret, "<<SECRET>>")


async def test_sql_errors_do_not_carry_their_parameters(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    try:
        assert "<<SECRET>>" not in await _failing_statement(db)
        assert db.writer_engine is not None and db.writer_engine.hide_parameters
    finally:
        await db.close()
    with postgres_database() as url:
        pg = Database(url)
        try:
            assert "<<SECRET>>" not in await _failing_statement(pg)
        finally:
            await pg.close()


def test_the_access_log_cuts_long_urls(tmp_path: Path) -> None:
    """A 60 KB query string was logged in full, a line per request (issue 22)."""
    import httpx

    server = Server(tmp_path, env={"BACKCHANNEL_LOG_LEVEL": "info"}).start()
    try:
        marker = "q" * 60_000
        r = httpx.get(f"{server.url}/healthz", params={"x": marker}, timeout=10)
        assert r.status_code in (200, 422), r.text
        lines = [line for line in server.log_text().splitlines() if "/healthz?x=qqqq" in line]
        assert len(lines) == 1, [line[:200] for line in lines]
        assert len(lines[0]) < 450, len(lines[0])
    finally:
        server.stop()
