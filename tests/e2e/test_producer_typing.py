"""The producer panel as a class meets it (issue 21 item 2): text typed into the panel at any
speed sends nothing; a deliberate lone key still sends, with feedback while it waits; the
learner key keeps the name typed straight after it."""

import pytest

from tests.e2e.conftest import SHORTCUT_WAIT_MS, Pages, links, logged
from tests.e2e.producer_page import TRACKED, open_pair, to_panel

pytestmark = pytest.mark.browser


# -- item 2: typing never sends ------------------------------------------------------------


def test_chat_lines_typed_into_the_panel_at_any_speed_send_nothing(pages: Pages) -> None:
    data, producer, facilitator = open_pair(pages)
    to_panel(producer)
    lines = [
        ("3 groups still need the breakout link", 90),
        ("hi all", 330),
        ("thanks", 350),
        ("can you see my screen", 320),
        ("2 more minutes?", 500),  # slower still: tests/js/keys.test.mjs, on a fake clock,
    ]
    for text, delay in lines:
        producer.keyboard.type(text, delay=delay)
        producer.keyboard.press("Enter")
        producer.wait_for_timeout(1200)  # a pause between two chat lines
    assert producer.locator("#pending-key").is_hidden()
    assert logged(pages.server, data, TRACKED) == []
    assert facilitator.locator("article.card").count() == 0
    assert producer.locator("#armed").is_hidden()
    # The debrief has no learner "Someone" (the flags sent without a name).
    debrief = pages.open(links(data)["debrief"])
    debrief.locator("#figures .figure").first.wait_for()
    assert "Someone" not in debrief.locator("body").inner_text()


def test_a_lone_key_shows_what_is_about_to_go_and_goes_within_a_second(pages: Pages) -> None:
    data, producer, facilitator = open_pair(pages)
    to_panel(producer)
    bar = producer.locator("#pending-key")
    # Measured in the page: from the keydown to the message showing in the panel's list.
    producer.evaluate(
        """() => {
            window.__t = {};
            addEventListener('keydown', () => { window.__t.key = performance.now(); }, true);
            new MutationObserver(() => {
                if (!window.__t.sent && document.querySelector('#messages li.msg'))
                    window.__t.sent = performance.now();
            }).observe(document.querySelector('#messages'), {childList: true});
        }"""
    )
    producer.keyboard.press("2")
    bar.wait_for()
    assert "5 min left" in bar.inner_text()
    box = bar.bounding_box()
    assert box is not None and box["height"] >= 30 and box["y"] + box["height"] <= 800
    producer.locator("#messages li.msg[data-kind='prompt.time']").wait_for()
    waited_ms = producer.evaluate("window.__t.sent - window.__t.key")
    assert 700 <= waited_ms < 1000, waited_ms
    bar.wait_for(state="hidden")
    facilitator.locator("article.card", has_text="5 min left").wait_for()

    # The next key cancels a waiting one: the bar goes, nothing is sent.
    producer.wait_for_timeout(SHORTCUT_WAIT_MS)
    producer.keyboard.press("3")
    bar.wait_for()
    producer.keyboard.press("x")
    bar.wait_for(state="hidden")
    producer.wait_for_timeout(SHORTCUT_WAIT_MS)
    assert [e["body"]["text"] for e in logged(pages.server, data, TRACKED)] == ["5 min left"]


def test_the_learner_key_keeps_the_name_typed_straight_after_it(pages: Pages) -> None:
    data, producer, facilitator = open_pair(pages)
    to_panel(producer)
    producer.keyboard.press("l")
    producer.keyboard.type("Li Wei", delay=60)
    assert producer.locator("#learner").input_value() == "Li Wei"
    producer.keyboard.press("Enter")
    assert producer.evaluate("document.activeElement === document.body")
    producer.wait_for_timeout(SHORTCUT_WAIT_MS)
    producer.keyboard.press("h")
    facilitator.locator("article.card", has_text="Li Wei").wait_for()
    flags = logged(pages.server, data, ("flag.learner",))
    assert [(f["body"]["learner"], f["body"]["flag"]) for f in flags] == [("Li Wei", "hand")]


def test_a_line_that_starts_with_l_leaves_no_learner_behind(pages: Pages) -> None:
    """Typing "let me check that for you" into the panel: the L key opens the learner box at
    once, so "et me check…" lands there; it is not a roster name, so Enter clears it and no
    later flag goes out for a learner of that name. After a pause, a new name is kept."""
    data, producer, facilitator = open_pair(pages)
    to_panel(producer)
    producer.keyboard.type("let me check that for you", delay=120)
    producer.keyboard.press("Enter")
    assert producer.locator("#learner").input_value() == ""
    assert producer.evaluate("document.activeElement === document.body")
    producer.locator("#typing-hint").wait_for()
    # A line and then a click elsewhere (back to the call's window) leaves nothing either.
    producer.wait_for_timeout(SHORTCUT_WAIT_MS)
    producer.keyboard.press("l")
    producer.keyboard.type("ooks good to me", delay=90)
    assert producer.locator("#learner").input_value() == "ooks good to me"
    producer.locator("h1").click()
    assert producer.locator("#learner").input_value() == ""
    # L, a pause, then a name not on the roster: the producer meant it; it is kept.
    producer.wait_for_timeout(SHORTCUT_WAIT_MS)
    producer.keyboard.press("l")
    producer.wait_for_timeout(SHORTCUT_WAIT_MS)
    producer.keyboard.type("Guest 7", delay=60)
    producer.keyboard.press("Enter")
    assert producer.locator("#learner").input_value() == "Guest 7"
    producer.wait_for_timeout(SHORTCUT_WAIT_MS)
    producer.keyboard.press("h")
    facilitator.locator("article.card", has_text="Guest 7").wait_for()
    flags = logged(pages.server, data, ("flag.learner",))
    assert [(f["body"]["learner"], f["body"]["flag"]) for f in flags] == [("Guest 7", "hand")]
