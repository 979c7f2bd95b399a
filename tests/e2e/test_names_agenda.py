"""Learner names suggested as the producer types, and the agenda edited from the panel."""

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Pages, create_session, logged, press_shortcut
from tests.e2e.producer_page import open_pair

pytestmark = pytest.mark.browser

ROSTER = ["Sofía Hernández", "Aiyana Brooks", "Ahmed Khan", "Ahmad Karimi", "Li Wei"]


def pair(pages: Pages, **session: Any) -> tuple[dict[str, Any], Any, Any]:
    return open_pair(pages, create_session(pages.server, **session))


def flags(pages: Pages, data: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (e["body"]["learner"], e["body"]["flag"])
        for e in logged(pages.server, data)
        if e["kind"] == "flag.learner"
    ]


def test_a_partly_typed_name_is_sent_as_the_roster_spells_it_picked_or_not(
    pages: Pages,
) -> None:
    data, producer, facilitator = pair(pages, roster=ROSTER)
    box = producer.locator("#learner")
    options = producer.locator("#learner-suggestions [role=option]")

    # Picked: "sof", ↓ and Enter take the suggestion; the next learner key sends the flag.
    box.click()
    producer.keyboard.type("sof")
    options.filter(has_text="Sofía Hernández").wait_for()
    assert box.get_attribute("aria-expanded") == "true"
    assert options.all_inner_texts() == ["Sofía Hernández"]
    producer.keyboard.press("ArrowDown")
    assert options.first.get_attribute("aria-selected") == "true"
    assert box.get_attribute("aria-activedescendant") == options.first.get_attribute("id")
    producer.keyboard.press("Enter")
    assert box.input_value() == "Sofía Hernández"
    producer.locator("#learner-suggestions").wait_for(state="hidden")
    producer.wait_for_function("document.activeElement === document.body")
    press_shortcut(producer, "h")
    facilitator.locator("article.card", has_text="Sofía Hernández: hand raised").wait_for()

    # Not picked: "sof" typed and a preset tapped with the list still open; the server
    # matches the name to the roster.
    box.click()
    producer.keyboard.type("sof")
    options.first.wait_for()
    producer.locator("[data-preset='chat-q']").click()
    facilitator.locator("article.card", has_text="Sofía Hernández: question in chat").wait_for()
    assert box.input_value() == ""

    # "Aiy" and Enter without choosing: the box shows the roster's spelling before sending.
    box.click()
    producer.keyboard.type("Aiy")
    options.filter(has_text="Aiyana Brooks").wait_for()
    producer.keyboard.press("Enter")
    assert box.input_value() == "Aiyana Brooks"
    press_shortcut(producer, "t")
    facilitator.locator("article.card", has_text="Aiyana Brooks: tech trouble").wait_for()

    producer.locator("#log li[data-kind='flag.learner']").nth(2).wait_for()
    assert flags(pages, data) == [
        ("Sofía Hernández", "hand"),
        ("Sofía Hernández", "chat"),
        ("Aiyana Brooks", "tech"),
    ]
    assert "Sofía Hernández" in producer.locator("#log").inner_text()


def test_the_suggestions_are_used_by_keyboard_and_by_mouse(pages: Pages) -> None:
    data, producer, _ = pair(pages, roster=ROSTER)
    box = producer.locator("#learner")
    listbox = producer.locator("#learner-suggestions")
    options = listbox.locator("[role=option]")
    assert listbox.is_hidden() and box.get_attribute("role") == "combobox"

    # "ah" could be Ahmed or Ahmad: both listed; arrows move and wrap, Tab picks.
    box.click()
    producer.keyboard.type("ah")
    options.nth(1).wait_for()
    assert options.all_inner_texts() == ["Ahmed Khan", "Ahmad Karimi"]

    def active() -> str:
        return str(listbox.locator("[aria-selected=true]").inner_text())

    producer.keyboard.press("ArrowDown")
    assert active() == "Ahmed Khan"
    producer.keyboard.press("ArrowDown")
    assert active() == "Ahmad Karimi"
    producer.keyboard.press("ArrowDown")
    assert active() == "Ahmed Khan"
    producer.keyboard.press("ArrowUp")
    assert active() == "Ahmad Karimi"
    producer.keyboard.press("Tab")
    assert box.input_value() == "Ahmad Karimi"
    listbox.wait_for(state="hidden")
    assert producer.evaluate("document.activeElement.id") != "learner"

    # Enter with nothing chosen keeps an unclear name as typed.
    box.fill("")
    box.click()
    producer.keyboard.type("ah")
    options.nth(1).wait_for()
    producer.keyboard.press("Enter")
    assert box.input_value() == "ah"

    # Esc closes the list and stays in the box; a second Esc leaves the box.
    box.fill("")
    box.click()
    producer.keyboard.type("li")
    options.first.wait_for()
    producer.keyboard.press("Escape")
    listbox.wait_for(state="hidden")
    assert box.get_attribute("aria-expanded") == "false"
    assert producer.evaluate("document.activeElement.id") == "learner"
    producer.keyboard.press("Escape")
    producer.wait_for_function("document.activeElement === document.body")

    # ↓ opens the list again; a click on a name picks it.
    box.click()
    producer.keyboard.press("ArrowDown")
    options.filter(has_text="Li Wei").click()
    assert box.input_value() == "Li Wei"
    listbox.wait_for(state="hidden")
    assert flags(pages, data) == []  # choosing a name sends nothing by itself


def post_event(pages: Pages, data: dict[str, Any], kind: str, body: dict[str, Any]) -> None:
    r = httpx.post(
        f"{pages.server.url}/api/v1/sessions/{data['session']['id']}/events",
        json={"kind": kind, "body": body},
        headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
        timeout=10,
    )
    assert r.status_code == 201, r.text


def session_view(pages: Pages, data: dict[str, Any]) -> dict[str, Any]:
    r = httpx.get(
        f"{pages.server.url}/api/v1/sessions/{data['session']['id']}",
        headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    view: dict[str, Any] = r.json()
    return view


def agenda_of(view: dict[str, Any]) -> list[tuple[str, float]]:
    return [(s["title"], s["minutes"]) for s in view["session"]["agenda"]]


def test_the_agenda_edited_on_the_panel_reaches_the_api_and_the_overlay(pages: Pages) -> None:
    data = create_session(pages.server)  # Welcome 10, Practice 20, Close 5
    post_event(pages, data, "session.start", {})
    post_event(pages, data, "segment.start", {"index": 0})
    _, producer, facilitator = open_pair(pages, data)
    facilitator.locator("#next", has_text="Next: Practice (20 min)").wait_for()
    producer.locator("#setup summary").click()

    def row(n: int) -> Any:
        return producer.locator(f"#agenda-rows li[data-row='{n - 1}']")

    # The running segment keeps its place, title and minutes: read-only, no move buttons.
    row(1).and_(producer.locator("[data-state='running']")).wait_for()
    assert producer.locator("#agenda-rows li.agenda-row").count() == 3
    assert row(1).get_by_label("Segment 1 title").get_attribute("readonly") is not None
    assert row(1).locator("button").count() == 0
    assert "running" in row(1).inner_text()
    assert row(2).get_by_role("button", name="Move segment 2 up").is_disabled()

    # A new segment needs a title and sensible minutes before anything is sent.
    producer.get_by_role("button", name="+ Add segment").click()
    new = row(4)
    assert producer.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "Segment 4 title"
    )
    save = producer.get_by_role("button", name="Save agenda")
    alert = producer.locator("#agenda-editor [role=alert]")
    save.click()
    alert.filter(has_text="Segment 4 needs a title.").wait_for()
    new.get_by_label("Segment 4 title").fill("Q&A")
    new.get_by_label("Segment 4 minutes").fill("0")
    save.click()
    alert.filter(has_text="Segment 4 (“Q&A”): planned minutes must be a number above 0").wait_for()
    assert agenda_of(session_view(pages, data)) == [
        ("Welcome", 10),
        ("Practice", 20),
        ("Close", 5),
    ]

    # 8 minutes; Close gets 7; Q&A moves up to come straight after the running segment.
    new.get_by_label("Segment 4 minutes").fill("8")
    row(3).get_by_label("Segment 3 minutes").fill("7")
    row(4).get_by_role("button", name="Move segment 4 up").click()
    row(3).get_by_role("button", name="Move segment 3 up").click()
    assert row(2).get_by_label("Segment 2 title").input_value() == "Q&A"
    assert row(2).get_by_role("button", name="Move segment 2 up").is_disabled()
    save.click()
    producer.locator("#agenda-editor [role=status]", has_text="Saved 4 segments").wait_for()
    assert alert.is_hidden()
    view = session_view(pages, data)
    assert agenda_of(view) == [("Welcome", 10), ("Q&A", 8), ("Practice", 20), ("Close", 7)]
    assert view["state"]["next_segment"] == {"index": 1, "title": "Q&A", "planned_minutes": 8}

    # The overlay and the panel's strip show the new agenda; Q&A runs for 8 minutes.
    facilitator.locator("#next", has_text="Next: Q&A (8 min)").wait_for()
    producer.locator("#segments li", has_text="2. Q&A · 8\u2032").wait_for()
    producer.locator("#seg-next", has_text="Start 2").click()
    facilitator.locator("#seg-title", has_text="Q&A").wait_for()
    facilitator.locator("#next", has_text="Next: Practice (20 min)").wait_for()
    facilitator.wait_for_function(
        "/^(8:00|7:[0-5][0-9])$/.test(document.querySelector('#countdown').textContent)"
    )
    row(2).and_(producer.locator("[data-state='running']")).wait_for()  # the editor follows
    assert row(1).get_attribute("data-state") == "done"


def test_the_panel_says_clearly_when_the_server_keeps_a_segment_that_started_meanwhile(
    pages: Pages,
) -> None:
    data = create_session(pages.server)  # Welcome 10, Practice 20, Close 5
    post_event(pages, data, "session.start", {})
    _, producer, _ = open_pair(pages, data)
    producer.locator("#setup summary").click()
    producer.locator("#agenda-rows li[data-row='2']").wait_for()
    # Welcome is moved below Practice here, while another screen starts Welcome.
    producer.get_by_role("button", name="Move segment 1 down").click()
    post_event(pages, data, "segment.start", {"index": 0})
    producer.locator("#segments li.current", has_text="Welcome").wait_for()
    producer.get_by_role("button", name="Save agenda").click()
    alert = producer.locator("#agenda-editor [role=alert]")
    alert.filter(has_text="segment 1 (Welcome, 10 min) has started").wait_for()
    assert "Discard changes" in alert.inner_text()
    assert agenda_of(session_view(pages, data)) == [
        ("Welcome", 10),
        ("Practice", 20),
        ("Close", 5),
    ]
    # Discarding shows the agenda as it is now: Welcome first, running, read-only.
    producer.get_by_role("button", name="Discard changes").last.click()
    first = producer.locator("#agenda-rows li[data-row='0']")
    first.and_(producer.locator("[data-state='running']")).wait_for()
    assert first.get_by_label("Segment 1 title").input_value() == "Welcome"
    assert alert.is_hidden()
    # Chromium logs the refused PATCH in the console: that one line is expected, no other.
    refused = [line for line in pages.problems.console if "409 (Conflict)" in line]
    assert len(refused) == 1, pages.problems.console
    pages.problems.console.remove(refused[0])
