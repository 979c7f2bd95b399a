"""The live-class front line (issues 10 and 11): countdowns from the server's state, intent for
stop alerts, cards that fit a small window, requests with closure."""

import re
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Pages, create_session, links, logged, press_shortcut
from tests.e2e.producer_page import open_pair

pytestmark = pytest.mark.browser

OVERLAY = {"width": 420, "height": 800}
URGENT = ("alert.stop", "message")
# The panel's keystroke gate (web/keys.js): a lone key waits this long for a next key.
QUIET_AFTER_S = 0.8


def _session_state(pages: Pages, data: dict[str, Any]) -> dict[str, Any]:
    sid = data["session"]["id"]
    r = httpx.get(
        f"{pages.server.url}/api/v1/sessions/{sid}",
        headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    state: dict[str, Any] = r.json()["state"]
    return state


def _post(pages: Pages, data: dict[str, Any], kind: str, body: dict[str, Any]) -> int:
    sid = data["session"]["id"]
    r = httpx.post(
        f"{pages.server.url}/api/v1/sessions/{sid}/events",
        json={"kind": kind, "body": body},
        headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    seq: int = r.json()["seq"]
    return seq


def _wait_until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _pair(pages: Pages, **session: Any) -> tuple[dict[str, Any], Any, Any]:
    return open_pair(pages, create_session(pages.server, **session))


def _seconds(text: str) -> float:
    m = re.fullmatch(r"(\u2212?)(\d+):(\d\d)", text.strip())  # mmss() uses U+2212 for minus
    assert m, text
    s = int(m.group(2)) * 60 + int(m.group(3))
    return -s if m.group(1) else s


def _countdown_error(page: Any, planned_end: str) -> float:
    """|countdown shown - (planned_end - now)| in seconds, read and computed in the page."""
    shown, expected = page.evaluate(
        "(end) => [document.querySelector('#countdown').textContent,"
        " (Date.parse(end) - Date.now()) / 1000]",
        planned_end,
    )
    return abs(_seconds(shown) - expected)


def _to_panel(page: Any) -> None:
    """Focus on the panel itself (no text box), as after a click on its background."""
    page.evaluate("document.activeElement && document.activeElement.blur(); document.body.focus()")


def test_after_extend_reload_extend_both_countdowns_match_the_servers_planned_end(
    pages: Pages,
) -> None:
    data, producer, facilitator = _pair(pages)
    producer.locator("#seg-next").click()
    producer.locator(".seg.current", has_text="Welcome").wait_for()
    producer.locator("#seg-plus5").click()
    _wait_until(lambda: (_session_state(pages, data)["segment"] or {}).get("extended_minutes") == 5)
    facilitator.locator("#countdown", has_text="14:").wait_for()
    facilitator.reload()
    facilitator.locator("#conn", has_text="Live").wait_for()
    facilitator.locator("#countdown", has_text=":").wait_for()
    producer.locator("#seg-plus1").click()
    state = _wait_until(
        lambda: (s := _session_state(pages, data))["segment"]["extended_minutes"] == 6 and s
    )
    planned_end = state["segment"]["planned_end"]
    for name, page in (("overlay", facilitator), ("panel", producer)):
        # Poll until the page drew the new state; the bug showed 5 minutes too many.
        deadline = time.monotonic() + 5
        while (error := _countdown_error(page, planned_end)) >= 1.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert error < 1.0, f"the {name}'s countdown is off by {error:.1f} s"


def test_typing_words_with_focus_on_the_panel_sends_nothing_urgent(pages: Pages) -> None:
    data, producer, facilitator = _pair(pages)
    _to_panel(producer)
    producer.keyboard.type("hi bob")
    paragraph = (
        "Hi Bob, the breakout link for room 3 is broken.\n"
        "Can you post it again in the chat? Thanks bob\n"
        "2 more things: the poll, then a break at 10:30.\n"
    )
    producer.keyboard.type(paragraph, delay=15)
    producer.locator("#typing-hint").wait_for()
    assert producer.locator("#armed").is_hidden()
    # Any letter shortcut still waiting fires after its quiet time; then a sentinel by mouse.
    producer.wait_for_timeout(QUIET_AFTER_S * 1000 * 2)
    producer.locator("[data-preset='two-min']").click()
    producer.locator("#messages li.msg[data-kind='prompt.time'][data-seq]").wait_for()
    sent = logged(pages.server, data, ("prompt.time", "flag.learner", "alert.stop", "message"))
    assert not [e for e in sent if e["kind"] in URGENT], sent
    # (A browser stalled for over a second between two keys may let one non-urgent key
    # through, as a real pause would; nothing urgent ever goes without a deliberate Enter.)
    assert ("prompt.time", "2 min left") in [(e["kind"], e["body"].get("text")) for e in sent]
    assert facilitator.locator("#takeover").is_hidden()


def test_a_keyboard_stop_alert_needs_a_confirmation_and_shows_reason_and_detail_everywhere(
    pages: Pages,
) -> None:
    data, producer, normal = _pair(pages)
    fac = links(data)["facilitator"]
    compact = pages.open(
        fac.replace("/facilitator#", "/facilitator?mode=compact#"),
        viewport={"width": 1280, "height": 90},
    )
    obs = pages.open(
        fac.replace("/facilitator#", "/facilitator?mode=transparent#"), viewport=OVERLAY
    )
    for page in (compact, obs):
        page.locator("#conn[data-state='online']").wait_for(state="attached")

    # Armed, not sent; it runs out by itself after 3 s and a late Enter sends nothing.
    _to_panel(producer)
    press_shortcut(producer, "p")
    armed = producer.locator("#armed")
    armed.wait_for()
    assert "address a problem" in armed.inner_text()
    armed.wait_for(state="hidden", timeout=5000)
    producer.keyboard.press("Enter")

    # Key, Tab to the detail, type it, Enter: one stop alert with reason and detail.
    press_shortcut(producer, "b")
    armed.wait_for()
    producer.keyboard.press("Tab")
    producer.keyboard.type("Breakout 3 has no audio")
    producer.keyboard.press("Enter")
    armed.wait_for(state="hidden")
    assert producer.evaluate("document.activeElement === document.body")
    for page in (normal, compact, obs):
        takeover = page.locator("#takeover")
        takeover.filter(has_text="take a break").wait_for()
        detail = takeover.locator(".detail", has_text="Breakout 3 has no audio")
        detail.wait_for()
        assert detail.is_visible()
    # Transparent (OBS) is read-only: nothing to click on the takeover or anywhere else.
    assert obs.locator("button:visible").count() == 0
    assert obs.evaluate("getComputedStyle(document.querySelector('#takeover')).pointerEvents") == (
        "none"
    )
    alerts = logged(pages.server, data, ("alert.stop",))
    assert [(a["body"]["reason"], a["body"].get("text")) for a in alerts] == [
        ("break", "Breakout 3 has no audio")
    ]

    normal.locator("#takeover button.ok").click()
    normal.locator("#takeover").wait_for(state="hidden")
    obs.locator("#takeover").wait_for(state="hidden")

    # By mouse: one tap arms, the second tap at the same point (now the confirm button) sends.
    box = producer.locator("[data-preset='stop-chat']").bounding_box()
    assert box is not None
    point = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    producer.mouse.click(*point)
    armed.wait_for()
    assert len(logged(pages.server, data, ("alert.stop",))) == 1
    producer.mouse.click(*point)
    normal.locator("#takeover").filter(has_text="respond to chat").wait_for()
    assert len(logged(pages.server, data, ("alert.stop",))) == 2


def test_six_open_cards_on_a_small_overlay_show_three_and_keep_the_request_bar_in_view(
    pages: Pages,
) -> None:
    data, producer, facilitator = _pair(pages)
    texts = ["Poll is ready", "Two learners lost audio", "Slides are frozen"]
    for t in texts:
        _post(pages, data, "message", {"text": t})
    for who in ("Maria Lopez", "Ahmed Khan", "Li Wei"):
        _post(pages, data, "flag.learner", {"learner": who, "flag": "hand"})
    cards = facilitator.locator("#cards article.card")
    facilitator.locator("#cards .more", has_text="+3 more").wait_for()
    assert cards.count() == 3
    bar = facilitator.locator("#request-bar")
    box = bar.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= OVERLAY["height"]
    for button in facilitator.locator("#requests button").all():
        b = button.bounding_box()
        assert b is not None and b["y"] + b["height"] <= OVERLAY["height"]
    # Buttons fit the kind.
    flag = cards.filter(has_text="Li Wei")
    flag.locator("button").first.wait_for()
    assert flag.locator("button").all_inner_texts() == ["OK", "Dismiss"]
    facilitator.locator("#cards .more").click()
    message = facilitator.locator("article.card", has_text="Poll is ready")
    message.locator("button").first.wait_for()
    assert message.locator("button").all_inner_texts() == ["OK", "Reply"]
    # Reply from a card: the text goes back as the answer, and focus leaves the box.
    message.get_by_role("button", name="Reply").click()
    facilitator.get_by_label("Your reply").fill("Launching now")
    facilitator.keyboard.press("Enter")
    producer.locator("#messages li.msg[data-status='done']", has_text="Launching now").wait_for()
    facilitator.locator("button.clear-all", has_text="Clear all (5)").click()
    facilitator.locator("#cards .empty").wait_for()
    # The reply answered; "Clear all" answered nothing: it dismissed the other five.
    statuses = [a["body"]["status"] for a in logged(pages.server, data, ("ack",))]
    assert statuses == ["done"] + ["dismissed"] * 5
    producer.locator("#announce", has_text="Cleared unanswered").wait_for(state="attached")


def test_a_request_gets_on_it_and_done_and_a_1_more_minute_gets_a_one_tap_grant(
    pages: Pages,
) -> None:
    data, producer, facilitator = _pair(pages)
    facilitator.locator("#requests button[data-action='breakout']").click()
    row = producer.locator("#requests-open li", has_text="Open breakouts")
    row.get_by_role("button", name="On it").click()
    facilitator.locator("#my-requests .chip", has_text="on it").wait_for()
    row.get_by_role("button", name="Done").click()
    facilitator.locator("#my-requests .chip.done", has_text="Open breakouts: Done").wait_for()
    row.wait_for(state="detached")
    statuses = [e["body"]["status"] for e in logged(pages.server, data, ("request.status",))]
    assert statuses == ["on_it", "done"]

    producer.locator("#seg-next").click()
    producer.locator(".seg.current", has_text="Welcome").wait_for()
    facilitator.get_by_role("button", name="Reply: 1 more min").click()
    producer.locator("#grant-more").click()
    producer.locator("#grant-more").wait_for(state="detached")
    state = _wait_until(
        lambda: (s := _session_state(pages, data))["segment"]["extended_minutes"] == 1 and s
    )
    assert state["segment"]["index"] == 0


def test_focus_returns_to_the_panel_after_a_message_so_the_next_key_is_a_shortcut(
    pages: Pages,
) -> None:
    data, producer, facilitator = _pair(pages)
    producer.locator("#free-text").fill("Can you share the slide link?")
    producer.keyboard.press("Enter")
    assert producer.evaluate("document.activeElement === document.body")
    press_shortcut(producer, "2")
    facilitator.locator("article.card", has_text="5 min left").wait_for()
    card = facilitator.locator("article.card[data-kind='message']")
    card.filter(has_text="slide link").wait_for()
    assert "TIME" not in card.inner_text().upper().split("\n")[0]
    kinds = [e["kind"] for e in logged(pages.server, data, ("message", "prompt.time"))]
    assert kinds == ["message", "prompt.time"]


def test_session_end_closes_open_cards_and_finished_segments_are_marked(pages: Pages) -> None:
    data, producer, facilitator = _pair(pages)
    producer.locator("#seg-next").click()
    producer.locator(".seg.current", has_text="Welcome").wait_for()
    press_shortcut(producer, "1")
    facilitator.locator("article.card", has_text="10 min left").wait_for()
    producer.locator("#seg-next").click()  # segment 2: the timing card of segment 1 retires
    producer.locator(".seg.done[data-index='0']").wait_for()
    facilitator.locator("article.card", has_text="10 min left").wait_for(state="detached")
    facilitator.locator("#earlier li[data-state='segment_end']").wait_for()
    _post(pages, data, "flag.learner", {"learner": "Li Wei", "flag": "tech"})
    facilitator.locator("article.card", has_text="Li Wei").wait_for()
    producer.locator("#session-btn").click()
    producer.locator("#session-btn", has_text="Click again").wait_for()
    producer.locator("#session-btn").click()
    facilitator.locator("#cards .empty", has_text="ended").wait_for()
    assert facilitator.locator("article.card").count() == 0
    facilitator.locator("#seg-title", has_text="Session ended").wait_for()
