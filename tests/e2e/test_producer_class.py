"""The producer's side of a class in progress (issue 21): a stop alert's second tap lands
where the first did, edits reach every producer tab, a name that could be two learners
asks which, and the pages pass axe. (Typing: test_producer_typing.py; a waiting alert
reaching a producer in another window: test_producer_attention.py.)"""

from typing import Any

import httpx
import pytest

from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import LOGGED_MSG, Pages, create_session, links, logged
from tests.e2e.producer_page import open_pair, to_panel

pytestmark = pytest.mark.browser


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
    data, producer, facilitator = open_pair(pages, viewport=viewport)
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


# -- item 6: edits reach every producer tab; names that could be two learners ------------


def test_playbook_and_roster_edits_reach_every_open_producer_tab_live(pages: Pages) -> None:
    data, first, _facilitator = open_pair(pages)
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
    data, producer, _facilitator = open_pair(pages)  # roster: Maria Lopez, Ahmed Khan, Li Wei
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
    data, producer, facilitator = open_pair(pages)
    producer.locator("#seg-next").click()
    producer.locator(".seg.current").wait_for()
    producer.locator("[data-preset='five-min']").click()
    producer.locator(LOGGED_MSG).first.wait_for()
    assert_accessible(producer, "producer live")
    to_panel(producer)
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
