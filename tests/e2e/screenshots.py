"""Screenshots of every page at desktop (1280x800) and phone (360x640) width.

    .venv/bin/python -m tests.e2e.screenshots [OUTDIR]   (default docs/screenshots)

Starts its own server on a temporary SQLite file, plays a short class, and saves PNGs.
"""

import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.e2e.conftest import ARGS, CHROMIUM, WATCH_CSP, create_session, links, press_shortcut
from tests.support import ROOT, Server

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 640}
SIDE = {"width": 420, "height": 800}  # the overlay in a narrow window beside the slides


def shoot(page: Any, out: Path, name: str, **options: Any) -> None:
    page.evaluate("document.activeElement && document.activeElement.blur(); scrollTo(0, 0)")
    page.wait_for_timeout(300)
    path = out / f"{name}.png"
    page.screenshot(path=str(path), **options)
    shrink(path)
    print("saved", path, path.stat().st_size // 1024, "KiB")


def shrink(path: Path) -> None:
    """Palette PNGs are a third of the size and look the same for flat UI (Pillow, if present)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as img:
        mode = "RGBA" if img.mode in ("RGBA", "LA") else "RGB"
        method = Image.Quantize.FASTOCTREE if mode == "RGBA" else Image.Quantize.MEDIANCUT
        small = img.convert(mode).quantize(colors=96, method=method)
    small.save(path, optimize=True)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp)).start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                run(browser, server, out)
                browser.close()
        finally:
            server.stop()


def run(browser: Any, server: Server, out: Path) -> None:
    def page_at(viewport: dict[str, int], path: str, **kw: Any) -> Any:
        ctx = browser.new_context(viewport=viewport, **kw)
        ctx.add_init_script(WATCH_CSP)  # notes the last keystroke, for press_shortcut()
        p = ctx.new_page()
        p.goto(server.url + path)
        return p

    for size, vp in (("desktop", DESKTOP), ("phone", PHONE)):
        create = page_at(vp, "/")
        create.fill("#title", "Coaching skills — cohort 4")
        create.fill("#roster", "Maria Lopez\nAhmed Khan\nLi Wei\nSam O'Neill")
        shoot(create, out, f"create-{size}")
        create.click("#create-btn")
        create.locator("#result").wait_for()
        create.wait_for_function("document.querySelector('#qr').naturalWidth > 0")
        shoot(create, out, f"create-links-{size}")
        create.context.close()

    data = create_session(
        server,
        title="Coaching skills — cohort 4",
        agenda=[
            {"title": "Welcome and check-in", "minutes": 10},
            {"title": "Feedback practice", "minutes": 25},
            {"title": "Wrap-up", "minutes": 10},
        ],
        roster=["Maria Lopez", "Ahmed Khan", "Li Wei", "Sam O'Neill"],
    )
    paths = links(data)
    fac = paths["facilitator"]
    producer = page_at(DESKTOP, paths["producer"])
    facilitator = page_at(SIDE, fac)
    producer.locator("#conn", has_text="Online").wait_for()
    facilitator.locator("#conn", has_text="Live").wait_for()
    producer.locator("[data-preset='ten-min']").wait_for()
    producer.locator("#seg-next").click()
    producer.locator(".seg.current").wait_for()
    press_shortcut(producer, "1")
    facilitator.locator("article.card", has_text="10 min left").get_by_role(
        "button", name="Acknowledge"
    ).click()
    producer.locator("#seg-plus1").click()
    producer.locator("#roster button", has_text="Maria Lopez").click()
    press_shortcut(producer, "c")
    facilitator.locator("article.card", has_text="Maria Lopez").wait_for()
    producer.locator("#note").fill("Check-in ran long: the icebreaker question was unclear")
    producer.locator("#note-form button").click()
    facilitator.locator("#requests button[data-action='poll']").click()
    producer.locator("#requests-open li", has_text="Launch the poll").get_by_role(
        "button", name="On it"
    ).click()
    facilitator.locator("#quick button", has_text="1 more min").click()
    producer.locator("#grant-more").wait_for()
    press_shortcut(producer, "2")
    producer.locator("#free-text").fill("Ahmed's camera is frozen; he can hear you")
    producer.keyboard.press("Enter")
    producer.locator("#roster button", has_text="Li Wei").click()
    press_shortcut(producer, "h")
    facilitator.locator("#cards .more").wait_for()
    producer.locator("#messages li.msg[data-status='seen']").first.wait_for()
    shoot(producer, out, "producer-desktop")
    shoot(facilitator, out, "facilitator-side")
    press_shortcut(producer, "?")
    shoot(producer, out, "producer-help-desktop")
    producer.keyboard.press("Escape")

    phone_fac = page_at(PHONE, fac, is_mobile=True, has_touch=True)
    phone_fac.locator("article.card").first.wait_for()
    shoot(phone_fac, out, "facilitator-phone")
    desk_fac = page_at(DESKTOP, fac)
    desk_fac.locator("article.card").first.wait_for()
    shoot(desk_fac, out, "facilitator-desktop")
    compact = page_at(
        {"width": 1280, "height": 90}, fac.replace("/facilitator#", "/facilitator?mode=compact#")
    )
    compact.locator("article.card").first.wait_for()
    shoot(compact, out, "facilitator-compact")
    obs = page_at(SIDE, fac.replace("/facilitator#", "/facilitator?mode=transparent#"))
    obs.locator("article.card").first.wait_for()

    phone_prod = page_at(PHONE, paths["producer"], is_mobile=True, has_touch=True)
    phone_prod.locator("#conn", has_text="Online").wait_for()
    phone_prod.locator("[data-preset='five-min']").wait_for()
    shoot(phone_prod, out, "producer-phone")

    press_shortcut(producer, "b")  # a stop alert arms; Tab adds a detail; Enter sends
    producer.locator("#armed").wait_for()
    producer.keyboard.press("Tab")
    producer.keyboard.type("Learners have been at it for 50 minutes")
    producer.screenshot(path=str(out / "producer-armed-desktop.png"))
    shrink(out / "producer-armed-desktop.png")
    producer.keyboard.press("Enter")
    compact.locator("#takeover").filter(has_text="take a break").wait_for()
    shoot(compact, out, "facilitator-compact-stop")
    for page in (phone_fac, desk_fac, obs):
        page.locator("#takeover").filter(has_text="take a break").wait_for()
    shoot(phone_fac, out, "facilitator-stop-phone")
    shoot(desk_fac, out, "facilitator-stop-desktop")
    shoot(obs, out, "facilitator-transparent-stop", omit_background=True)
    producer.locator("#waiting li").wait_for()
    shoot(producer, out, "producer-waiting-desktop")
    phone_fac.locator("#takeover button.ok").click()
    press_shortcut(producer, "]")
    producer.locator(".seg.current", has_text="Feedback").wait_for()

    # Roster names suggested while a name is typed (the list is open only while the box has
    # the focus, so not shoot(), which blurs it), and the agenda editor in the session setup.
    producer.locator("#learner").click()
    producer.keyboard.type("l")
    producer.locator("#learner-suggestions [role=option]").nth(1).wait_for()
    producer.keyboard.press("ArrowDown")
    producer.locator("#learner").evaluate("e => e.scrollIntoView({block: 'center'})")
    producer.screenshot(path=str(out / "producer-learner-suggestions.png"))
    shrink(out / "producer-learner-suggestions.png")
    producer.keyboard.press("Escape")
    producer.keyboard.press("Escape")
    producer.locator("#setup summary").click()
    producer.locator("#agenda-rows li[data-state='running']").wait_for()
    producer.get_by_role("button", name="+ Add segment").click()
    producer.get_by_label("Segment 4 title").fill("Questions and answers")
    producer.get_by_label("Segment 4 minutes").fill("8")
    producer.get_by_role("button", name="Move segment 4 up").click()
    producer.locator("#agenda-editor").screenshot(path=str(out / "producer-agenda-editor.png"))
    shrink(out / "producer-agenda-editor.png")
    producer.get_by_role("button", name="Discard changes").last.click()

    for size, vp in (("desktop", DESKTOP), ("phone", PHONE)):
        debrief = page_at(vp, paths["debrief"])
        debrief.locator("#timeline li").first.wait_for()
        shoot(debrief, out, f"debrief-{size}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
