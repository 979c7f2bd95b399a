"""The facilitator's overlay in a class in progress (issue 21): an OBS source that is really
transparent, a link that was replaced, a panic blank, and the small things a live class trips
over. Every check reads what a person sees: pixels, positions, visible text."""

import io
import re
import time
from typing import Any

import httpx
import pytest

from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import Pages, create_session, links, logged

pytestmark = pytest.mark.browser

OBS = {"width": 1920, "height": 1080}
SIDE = {"width": 420, "height": 800}
PHONE = {"width": 390, "height": 844}


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


def _overlay(pages: Pages, data: dict[str, Any], query: str = "", **options: Any) -> Any:
    path = links(data)["facilitator"].replace("/facilitator#", f"/facilitator{query}#")
    options.setdefault("viewport", SIDE)
    page = pages.open(path, **options)
    page.locator("#conn[data-state='online']").wait_for(state="attached")
    return page


def _png(page: Any) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(page.screenshot(omit_background=True)))


def _center(box: dict[str, float]) -> tuple[int, int]:
    return int(box["x"] + box["width"] / 2), int(box["y"] + box["height"] / 2)


# -- item 1: OBS transparent mode ---------------------------------------------------------


def test_the_obs_source_is_transparent_around_an_opaque_countdown_and_a_stop_covers_it_all(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    _post(pages, data, "session.start", {})
    _post(pages, data, "segment.start", {"index": 0})
    obs = _overlay(pages, data, "?mode=transparent", viewport=OBS)
    obs.locator("#timer:not([data-tone='none'])").wait_for()
    img = _png(obs)
    assert img.mode == "RGBA", img.mode  # the PNG has an alpha channel at all
    assert img.size == (OBS["width"], OBS["height"])
    alpha = img.getchannel("A")
    for corner in ((0, 0), (OBS["width"] - 1, 0), (0, OBS["height"] - 1), (5, 600)):
        assert alpha.getpixel(corner) == 0, corner
    box = obs.locator("#countdown").bounding_box()
    assert box is not None
    # The countdown and the backing behind its digits are fully opaque.
    left, top = int(box["x"]), int(box["y"])
    digits = alpha.crop((left, top, left + int(box["width"]), top + int(box["height"])))
    assert digits.getextrema() == (255, 255)

    _post(pages, data, "alert.stop", {"reason": "chat", "text": "Three questions waiting"})
    obs.locator("#takeover", has_text="respond to chat").wait_for()
    obs.wait_for_timeout(300)
    # Chromium writes a PNG with no alpha channel when nothing in it is transparent.
    whole = _png(obs).convert("RGBA").getchannel("A")
    assert whole.getextrema() == (255, 255), "the stop alert must cover the source, opaque"


# -- item 6: "Clear all" is not an answer ------------------------------------------------------


def test_clear_all_dismisses_cards_and_the_panel_and_debrief_say_cleared_unanswered(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    _post(pages, data, "session.start", {})
    _post(pages, data, "segment.start", {"index": 0})
    fac = _overlay(pages, data)
    producer = pages.open(links(data)["producer"])
    producer.locator("#conn", has_text="Online").wait_for()
    _post(pages, data, "prompt.time", {"text": "5 min left", "minutes_left": 5})
    for who in ("Maria Lopez", "Ahmed Khan"):
        _post(pages, data, "flag.learner", {"learner": who, "flag": "hand"})
    fac.locator("button.clear-all", has_text="Clear all (3)").click()
    fac.locator("#cards .empty").wait_for()
    fac.locator("#earlier li[data-state='dismissed']", has_text="cleared").first.wait_for()
    statuses = [a["body"]["status"] for a in logged(pages.server, data, ("ack",))]
    assert statuses == ["dismissed"] * 3
    producer.locator(
        "#messages li.msg[data-status='dismissed']", has_text="Cleared unanswered"
    ).nth(2).wait_for()
    debrief = pages.open(links(data)["debrief"])
    table = debrief.locator("#latency")
    table.locator("th", has_text="Cleared unanswered").wait_for()
    heads = table.locator("th").all_inner_texts()
    column = heads.index("Cleared unanswered")
    row = table.locator("tr", has_text="Learner").locator("td").all_inner_texts()
    assert row[column] == "2" and row[heads.index("Never answered")] == "0"
    debrief.locator("#timeline li", has_text="cleared unanswered").first.wait_for()


# -- item 4: a rotated or revoked link ---------------------------------------------------------


def _manage(pages: Pages, data: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    sid = data["session"]["id"]
    r = httpx.request(
        method,
        f"{pages.server.url}/api/v1/sessions/{sid}/participants{path}",
        headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
        timeout=10,
    )
    assert r.status_code in (200, 201), r.text
    out: dict[str, Any] = r.json()
    return out


def _participant(pages: Pages, data: dict[str, Any], role: str) -> str:
    sid = data["session"]["id"]
    r = httpx.get(
        f"{pages.server.url}/api/v1/sessions/{sid}/participants",
        headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
        timeout=10,
    )
    pid: str = next(p["participant_id"] for p in r.json() if p["role"] == role)
    return pid


def test_a_replaced_link_says_so_on_the_whole_page_and_a_new_fragment_reconnects_in_place(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    _post(pages, data, "session.start", {})
    _post(pages, data, "segment.start", {"index": 0})
    fac = _overlay(pages, data)
    producer = pages.open(links(data)["producer"])
    producer.locator("#presence.on").wait_for()
    _post(pages, data, "prompt.time", {"text": "5 min left", "minutes_left": 5})
    fac.locator("article.card", has_text="5 min left").wait_for()
    fac.evaluate("window.__sameTab = true")

    pid = _participant(pages, data, "facilitator")
    new = _manage(pages, data, "POST", f"/{pid}/rotate")
    notice = fac.locator("#link-stopped")
    notice.get_by_role("heading", name="This link was replaced").wait_for()
    assert "ask the producer for the new one" in notice.inner_text().lower()
    # Nothing actionable is left: no countdown, no cards, no button, no focusable control.
    assert not fac.locator("#countdown").is_visible()
    assert not fac.locator("article.card").first.is_visible()
    assert fac.locator("button:visible, a:visible, input:visible").count() == 0
    box = notice.bounding_box()
    assert box is not None and box["height"] >= SIDE["height"] * 0.9  # the whole page
    # The producer's presence line follows at once (no 5-s grace for a dead link).
    producer.locator("#presence:not(.on)", has_text="not connected").wait_for(timeout=3000)

    # The new link pasted into the same tab: only the fragment changes; no reload.
    fac.evaluate("(t) => { location.hash = 't=' + t; }", new["token"])
    fac.locator("#conn", has_text="Live").wait_for()
    notice.wait_for(state="detached")
    fac.locator("article.card", has_text="5 min left").wait_for()
    assert fac.locator("#countdown").is_visible()
    assert fac.evaluate("window.__sameTab === true")
    assert "#" not in fac.url  # the key left the address bar again
    producer.locator("#presence.on").wait_for()
    fac.locator("#quick button").first.click()
    _wait_until(lambda: logged(pages.server, data, ("reply",)))


def test_a_revoked_observer_link_turns_the_panel_into_the_same_notice(pages: Pages) -> None:
    data = create_session(pages.server)
    observer = pages.open(links(data)["observer"])
    observer.locator("#conn", has_text="Online").wait_for()
    _manage(pages, data, "DELETE", f"/{_participant(pages, data, 'observer')}")
    notice = observer.locator("#link-stopped")
    notice.get_by_role("heading", name="This link was turned off").wait_for()
    assert observer.locator("button:visible, input:visible, textarea:visible").count() == 0
    assert not observer.locator("#log").is_visible()
    assert_accessible(observer, "the observer's panel, its link revoked")


# -- item 7: panic blank ----------------------------------------------------------------------

COUNT_BEEPS = """
window.__beeps = 0;
const make = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__beeps += 1; return make.call(this); };
"""


def _painted_outside(page: Any, keep: dict[str, float]) -> int:
    """Pixels of the viewport, outside the box ``keep``, that differ from the page background."""
    from PIL import Image

    img = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    bg = img.getpixel((img.width // 2, img.height - 2))
    x0, y0 = keep["x"] - 1, keep["y"] - 1
    x1, y1 = keep["x"] + keep["width"] + 1, keep["y"] + keep["height"] + 1
    return sum(
        1
        for y in range(0, img.height, 2)
        for x in range(0, img.width, 2)
        if not (x0 <= x <= x1 and y0 <= y <= y1) and img.getpixel((x, y)) != bg
    )


def test_the_panic_blank_hides_all_but_a_dot_and_a_stop_alert_still_breaks_through_with_sound(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    _post(pages, data, "session.start", {})
    _post(pages, data, "segment.start", {"index": 0})
    ctx = pages.context(viewport=SIDE)
    ctx.add_init_script(COUNT_BEEPS)
    fac = pages.open(links(data)["facilitator"], ctx)
    fac.locator("#conn", has_text="Live").wait_for()
    _post(pages, data, "flag.learner", {"learner": "Maria Lopez", "flag": "hand"})
    fac.locator("article.card", has_text="Maria Lopez").wait_for()

    fac.keyboard.press("b")  # also the first key: it unlocks sound
    dot = fac.locator("#blank-dot")
    fac.locator("body.blank").wait_for(state="attached")
    assert dot.get_attribute("aria-pressed") == "true"
    box = dot.bounding_box()
    assert box is not None and box["width"] >= 44 and box["height"] >= 44
    assert box["x"] + box["width"] >= SIDE["width"] - 1 and box["y"] <= 1  # a corner
    assert not fac.locator("#countdown").is_visible()
    assert not fac.locator("article.card").first.is_visible()
    assert not fac.locator("#requests button").first.is_visible()
    assert _painted_outside(fac, box) == 0, "something besides the dot is on screen"

    beeps = fac.evaluate("window.__beeps")
    _post(pages, data, "prompt.time", {"text": "5 min left", "minutes_left": 5})
    fac.wait_for_timeout(600)
    assert fac.evaluate("window.__beeps") == beeps, "a timing prompt stays quiet while blank"
    _post(pages, data, "alert.stop", {"reason": "chat", "text": "Check the chat"})
    takeover = fac.locator("#takeover")
    takeover.filter(has_text="respond to chat").wait_for()
    _wait_until(lambda: fac.evaluate("window.__beeps") > beeps)
    takeover.get_by_role("button", name="Acknowledge").click()
    takeover.wait_for(state="hidden")
    assert not fac.locator("article.card").first.is_visible()  # still blank after the alert
    assert _painted_outside(fac, box) == 0

    dot.click()  # one tap on the corner dot brings it all back
    fac.locator("article.card", has_text="5 min left").wait_for()
    assert fac.locator("#countdown").is_visible()
    assert dot.get_attribute("aria-pressed") == "false"
    dot.click()
    fac.locator("body.blank").wait_for(state="attached")
    fac.keyboard.press("b")
    fac.locator("article.card", has_text="5 min left").wait_for()


# -- item 6: the rest of the walk, on the overlay ----------------------------------------------


def _covered_by_toast(page: Any, selector: str, saying: str) -> list[str]:
    """What of ``selector`` the toast covers, measured in one go while it shows ``saying``
    (a toast lives a few seconds: on a busy machine it may be gone between two calls)."""
    handle = page.wait_for_function(
        """([selector, saying]) => {
            const toast = document.querySelector('#toast');
            if (!toast || !toast.getClientRects().length || !toast.textContent.includes(saying))
                return null;
            const a = toast.getBoundingClientRect();
            return [...document.querySelectorAll(selector)].filter((n) => {
                const b = n.getBoundingClientRect();
                return !(a.right <= b.left || b.right <= a.left
                         || a.bottom <= b.top || b.bottom <= a.top);
            }).map((n) => n.id || n.textContent.trim());
        }""",
        arg=[selector, saying],
        polling=50,
    )
    covered: list[str] = handle.json_value()
    return covered


def test_on_a_phone_grants_snoozes_timing_cards_toasts_and_quick_replies_read_right(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    _post(pages, data, "session.start", {})
    _post(pages, data, "segment.start", {"index": 0})
    phone = {"viewport": PHONE, "is_mobile": True, "has_touch": True}
    fac = _overlay(pages, data, **phone)
    obs = _overlay(pages, data, "?mode=transparent", viewport=OBS)

    # Quick replies: whole labels at 390 px, nothing cut behind an ellipsis.
    for button in fac.locator("#quick button").all():
        assert button.evaluate(
            "b => b.scrollWidth <= b.clientWidth && b.scrollHeight <= b.clientHeight"
        )
    assert [t.strip() for t in fac.locator("#quick button").all_inner_texts()] == [
        "OK", "1 more min", "Thanks", "A moment"
    ]  # fmt: skip

    # "1 more min" is an ask; the producer's grant shows on it.
    fac.locator("#quick button", has_text="1 more min").tap()
    fac.locator("#my-requests .chip", has_text="1 more minute: waiting for the producer").wait_for()
    # The toast sits above the request bar: it covers no request button and no quick reply.
    assert _covered_by_toast(fac, "#request-bar", "") == []
    _post(pages, data, "segment.extend", {"index": 0, "minutes": 1})
    fac.locator("#my-requests .chip.done", has_text="1 more minute: granted +1 min").wait_for()
    fac.locator("#my-requests .chip", has_text="waiting for the producer").wait_for(
        state="detached"
    )
    fac.locator("#requests button[data-action='poll']").tap()
    assert _covered_by_toast(fac, "#requests button, #quick button", "sent") == []

    # A snoozed stop alert stays on the overlay, with the time it comes back.
    _post(pages, data, "alert.stop", {"reason": "chat", "text": "Three questions"})
    fac.locator("#takeover").get_by_role("button", name="Snooze 2 min").tap()
    snoozed = fac.locator(".snoozed-stop", has_text="respond to chat")
    snoozed.wait_for()
    assert re.search(r"snoozed until \d\d:\d\d$", snoozed.inner_text())
    assert fac.locator("#cards .empty").count() == 0  # not "All clear"
    obs.locator(".snoozed-stop", has_text="snoozed until").wait_for()

    # The current timing card is never pushed under "+N more" by flags; OBS has no "+N more".
    _post(pages, data, "prompt.time", {"text": "5 min left", "minutes_left": 5})
    for who in ("Maria Lopez", "Ahmed Khan", "Li Wei"):
        _post(pages, data, "flag.learner", {"learner": who, "flag": "hand"})
    fac.locator("#cards .more", has_text="+1 more").wait_for()
    assert fac.locator("article.card", has_text="5 min left").is_visible()
    obs.locator("article.card", has_text="Li Wei").wait_for()
    assert obs.locator("article.card", has_text="5 min left").is_visible()
    assert obs.locator("#cards .more:visible").count() == 0
    assert "more" not in obs.locator("#cards").inner_text()


def test_after_the_end_requests_are_disabled_and_the_sound_banner_goes(pages: Pages) -> None:
    data = create_session(pages.server)
    _post(pages, data, "session.start", {})
    fac = _overlay(pages, data, viewport=PHONE)
    banner = fac.locator("#sound-unlock")
    banner.wait_for()  # nothing tapped yet: sound is still off
    assert "stop alerts" in banner.inner_text()
    assert fac.locator("#requests button").first.is_enabled()
    fac.reload()
    fac.locator("#conn[data-state='online']").wait_for(state="attached")
    banner.filter(has_text="reload").wait_for()  # why it is back
    _post(pages, data, "session.end", {})
    fac.locator("#seg-title", has_text="Session ended").wait_for()
    banner.wait_for(state="hidden")
    buttons = fac.locator("#requests button, #quick button")
    _wait_until(lambda: all(b.is_disabled() for b in buttons.all()))
    assert buttons.count() == 10


# -- item 8: axe on the overlay in every mode and state ----------------------------------------


def test_the_overlay_passes_axe_in_each_mode_with_a_takeover_blank_replaced_and_the_observer(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    _post(pages, data, "session.start", {})
    _post(pages, data, "segment.start", {"index": 0})
    _post(pages, data, "prompt.time", {"text": "5 min left", "minutes_left": 5})
    _post(pages, data, "message", {"text": "Poll is ready"})
    _post(pages, data, "flag.learner", {"learner": "Li Wei", "flag": "hand"})
    modes = {"full": "", "compact": "?mode=compact", "transparent (OBS)": "?mode=transparent"}
    opened = {}
    for name, query in modes.items():
        page = _overlay(pages, data, query, viewport=SIDE if name != "compact" else PHONE)
        page.locator("article.card").first.wait_for()
        assert_accessible(page, f"the overlay, {name}")
        opened[name] = page
    full = opened["full"]
    full.locator("#quick button").first.wait_for()
    observer = pages.open(links(data)["observer"])
    observer.locator("#conn", has_text="Online").wait_for()
    observer.locator("#log li").first.wait_for()
    assert_accessible(observer, "the observer's view")

    _post(pages, data, "alert.stop", {"reason": "chat", "text": "Three questions"})
    for name, page in opened.items():
        page.locator("#takeover", has_text="respond to chat").wait_for()
        assert_accessible(page, f"the overlay, {name}, with a stop takeover")
    full.locator("#takeover").get_by_role("button", name="Snooze 2 min").click()
    full.locator(".snoozed-stop").wait_for()
    assert_accessible(full, "the overlay with a snoozed stop alert")

    full.keyboard.press("b")
    full.locator("body.blank").wait_for(state="attached")
    assert_accessible(full, "the overlay, blanked")
    full.keyboard.press("b")

    pid = _participant(pages, data, "facilitator")
    _manage(pages, data, "POST", f"/{pid}/rotate")
    for name, page in opened.items():
        page.locator("#link-stopped h1").wait_for()
        assert_accessible(page, f"the overlay, {name}, its link replaced")
    strip = opened["compact"].locator("#link-stopped").bounding_box()
    assert strip is not None and strip["height"] <= 90  # one line in the compact strip


def test_an_overlay_opened_without_a_key_starts_when_the_link_is_pasted_into_the_tab(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    fac = pages.open("/facilitator", viewport=SIDE)
    fac.locator("#fatal", has_text="facilitator link").wait_for()
    fac.evaluate("window.__sameTab = true")
    fac.evaluate("(t) => { location.hash = 't=' + t; }", data["tokens"]["facilitator"])
    fac.locator("#conn", has_text="Live").wait_for()
    fac.locator("#fatal").wait_for(state="hidden")
    assert fac.evaluate("window.__sameTab === true")
    assert "#" not in fac.url
