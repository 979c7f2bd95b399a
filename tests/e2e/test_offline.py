"""The outbox: messages sent without a connection arrive exactly once, in order."""

from typing import Any

import pytest

from tests.e2e.conftest import LOGGED_MSG, Pages, create_session, links, logged, press_shortcut

pytestmark = pytest.mark.browser


def _open(pages: Pages) -> tuple[dict[str, Any], Any, Any, Any]:
    data = create_session(pages.server)
    paths = links(data)
    ctx = pages.context()
    producer = pages.open(paths["producer"], ctx)
    facilitator = pages.open(paths["facilitator"], viewport={"width": 400, "height": 800})
    producer.locator("#conn", has_text="Online").wait_for()
    facilitator.locator("#conn", has_text="Live").wait_for()
    producer.locator("[data-preset='ten-min']").wait_for()
    return data, ctx, producer, facilitator


def test_prompts_sent_offline_arrive_once_and_in_order_when_back_online(pages: Pages) -> None:
    data, ctx, producer, facilitator = _open(pages)
    ctx.set_offline(True)
    producer.locator("#conn[data-state='offline']").wait_for()
    press_shortcut(producer, "1")  # 10 min left
    press_shortcut(producer, "3")  # 2 min left
    queued = producer.locator("#messages li.msg[data-status='sending']")
    queued.nth(1).wait_for()
    assert "Queued" in queued.first.inner_text()
    assert producer.evaluate("Object.keys(localStorage).filter(k => k.startsWith('bc.outbox.'))")
    facilitator.wait_for_timeout(800)
    assert facilitator.locator("article.card").count() == 0
    assert logged(pages.server, data, ("prompt.time",)) == []

    ctx.set_offline(False)
    producer.locator("#conn", has_text="Online").wait_for()
    cards = facilitator.locator("article.card[data-kind='prompt.time']")
    # In order: "2 min" (sent second) replaced "10 min" on the overlay.
    facilitator.locator("#earlier li[data-state='replaced']", has_text="10 min left").wait_for()
    assert cards.locator(".text").all_inner_texts() == ["2 min left"]
    producer.locator("#messages li.msg[data-status='sending']").wait_for(state="detached")
    assert (
        producer.evaluate("Object.keys(localStorage).filter(k => k.startsWith('bc.outbox.'))") == []
    )

    texts = [e["body"]["text"] for e in logged(pages.server, data, ("prompt.time",))]
    assert texts == ["10 min left", "2 min left"]
    facilitator.wait_for_timeout(500)
    assert cards.count() == 1


def test_a_message_queued_before_a_reload_is_delivered_once_after_it(pages: Pages) -> None:
    data, ctx, producer, facilitator = _open(pages)
    # From now on the producer's sockets reach nothing (the server never answers hello),
    # until `blocked` is lifted; the page itself still loads normally.
    blocked = {"on": True}

    def route(ws: Any) -> None:
        if not blocked["on"]:
            ws.connect_to_server()

    producer.route_web_socket("**/ws", route)
    ctx.set_offline(True)
    producer.locator("#conn[data-state='offline']").wait_for()
    ctx.set_offline(False)
    producer.locator("#conn[data-state='connecting']").wait_for()
    press_shortcut(producer, "4")  # Wrap up
    producer.locator("#messages li.msg[data-status='sending']").wait_for()
    facilitator.wait_for_timeout(500)
    assert logged(pages.server, data, ("prompt.time",)) == []

    blocked["on"] = False
    producer.reload()
    producer.locator("#conn", has_text="Online").wait_for()
    facilitator.locator("article.card", has_text="Please wrap up").wait_for()
    producer.locator("#messages li.msg[data-status='sending']").wait_for(state="detached")
    producer.locator(LOGGED_MSG, has_text="Please wrap up").wait_for()

    # A second reload must not send it again.
    producer.reload()
    producer.locator("#conn", has_text="Online").wait_for()
    producer.locator("#log li[data-kind='prompt.time']").wait_for()
    producer.wait_for_timeout(500)
    events = logged(pages.server, data, ("prompt.time",))
    assert [e["body"]["text"] for e in events] == ["Please wrap up"]
    assert facilitator.locator("article.card").count() == 1


def test_a_resent_message_id_is_logged_once(pages: Pages) -> None:
    """The server answers `sent` but the reply is lost: the page re-sends the same id."""
    data, _ctx, producer, facilitator = _open(pages)
    drop_replies = {"on": True}

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def to_page(message: str | bytes) -> None:
            if drop_replies["on"] and isinstance(message, str) and '"type":"sent"' in message:
                drop_replies["on"] = False
                ws.close()  # the reply never arrives; the page reconnects and re-sends
                return
            ws.send(message)

        server.on_message(to_page)

    producer.route_web_socket("**/ws", route)
    producer.reload()
    producer.locator("#conn", has_text="Online").wait_for()
    press_shortcut(producer, "2")
    facilitator.locator("article.card", has_text="5 min left").wait_for()
    producer.locator(LOGGED_MSG, has_text="5 min left").wait_for()
    producer.locator("#messages li.msg[data-status='sending']").wait_for(state="detached")
    assert not drop_replies["on"]
    events = logged(pages.server, data, ("prompt.time",))
    assert [e["body"]["text"] for e in events] == ["5 min left"]
    assert producer.locator("#messages li.msg").count() == 1
