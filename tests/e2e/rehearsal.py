"""Helpers of the class rehearsal (tests/e2e/test_class_rehearsal.py): a list of misses that
goes on after a miss, keys pressed the way a person presses them, typing on a page's own
clock, tap-tap positions and the alpha channel of a screenshot."""

import csv
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import ARGS, CHROMIUM

CORPUS = Path(__file__).resolve().parent / "chat_corpus.txt"

# The producer panel's keys rule (issue 21.2): a printable key is a shortcut only when no key
# came in the second before it and nothing is typed in the 0.8 s after it.
QUIET_BEFORE_S = 1.05
FIRES_WITHIN_S = 1.0

# Injected into producer windows: every `send` frame the page puts on its socket, and when
# (performance.now()) each key went down.
RECORD_SENDS = """
window.__sends = [];
window.__keys = [];
addEventListener("keydown", () => window.__keys.push(performance.now()), true);
const realSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  try {
    const f = JSON.parse(data);
    if (f.type === "send" && !window.__sends.some((s) => s.id === f.id)) {
      window.__sends.push({ id: f.id, kind: f.kind, body: f.body });
    }
  } catch {}
  return realSend.call(this, data);
};
"""

# Focus on the panel itself, as after a click on its background (no text box focused).
TO_PANEL = "document.activeElement && document.activeElement.blur(); document.body.focus()"

# What typing left behind on the producer panel that a later key would send: a name in the
# learner box (the next flag takes it), a detail or an armed stop alert (Enter sends it).
LEFT_BEHIND = """() => ({
  boxes: ['learner', 'stop-detail']
    .map((id) => [id, (document.getElementById(id) || {}).value || ''])
    .filter(([, v]) => v),
  armed: !!document.querySelector('#armed:not(.hidden)'),
})"""
# The panel's visible text but for its ticking countdown.
VISIBLE_TEXT = "document.body.innerText.replace(document.querySelector('#countdown').innerText, '')"

CLEAR_BOXES = """() => {
  for (const id of ['free-text', 'note', 'learner', 'stop-detail']) {
    const box = document.getElementById(id);
    if (box) box.value = '';
  }
}"""


def corpus() -> list[str]:
    """The chat messages of tests/e2e/chat_corpus.txt (comments and blank lines left out)."""
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


@dataclass
class Misses:
    """Every unmet expectation of a run, each a short sentence naming its issue item."""

    items: list[str] = field(default_factory=list)

    def add(self, item: str, what: str) -> None:
        self.items.append(f"[{item}] {what}")

    def check(self, ok: Any, item: str, what: str) -> bool:
        if not ok:
            self.add(item, what)
        return bool(ok)

    def see(
        self, locator: Any, item: str, what: str, timeout: float = 4.0, state: str = "visible"
    ) -> bool:
        """Waits for ``locator`` to be in ``state``; a miss (not an error) when it is not."""
        try:
            locator.wait_for(state=state, timeout=timeout * 1000)
            return True
        except PlaywrightTimeout:
            self.add(item, what)
        except PlaywrightError as exc:  # e.g. the page shows it twice: still a miss, go on
            self.add(item, f"{what} ({str(exc).splitlines()[0]})")
        return False

    def report(self) -> str:
        """The misses grouped by issue item, in the order each item first missed."""
        first = {m.split("]")[0]: n for n, m in reversed(list(enumerate(self.items)))}
        ordered = sorted(self.items, key=lambda m: first[m.split("]")[0]])
        return f"{len(self.items)} unmet expectations:\n" + "\n".join(
            f"  {n}. {m}" for n, m in enumerate(ordered, 1)
        )


def until(check: Callable[[], Any], timeout: float = 4.0, every: float = 0.05) -> Any:
    """``check()`` once it is truthy, or its last (falsy) value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(every)


class Keys:
    """Keys pressed on a page by a person who means them: a lone shortcut key comes after a
    second of quiet, and nothing is typed on that page within the 0.8 s after it."""

    def __init__(self) -> None:
        self.last: dict[int, float] = {}

    def _quiet(self, page: Any) -> None:
        since = time.monotonic() - self.last.get(id(page), 0.0)
        if since < QUIET_BEFORE_S:
            time.sleep(QUIET_BEFORE_S - since)

    def lone(self, page: Any, key: str) -> None:
        """One deliberate shortcut key; the caller waits for what it does (up to ~1 s)."""
        self._quiet(page)
        page.keyboard.press(key)
        self.last[id(page)] = time.monotonic() + 0.9  # nothing more on it for 0.9 s

    def type(self, page: Any, text: str, delay_ms: float = 40, after_quiet: bool = True) -> None:
        """Text typed in real time: on the panel itself after a quiet second, or straight on
        (``after_quiet=False``: into a box that has the focus, or right after a key)."""
        if after_quiet:
            self._quiet(page)
        page.keyboard.type(text, delay=delay_ms)
        self.last[id(page)] = time.monotonic()

    def press(self, page: Any, key: str) -> None:
        """A key that is not a shortcut (Enter, Escape, Tab) as part of what is being done."""
        page.keyboard.press(key)
        self.last[id(page)] = time.monotonic()


def type_on_its_clock(page: Any, text: str, ms_per_key: int) -> list[dict[str, Any]]:
    """Types ``text`` and Enter on the focused panel at exactly ``ms_per_key`` on the page's
    own (installed, paused) clock, then lets 1.5 s pass; returns what the page sent."""
    page.evaluate(TO_PANEL)
    page.clock.run_for(1500)
    before = page.evaluate("window.__sends.length")
    for ch in text:
        page.keyboard.type(ch)
        page.clock.run_for(ms_per_key)
    page.keyboard.press("Enter")
    page.clock.run_for(1500)
    sent: list[dict[str, Any]] = page.evaluate("(n) => window.__sends.slice(n)", before)
    return sent


class Typist(threading.Thread):
    """A producer window in a browser of its own (its own Playwright, on its own thread, so
    the class goes on meanwhile) on an installed, paused clock: it types ``plan`` — (text, ms
    per key) — each line followed by Enter, as into Zoom's chat, and notes what got sent or
    left behind. When ``go`` is set it presses one lone key, ``lone_key``, and notes what that
    sent within 1 s and whether the page showed anything while the key waited."""

    def __init__(self, url: str, plan: list[tuple[str, int]], lone_key: str) -> None:
        super().__init__(name="typist", daemon=True)
        self.url = url
        self.plan = plan
        self.lone_key = lone_key
        self.found: list[str] = []  # what typing sent or left behind, one sentence each
        self.console: list[str] = []
        self.lone: dict[str, Any] = {}
        self.took = 0.0
        self.error: BaseException | None = None
        self.typed = threading.Event()
        self.go = threading.Event()
        self.abort = False

    def run(self) -> None:
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                try:
                    self._work(browser)
                finally:
                    browser.close()
        except BaseException as exc:  # handed to the test's thread
            self.error = exc
        finally:
            self.typed.set()

    def stop(self) -> None:
        self.abort = True
        self.go.set()
        self.join(30)

    def _work(self, browser: Any) -> None:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        ctx.add_init_script(RECORD_SENDS)
        ctx.clock.install()
        page = ctx.new_page()
        page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console.append(f"pageerror {e}"))
        page.goto(self.url)
        page.locator("#conn", has_text="Online").wait_for()
        page.locator("#presets-time [data-preset='five-min']").wait_for()
        page.locator(".seg.current").wait_for()
        page.clock.pause_at(int(time.time() * 1000) + 2000)
        t0 = time.monotonic()
        for text, speed in self.plan:
            if self.abort:
                return
            for s in type_on_its_clock(page, text, speed):
                self.found.append(f"“{text}” typed at {speed} ms/key sent {s['kind']} {s['body']}")
            left = page.evaluate(LEFT_BEHIND)
            for box, value in left["boxes"]:
                self.found.append(
                    f"“{text}” typed at {speed} ms/key left “{value}” in #{box}, "
                    "for the next flag or stop alert to send"
                )
            if left["armed"]:
                self.found.append(f"“{text}” typed at {speed} ms/key left a stop alert armed")
            if left["boxes"] or left["armed"]:
                page.keyboard.press("Escape")
                page.keyboard.press("Escape")
                page.evaluate(CLEAR_BOXES)
        self.took = time.monotonic() - t0
        self.typed.set()
        self.go.wait(300)
        if self.abort:
            return
        page.evaluate(TO_PANEL)
        page.clock.run_for(1500)
        before = page.evaluate("window.__sends.length")
        shown = page.evaluate(VISIBLE_TEXT)
        page.keyboard.press(self.lone_key)
        page.clock.run_for(300)
        waiting = page.evaluate(VISIBLE_TEXT)
        early = page.evaluate("(n) => window.__sends.slice(n)", before)
        page.clock.run_for(FIRES_WITHIN_S * 1000 - 300)
        sent = page.evaluate("(n) => window.__sends.slice(n)", before)
        self.lone = {"sent": sent, "early": early, "shown": shown, "waiting": waiting}
        page.clock.resume()
        page.wait_for_timeout(1000)  # the socket gets it out
        ctx.close()


def box_of(locator: Any) -> dict[str, float] | None:
    try:
        box: dict[str, float] | None = locator.bounding_box(timeout=2000)
        return box
    except PlaywrightTimeout:
        return None


def under_pointer(page: Any, x: float, y: float) -> dict[str, str]:
    """What a tap at (x, y) would land on: the button there (text, label) or the element."""
    found: dict[str, str] = page.evaluate(
        """([x, y]) => {
        const e = document.elementFromPoint(x, y);
        if (!e) return { what: 'nothing', text: '' };
        const b = e.closest('button, a, input, summary');
        const n = b || e;
        return { what: b ? b.tagName.toLowerCase() : e.tagName.toLowerCase(),
                 text: (n.innerText || n.value || '').trim().slice(0, 60),
                 label: n.getAttribute('aria-label') || '', preset: n.dataset.preset || '',
                 id: n.id || '' };
    }""",
        [x, y],
    )
    return found


@dataclass
class Alpha:
    """The alpha channel of a screenshot taken with the background omitted."""

    mode: str
    size: tuple[int, int]
    image: Image.Image

    @classmethod
    def of(cls, png: bytes) -> "Alpha":
        img = Image.open(io.BytesIO(png))
        img.load()
        return cls(img.mode, img.size, img)

    @property
    def has_alpha(self) -> bool:
        return self.mode in ("RGBA", "LA") or "transparency" in self.image.info

    def channel(self) -> Image.Image:
        return self.image.convert("RGBA").getchannel("A")

    def at(self, x: int, y: int) -> tuple[int, ...]:
        px = self.image.convert("RGBA").getpixel((x, y))
        assert isinstance(px, tuple)
        return px

    def transparent_share(self) -> float:
        hist = self.channel().histogram()
        return hist[0] / (self.size[0] * self.size[1])

    def extrema(self, box: dict[str, float]) -> tuple[int, int]:
        """(min, max) alpha inside a CSS-pixel box (device scale factor 1)."""
        left, top = max(0, int(box["x"]) + 1), max(0, int(box["y"]) + 1)
        right = min(self.size[0], int(box["x"] + box["width"]) - 1)
        bottom = min(self.size[1], int(box["y"] + box["height"]) - 1)
        if right <= left or bottom <= top:
            return (0, 0)
        lo, hi = self.channel().crop((left, top, right, bottom)).getextrema()
        return int(lo), int(hi)


def ink_outside(png: bytes, box: dict[str, float] | None) -> int:
    """How many pixels of a screenshot differ from its most common colour (the background)
    outside ``box`` (CSS pixels, device scale factor 1)."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    if box is not None:  # paint the box over with the background, then count
        background = max(img.getcolors(1 << 24) or [(0, (0, 0, 0))])[1]
        x0, y0 = int(box["x"]) - 2, int(box["y"]) - 2
        x1, y1 = int(box["x"] + box["width"]) + 2, int(box["y"] + box["height"]) + 2
        img.paste(background, (x0, y0, x1, y1))
    counts = img.getcolors(1 << 24) or []
    background = max(counts)[1]
    far = [n for n, c in counts if max(abs(a - b) for a, b in zip(c, background, strict=True)) > 24]
    return sum(far)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
