"""A preset with variables, tapped on the producer panel: the overlay shows it filled from
the session's state (the running segment, the next one, the facilitator's name)."""

import httpx
import pytest

from tests.e2e.conftest import Pages, create_session, links, logged

pytestmark = pytest.mark.browser


def test_a_preset_with_variables_reaches_the_overlay_filled(pages: Pages) -> None:
    data = create_session(
        pages.server,
        agenda=[{"title": "Warm-up", "minutes": 10}, {"title": "Role play", "minutes": 20}],
        facilitator_name="Dana",
    )
    sid, token = data["session"]["id"], data["tokens"]["producer"]
    auth = {"Authorization": f"Bearer {token}"}
    base = f"{pages.server.url}/api/v1/sessions/{sid}"
    playbook = [
        {
            "preset_id": "time-check",
            "label": "Time check",
            "kind": "prompt.time",
            "body": {"text": "{facilitator}, {minutes_left} min of {segment}, then {next}"},
            "key": "7",
        }
    ]
    assert httpx.put(f"{base}/presets", json=playbook, headers=auth).status_code == 200
    for kind, body in (("session.start", {}), ("segment.start", {"index": 0})):
        r = httpx.post(f"{base}/events", json={"kind": kind, "body": body}, headers=auth)
        assert r.status_code == 201, r.text
    paths = links(data)
    producer = pages.open(paths["producer"])
    facilitator = pages.open(paths["facilitator"], viewport={"width": 420, "height": 800})
    button = producer.locator("[data-preset='time-check']")
    button.wait_for()
    facilitator.locator("#conn").filter(has_text="Live").wait_for()

    button.click()
    card = facilitator.locator("article.card[data-kind='prompt.time']")
    card.filter(has_text="Dana, 10 min of Warm-up, then Role play").wait_for()
    assert "{" not in card.first.inner_text()
    sent = logged(pages.server, data, ("prompt.time",))
    assert sent[-1]["body"]["text"] == "Dana, 10 min of Warm-up, then Role play"


def test_the_playbook_editor_names_the_variables_and_shows_a_refusal(pages: Pages) -> None:
    data = create_session(pages.server)
    producer = pages.open(links(data)["producer"])
    editor = producer.locator("#playbook")
    editor.locator("summary").click()
    hint = producer.locator("#playbook-variables")
    hint.wait_for()
    for name in ("{segment}", "{next}", "{minutes_left}", "{facilitator}", "{learner}"):
        assert name in hint.inner_text()
    text = editor.locator("li.pb-row").first.locator("input:not([type=checkbox])").nth(1)
    text.fill("Wrap up {segmnet}")
    editor.get_by_role("button", name="Save playbook").click()
    error = editor.locator(".error-box")
    error.filter(has_text="{segmnet}").wait_for()
    refused = [line for line in pages.problems.console if "422 (Unprocessable" in line]
    assert len(refused) == 1, pages.problems.console
    pages.problems.console.remove(refused[0])


def test_the_playbook_editor_opened_before_the_presets_arrive_shows_them_when_they_do(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    held: list = []
    page = pages.watch(pages.context().new_page())
    page.route("**/presets", lambda route: held.append(route))  # the first read waits
    page.goto(pages.server.url + links(data)["producer"])
    page.locator("#playbook summary").click()
    rows = page.locator("#playbook li.pb-row")
    deadline = 100
    while not held and deadline:
        page.wait_for_timeout(50)
        deadline -= 1
    assert held, "the panel never asked for its presets"
    assert rows.count() == 0
    held[0].continue_()
    rows.first.wait_for()
    label = rows.first.locator("input.pb-label")
    assert label.input_value() != ""
    assert rows.count() == len(
        httpx.get(
            f"{pages.server.url}/api/v1/sessions/{data['session']['id']}/presets",
            headers={"Authorization": f"Bearer {data['tokens']['producer']}"},
        ).json()["presets"]
    )
