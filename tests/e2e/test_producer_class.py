"""The producer's side of a class in progress (issue 21): typing into the panel sends nothing,
a stop alert's second tap lands where the first did, a waiting alert reaches a producer who
is in another window, edits reach every producer tab, and the pages pass axe."""

from typing import Any

import httpx
import pytest

from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import LOGGED_MSG, SHORTCUT_WAIT_MS, Pages, create_session, links, logged

pytestmark = pytest.mark.browser

TRACKED = ("prompt.time", "flag.learner", "alert.stop", "message")


def _pair(pages: Pages, **options: Any) -> tuple[dict[str, Any], Any, Any]:
    data = create_session(pages.server)
    paths = links(data)
    producer = pages.open(paths["producer"], **options)
    facilitator = pages.open(paths["facilitator"], viewport={"width": 420, "height": 800})
    producer.locator("#conn", has_text="Online").wait_for()
    facilitator.locator("#conn", has_text="Live").wait_for()
    producer.locator("[data-preset='stop-chat']").wait_for()
    producer.locator("#presence.on").wait_for()
    return data, producer, facilitator


def _to_panel(page: Any) -> None:
    """Focus on the panel itself, as a producer who clicked its background (or typed into it
    thinking it was the video call's chat)."""
    page.evaluate("document.activeElement && document.activeElement.blur(); document.body.focus()")


# -- item 2: typing never sends ------------------------------------------------------------


def test_chat_lines_typed_into_the_panel_at_any_speed_send_nothing(pages: Pages) -> None:
    data, producer, facilitator = _pair(pages)
    _to_panel(producer)
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
    data, producer, facilitator = _pair(pages)
    _to_panel(producer)
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
    data, producer, facilitator = _pair(pages)
    _to_panel(producer)
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
    data, producer, facilitator = _pair(pages)
    _to_panel(producer)
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


# -- item 3: the second tap of a stop alert lands on its confirm button --------------------


def _layout(page: Any) -> list[tuple[float, float]]:
    """Where every visible element of the header and the send panel is, in page coordinates
    (the status column grows as events arrive, whatever the taps do)."""
    result: list[tuple[float, float]] = page.evaluate(
        """() => [...document.querySelectorAll('#send-panel *, .sticky-head *')]
            .filter((n) => !n.closest('#armed') && n.getClientRects().length)
            .map((n) => { const r = n.getBoundingClientRect();
                          return [Math.round(r.left + scrollX), Math.round(r.top + scrollY)]; })"""
    )
    return result


@pytest.mark.parametrize(
    ("viewport", "at"),
    [
        ({"width": 1280, "height": 900}, None),
        ({"width": 1280, "height": 900}, 160),
        ({"width": 390, "height": 844}, 620),
        ({"width": 390, "height": 844}, 330),
    ],
    ids=["desktop-unscrolled", "desktop-scrolled", "phone-low", "phone-high"],
)
def test_a_second_tap_where_the_first_was_sends_the_stop_alert_and_nothing_moves(
    pages: Pages, viewport: dict[str, int], at: int | None
) -> None:
    """`at`: the page scrolled so that the stop button is this far from the top (None: not
    scrolled at all)."""
    data, producer, facilitator = _pair(pages, viewport=viewport)
    button = producer.locator("[data-preset='stop-chat']")
    if at is not None:
        producer.evaluate(
            "(at) => { const b = document.querySelector(\"[data-preset='stop-chat']\");"
            " scrollTo(0, b.getBoundingClientRect().top + scrollY - at); }",
            at,
        )
        assert producer.evaluate("scrollY") > 100
    else:
        assert producer.evaluate("scrollY") == 0
    box = button.bounding_box()
    assert box is not None
    # Off centre, as a thumb taps.
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.7
    before = _layout(producer)
    scrolled = producer.evaluate("scrollY")
    producer.mouse.click(x, y)
    producer.locator("#armed").wait_for()
    assert producer.evaluate("scrollY") == scrolled
    assert _layout(producer) == before
    hit = producer.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('button')?.id", [x, y]
    )
    assert hit == "armed-send"
    assert logged(pages.server, data, ("alert.stop",)) == []
    producer.mouse.click(x, y)
    facilitator.locator("#takeover").filter(has_text="respond to chat").wait_for()
    producer.locator("#armed").wait_for(state="hidden")
    assert [a["body"]["reason"] for a in logged(pages.server, data, ("alert.stop",))] == ["chat"]


# -- item 5: a waiting stop alert reaches a producer who is in another window --------------

# Counts what the page plays and notifies; lets the test hide the tab.
INSTRUMENT = """
window.__chimes = [];
window.__notes = [];
window.__asked = 0;
const RealAudio = window.AudioContext;
window.AudioContext = class extends RealAudio {
  createOscillator() {
    const osc = super.createOscillator();
    const start = osc.start.bind(osc);
    osc.start = (...a) => { window.__chimes.push(Date.now()); return start(...a); };
    return osc;
  }
};
window.Notification = class {
  static permission = "default";
  static requestPermission() {
    window.__asked += 1;
    window.Notification.permission = "granted";
    return Promise.resolve("granted");
  }
  constructor(title, options) { window.__notes.push({ title, body: options && options.body }); }
  close() {}
};
let hidden = false;
Object.defineProperty(document, "visibilityState", { get: () => (hidden ? "hidden" : "visible") });
Object.defineProperty(document, "hidden", { get: () => hidden });
window.__setHidden = (h) => { hidden = h; document.dispatchEvent(new Event("visibilitychange")); };
"""


def _chimes(page: Any) -> list[int]:
    """Times (ms) at which a chime began: oscillator starts more than a second apart."""
    starts: list[int] = page.evaluate("window.__chimes")
    out: list[int] = []
    for t in starts:
        if not out or t - out[-1] > 1000:
            out.append(t)
    return out


def test_a_stop_alert_left_waiting_flashes_the_title_chimes_and_notifies_a_hidden_tab(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    paths = links(data)
    ctx = pages.context()
    ctx.add_init_script(INSTRUMENT)
    producer = pages.open(paths["producer"], ctx)
    facilitator = pages.open(paths["facilitator"], viewport={"width": 420, "height": 800})
    producer.locator("#conn", has_text="Online").wait_for()
    facilitator.locator("#conn", has_text="Live").wait_for()
    assert producer.locator("#sound").is_checked()  # on by default
    button = producer.locator("[data-preset='stop-chat']")
    button.click()
    producer.locator("#armed-send").click()
    facilitator.locator("#takeover").wait_for()
    assert producer.evaluate("window.__asked") == 1  # asked once, on the tap

    producer.wait_for_function(
        "() => /^\\(!\\) waiting 0:0\\d — Coaching skills — producer$/.test(document.title)"
    )
    assert producer.evaluate("window.__notes") == []  # the tab is in view
    producer.evaluate("window.__setHidden(true)")
    producer.wait_for_function("() => window.__notes.length === 1")
    note = producer.evaluate("window.__notes[0]")
    assert note["title"].startswith("Stop alert waiting 0:0"), note
    assert "respond to chat" in note["body"], note

    # A chime 20 s after the alert (none before), and a notification with it.
    at = logged(pages.server, data, ("alert.stop",))[0]["at"]
    sent_ms = producer.evaluate("(at) => Date.parse(at)", at)
    assert _chimes(producer) == []
    producer.wait_for_function("() => window.__chimes.length > 0", timeout=30000)
    chimes = _chimes(producer)
    assert len(chimes) == 1 and 19500 <= chimes[0] - sent_ms < 23000, (chimes, sent_ms)
    producer.wait_for_function("() => window.__notes.length === 2")
    assert producer.evaluate("window.__notes[1].title").startswith("Stop alert waiting 0:2")
    producer.wait_for_function("() => /waiting 0:2\\d/.test(document.title)")

    # Answered: the title is the page's own again.
    producer.evaluate("window.__setHidden(false)")
    facilitator.locator("#takeover button.ok").click()
    producer.wait_for_function("() => document.title === 'Coaching skills — producer'")


# -- item 6: edits reach every producer tab; names that could be two learners ------------


def test_playbook_and_roster_edits_reach_every_open_producer_tab_live(pages: Pages) -> None:
    data, first, _facilitator = _pair(pages)
    second = pages.open(links(data)["producer"])
    second.locator("#conn", has_text="Online").wait_for()
    second.locator("[data-preset='ten-min']").wait_for()
    sid = data["session"]["id"]
    auth = {"Authorization": "Bearer " + data["tokens"]["producer"]}
    url = f"{pages.server.url}/api/v1/sessions/{sid}"
    presets = httpx.get(url + "/presets", headers=auth, timeout=10).json()["presets"]
    presets[0] = {**presets[0], "label": "Ten minutes to go"}
    r = httpx.put(url + "/presets", json={"presets": presets}, headers=auth, timeout=10)
    assert r.status_code == 200, r.text
    r = httpx.patch(
        url,
        json={"roster": ["Maria Lopez", "Ahmed Khan", "Li Wei", "Zoe Park"]},
        headers=auth,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    for tab in (first, second):
        tab.locator("[data-preset='ten-min']", has_text="Ten minutes to go").wait_for()
        tab.locator("#roster button", has_text="Zoe Park").wait_for()
        tab.locator("#roster-summary", has_text="4 of 4 not heard from").wait_for()
    # Without a reload: the page that was open is the same page.
    assert first.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_a_name_that_could_be_two_learners_asks_which_one(pages: Pages) -> None:
    data = create_session(pages.server, roster=["Maria Lopez", "Maria Chen", "Li Wei"])
    paths = links(data)
    producer = pages.open(paths["producer"])
    facilitator = pages.open(paths["facilitator"], viewport={"width": 420, "height": 800})
    producer.locator("#conn", has_text="Online").wait_for()
    producer.locator("[data-preset='hand']").wait_for()
    producer.locator("#learner").fill("maria")
    producer.locator("#learner").press("Enter")
    which = producer.locator(".which", has_text="Which Maria?")
    which.wait_for()
    options = producer.locator("#learner-suggestions [role=option]")
    assert options.all_inner_texts() == ["Maria Lopez", "Maria Chen"]
    # A flag now does not go out as a new learner "maria".
    producer.locator("[data-preset='hand']").click()
    producer.wait_for_timeout(500)
    assert logged(pages.server, data, ("flag.learner",)) == []
    producer.locator("#learner").press("ArrowDown")
    producer.locator("#learner").press("ArrowDown")
    producer.locator("#learner").press("Enter")
    assert producer.locator("#learner").input_value() == "Maria Chen"
    which.wait_for(state="hidden")
    producer.locator("[data-preset='hand']").click()
    facilitator.locator("article.card", has_text="Maria Chen").wait_for()
    flags = logged(pages.server, data, ("flag.learner",))
    assert [f["body"]["learner"] for f in flags] == ["Maria Chen"]


def test_the_roster_view_counts_roster_names_and_lists_the_others_apart(pages: Pages) -> None:
    data, producer, _facilitator = _pair(pages)  # roster: Maria Lopez, Ahmed Khan, Li Wei
    sid = data["session"]["id"]
    for learner in ("Li Wei", "Guest 7"):
        r = httpx.post(
            f"{pages.server.url}/api/v1/sessions/{sid}/events",
            json={"kind": "flag.learner", "body": {"learner": learner, "flag": "hand"}},
            headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
            timeout=10,
        )
        assert r.status_code == 201, r.text
    producer.locator("#roster-summary", has_text="2 of 3 not heard from").wait_for()
    apart = producer.locator("#roster-view tbody.roster-others")
    apart.locator("th", has_text="Not on the roster (1)").wait_for()
    assert apart.locator("tr[data-learner='Guest 7']").is_visible()
    roster_rows = producer.locator("#roster-view tbody:not(.roster-others) tr")
    assert sorted(roster_rows.evaluate_all("rs => rs.map(r => r.dataset.learner)")) == [
        "Ahmed Khan",
        "Li Wei",
        "Maria Lopez",
    ]


# -- item 8: axe on the producer's pages ----------------------------------------------------


def test_the_producer_and_observer_pages_pass_axe_live_armed_and_with_an_alert_waiting(
    pages: Pages,
) -> None:
    data, producer, facilitator = _pair(pages)
    producer.locator("#seg-next").click()
    producer.locator(".seg.current").wait_for()
    producer.locator("[data-preset='five-min']").click()
    producer.locator(LOGGED_MSG).first.wait_for()
    assert_accessible(producer, "producer live")
    _to_panel(producer)
    producer.keyboard.press("2")
    producer.locator("#pending-key").wait_for()
    assert_accessible(producer, "producer with a key waiting")
    producer.keyboard.press("Escape")
    producer.locator("#pending-key").wait_for(state="hidden")
    button = producer.locator("[data-preset='stop-chat']")
    button.click()
    producer.locator("#armed").wait_for()
    assert_accessible(producer, "producer with the stop confirm open")
    producer.locator("#armed-send").click()
    producer.locator("#waiting-panel li").wait_for()
    facilitator.locator("#takeover").wait_for()
    assert_accessible(producer, "producer with a stop alert waiting")
    observer = pages.open(links(data)["observer"])
    observer.locator("#readonly").wait_for()
    observer.locator("#waiting-panel li").wait_for()
    observer.locator("#log li[data-kind='alert.stop']").wait_for()
    assert_accessible(observer, "observer with a stop alert waiting")


def test_with_sound_off_and_notifications_denied_only_the_title_flashes(pages: Pages) -> None:
    data = create_session(pages.server)
    ctx = pages.context()
    ctx.add_init_script(INSTRUMENT.replace('permission = "default"', 'permission = "denied"'))
    producer = pages.open(links(data)["producer"], ctx)
    facilitator = pages.open(links(data)["facilitator"], viewport={"width": 420, "height": 800})
    producer.locator("#conn", has_text="Online").wait_for()
    facilitator.locator("#conn", has_text="Live").wait_for()
    producer.locator("#sound").uncheck()
    producer.locator("[data-preset='stop-chat']").click()
    producer.locator("#armed-send").click()
    facilitator.locator("#takeover").wait_for()
    producer.evaluate("window.__setHidden(true)")
    # Past the 20 s mark: the title counts on, nothing sounds, nothing is asked or shown.
    producer.wait_for_function(
        "() => /^\\(!\\) waiting 0:2[1-9] — /.test(document.title)", timeout=40000
    )
    assert _chimes(producer) == []
    assert producer.evaluate("[window.__asked, window.__notes.length]") == [0, 0]
