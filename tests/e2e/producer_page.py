"""The producer panel as a class meets it: a session with its producer and facilitator
pages open and live (tests/e2e/test_producer_*.py)."""

from typing import Any

from tests.e2e.conftest import Pages, create_session, links

# The kinds a facilitator is asked to answer or see.
TRACKED = ("prompt.time", "flag.learner", "alert.stop", "message")


def open_pair(
    pages: Pages, data: dict[str, Any] | None = None, **producer_page: Any
) -> tuple[dict[str, Any], Any, Any]:
    """A session (``data``, or a new one): its producer panel (``producer_page``: that
    page's options, e.g. its viewport) and a 420 by 800 overlay, both live, the playbook
    shown and the facilitator seen online."""
    data = data if data is not None else create_session(pages.server)
    paths = links(data)
    producer = pages.open(paths["producer"], **producer_page)
    facilitator = pages.open(paths["facilitator"], viewport={"width": 420, "height": 800})
    producer.locator("#conn", has_text="Online").wait_for()
    facilitator.locator("#conn", has_text="Live").wait_for()
    producer.locator("button[data-preset]").first.wait_for()
    producer.locator("#presence.on").wait_for()
    return data, producer, facilitator


def to_panel(page: Any) -> None:
    """Focus on the panel itself, as a producer who clicked its background (or typed into it
    thinking it was the video call's chat)."""
    page.evaluate("document.activeElement && document.activeElement.blur(); document.body.focus()")
