"""Learner names suggested as the producer types, and the agenda edited from the panel."""

from typing import Any

import pytest

from tests.e2e.conftest import Pages, create_session, links, logged

pytestmark = pytest.mark.browser

ROSTER = ["Sofía Hernández", "Aiyana Brooks", "Ahmed Khan", "Ahmad Karimi", "Li Wei"]


def pair(pages: Pages, **session: Any) -> tuple[dict[str, Any], Any, Any]:
    data = create_session(pages.server, **session)
    paths = links(data)
    producer = pages.open(paths["producer"])
    facilitator = pages.open(paths["facilitator"], viewport={"width": 420, "height": 800})
    producer.locator("#conn", has_text="Online").wait_for()
    facilitator.locator("#conn", has_text="Live").wait_for()
    producer.locator("[data-preset='hand']").wait_for()
    producer.locator("#presence.on").wait_for()
    return data, producer, facilitator


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
    producer.keyboard.press("h")
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
    producer.keyboard.press("t")
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
