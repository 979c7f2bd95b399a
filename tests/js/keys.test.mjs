// The producer panel's keystroke gate (web/keys.js) on a fake clock: words typed at any speed
// send nothing, digits included; a lone key still sends within a second.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ARM_MS, CONFIRM_AFTER_MS, KeyGate, QUIET_AFTER_MS, QUIET_BEFORE_MS } from "../../web/keys.js";

const KEYS = {
  1: {}, 2: {}, 3: {}, 4: {}, 5: {}, c: {}, h: {}, t: {}, a: {}, s: {}, k: {}, m: {}, "]": {}, "=": {}, "?": {},
  l: { focus: true }, n: { focus: true },
  p: { stop: true }, r: { stop: true }, b: { stop: true },
};

const CORPUS = [
  "3 groups still need the breakout link",
  "hi all",
  "thanks",
  "can you see my screen",
  "2 min left for this one",
  "ok",
  "brb",
  "1",
  "is the recording on?",
  "Hi Bob, the link for room 3 is broken.\nCan you post it again? thanks bob\n",
  "5 more minutes please",
  "sorry, wrong window",
  "t",
];

/** A fake clock with the page's timers: a key waits for quiet, then fires (or arms). */
class Panel {
  constructor() {
    this.gate = new KeyGate(KEYS);
    this.now = 100000;
    this.timer = null; // when the page's setTimeout for a waiting key runs
    this.sent = [];
  }

  /** Lets `ms` pass, running a due timer like the page's setTimeout(…, ms + 20). */
  wait(ms) {
    const until = this.now + ms;
    if (this.timer !== null && this.timer <= until) {
      this.now = this.timer;
      this.timer = null;
      const k = this.gate.due(this.now);
      if (k) {
        this.sent.push(k);
        if (KEYS[k].stop) this.gate.arm(k, this.now);
      }
    }
    this.now = until;
  }

  press(key) {
    const r = this.gate.press(key, this.now);
    if (r.do === "defer") this.timer = this.now + r.ms + 20;
    if (r.do === "confirm") this.sent.push(`confirm:${r.key}`);
    if (r.do === "focus") this.sent.push(`focus:${r.key}`);
    return r;
  }

  /** Types `text`, one key every gap(i) ms; "\n" is Enter. */
  type(text, gap) {
    let i = 0;
    for (const ch of text) {
      this.press(ch === "\n" ? "Enter" : ch);
      this.wait(gap(i++));
    }
    this.wait(3 * QUIET_BEFORE_MS);
    return this.sent;
  }
}

/** A small deterministic generator (the same "random" speeds on every run). */
function rng(seed) {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

for (const ms of [60, 120, 200, 330, 450, 600, 700]) {
  test(`ordinary sentences typed at ${ms} ms per key send nothing`, () => {
    for (const text of CORPUS.filter((t) => t.length > 1)) {
      assert.deepEqual(new Panel().type(text, () => ms), [], `${JSON.stringify(text)} at ${ms} ms`);
    }
  });
}

test("sentences typed at uneven speeds between 60 and 700 ms per key, one after another, send nothing", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const next = rng(seed);
    const panel = new Panel();
    for (const text of CORPUS.filter((t) => t.length > 1)) {
      panel.type(text, () => 60 + Math.floor(next() * 641));
      panel.wait(1500 + Math.floor(next() * 3000)); // a pause between two chat lines
    }
    assert.deepEqual(panel.sent, [], `seed ${seed}`);
  }
});

test("a lone digit sends within a second, and only once the quiet time passed", () => {
  const panel = new Panel();
  assert.deepEqual(panel.press("1"), { do: "defer", key: "1", ms: QUIET_AFTER_MS, stop: false });
  panel.wait(QUIET_AFTER_MS - 1);
  assert.deepEqual(panel.sent, []);
  panel.wait(200);
  assert.deepEqual(panel.sent, ["1"]);
  assert.ok(QUIET_AFTER_MS + 20 < 1000);
});

test("a lone letter sends; the same letter followed by another key within the quiet time does not", () => {
  const panel = new Panel();
  panel.press("h");
  panel.wait(900);
  assert.deepEqual(panel.sent, ["h"]);
  panel.wait(2000);
  const r = panel.press("h");
  assert.equal(r.do, "defer");
  panel.wait(QUIET_AFTER_MS - 10);
  assert.equal(panel.press("i").cancelled, "h");
  panel.wait(3000);
  assert.deepEqual(panel.sent, ["h"]);
});

test("a key less than a second after another key is typing, digits too", () => {
  const panel = new Panel();
  panel.press("x");
  panel.wait(QUIET_BEFORE_MS - 1);
  assert.equal(panel.press("2").do, "typing");
  panel.wait(QUIET_BEFORE_MS);
  assert.equal(panel.press("2").do, "defer");
});

test("Enter, Backspace and Delete are typing: a shortcut right after them waits its second", () => {
  for (const key of ["Enter", "Backspace", "Delete"]) {
    const panel = new Panel();
    assert.equal(panel.press(key).do, "typing");
    panel.wait(500);
    assert.equal(panel.press("1").do, "typing", key);
  }
  const panel = new Panel();
  panel.press("1");
  panel.wait(100);
  assert.equal(panel.press("Backspace").cancelled, "1");
  panel.wait(2000);
  assert.deepEqual(panel.sent, []);
});

test("Tab, arrows and Shift are neither typing nor shortcuts", () => {
  const panel = new Panel();
  for (const key of ["Tab", "ArrowDown", "Shift"]) assert.equal(panel.press(key).do, "none");
  assert.equal(panel.press("1").do, "defer");
});

test("capitals and spaces are never shortcuts", () => {
  const panel = new Panel();
  assert.equal(panel.press("B").do, "typing");
  panel.wait(2000);
  assert.equal(panel.press(" ").do, "typing");
});

test("the learner key focuses the box at once, so the name typed straight after is not lost", () => {
  const panel = new Panel();
  assert.deepEqual(panel.press("l"), { do: "focus", key: "l" });
  // The name goes into the box (the page sees no panel keys then); nothing is sent.
  panel.wait(3000);
  assert.deepEqual(panel.sent, ["focus:l"]);
  panel.press("o");
  panel.wait(100);
  assert.equal(panel.press("l").do, "typing"); // "lol" typed on the panel: only the first l
});

test("a stop key arms only after its quiet time; Enter then confirms, an Enter straight after is typing", () => {
  const panel = new Panel();
  panel.press("b");
  panel.wait(QUIET_AFTER_MS + 30);
  assert.deepEqual(panel.sent, ["b"]);
  assert.equal(panel.gate.armedKey(panel.now), "b");
  assert.equal(panel.press("Enter").do, "disarm"); // 10 ms after arming: typing
  panel.wait(3000);
  panel.press("b");
  panel.wait(QUIET_AFTER_MS + 20 + CONFIRM_AFTER_MS);
  assert.deepEqual(panel.press("Enter"), { do: "confirm", key: "b" });
});

test("a word ending in a stop letter, then Enter, arms nothing and sends nothing", () => {
  const panel = new Panel();
  assert.deepEqual(panel.type("bob\n", () => 330), []);
  assert.equal(panel.gate.armedKey(panel.now), null);
});

test("an armed stop runs out after ARM_MS; Esc or another key disarms", () => {
  const panel = new Panel();
  panel.gate.arm("p", 0);
  assert.equal(panel.gate.armedKey(ARM_MS - 1), "p");
  assert.equal(panel.gate.armedKey(ARM_MS + 1), null);
  panel.gate.arm("r", 10000);
  assert.equal(panel.gate.press("Escape", 10100).do, "disarm");
  panel.gate.arm("r", 20000);
  assert.equal(panel.gate.press("2", 20500).do, "disarm");
  assert.equal(panel.gate.press("Enter", 20600).do, "typing");
});

test("a tap arms like a key, and Enter confirms at once (the tap was the intent)", () => {
  const gate = new KeyGate(KEYS);
  gate.arm("p", 0, true);
  assert.deepEqual(gate.press("Enter", 10), { do: "confirm", key: "p" });
});

test("Esc cancels a key waiting for quiet", () => {
  const panel = new Panel();
  panel.press("2");
  assert.equal(panel.gate.pendingKey(), "2");
  assert.equal(panel.press("Escape").do, "disarm");
  panel.wait(2000);
  assert.deepEqual(panel.sent, []);
});
