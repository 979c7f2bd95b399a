"""The producer panel and the facilitator overlay, talking through a real server."""

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LOGGED_MSG, Pages, create_session, links, logged, press_shortcut

pytestmark = pytest.mark.browser


def _pair(pages: Pages, **session: Any) -> tuple[dict[str, Any], Any, Any]:
    data = create_session(pages.server, **session)
    paths = links(data)
    producer = pages.open(paths["producer"])
    facilitator = pages.open(paths["facilitator"], viewport={"width": 420, "height": 800})
    for page, text in ((producer, "Online"), (facilitator, "Live")):
        page.locator("#conn").filter(has_text=text).wait_for()
    producer.locator("[data-preset='five-min']").wait_for()
    producer.locator("#presence.on").wait_for()
    return data, producer, facilitator


def test_a_prompt_reaches_the_overlay_and_its_answer_reaches_the_producer(pages: Pages) -> None:
    data, producer, facilitator = _pair(pages)
    assert "#" not in producer.url and "t=" not in producer.url  # the key left the address bar

    producer.locator("[data-preset='five-min']").click()
    card = facilitator.locator("article.card[data-kind='prompt.time']")
    card.filter(has_text="5 min left").wait_for()

    msg = producer.locator("#messages li.msg").first
    msg.locator(".tick", has_text="Seen").wait_for()  # the overlay sent a `seen` receipt
    assert msg.get_attribute("data-status") == "seen"

    card.get_by_role("button", name="Acknowledge").click()
    producer.locator("#messages li.msg[data-status='done']").wait_for()
    assert "Acknowledged" in producer.locator("#messages li.msg").first.inner_text()
    card.wait_for(state="detached")
    facilitator.locator("#earlier li[data-state='done']").wait_for()

    kinds = [e["kind"] for e in logged(pages.server, data, ("prompt.time", "seen", "ack"))]
    assert kinds == ["prompt.time", "seen", "ack"]


def test_a_stop_alert_takes_over_the_overlay_until_acknowledged(pages: Pages) -> None:
    data, producer, facilitator = _pair(pages)
    producer.locator("[data-preset='stop-break']").click()  # arms
    producer.locator("[data-preset='stop-break']").click()  # confirms
    takeover = facilitator.locator("#takeover")
    takeover.filter(has_text="take a break").wait_for()
    # It covers the whole overlay (fixed, full viewport) and stays while unanswered.
    box = takeover.bounding_box()
    assert box is not None and box["width"] >= 400 and box["height"] >= 790
    assert takeover.inner_text().split("\n")[:2] == ["STOP ALERT", "Stop: take a break"]
    assert "null" not in takeover.inner_text() and "undefined" not in takeover.inner_text()
    facilitator.wait_for_timeout(1200)
    assert takeover.is_visible()
    # A new prompt does not push the alert away.
    producer.locator("[data-preset='two-min']").click()
    facilitator.locator("article.card", has_text="2 min left").wait_for(state="attached")
    assert takeover.is_visible()

    takeover.get_by_role("button", name="Acknowledge ✓").click()
    takeover.wait_for(state="hidden")
    producer.locator("#messages li.msg[data-status='done']", has_text="take a break").wait_for()
    acks = logged(pages.server, data, ("ack",))
    assert [a["body"]["status"] for a in acks] == ["done"]


def test_snooze_and_requests_show_on_the_producer_panel(pages: Pages) -> None:
    data, producer, facilitator = _pair(pages)
    producer.locator("[data-preset='ten-min']").click()
    card = facilitator.locator("article.card", has_text="10 min left")
    card.get_by_role("button", name="Snooze 2 min").click()
    producer.locator("#messages li.msg[data-status='snoozed']", has_text="Snoozed 2 min").wait_for()

    facilitator.locator("#requests button[data-action='breakout']").click()
    producer.locator("#incoming .item", has_text="Open breakouts").wait_for()
    facilitator.locator("#quick button", has_text="1 more min").click()
    producer.locator("#incoming .item", has_text="1 more minute").wait_for()
    kinds = [e["kind"] for e in logged(pages.server, data, ("ack", "request", "reply"))]
    assert kinds == ["ack", "request", "reply"]


def test_a_learner_flag_uses_the_picked_name_and_can_hide_it_as_initials(pages: Pages) -> None:
    _, producer, facilitator = _pair(pages)
    producer.locator("#roster button", has_text="Ahmed Khan").click()
    press_shortcut(producer, "h")
    facilitator.locator("article.card", has_text="Ahmed Khan: hand raised").wait_for()
    facilitator.locator("#settings summary").click()
    facilitator.locator("#safe").check()
    facilitator.locator("article.card", has_text="A.K.: hand raised").wait_for()
    assert "Ahmed" not in facilitator.locator("#cards").inner_text()


def test_hostile_text_is_shown_literally_and_runs_nothing(pages: Pages) -> None:
    evil = "<img src=x onerror=alert(1)>"
    data, producer, facilitator = _pair(pages, roster=[evil])
    producer.locator("#free-text").fill(evil)
    producer.locator("#free button[type=submit]").click()
    facilitator.locator("article.card .text", has_text=evil).wait_for()
    producer.locator("#roster button").first.click()
    press_shortcut(producer, "c")
    facilitator.locator("article.card .text", has_text=f"{evil}: question in chat").wait_for()
    producer.locator("#log li", has_text=evil).first.wait_for()
    for page in (producer, facilitator):
        assert page.locator("img[src='x']").count() == 0
    # pages fixture: no dialog fired, no console error, no CSP violation.
    assert [e["body"]["text"] for e in logged(pages.server, data, ("message",))] == [evil]


def test_every_preset_works_from_its_keyboard_shortcut(pages: Pages) -> None:
    data, producer, facilitator = _pair(pages)
    presets = producer.evaluate(
        "[...document.querySelectorAll('[data-preset]')]"
        ".map(b => [b.dataset.preset, b.getAttribute('aria-keyshortcuts')])"
    )
    assert len(presets) == 13
    press_shortcut(producer, "?")
    help_box = producer.locator("#help")
    help_box.wait_for()
    for _, key in presets:
        assert help_box.locator("kbd", has_text=key).count() >= 1
    producer.keyboard.press("Escape")
    help_box.wait_for(state="hidden")

    stops = {p["key"] for p in session_presets(pages, data) if p["kind"] == "alert.stop"}
    for i, (_, key) in enumerate(presets):
        press_shortcut(producer, key)
        if key in stops:  # a stop alert only arms: Enter sends it
            producer.locator("#armed[data-ready]").wait_for()
            producer.keyboard.press("Enter")
        producer.locator(LOGGED_MSG).nth(i).wait_for()
    sent = logged(pages.server, data, ("prompt.time", "flag.learner", "alert.stop"))
    assert len(sent) == 13
    # Keys map to the preset bodies, in the order pressed.
    r = session_presets(pages, data)
    by_key = {p["key"]: p for p in r}
    for (_, key), event in zip(presets, sent, strict=True):
        assert event["kind"] == by_key[key]["kind"]
        assert event["body"] == by_key[key]["body"]
    facilitator.locator("#takeover").wait_for()


def session_presets(pages: Pages, data: dict[str, Any]) -> list[dict[str, Any]]:
    sid = data["session"]["id"]
    r = httpx.get(
        f"{pages.server.url}/api/v1/sessions/{sid}/presets",
        headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
    )
    presets: list[dict[str, Any]] = r.json()["presets"]
    return presets
