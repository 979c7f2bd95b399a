"""Browser fixtures: one real server and one headless Debian Chromium per test module.

Every page opened through ``pages`` records console errors, page errors, dialogs and CSP
violations; a test fails at teardown if any page had one.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Server, skip_or_fail

CHROMIUM = os.environ.get("BACKCHANNEL_CHROMIUM", "/usr/bin/chromium")
# The producer panel's keystroke gate (web/keys.js): a key is a shortcut only when it comes
# alone — no key in the second before it, none in the 0.8 s after it, when it goes.
SHORTCUT_WAIT_MS = 1050
SHORTCUT_GOES_MS = 900
# A message on the producer panel that the server has logged (queued ones have data-seq="").
LOGGED_MSG = "#messages li.msg[data-seq]:not([data-seq=''])"
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-dev-shm-usage",
]

# Runs before any page script; CDP-injected, so the page's CSP does not block it. Also notes
# the last keystroke, for press_shortcut().
WATCH_CSP = """
addEventListener("keydown", () => { window.__lastKeyAt = performance.now(); }, true);
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        skip_or_fail("browser", f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("browser", "the playwright package is not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("web")).start()
    try:
        yield srv
    finally:
        srv.stop()


@dataclass
class Problems:
    """What went wrong in the pages of one test."""

    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    pages: list[Any] = field(default_factory=list)

    def csp(self) -> list[str]:
        out: list[str] = []
        for page in self.pages:
            if not page.is_closed():
                out.extend(page.evaluate("window.__csp || []"))
        return out


class Pages:
    """Opens watched pages in fresh browser contexts."""

    def __init__(self, browser: Any, server: Server) -> None:
        self.browser = browser
        self.server = server
        self.problems = Problems()
        self.contexts: list[Any] = []

    def context(self, **options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        ctx = self.browser.new_context(**options)
        ctx.add_init_script(WATCH_CSP)
        self.contexts.append(ctx)
        return ctx

    def watch(self, page: Any) -> Any:
        p = self.problems
        p.pages.append(page)
        page.on(
            "console",
            lambda m: p.console.append(f"{page.url}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: p.console.append(f"{page.url}: pageerror {e}"))

        def on_dialog(d: Any) -> None:
            p.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", on_dialog)
        return page

    def open(self, path: str, ctx: Any = None, **options: Any) -> Any:
        ctx = ctx or self.context(**options)
        page = self.watch(ctx.new_page())
        page.goto(self.server.url + path)
        return page

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def pages(browser: Any, web_server: Server) -> Iterator[Pages]:
    p = Pages(browser, web_server)
    try:
        yield p
        csp = p.problems.csp()
        assert not p.problems.console, p.problems.console
        assert not csp, csp
        assert not p.problems.dialogs, p.problems.dialogs
    finally:
        p.close()


def create_session(server: Server, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Coaching skills",
        "agenda": [
            {"title": "Welcome", "minutes": 10},
            {"title": "Practice", "minutes": 20},
            {"title": "Close", "minutes": 5},
        ],
        "roster": ["Maria Lopez", "Ahmed Khan", "Li Wei"],
    }
    body.update(fields)
    r = httpx.post(server.url + "/api/v1/sessions", json=body, timeout=10)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def press_shortcut(page: Any, key: str) -> None:
    """A producer shortcut pressed as a person does: alone (a quiet second before it, measured
    on the page's clock since the last keydown it saw, and at least a second of the test's own
    time), and returns once it went or armed."""
    quiet = "(ms) => performance.now() - (window.__lastKeyAt ?? -1e9) >= ms"
    page.wait_for_timeout(SHORTCUT_WAIT_MS)
    page.wait_for_function(quiet, arg=SHORTCUT_WAIT_MS, polling=50)
    page.keyboard.press(key)
    page.wait_for_function(quiet, arg=SHORTCUT_GOES_MS, polling=50)


def links(data: dict[str, Any]) -> dict[str, str]:
    """Page paths (with the key in the fragment) for each role of a created session."""
    sid = data["session"]["id"]
    t = data["tokens"]
    return {
        "producer": f"/producer#t={t['producer']}&s={sid}",
        "facilitator": f"/facilitator#t={t['facilitator']}",
        "observer": f"/producer#t={t['observer']}&s={sid}",
        "debrief": f"/debrief#t={t['producer']}&s={sid}",
    }


def logged(
    server: Server, data: dict[str, Any], kinds: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The session's log as the API gives it (producer view)."""
    sid = data["session"]["id"]
    r = httpx.get(
        f"{server.url}/api/v1/sessions/{sid}/events",
        params={"after": 0, "limit": 1000},
        headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return [e for e in events if not kinds or e["kind"] in kinds]
