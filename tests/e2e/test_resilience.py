"""Pages across a server crash, escalations from the server, receipts only when visible."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Pages, create_session, links, logged, press_shortcut
from tests.support import Server

pytestmark = pytest.mark.browser

# Lets a test decide what document.visibilityState says (headless pages are always visible).
FAKE_VISIBILITY = """
window.__visible = false;
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true, get() { return window.__visible ? "visible" : "hidden"; },
});
Object.defineProperty(Document.prototype, "hidden", {
  configurable: true, get() { return !window.__visible; },
});
"""


def test_both_pages_ride_out_a_server_crash_and_nothing_is_lost_or_doubled(
    pages: Pages, tmp_path: Path
) -> None:
    server = Server(tmp_path).start()
    try:
        own = Pages(pages.browser, server)
        own.problems = pages.problems
        own.contexts = pages.contexts
        data = create_session(server)
        paths = links(data)
        producer = own.open(paths["producer"])
        facilitator = own.open(paths["facilitator"], viewport={"width": 400, "height": 800})
        producer.locator("#conn", has_text="Online").wait_for()
        facilitator.locator("#conn", has_text="Live").wait_for()
        producer.locator("[data-preset='ten-min']").wait_for()
        press_shortcut(producer, "1")
        facilitator.locator("article.card", has_text="10 min left").wait_for()

        server.kill()
        producer.locator("#conn[data-state='offline']").wait_for()
        facilitator.locator("#conn[data-state='offline']").wait_for()
        press_shortcut(producer, "2")  # queued while the server is down
        producer.locator("#messages li.msg[data-status='sending']").wait_for()

        server = Server(tmp_path, port=server.port).start()
        producer.locator("#conn", has_text="Online").wait_for(timeout=20000)
        facilitator.locator("#conn", has_text="Live").wait_for(timeout=20000)
        facilitator.locator("article.card", has_text="5 min left").wait_for()
        producer.locator("#messages li.msg[data-status='sending']").wait_for(state="detached")
        press_shortcut(producer, "3")
        facilitator.locator("article.card", has_text="2 min left").wait_for()
        # A newer timing prompt replaces the older card: one open, two in "Earlier".
        facilitator.locator("#earlier li[data-state='replaced']").nth(1).wait_for()
        assert facilitator.locator("article.card").count() == 1
        texts = [e["body"]["text"] for e in logged(server, data, ("prompt.time",))]
        assert texts == ["10 min left", "5 min left", "2 min left"]
        # Each page drew each event once (dedupe by seq across the reconnect).
        seqs = producer.eval_on_selector_all(
            "#log li[data-seq]", "els => els.map(e => e.dataset.seq)"
        )
        assert len(seqs) == len(set(seqs))
    finally:
        # Pages first: once the server stops they would retry (and log) until teardown.
        for ctx in pages.contexts:
            ctx.close()
        server.stop()
    # The crash closes sockets without a goodbye: those console lines are expected, no others.
    pages.problems.console[:] = [
        line for line in pages.problems.console if "WebSocket connection" not in line
    ]


def test_an_unanswered_stop_alert_escalates_on_the_overlay_and_the_panel(pages: Pages) -> None:
    data = create_session(pages.server)
    sid = data["session"]["id"]
    r = httpx.patch(
        f"{pages.server.url}/api/v1/sessions/{sid}",
        json={"settings": {"escalate_after_s": 5, "auto_prompts": []}},
        headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
    )
    assert r.status_code == 200, r.text
    paths = links(data)
    producer = pages.open(paths["producer"])
    facilitator = pages.open(paths["facilitator"], viewport={"width": 400, "height": 800})
    producer.locator("#conn", has_text="Online").wait_for()
    facilitator.locator("#conn", has_text="Live").wait_for()
    producer.locator("#session-btn", has_text="Start session").click()
    producer.locator("#session-btn", has_text="End session").wait_for()
    producer.locator("[data-preset='stop-problem']").wait_for()
    press_shortcut(producer, "p")
    producer.locator("#armed[data-ready]").wait_for()  # an Enter straight after is typing
    producer.keyboard.press("Enter")
    takeover = facilitator.locator("#takeover")
    takeover.filter(has_text="address a problem").wait_for()
    facilitator.locator("#takeover[data-level='1']").wait_for(timeout=15000)
    takeover.locator(".waiting", has_text="reminded once").wait_for()
    assert "waiting 0:" in takeover.inner_text()
    producer.locator("#waiting li .tick", has_text="reminded once").wait_for()
    producer.locator("#messages li.msg .tick", has_text="Not answered: reminded once").wait_for()
    takeover.get_by_role("button", name="Acknowledge ✓").click()
    takeover.wait_for(state="hidden")
    producer.locator("#messages li.msg[data-status='done']").wait_for()


def test_seen_receipts_wait_until_the_overlay_is_visible(pages: Pages) -> None:
    data = create_session(pages.server)
    paths = links(data)
    ctx = pages.context(viewport={"width": 400, "height": 800})
    ctx.add_init_script(FAKE_VISIBILITY)
    facilitator = pages.open(paths["facilitator"], ctx)
    producer = pages.open(paths["producer"])
    facilitator.locator("#conn", has_text="Live").wait_for()
    producer.locator("#conn", has_text="Online").wait_for()
    producer.locator("[data-preset='over']").wait_for()
    press_shortcut(producer, "5")
    facilitator.locator("article.card", has_text="running over").wait_for()
    facilitator.wait_for_timeout(800)
    assert logged(pages.server, data, ("seen",)) == []
    assert producer.locator("#messages li.msg").first.get_attribute("data-status") != "seen"

    facilitator.evaluate(
        "window.__visible = true; document.dispatchEvent(new Event('visibilitychange'))"
    )
    producer.locator("#messages li.msg[data-status='seen']").wait_for()
    seen = logged(pages.server, data, ("seen",))
    assert len(seen) == 1


def test_compact_and_transparent_modes(pages: Pages) -> None:
    data = create_session(pages.server)
    paths = links(data)
    producer = pages.open(paths["producer"])
    producer.locator("#conn", has_text="Online").wait_for()
    producer.locator("[data-preset='ten-min']").wait_for()
    press_shortcut(producer, "1")
    press_shortcut(producer, "2")
    fac = paths["facilitator"]
    strip = pages.open(
        fac.replace("/facilitator#", "/facilitator?mode=compact#"),
        viewport={"width": 1000, "height": 80},
    )
    strip.locator("article.card", has_text="5 min left").wait_for()
    assert strip.locator("article.card:visible").count() == 1  # one line: the newest only
    assert not strip.locator("#requests").is_visible()
    box = strip.locator(".ov").bounding_box()
    assert box is not None and box["height"] <= 80
    obs = pages.open(fac.replace("/facilitator#", "/facilitator?mode=transparent#"))
    obs.locator("article.card").first.wait_for()
    bg = obs.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg in ("rgba(0, 0, 0, 0)", "transparent")


def test_reduced_motion_turns_off_the_escalation_flash(pages: Pages) -> None:
    page: Any = pages.open("/facilitator", reduced_motion="reduce")
    page.evaluate("document.querySelector('#takeover').dataset.level = '1'")
    name = page.evaluate("getComputedStyle(document.querySelector('#takeover')).animationName")
    assert name == "none"
    normal: Any = pages.open("/facilitator")
    normal.evaluate("document.querySelector('#takeover').dataset.level = '1'")
    name = normal.evaluate("getComputedStyle(document.querySelector('#takeover')).animationName")
    assert name == "flash"
