"""The debrief and the create page as a person meets them after and before a real class:
"never answered" without the prompts a newer one replaced, the printed copy (Chromium's own PDF,
read back with poppler), a title field wide enough for a real title, My sessions with every
link, and axe-core on each state (issue 21, items 6 and 8)."""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import Pages, create_session, links
from tests.support import Server, skip_or_fail

pytestmark = pytest.mark.browser

# A4 between the debrief's @page margins (12 mm top/bottom, 10 mm left/right) at 96 px/inch.
A4_CONTENT_WIDTH = round(190 / 25.4 * 96)  # 718 px
A4_CONTENT_HEIGHT = 273 / 25.4 * 96  # 1031.8 px
NINE_PT = 12.0  # CSS px
REAL_TITLE = "Coaching skills for first-time managers — cohort 3"
ROSTER = [
    "Maria Lopez",
    "Maria Chen",
    "Ahmed Khan",
    "Li Wei",
    "Sofía Hernández",
    "Tom Berg",
    "Ana Silva",
    "Jon Park",
]


class Producer:
    """Sends a session's events over the HTTP API, as a Stream Deck or a script would."""

    def __init__(self, server: Server, data: dict[str, Any]) -> None:
        self.server = server
        self.data = data

    def send(self, kind: str, body: dict[str, Any] | None = None, role: str = "producer") -> int:
        sid = self.data["session"]["id"]
        r = httpx.post(
            f"{self.server.url}/api/v1/sessions/{sid}/events",
            json={"kind": kind, "body": body or {}},
            headers={"Authorization": "Bearer " + self.data["tokens"][role]},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        return int(r.json()["seq"])


def a_class(server: Server, roster: list[str] = ROSTER) -> dict[str, Any]:
    """A three-segment class: prompts (two replaced while waiting), flags, stop alerts (one
    answered, one snoozed then answered, one never), a message, a request answered, a note."""
    data = create_session(server, title=REAL_TITLE, roster=roster)
    p = Producer(server, data)
    p.send("session.start")
    p.send("segment.start", {"index": 0})
    p.send("flag.learner", {"learner": "Ahmed Khan", "flag": "hand"})
    stop = p.send("alert.stop", {"reason": "chat", "text": "Question from Li"})
    p.send("seen", {"ref": stop}, "facilitator")
    p.send("ack", {"ref": stop, "status": "done"}, "facilitator")
    p.send("prompt.time", {"text": "5 min left", "minutes_left": 5})
    p.send("prompt.time", {"text": "1 min left", "minutes_left": 1})
    p.send("segment.end", {"index": 0})
    p.send("segment.start", {"index": 1})
    p.send("flag.learner", {"learner": "Li Wei", "flag": "quiet", "minutes": 20})
    p.send("flag.learner", {"learner": "Maria Chen", "flag": "tech"})
    brk = p.send("alert.stop", {"reason": "break"})
    p.send("ack", {"ref": brk, "status": "snoozed", "minutes": 1}, "facilitator")
    p.send("ack", {"ref": brk, "status": "done"}, "facilitator")
    request = p.send("request", {"action": "breakout", "text": "Pairs"}, "facilitator")
    p.send("request.status", {"ref": request, "status": "done"})
    p.send("note", {"text": "The practice ran long"})
    p.send("segment.end", {"index": 1})
    p.send("segment.start", {"index": 2})
    p.send("alert.stop", {"reason": "problem", "text": "Audio echo"})  # never answered
    p.send("message", {"text": "Ahmed has to leave at 10:40"})  # never answered
    p.send("session.end")
    return data


def figure(page: Any, label: str) -> str:
    """The number a key-figure box shows above ``label``."""
    box = page.locator(
        "#figures .figure", has=page.locator(".k", has_text=re.compile(f"^{label}$"))
    )
    return str(box.locator(".n").inner_text())


def test_the_debrief_does_not_count_a_prompt_a_newer_one_replaced_as_never_answered(
    pages: Pages,
) -> None:
    data = create_session(pages.server)
    p = Producer(pages.server, data)
    p.send("session.start")
    p.send("segment.start", {"index": 0})
    p.send("prompt.time", {"text": "5 min left", "minutes_left": 5})
    p.send("prompt.time", {"text": "1 min left", "minutes_left": 1})
    p.send("alert.stop", {"reason": "chat"})  # needs an answer: never got one
    p.send("message", {"text": "Can you share the slide link?"})  # the same
    p.send("flag.learner", {"learner": "Li Wei", "flag": "hand"})  # the same
    p.send("segment.start", {"index": 1})  # "1 min left" is over too
    p.send("prompt.time", {"text": "Time is up"})  # the last word: still waiting at the end
    p.send("session.end")

    page = pages.open(links(data)["debrief"])
    page.locator("#timeline li").first.wait_for()
    # Stop alert, message, flag and the last prompt: 4 — not the 6 sent without an answer.
    assert figure(page, "never answered") == "4"
    row = page.locator("#latency tbody tr", has_text="Time")
    cells = row.locator("td").all_inner_texts()
    heads = page.locator("#latency thead th").all_inner_texts()
    by_head = dict(zip(heads, cells, strict=True))
    assert (by_head["Sent"], by_head["Never answered"]) == ("3", "1")
    assert by_head["Replaced by a newer prompt"] == "2"
    stop = dict(
        zip(
            heads,
            page.locator("#latency tbody tr", has_text="Stop").locator("td").all_inner_texts(),
            strict=True,
        )
    )
    assert stop["Never answered"] == "1"
    # The timeline says what happened to each prompt.
    five = page.locator("#timeline li", has_text="5 min left")
    assert "replaced by a newer prompt" in five.inner_text()
    last = page.locator("#timeline li", has_text="Time is up")
    assert "replaced" not in last.inner_text() and "not seen" in last.inner_text()


def pdf_pages_text(pdf: bytes, tmp: Path) -> list[str]:
    """The text of each page of ``pdf``, laid out as printed (poppler's pdftotext)."""
    if shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None:
        skip_or_fail("browser", "poppler-utils is missing (scripts/ensure-debian-packages.sh)")
    path = tmp / "debrief.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    count = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))  # type: ignore[union-attr]
    assert "A4" in info.stdout, info.stdout
    out = []
    for n in range(1, count + 1):
        text = subprocess.run(
            ["pdftotext", "-layout", "-f", str(n), "-l", str(n), str(path), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        out.append(text)
    return out


def print_layout(page: Any) -> dict[str, float]:
    """Where the agenda section falls in the printed flow (its top, and the offsets of its first
    row's bottom and last row's top), and how tall a chart lane prints."""
    measured: dict[str, float] = page.evaluate(
        """() => {
        const box = document.querySelector('#segments').closest('section');
        const top = box.getBoundingClientRect().top;
        const rows = box.querySelectorAll('tbody tr');
        const svg = [...document.querySelectorAll('.chart svg')].find((s) => s.getClientRects().length);
        const scale = svg.getBoundingClientRect().height / svg.viewBox.baseVal.height;
        return { top: top + scrollY, first: rows[0].getBoundingClientRect().bottom - top,
                 last: rows[rows.length - 1].getBoundingClientRect().top - top, lane: 26 * scale };
    }"""
    )
    return measured


def open_printed_debrief(pages: Pages, data: dict[str, Any]) -> Any:
    page = pages.open(links(data)["debrief"], viewport={"width": A4_CONTENT_WIDTH, "height": 1000})
    page.locator("#chart svg .tl-seg").first.wait_for()
    page.locator("#timeline li").first.wait_for()
    page.emulate_media(media="print")
    return page


def test_the_printed_debrief_has_no_buttons_keeps_the_agenda_on_one_page_and_9_pt_labels(
    pages: Pages, tmp_path: Path
) -> None:
    # First a class as it comes, to see where the agenda table falls on paper; then the same
    # class with as many more learners (chart lanes) as it takes to put the end of a page
    # between the table's first and last rows: the case where "keep it on one page" matters.
    probe = open_printed_debrief(pages, a_class(pages.server))
    at = print_layout(probe)
    probe.close()
    split = (at["first"] + at["last"]) / 2
    boundary = A4_CONTENT_HEIGHT
    while boundary < at["top"] + split:
        boundary += A4_CONTENT_HEIGHT
    extra = round((boundary - at["top"] - split) / at["lane"])
    roster = ROSTER + [f"Learner {n:02d}" for n in range(1, extra + 1)]
    page = open_printed_debrief(pages, a_class(pages.server, roster))
    at = print_layout(page)
    assert at["top"] + at["first"] < boundary < at["top"] + at["last"], (at, boundary)

    # What a person sees: every label of the printed chart is at least 9 pt (12 CSS px) on
    # A4 — its font size times the scale the SVG is drawn at.
    sizes = page.evaluate(
        """() => {
        const svg = [...document.querySelectorAll('.chart svg')].find((s) => s.getClientRects().length);
        const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        return [...svg.querySelectorAll('text')].map((t) =>
          [t.textContent, parseFloat(getComputedStyle(t).fontSize) * scale]);
    }"""
    )
    assert len(sizes) > len(roster)  # lane names, axis times, bar labels
    small = [(text, round(px, 2)) for text, px in sizes if px < NINE_PT]
    assert small == [], small
    # Larger, and still whole: no lane name runs into the bars, no label past the picture.
    overlaps = page.evaluate(
        """() => {
        const svg = [...document.querySelectorAll('.chart svg')].find((s) => s.getClientRects().length);
        const plot = Math.min(...[...svg.querySelectorAll('rect.tl-planned')].map((r) => r.getBBox().x));
        const width = svg.viewBox.baseVal.width;
        return [...svg.querySelectorAll('text')].filter((t) => {
          const b = t.getBBox();
          return b.x < 0 || b.x + b.width > width || (t.classList.contains('tl-label') && b.x + b.width > plot);
        }).map((t) => t.textContent);
    }"""
    )
    assert overlaps == [], overlaps
    # The rest of the paper too: no text under 9 pt (tags, table headings, hints).
    tiny = page.evaluate(
        """(min) => [...document.querySelectorAll('main *')].filter((n) =>
            n.getClientRects().length && !n.closest('svg') &&
            [...n.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim()) &&
            parseFloat(getComputedStyle(n).fontSize) < min
        ).map((n) => n.textContent.trim().slice(0, 30) + ' ' + getComputedStyle(n).fontSize)""",
        NINE_PT - 0.01,
    )
    assert tiny == [], tiny

    # Chromium's real print, read back from the PDF.
    texts = pdf_pages_text(page.pdf(format="A4"), tmp_path)
    everything = "\n".join(texts)
    assert "Debrief: " + REAL_TITLE in " ".join(everything.split())
    for words in (
        "Print or save as PDF",
        "Download CSV",
        "Download JSON",
        "Refresh",
        "show receipts",
    ):
        assert words not in everything, words  # buttons and switches do nothing on paper
    # The agenda table, heading, column names and every row, on one page.
    holding = [
        n
        for n, text in enumerate(texts)
        if "Agenda: planned vs actual" in text or re.search(r"\d\. (Welcome|Practice|Close)", text)
    ]
    assert len(holding) == 1, f"the agenda table is split over pages {holding}"
    agenda_page = texts[holding[0]]
    for cell in (
        "Agenda: planned vs actual",
        "Planned (min)",
        "1. Welcome",
        "2. Practice",
        "3. Close",
    ):
        assert cell in agenda_page, cell


def test_the_title_field_shows_a_real_title_on_a_desktop_and_fits_a_phone(pages: Pages) -> None:
    page = pages.open("/", viewport={"width": 1280, "height": 900})
    field = page.locator("#title")
    field.fill(REAL_TITLE)
    box = field.evaluate(
        """(el) => {
        const probe = document.createElement('span');
        probe.style.font = getComputedStyle(el).font;
        probe.style.whiteSpace = 'pre';
        probe.textContent = 'x'.repeat(45);
        document.body.append(probe);
        const chars45 = probe.getBoundingClientRect().width;
        probe.remove();
        return { client: el.clientWidth, scroll: el.scrollWidth, chars45 };
    }"""
    )
    assert box["client"] >= box["chars45"], box  # room for ~45 characters
    assert box["scroll"] <= box["client"], box  # the whole real title is visible

    phone = pages.open("/", viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    field = phone.locator("#title")
    field.fill(REAL_TITLE)
    field.press("End")
    fit = phone.evaluate(
        """() => {
        const el = document.querySelector('#title');
        const r = el.getBoundingClientRect();
        const form = document.querySelector('#create').getBoundingClientRect();
        return { left: r.left, right: r.right, width: r.width, form: form.width,
                 page: document.documentElement.scrollWidth, view: innerWidth,
                 scrolled: el.scrollLeft, overflow: el.scrollWidth > el.clientWidth };
    }"""
    )
    assert fit["left"] >= 0 and fit["right"] <= fit["view"], fit  # on the screen
    assert fit["page"] <= fit["view"], fit  # the page does not scroll sideways
    assert fit["width"] >= 0.85 * fit["form"], fit  # the width of the form, not a stub
    # Longer than the phone is wide: the field scrolls its own text to the caret.
    assert fit["overflow"] and fit["scrolled"] > 0, fit


def test_my_sessions_lists_every_link_with_a_copy_button(pages: Pages) -> None:
    ctx = pages.context(permissions=["clipboard-read", "clipboard-write"])
    page = pages.open("/", ctx)
    page.fill("#title", "Cohort 4 — morning")
    page.click("#create-btn")
    page.locator("#result").wait_for()
    observer_link = page.locator(".link-row", has_text="Observer").locator("code").inner_text()
    page.reload()
    row = page.locator("#mine-list li").first
    row.wait_for()
    names = row.locator("a").all_inner_texts()
    assert names == ["Producer", "Facilitator", "Observer", "Debrief"]
    observer = row.get_by_role("link", name="Observer")
    assert observer.get_attribute("href") == observer_link
    assert "#t=" in observer_link
    # Each link has its copy button, named for what it copies.
    copies = row.get_by_role("button", name=re.compile("^Copy"))
    assert copies.count() == 4
    button = row.get_by_role("button", name="Copy the observer link")
    button.click()
    row.locator("button", has_text="Copied ✓").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == observer_link
    # The observer link opens the read-only panel.
    panel = pages.open(observer_link.split(pages.server.url)[1], ctx)
    panel.locator("#conn", has_text="Online").wait_for()


def test_the_create_page_passes_axe_empty_created_and_with_my_sessions(pages: Pages) -> None:
    ctx = pages.context()
    page = pages.open("/", ctx)
    page.locator("#agenda .agenda-row").first.wait_for()
    assert_accessible(page, "the create page, empty")
    page.fill("#title", REAL_TITLE)
    page.fill("#roster", "\n".join(ROSTER))
    page.click("#create-btn")
    page.locator("#links .link-row").nth(3).wait_for()
    page.locator("#mine-list li").first.wait_for()
    assert_accessible(page, "the create page with the new links and My sessions")
    page.click("#again")
    page.locator("#create").wait_for()
    assert_accessible(page, "the create page again, My sessions listed")
    phone = pages.open("/", viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    phone.locator("#agenda .agenda-row").first.wait_for()
    assert_accessible(phone, "the create page on a phone")


def test_the_debrief_of_a_real_class_passes_axe_on_screen_and_in_print(pages: Pages) -> None:
    data = a_class(pages.server)
    page = pages.open(links(data)["debrief"])
    page.locator("#chart svg .tl-alert").nth(2).wait_for()
    page.locator("#timeline li").first.wait_for()
    assert page.locator("#chart svg .tl-flag").count() == 3
    assert_accessible(page, "the debrief of a class")
    page.check("#show-receipts")
    page.locator("#timeline li[data-kind='seen']").first.wait_for()
    assert_accessible(page, "the debrief with receipts shown")
    page.emulate_media(media="print")
    assert_accessible(page, "the debrief in print")
