"""The facilitator's overlay in a class in progress (issue 21): an OBS source that is really
transparent, a link that was replaced, a panic blank, and the small things a live class trips
over. Every check reads what a person sees: pixels, positions, visible text."""

import io
import time
from typing import Any

import httpx
import pytest

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
