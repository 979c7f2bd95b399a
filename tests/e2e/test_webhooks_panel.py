"""The producer panel's Webhooks section: add an endpoint (its secret shown once), see it
listed with what it sends, its deliveries, a refusal of a private address, remove it."""

import pytest

from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import Pages, create_session, links

pytestmark = pytest.mark.browser


def test_a_producer_adds_sees_and_removes_a_webhook_on_the_panel(pages: Pages) -> None:
    data = create_session(pages.server)
    producer = pages.open(links(data)["producer"])
    producer.locator("#conn").filter(has_text="Online").wait_for()
    box = producer.locator("#webhooks-box")
    box.locator("summary").click()
    box.get_by_text("No webhooks yet.").wait_for()

    box.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/hook")
    box.get_by_role("button", name="Add webhook").click()
    refusal = box.locator(".error-box")
    refusal.filter(has_text="loopback").wait_for()
    assert refusal.is_visible()
    # The browser logs the refused request (422) itself: that one is expected.
    refused = [line for line in pages.problems.console if "422 (Unprocessable" in line]
    assert len(refused) == 1, pages.problems.console
    pages.problems.console.remove(refused[0])

    # A public address literal: accepted, and nothing it wants happens in this test.
    box.get_by_label("Endpoint URL").fill("http://93.184.216.34/hook")
    box.get_by_label("Escalation level").select_option("3")
    box.get_by_text("Facilitator's requests").click()
    box.get_by_role("button", name="Add webhook").click()
    secret = box.locator("#webhook-secret code")
    secret.wait_for()
    assert secret.inner_text().startswith("whsec_")
    row = box.locator("li[data-webhook]")
    row.wait_for()
    text = row.inner_text()
    assert "http://93.184.216.34/hook" in text
    assert "unanswered (level 3)" in text and "request" in text and "active" in text
    assert refusal.is_hidden()
    assert_accessible(producer, "the Webhooks section open, with an endpoint")

    row.get_by_role("button", name="Deliveries").click()
    row.get_by_text("Nothing sent yet.").wait_for()
    row.get_by_role("button", name="Remove webhook http://93.184.216.34/hook").click()
    box.get_by_text("No webhooks yet.").wait_for()
