"""Setup and debrief in the browser: create-page settings, My sessions, the SVG timeline, print."""

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Pages, create_session, links, logged, press_shortcut
from tests.support import Server

pytestmark = pytest.mark.browser


def post_event(
    server_url: str, data: dict[str, Any], role: str, kind: str, body: dict[str, Any]
) -> dict[str, Any]:
    sid = data["session"]["id"]
    r = httpx.post(
        f"{server_url}/api/v1/sessions/{sid}/events",
        json={"kind": kind, "body": body},
        headers={"Authorization": "Bearer " + data["tokens"][role]},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    event: dict[str, Any] = r.json()
    return event


def test_a_setting_changed_on_the_create_page_governs_escalation(pages: Pages) -> None:
    page = pages.open("/")
    page.fill("#title", "Escalation drill")
    page.fill("#escalate", "6")
    page.fill("#auto-prompts", "3, 1")
    page.fill("#planned-start", "2026-12-24T09:30")
    page.click("#create-btn")
    page.locator("#result").wait_for()
    href = page.eval_on_selector_all("#links a", "els => els.map(a => a.href)")[0]
    sid = href.split("s=")[1]
    token = href.split("#t=")[1].split("&")[0]
    auth = {"Authorization": f"Bearer {token}"}
    base = f"{pages.server.url}/api/v1/sessions/{sid}"
    got = httpx.get(base, headers=auth, timeout=10).json()
    assert got["state"]["settings"]["escalate_after_s"] == 6
    assert got["state"]["settings"]["auto_prompts"] == [3, 1]
    assert got["session"]["planned_start"] is not None

    # The server escalates an unanswered stop alert after 6 s, not the default 20 s.
    for kind, body in (("session.start", {}), ("alert.stop", {"reason": "chat"})):
        r = httpx.post(f"{base}/events", json={"kind": kind, "body": body}, headers=auth)
        assert r.status_code == 201, r.text
    alert = r.json()
    deadline = time.monotonic() + 19
    escalated: list[dict[str, Any]] = []
    while not escalated and time.monotonic() < deadline:
        events = httpx.get(f"{base}/events", headers=auth, timeout=10).json()["events"]
        escalated = [e for e in events if e["kind"] == "alert.escalated"]
        if not escalated:
            page.wait_for_timeout(250)  # bounded poll for the server's escalation
    assert escalated, "no escalation within 19 s although the create page asked for 6 s"
    assert escalated[0]["body"] == {"ref": alert["seq"], "level": 1}

    def seconds(iso: str) -> float:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()

    waited = seconds(escalated[0]["at"]) - seconds(alert["at"])
    assert 5.5 <= waited < 19, waited


def test_my_sessions_keeps_the_links_in_this_browser_and_forgets_them(pages: Pages) -> None:
    ctx = pages.context()
    page = pages.open("/", ctx)
    assert page.locator("#mine").is_hidden()
    for title in ("Cohort 4 — morning", "Cohort 4 — afternoon"):
        page.fill("#title", title)
        page.click("#create-btn")
        page.locator("#result").wait_for()
        page.click("#again")
    page.reload()
    rows = page.locator("#mine-list li")
    rows.nth(1).wait_for()
    assert rows.count() == 2
    assert "afternoon" in rows.nth(0).inner_text()  # newest first
    hrefs = rows.nth(0).locator("a").evaluate_all("els => els.map(a => a.href)")
    assert [h.split("#")[0].rsplit("/", 1)[1] for h in hrefs] == [
        "producer",
        "facilitator",
        "producer",  # the observer's: the panel, read-only
        "debrief",
    ]
    assert all("#t=" in h for h in hrefs)
    # The stored links work: the debrief opens with them.
    debrief = pages.open(hrefs[3].split(pages.server.url)[1], ctx)
    debrief.locator("#title", has_text="afternoon").wait_for()
    debrief.close()
    rows.nth(0).get_by_role("button", name="Forget").click()
    page.wait_for_function("document.querySelectorAll('#mine-list li').length === 1")
    page.reload()
    page.locator("#mine-list li", has_text="morning").wait_for()
    assert page.locator("#mine-list li").count() == 1
    # Another browser (a fresh context) has no list: nothing was kept on the server.
    other = pages.open("/")
    other.locator("#create").wait_for()
    assert other.locator("#mine-list li").count() == 0


def test_the_create_page_refuses_bad_automatic_prompts_and_creates_nothing(pages: Pages) -> None:
    page = pages.open("/")
    page.fill("#title", "Typo")
    page.fill("#auto-prompts", "5, soon")
    page.click("#create-btn")
    page.locator("#create-error", has_text="soon").wait_for()
    assert page.locator("#result").is_hidden()
    page.fill("#auto-prompts", "")
    page.fill("#escalate", "2")
    page.click("#create-btn")
    page.locator("#create-error", has_text="5 to 3600").wait_for()
    assert page.locator("#mine-list li").count() == 0


def scripted_session(server: Server) -> dict[str, Any]:
    """Three segments, two stop alerts (one answered, one cancelled), three learner flags."""
    data = create_session(server, roster=["Maria Lopez", "Ahmed Khan", "Li Wei", "Sofía Hernández"])

    def ev(role: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return post_event(server.url, data, role, kind, body)

    ev("producer", "session.start", {})
    ev("producer", "segment.start", {"index": 0})
    a1 = ev("producer", "alert.stop", {"reason": "chat", "text": "question in chat"})
    ev("facilitator", "ack", {"ref": a1["seq"], "status": "done"})
    ev("producer", "flag.learner", {"learner": "Li Wei", "flag": "hand"})
    ev("producer", "segment.start", {"index": 1})
    ev("producer", "flag.learner", {"learner": "Ahmed Khan", "flag": "tech"})
    a2 = ev("producer", "alert.stop", {"reason": "problem"})
    ev("producer", "alert.cancel", {"ref": a2["seq"]})
    ev("producer", "flag.learner", {"learner": "Li Wei", "flag": "question"})
    ev("producer", "segment.start", {"index": 2})
    ev("producer", "session.end", {})
    return data


def test_the_debrief_timeline_draws_one_bar_per_segment_and_one_mark_per_alert(
    pages: Pages,
) -> None:
    data = scripted_session(pages.server)
    alerts = [e["seq"] for e in logged(pages.server, data, ("alert.stop",))]
    assert len(alerts) == 2
    page = pages.open(links(data)["debrief"])
    page.locator("#chart svg .tl-seg").first.wait_for()
    assert page.locator("#chart svg .tl-seg").count() == 3
    assert page.locator("#chart svg rect.tl-actual").count() == 3
    assert page.locator("#chart svg rect.tl-planned").count() == 3
    marks = page.locator("#chart svg .tl-alert")
    assert marks.count() == 2
    assert [int(s) for s in marks.evaluate_all("els => els.map(e => e.dataset.seq)")] == alerts
    # Both alerts closed: each mark has an answered end; none drawn as still open.
    assert page.locator("#chart svg .tl-alert .tl-answered").count() == 2
    assert page.locator("#chart svg .tl-alert.tl-open").count() == 0
    # Flags per learner: Li Wei twice, Ahmed once; every roster name has a lane.
    assert page.locator("#chart svg .tl-flag").count() == 3
    labels = page.locator("#chart svg .tl-label").all_text_contents()
    for name in ("Maria Lopez", "Ahmed Khan", "Li Wei", "Sofía Hernández"):
        assert name in labels
    assert page.locator("#chart svg .tl-silent").count() == 2  # Maria and Sofía never flagged
    # Planned bars keep their order along the time axis; the SVG has no script or HTML in it.
    xs = page.locator("#chart svg rect.tl-planned").evaluate_all(
        "els => els.map(e => Number(e.getAttribute('x')))"
    )
    assert xs == sorted(xs) and xs[0] < xs[-1]
    assert page.locator("#chart svg foreignObject, #chart svg script").count() == 0
    # No label is clipped by the SVG's box (its viewBox is 1000 wide).
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('#chart svg text')].map(t => {
            const b = t.getBBox();
            const vb = t.ownerSVGElement.viewBox.baseVal;
            return (b.x < -0.5 || b.x + b.width > vb.width + 0.5 || b.y < -0.5) ? t.textContent : null;
        }).filter(Boolean)"""
    )
    assert clipped == [], clipped

    # The CSV download sits beside the chart and is the log as the API gives it.
    with page.expect_download() as info:
        page.locator("#csv").click()
    csv_text = Path(info.value.path()).read_text(encoding="utf-8")
    assert csv_text.splitlines()[0].startswith("seq,id,kind,at")
    assert "alert.cancel" in csv_text


def test_the_debrief_prints_every_section_on_a4_without_cut_off_content(pages: Pages) -> None:
    data = scripted_session(pages.server)
    # A4 printable width at 96 dpi (210 mm minus 20 mm margins) so layout matches the PDF.
    page = pages.open(links(data)["debrief"], viewport={"width": 718, "height": 1000})
    page.locator("#chart svg .tl-seg").first.wait_for()
    page.locator("#timeline li").first.wait_for()
    page.emulate_media(media="print")
    headings = page.locator("main section:not(.hidden) h2")
    names = headings.all_text_contents()
    for expected in (
        "The class at a glance",
        "Agenda: planned vs actual",
        "How fast messages were seen and answered",
        "Learners flagged",
        "Connection drops",
        "Timeline",
    ):
        assert expected in names, names
    for i in range(headings.count()):
        assert headings.nth(i).is_visible()
    # Buttons are not printed; nothing is wider than the page or clipped in a scroll box.
    for sel in ("#csv", "#export", "#refresh", "#print", "#show-receipts"):
        assert not page.locator(sel).is_visible()
    overflow = page.evaluate(
        """() => {
        const out = [];
        const root = document.documentElement;
        if (root.scrollWidth > root.clientWidth + 1) out.push('page ' + root.scrollWidth);
        for (const n of document.querySelectorAll('main *')) {
          const cs = getComputedStyle(n);
          if (n.offsetParent === null && cs.position !== 'fixed') continue;
          if (n.scrollWidth > n.clientWidth + 1 && ['auto', 'scroll', 'hidden'].includes(cs.overflowX))
            out.push((n.id || n.className || n.tagName) + ' ' + n.scrollWidth + '>' + n.clientWidth);
          const r = n.getBoundingClientRect();
          if (r.right > root.clientWidth + 1) out.push('past the edge: ' + (n.id || n.tagName));
        }
        return out;
    }"""
    )
    assert overflow == [], overflow
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") >= 1


def wait_logged(pages: Pages, data: dict[str, Any], kind: str, n: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        found = logged(pages.server, data, (kind,))
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.2)  # bounded poll of the log over HTTP


def test_a_preset_made_in_the_playbook_editor_shows_its_key_and_sends_on_it(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    producer = pages.open(links(data)["producer"])
    producer.locator("#conn", has_text="Online").wait_for()
    producer.locator("[data-preset='ten-min']").wait_for()
    producer.locator("#playbook summary").click()
    rows = producer.locator("#playbook .pb-row")
    rows.nth(9).wait_for()  # the editor fills in after the click: wait, do not race it
    before = rows.count()
    assert before >= 10  # the default playbook is loaded into the editor
    producer.get_by_role("button", name="+ Add preset").click()
    new = rows.nth(before)
    new.get_by_label(f"Preset {before + 1} kind").select_option("message")
    new.get_by_label(f"Preset {before + 1} label").fill("Breakouts ready")
    new.get_by_label(f"Preset {before + 1} text").fill("Breakout rooms are ready")

    # Clashing keys are refused with a clear message, and nothing is saved.
    new.get_by_label(f"Preset {before + 1} key").fill("C")
    producer.get_by_role("button", name="Save playbook").click()
    producer.locator("#playbook [role=alert]", has_text="used by both").wait_for()
    assert "Question in chat" in producer.locator("#playbook [role=alert]").inner_text()
    new.get_by_label(f"Preset {before + 1} key").fill("m")
    producer.get_by_role("button", name="Save playbook").click()
    producer.locator("#playbook [role=alert]", has_text="panel shortcut").wait_for()
    sid = data["session"]["id"]
    auth = {"Authorization": "Bearer " + data["tokens"]["producer"]}
    stored = httpx.get(f"{pages.server.url}/api/v1/sessions/{sid}/presets", headers=auth).json()
    assert "Breakouts ready" not in [p["label"] for p in stored["presets"]]

    # Moved to the top, with a free key, it saves; the panel shows it with its key.
    new.get_by_label(f"Preset {before + 1} key").fill("k")
    pid = new.get_attribute("data-preset")
    for _ in range(before):
        producer.locator(f"#playbook .pb-row[data-preset='{pid}'] button[data-move='-1']").click()
    top = producer.locator("#playbook .pb-row").first
    assert top.get_attribute("data-preset") == pid
    assert top.locator(".pb-label").input_value() == "Breakouts ready"
    producer.get_by_role("button", name="Save playbook").click()
    producer.locator("#playbook [role=status]", has_text="Saved").wait_for()
    button = producer.locator("#presets-other [data-preset]", has_text="Breakouts ready")
    button.wait_for()
    assert button.get_attribute("aria-keyshortcuts") == "k"
    stored = httpx.get(f"{pages.server.url}/api/v1/sessions/{sid}/presets", headers=auth).json()
    first = stored["presets"][0]
    assert (first["label"], first["kind"], first["key"]) == ("Breakouts ready", "message", "k")
    assert first["body"] == {"text": "Breakout rooms are ready"}

    producer.evaluate("document.activeElement && document.activeElement.blur()")
    press_shortcut(producer, "k")
    sent = wait_logged(pages, data, "message")
    assert [e["body"]["text"] for e in sent] == ["Breakout rooms are ready"]


def test_the_roster_view_shows_who_has_not_been_heard_from(pages: Pages) -> None:
    data = create_session(pages.server)  # roster: Maria Lopez, Ahmed Khan, Li Wei
    producer = pages.open(links(data)["producer"])
    producer.locator("#conn", has_text="Online").wait_for()
    view = producer.locator("#roster-view tbody tr")
    producer.locator("#roster-summary", has_text="3 of 3 not heard from").wait_for()
    post_event(pages.server.url, data, "producer", "session.start", {})
    post_event(
        pages.server.url, data, "producer", "flag.learner", {"learner": "li", "flag": "hand"}
    )
    post_event(
        pages.server.url,
        data,
        "producer",
        "flag.learner",
        {"learner": "Ahmed Khan", "flag": "quiet", "minutes": 5},
    )
    producer.locator("#roster-summary", has_text="1 of 3 not heard from").wait_for()
    maria = producer.locator("#roster-view tr[data-learner='Maria Lopez']")
    assert maria.get_attribute("data-state") == "silent"
    assert "not heard from" in maria.inner_text()
    li = producer.locator("#roster-view tr[data-learner='Li Wei']")
    assert li.get_attribute("data-state") == "heard"  # "li" was matched to the roster's name
    assert "hand raised" in li.inner_text()
    assert (
        "quiet 5 min" in producer.locator("#roster-view tr[data-learner='Ahmed Khan']").inner_text()
    )

    def order() -> list[str]:
        return [n or "" for n in view.evaluate_all("rs => rs.map(r => r.dataset.learner)")]

    # Longest silent first: the unflagged learner, then the oldest flag.
    assert order() == ["Maria Lopez", "Li Wei", "Ahmed Khan"]
    producer.select_option("#roster-sort", "recent")
    producer.wait_for_function(
        "document.querySelector('#roster-view tbody tr').dataset.learner === 'Ahmed Khan'"
    )
    assert order() == ["Ahmed Khan", "Li Wei", "Maria Lopez"]
    producer.select_option("#roster-sort", "name")
    producer.wait_for_function(
        "document.querySelector('#roster-view tbody tr').dataset.learner === 'Ahmed Khan'"
    )
    assert order() == ["Ahmed Khan", "Li Wei", "Maria Lopez"]


def test_the_create_page_edits_the_new_playbook_and_copies_it_into_the_next_session(
    pages: Pages,
) -> None:
    page = pages.open("/")
    assert page.locator("#copy-box").is_hidden()  # nothing to copy from yet
    page.fill("#title", "Cohort 4")
    page.click("#create-btn")
    page.locator("#result").wait_for()
    page.locator("#result-playbook summary").click()
    rows = page.locator("#result-playbook .pb-row")
    rows.first.wait_for()
    n = rows.count()
    page.get_by_role("button", name="+ Add preset").click()
    new = rows.nth(n)
    new.get_by_label(f"Preset {n + 1} kind").select_option("alert.stop")
    new.get_by_label(f"Preset {n + 1} label").fill("Stop: Ahmed's audio")
    new.locator("select").nth(1).select_option("problem")
    new.get_by_label(f"Preset {n + 1} text").fill("Ahmed's audio is breaking up")
    new.get_by_label(f"Preset {n + 1} key").fill("x")
    page.get_by_role("button", name="Save playbook").click()
    page.locator("#result-playbook [role=status]", has_text="Saved").wait_for()

    page.click("#again")
    page.locator("#copy-box").wait_for()
    page.fill("#title", "Cohort 5")
    page.select_option("#copy-from", label="Copy from “Cohort 4”")
    page.click("#create-btn")
    page.locator("#result-title", has_text="Cohort 5").wait_for()
    href = page.eval_on_selector_all("#links a", "els => els.map(a => a.href)")[0]
    sid = href.split("s=")[1]
    token = href.split("#t=")[1].split("&")[0]
    r = httpx.get(
        f"{pages.server.url}/api/v1/sessions/{sid}/presets",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    copied = [p for p in r.json()["presets"] if p["label"] == "Stop: Ahmed's audio"]
    assert copied and copied[0]["key"] == "x" and copied[0]["kind"] == "alert.stop"
    assert copied[0]["body"] == {"reason": "problem", "text": "Ahmed's audio is breaking up"}


def test_the_panel_changes_settings_and_roster_of_a_live_session(pages: Pages) -> None:
    data = create_session(pages.server)
    post_event(pages.server.url, data, "producer", "session.start", {})
    producer = pages.open(links(data)["producer"])
    producer.locator("#conn", has_text="Online").wait_for()
    producer.locator("#setup summary").click()
    # The form fills in on the details' toggle event, a task after the click: wait for it.
    producer.wait_for_function("document.querySelector('#setup-roster').value !== ''")
    assert producer.locator("#setup-escalate").input_value() == "20"
    assert producer.locator("#setup-roster").input_value() == "Maria Lopez\nAhmed Khan\nLi Wei"
    producer.fill("#setup-auto", "2, later")
    producer.get_by_role("button", name="Save setup").click()
    producer.locator("#setup [role=alert]", has_text="later").wait_for()
    # Another screen changes a setting this form does not show; saving keeps it.
    sid = data["session"]["id"]
    r = httpx.patch(
        f"{pages.server.url}/api/v1/sessions/{sid}",
        json={"settings": {"countdown_amber_s": 60, "escalate_after_s": 20, "auto_prompts": [5]}},
        headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    producer.fill("#setup-auto", "2")
    producer.fill("#setup-escalate", "45")
    producer.fill("#setup-roster", "Maria Lopez\nAhmed Khan\nLi Wei\nZoe Park")
    producer.get_by_role("button", name="Save setup").click()
    producer.locator("#setup [role=status]", has_text="Saved").wait_for()
    got = httpx.get(
        f"{pages.server.url}/api/v1/sessions/{sid}",
        headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
        timeout=10,
    ).json()
    settings = got["state"]["settings"]
    assert settings == {"auto_prompts": [2], "escalate_after_s": 45, "countdown_amber_s": 60}
    assert got["session"]["roster"][-1] == "Zoe Park"
    # The panel uses the new roster at once: a button to flag Zoe, and Zoe not heard from.
    producer.locator("#roster button", has_text="Zoe Park").wait_for()
    zoe = producer.locator("#roster-view tr[data-learner='Zoe Park']")
    zoe.wait_for()
    assert zoe.get_attribute("data-state") == "silent"


def test_the_panel_gives_the_facilitator_a_new_link_and_the_old_one_stops(pages: Pages) -> None:
    data = create_session(pages.server)
    sid = data["session"]["id"]
    old = data["tokens"]["facilitator"]
    producer = pages.open(links(data)["producer"])
    producer.locator("#conn", has_text="Online").wait_for()
    producer.locator("#links-box summary").click()
    row = producer.locator("#links-list li[data-role='facilitator']")
    row.wait_for()
    assert producer.locator("#links-list li[data-role='producer'] button").first.is_disabled()
    row.get_by_role("button", name="New link").click()
    code = row.locator(".fresh-link code")
    code.wait_for()
    new = code.inner_text().split("#t=")[1]
    assert new != old
    url = f"{pages.server.url}/api/v1/sessions/{sid}"
    assert httpx.get(url, headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {new}"}).status_code == 200
    # Revoke the observer (two clicks): its link stops; the list says so.
    revoke = producer.locator("#links-list li[data-role='observer']").get_by_role(
        "button", name="Revoke"
    )
    revoke.click()
    producer.locator("#links-list li[data-role='observer'] button", has_text="again").wait_for()
    assert httpx.get(
        url, headers={"Authorization": f"Bearer {data['tokens']['observer']}"}
    ).is_success
    revoke.click()
    producer.locator("#links-list li[data-role='observer']", has_text="revoked").wait_for()
    obs = data["tokens"]["observer"]
    assert httpx.get(url, headers={"Authorization": f"Bearer {obs}"}).status_code == 401
