"""Screenshots of the overlay's class states (issue 21): the OBS source composited over a
slide, and a tab whose link was replaced.

    .venv/bin/python -m tests.e2e.overlay_screenshots [OUTDIR]   (default docs/screenshots)

Starts its own server on a temporary SQLite file. The OBS picture is what OBS shows: the
transparent overlay (a 1920x1080 screenshot with the background omitted) laid over a slide
drawn here with Pillow, so the README shows the source as a viewer sees it.
"""

import io
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import ARGS, CHROMIUM, create_session, links
from tests.e2e.screenshots import shrink
from tests.support import ROOT, Server

OBS = {"width": 1920, "height": 1080}
SIDE = {"width": 420, "height": 800}
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def slide(size: tuple[int, int]) -> Image.Image:
    """A slide-like picture: a blue-to-teal gradient, a title and three bullet lines."""
    w, h = size
    img = Image.new("RGB", size)
    px = img.load()
    assert px is not None
    for y in range(h):
        for x in range(0, w):
            t = (x / w + y / h) / 2
            px[x, y] = (int(20 + 30 * t), int(70 + 110 * t), int(150 + 40 * (1 - t)))
    draw = ImageDraw.Draw(img)
    try:
        big, small = ImageFont.truetype(FONT, 84), ImageFont.truetype(FONT, 48)
    except OSError:
        big = small = ImageFont.load_default()
    draw.text((120, 560), "Giving feedback that lands", font=big, fill=(255, 255, 255))
    for i, line in enumerate(("• Situation", "• Behaviour", "• Impact")):
        draw.text((160, 720 + i * 90), line, font=small, fill=(235, 245, 255))
    return img


def post(server: Server, data: dict[str, Any], kind: str, body: dict[str, Any]) -> None:
    sid = data["session"]["id"]
    r = httpx.post(
        f"{server.url}/api/v1/sessions/{sid}/events",
        json={"kind": kind, "body": body},
        headers={"Authorization": "Bearer " + data["tokens"]["producer"]},
        timeout=10,
    )
    r.raise_for_status()


def save(img: Image.Image, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    img.save(path)
    shrink(path)
    print("saved", path, path.stat().st_size // 1024, "KiB")


def obs_over_slide(browser: Any, server: Server, out: Path) -> None:
    data = create_session(server, title="Feedback skills")
    post(server, data, "session.start", {})
    post(server, data, "segment.start", {"index": 0})
    post(server, data, "prompt.time", {"text": "5 min left", "minutes_left": 5})
    post(server, data, "flag.learner", {"learner": "Maria Lopez", "flag": "hand"})
    path = links(data)["facilitator"].replace("/facilitator#", "/facilitator?mode=transparent#")
    ctx = browser.new_context(viewport=OBS)
    page = ctx.new_page()
    page.goto(server.url + path)
    page.locator("article.card", has_text="Maria Lopez").wait_for()
    page.wait_for_timeout(300)
    overlay = Image.open(io.BytesIO(page.screenshot(omit_background=True))).convert("RGBA")
    ctx.close()
    picture = slide(overlay.size).convert("RGBA")
    picture.alpha_composite(overlay)
    small = picture.convert("RGB").resize((960, 540), Image.Resampling.LANCZOS)
    save(small, out, "facilitator-obs-over-slide")


def link_replaced(browser: Any, server: Server, out: Path) -> None:
    """The old tab after the producer gave the facilitator a new link."""
    data = create_session(server, title="Feedback skills")
    post(server, data, "session.start", {})
    post(server, data, "segment.start", {"index": 0})
    ctx = browser.new_context(viewport=SIDE)
    page = ctx.new_page()
    page.goto(server.url + links(data)["facilitator"])
    page.locator("#conn", has_text="Live").wait_for()
    sid = data["session"]["id"]
    auth = {"Authorization": "Bearer " + data["tokens"]["producer"]}
    people = httpx.get(f"{server.url}/api/v1/sessions/{sid}/participants", headers=auth).json()
    pid = next(p["participant_id"] for p in people if p["role"] == "facilitator")
    url = f"{server.url}/api/v1/sessions/{sid}/participants/{pid}/rotate"
    httpx.post(url, headers=auth, timeout=10).raise_for_status()
    page.locator("#link-stopped h1").wait_for()
    page.wait_for_timeout(300)
    path = out / "facilitator-link-replaced.png"
    page.screenshot(path=str(path))
    shrink(path)
    print("saved", path, path.stat().st_size // 1024, "KiB")
    ctx.close()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp)).start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                obs_over_slide(browser, server, out)
                link_replaced(browser, server, out)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
