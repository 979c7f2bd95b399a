"""Screenshot of the producer's escalation (issue 21 item 5): a stop alert left unanswered,
pinned on the panel, with the tab's title as the browser shows it ("(!) waiting 0:2x — …").

    .venv/bin/python -m tests.e2e.producer_screenshots [OUTDIR]   (default docs/screenshots)

Starts its own server on a temporary SQLite file. A headless browser has no tab strip, so the
picture draws one above the page with Pillow, holding the page's real ``document.title`` at
the moment of the screenshot.
"""

import io
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import ARGS, CHROMIUM, create_session, links
from tests.e2e.overlay_screenshots import post, save
from tests.support import ROOT, Server

DESKTOP = {"width": 1280, "height": 800}
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TAB_STRIP = 44


def with_tab_strip(page_png: bytes, title: str) -> Image.Image:
    """The page's screenshot under a browser-like tab strip whose active tab shows `title`."""
    shot = Image.open(io.BytesIO(page_png)).convert("RGB")
    w, h = shot.size
    img = Image.new("RGB", (w, h + TAB_STRIP), (222, 225, 230))
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.truetype(FONT, 15)
    except OSError:
        font = ImageFont.load_default()
    draw.rounded_rectangle((10, 6, 560, TAB_STRIP + 8), radius=8, fill=(255, 255, 255))
    draw.ellipse((22, 18, 36, 32), fill=(180, 35, 24))
    draw.text(
        (46, 16), title if len(title) < 58 else title[:57] + "…", font=font, fill=(27, 31, 36)
    )
    draw.rounded_rectangle((570, 10, 820, TAB_STRIP), radius=8, fill=(236, 238, 241))
    draw.text((584, 18), "Zoom Meeting", font=font, fill=(91, 100, 112))
    img.paste(shot, (0, TAB_STRIP))
    return img


def escalation(browser: Any, server: Server, out: Path) -> None:
    data = create_session(
        server,
        title="Coaching skills — cohort 4",
        agenda=[
            {"title": "Welcome and check-in", "minutes": 10},
            {"title": "Feedback practice", "minutes": 25},
            {"title": "Wrap-up", "minutes": 5},
        ],
    )
    paths = links(data)
    post(server, data, "session.start", {})
    post(server, data, "segment.start", {"index": 1})
    ctx = browser.new_context(viewport=DESKTOP)
    producer = ctx.new_page()
    producer.goto(server.url + paths["producer"])
    fac_ctx = browser.new_context(viewport={"width": 420, "height": 800})
    facilitator = fac_ctx.new_page()
    facilitator.goto(server.url + paths["facilitator"])
    producer.locator("#presence.on").wait_for()
    post(server, data, "alert.stop", {"reason": "chat", "text": "Two learners ask about the link"})
    facilitator.locator("#takeover").wait_for()
    producer.locator("#waiting-panel li").wait_for()
    # Past the first reminder (20 s): the panel says so and the title has counted up.
    producer.locator("#waiting-panel li", has_text="reminded").wait_for(timeout=40000)
    producer.evaluate("document.activeElement && document.activeElement.blur(); scrollTo(0, 0)")
    producer.wait_for_function("() => document.title.startsWith('(!)')")
    title = producer.evaluate("document.title")
    save(with_tab_strip(producer.screenshot(), title), out, "producer-escalation-desktop")
    ctx.close()
    fac_ctx.close()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp)).start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                escalation(browser, server, out)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
