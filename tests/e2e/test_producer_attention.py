"""The producer panel as a class meets it (issue 21 item 5): a stop alert left waiting
reaches a producer who is in another window (title, chime, notification), and only the
title when sound is off and notifications are denied."""

from typing import Any

import pytest

from tests.e2e.conftest import Pages, create_session, links, logged

pytestmark = pytest.mark.browser


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
