"""Each page on its own: create, observer, debrief, phone width, headers, no CSP trouble."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LOGGED_MSG, Pages, create_session, links, logged, press_shortcut

pytestmark = pytest.mark.browser


def no_horizontal_scroll(page: Any) -> None:
    sizes = page.evaluate(
        "({sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth,"
        " bw: document.body.scrollWidth})"
    )
    assert sizes["sw"] <= sizes["cw"] and sizes["bw"] <= sizes["cw"], sizes


def test_the_create_page_makes_a_session_with_its_agenda_roster_links_and_qr(
    pages: Pages,
) -> None:
    page = pages.open("/")
    page.fill("#title", "Onboarding <b>week</b>")
    rows = page.locator("#agenda .agenda-row")
    assert rows.count() == 3
    page.click("#add-seg")
    rows.nth(3).locator("input").first.fill("Q&A")
    rows.nth(3).locator("input").nth(1).fill("7")
    rows.nth(3).get_by_role("button", name="Move up").click()  # Q&A before Wrap-up
    rows.nth(0).get_by_role("button", name="Remove segment").click()
    page.fill("#roster", "Maria\nAhmed\n\nLi\nmaria\n")
    page.locator("#roster-count", has_text="3 learners").wait_for()
    page.click("#create-btn")
    page.locator("#result").wait_for()

    hrefs = page.eval_on_selector_all("#links a", "els => els.map(a => a.href)")
    assert len(hrefs) == 4
    assert "/producer#t=" in hrefs[0] and "/facilitator#t=" in hrefs[1]
    assert "/debrief#t=" in hrefs[3]
    qr = page.locator("#qr")
    qr.wait_for()
    page.wait_for_function("document.querySelector('#qr').naturalWidth > 0")
    assert qr.get_attribute("src").startswith("blob:")
    page.locator(".link-row button", has_text="Copy").first.click()
    page.locator(".link-row button", has_text="Cop").first.wait_for()

    sid = hrefs[0].split("s=")[1]
    token = hrefs[0].split("#t=")[1].split("&")[0]
    r = httpx.get(
        f"{pages.server.url}/api/v1/sessions/{sid}", headers={"Authorization": f"Bearer {token}"}
    )
    session = r.json()["session"]
    assert session["title"] == "Onboarding <b>week</b>"
    assert [s["title"] for s in session["agenda"]] == ["Main activity", "Q&A", "Wrap-up"]
    assert [s["minutes"] for s in session["agenda"]] == [30, 7, 10]
    assert session["roster"] == ["Maria", "Ahmed", "Li"]
    assert "Onboarding <b>week</b>" in page.locator("#result-title").inner_text()


def test_the_overlay_at_360_by_640_shows_a_stop_alert_without_sideways_scrolling(
    pages: Pages,
) -> None:
    data = create_session(pages.server, roster=["Bartholomew Featherstonehaugh-Smythe"])
    paths = links(data)
    phone = pages.open(
        paths["facilitator"],
        viewport={"width": 360, "height": 640},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    phone.locator("#conn", has_text="Live").wait_for()
    producer = pages.open(paths["producer"])
    producer.locator("#conn", has_text="Online").wait_for()
    producer.locator("[data-preset='ten-min']").wait_for()
    producer.locator("#roster button").first.click()
    press_shortcut(producer, "t")
    phone.locator("article.card", has_text="tech trouble").wait_for()
    no_horizontal_scroll(phone)
    long_text = "Several learners say the breakout link is not working " * 4
    producer.locator("[data-preset='stop-problem']").click()
    producer.locator("#stop-detail").fill(long_text.strip()[:480])
    producer.locator("#armed-send").click()
    takeover = phone.locator("#takeover")
    takeover.filter(has_text="address a problem").wait_for()
    takeover.locator(".detail", has_text="breakout link is not working").wait_for()
    no_horizontal_scroll(phone)
    ok = takeover.get_by_role("button", name="Acknowledge ✓")
    box = ok.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    assert box["height"] >= 44
    ok.tap()
    takeover.wait_for(state="hidden")
    no_horizontal_scroll(phone)
    assert [e["body"]["status"] for e in logged(pages.server, data, ("ack",))] == ["done"]


def test_the_observer_panel_is_read_only_and_its_notes_never_reach_the_facilitator(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    paths = links(data)
    observer = pages.open(paths["observer"])
    facilitator = pages.open(paths["facilitator"], viewport={"width": 400, "height": 700})
    observer.locator("#conn", has_text="Online").wait_for()
    observer.locator("#readonly").wait_for()
    assert not observer.locator("#send-panel").is_visible()
    assert not observer.locator("#seg-controls").is_visible()
    press_shortcut(observer, "2")  # a producer shortcut does nothing here
    press_shortcut(observer, "n")
    observer.keyboard.type("Learners lost in activity 2")
    observer.keyboard.press("Control+Enter")
    observer.locator("#log li[data-kind='note']", has_text="Learners lost").wait_for()
    facilitator.locator("#conn", has_text="Live").wait_for()
    facilitator.wait_for_timeout(500)
    assert "Learners lost" not in facilitator.content()
    kinds = [e["kind"] for e in logged(pages.server, data) if e["kind"] != "presence"]
    assert kinds == ["note"]


def test_the_debrief_shows_the_report_and_timeline_and_downloads_the_export(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    paths = links(data)
    producer = pages.open(paths["producer"])
    facilitator = pages.open(paths["facilitator"], viewport={"width": 400, "height": 800})
    producer.locator("#conn", has_text="Online").wait_for()
    producer.locator("[data-preset='ten-min']").wait_for()
    producer.locator("#seg-next").click()
    producer.locator(".seg.current", has_text="Welcome").wait_for()
    producer.locator("#countdown", has_text="9:5").wait_for()
    facilitator.locator("#seg-title", has_text="Welcome").wait_for()
    producer.locator("#seg-plus5").click()
    producer.locator("#countdown", has_text="14:5").wait_for()
    facilitator.locator("#countdown", has_text="14:5").wait_for()
    producer.locator("#roster button", has_text="Li Wei").click()
    press_shortcut(producer, "c")
    facilitator.locator("article.card", has_text="Li Wei").get_by_role(
        "button", name="Acknowledge"
    ).click()
    producer.locator("#note").fill("Good energy in the check-in")
    producer.locator("#note-form button").click()
    press_shortcut(producer, "]")  # next segment
    producer.locator(".seg.current", has_text="Practice").wait_for()
    producer.locator("#messages li.msg[data-status='done']").wait_for()

    debrief = pages.open(paths["debrief"])
    debrief.locator("#figures .figure").first.wait_for()
    assert "Coaching skills" in debrief.locator("#title").inner_text()
    debrief.locator("#segments tr", has_text="Welcome").wait_for()
    assert "+5" in debrief.locator("#segments tr", has_text="Welcome").inner_text()
    debrief.locator("#learners tr", has_text="Li Wei").wait_for()
    debrief.locator("#notes li", has_text="Good energy").wait_for()
    debrief.locator("#timeline li[data-kind='flag.learner']").wait_for()
    assert debrief.locator("#timeline li[data-kind='seen']").count() == 0
    debrief.locator("#show-receipts").check()
    debrief.locator("#timeline li[data-kind='seen']").first.wait_for()
    with debrief.expect_download() as info:
        debrief.locator("#export").click()
    export = json.loads(Path(info.value.path()).read_text())
    assert export["format"] == "backchannel.export"
    assert [e["seq"] for e in export["events"]] == [e["seq"] for e in logged(pages.server, data)]

    # A facilitator's debrief has the report but no export button (export is producer/observer).
    fac_debrief = pages.open(f"/debrief#t={data['tokens']['facilitator']}")
    fac_debrief.locator("#figures .figure").first.wait_for()
    assert not fac_debrief.locator("#export").is_visible()
    assert fac_debrief.locator("#notes li").count() == 0


def test_pages_send_security_headers_and_keep_the_key_out_of_requests(pages: Pages) -> None:
    data = create_session(pages.server)
    token = data["tokens"]["producer"]
    seen_urls: list[str] = []
    ctx = pages.context()
    ctx.on("request", lambda r: seen_urls.append(r.url))
    page = pages.open(links(data)["producer"], ctx)
    page.locator("#conn", has_text="Online").wait_for()
    assert not any(token in u for u in seen_urls), seen_urls
    assert token not in page.url
    for path in ("/", "/producer", "/facilitator", "/debrief", "/static/producer.js"):
        r = httpx.get(pages.server.url + path)
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "no-cache" in r.headers["cache-control"]


@pytest.mark.parametrize("path", ["/", "/producer", "/facilitator", "/debrief"])
def test_a_page_opened_without_a_key_explains_itself_without_errors(
    pages: Pages, path: str
) -> None:
    page = pages.open(path)
    if path == "/":
        page.locator("#title").wait_for()
    else:
        page.locator("#fatal").wait_for()
        assert "link" in page.locator("#fatal").inner_text()


def test_a_bad_key_closes_the_connection_for_good(pages: Pages) -> None:
    page = pages.open("/facilitator#t=not-a-real-token-at-all")
    page.locator("#conn[data-state='closed']").wait_for(state="attached")
    page.locator("#link-stopped").get_by_role("heading", name="This link is not valid").wait_for()
    assert page.locator("button:visible").count() == 0


def test_every_page_fits_a_360_pixel_phone_without_sideways_scrolling(pages: Pages) -> None:
    data = create_session(pages.server, title="A rather long session title " * 6)
    paths = links(data)
    phone = {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True}
    producer = pages.open(paths["producer"], **phone)
    producer.locator("[data-preset='five-min']").wait_for()
    producer.locator("[data-preset='five-min']").tap()
    producer.locator(LOGGED_MSG).wait_for()
    no_horizontal_scroll(producer)
    facilitator = pages.open(paths["facilitator"], **phone)
    facilitator.locator("article.card").wait_for()
    no_horizontal_scroll(facilitator)
    debrief = pages.open(paths["debrief"], **phone)
    debrief.locator("#timeline li[data-kind='prompt.time']").wait_for()
    no_horizontal_scroll(debrief)
    create = pages.open("/", **phone)
    create.fill("#title", "Phone-made session")
    create.click("#create-btn")
    create.locator("#result").wait_for()
    no_horizontal_scroll(create)
