"""The console (/console) following six rooms of a morning, one with a stop alert waiting and
one with an open request, for the README.

    .venv/bin/python -m tests.e2e.console_screenshots [OUTDIR]   (default docs/screenshots)

Starts its own server on a temporary SQLite file.
"""

import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import ARGS, CHROMIUM, create_session, links
from tests.e2e.screenshots import DESKTOP, shrink
from tests.support import ROOT, Server

ROOMS = [
    ("Plenary — leading teams", 40),
    ("Breakout A — feedback", 25),
    ("Breakout B — feedback", 25),
    ("Breakout C — coaching", 1),
    ("Breakout D — coaching", 25),
    ("Breakout E — delegation", 25),
]


def post(
    server: Server, data: dict[str, Any], kind: str, body: dict[str, Any], role: str = "producer"
) -> int:
    r = httpx.post(
        f"{server.url}/api/v1/sessions/{data['session']['id']}/events",
        json={"kind": kind, "body": body},
        headers={"Authorization": "Bearer " + data["tokens"][role]},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    seq: int = r.json()["seq"]
    return seq


def run(browser: Any, server: Server, out: Path) -> None:
    sessions = []
    for title, minutes in ROOMS:
        d = create_session(
            server,
            title=title,
            agenda=[{"title": "Practice", "minutes": minutes}, {"title": "Debrief", "minutes": 10}],
        )
        post(server, d, "session.start", {})
        post(server, d, "segment.start", {"index": 0})
        sessions.append(d)
    ctx = browser.new_context(viewport={**DESKTOP, "height": 900})
    overlays = [ctx.new_page() for _ in sessions[:4]]
    for page, d in zip(overlays, sessions[:4], strict=True):
        page.goto(server.url + links(d)["facilitator"])
    console = ctx.new_page()
    console.goto(server.url + "/console")
    console.locator("#add-links").fill(
        "\n".join(server.url + links(d)["producer"] for d in sessions)
    )
    console.get_by_role("button", name="Add", exact=True).click()
    console.locator("li.room .room-fac[data-online=true]").nth(3).wait_for()
    for d in sessions[:3]:
        seq = post(server, d, "prompt.time", {"text": "5 min left", "minutes_left": 5})
        post(server, d, "seen", {"ref": seq}, role="facilitator")
    first = post(server, sessions[0], "message", {"text": "Skip slides 12 to 14 today"})
    post(server, sessions[0], "ack", {"ref": first, "status": "done"}, role="facilitator")
    post(
        server,
        sessions[4],
        "request",
        {"action": "breakout", "text": "two more minutes in pairs"},
        role="facilitator",
    )
    post(
        server,
        sessions[2],
        "alert.stop",
        {"reason": "chat", "text": "A question in chat is waiting for you"},
    )
    console.locator("li.room[data-attention=alert]").wait_for()
    console.wait_for_timeout(4000)  # the alert's waiting time counts up
    console.evaluate("document.activeElement && document.activeElement.blur(); scrollTo(0, 0)")
    path = out / "console-desktop.png"
    console.screenshot(path=str(path))
    shrink(path)
    print("saved", path)
    ctx.close()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp)).start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                run(browser, server, out)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
