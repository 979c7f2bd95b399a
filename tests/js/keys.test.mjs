// The producer panel's keystroke gate (web/keys.js): typing never sends, shortcuts still work.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ARM_MS, CONFIRM_AFTER_MS, KeyGate, QUIET_AFTER_MS, TYPING_MS } from "../../web/keys.js";

const KEYS = { 1: {}, 2: {}, c: {}, h: {}, t: {}, p: { stop: true }, r: { stop: true }, b: { stop: true } };

/** Types `text` one key every `gap` ms from `t0`; returns what would be sent or armed. */
function type(gate, text, t0 = 10000, gap = 80) {
  const out = [];
  let t = t0;
  for (const ch of text) {
    const key = ch === "\n" ? "Enter" : ch;
    const r = gate.press(key, t);
    if (r.do === "fire" || r.do === "confirm" || r.do === "arm") out.push(`${r.do}:${r.key}`);
    t += gap;
    const due = gate.due(t);
    if (due) out.push(`fire:${due}`);
  }
  t += 2 * QUIET_AFTER_MS;
  const due = gate.due(t);
  if (due) out.push(`fire:${due}`);
  return out;
}

test("typing 'hi bob' sends and arms nothing", () => {
  assert.deepEqual(type(new KeyGate(KEYS), "hi bob"), []);
});

test("'hi', a pause, then 'bob' arms a stop for one key only and sends nothing", () => {
  const gate = new KeyGate(KEYS);
  assert.deepEqual(type(gate, "hi"), []);
  const out = type(gate, "bob", 20000);
  assert.deepEqual(out, ["arm:b"]);
  assert.equal(gate.armedKey(20000 + 300), null);
});

test("a paragraph with digits, stop letters and Enter sends nothing", () => {
  const text = "Hi Bob, the breakout link for room 3 is broken.\nCan you post it again? thanks bob\n2 more things: poll, then break\n";
  assert.deepEqual(type(new KeyGate(KEYS), text), []);
});

test("a digit fires at once and digits in a row each fire", () => {
  const gate = new KeyGate(KEYS);
  assert.deepEqual(gate.press("1", 0), { do: "fire", key: "1" });
  assert.deepEqual(gate.press("2", 50), { do: "fire", key: "2" });
});

test("a letter shortcut fires after a quiet moment, and not if another key follows", () => {
  const gate = new KeyGate(KEYS);
  assert.equal(gate.press("h", 0).do, "defer");
  assert.equal(gate.due(QUIET_AFTER_MS - 1), null);
  assert.equal(gate.due(QUIET_AFTER_MS), "h");
  assert.equal(gate.due(QUIET_AFTER_MS + 10), null); // once
  assert.equal(gate.press("c", 5000).do, "defer");
  assert.equal(gate.press("a", 5100).do, "typing");
  assert.equal(gate.due(6000), null);
});

test("a shortcut right after typing is typing; after a quiet second it works again", () => {
  const gate = new KeyGate(KEYS);
  gate.press("x", 0);
  assert.equal(gate.press("1", TYPING_MS - 1).do, "typing");
  assert.equal(gate.press("1", 2 * TYPING_MS).do, "fire");
});

test("a word ending in a stop letter, then Enter straight away, sends nothing", () => {
  const gate = new KeyGate(KEYS);
  assert.equal(gate.press("b", 0).do, "arm"); // e.g. after a pause: "…bob" with the last b alone
  assert.equal(gate.ready(CONFIRM_AFTER_MS - 1), false);
  assert.equal(gate.press("Enter", CONFIRM_AFTER_MS - 1).do, "disarm");
  assert.equal(gate.press("Enter", 2000).do, "none");
});

test("a stop key arms; Enter within the window confirms, later it does nothing", () => {
  const gate = new KeyGate(KEYS);
  assert.deepEqual(gate.press("b", 0), { do: "arm", key: "b", ms: ARM_MS });
  assert.equal(gate.armedKey(ARM_MS - 1), "b");
  assert.equal(gate.ready(ARM_MS - 1), true);
  assert.deepEqual(gate.press("Enter", ARM_MS - 1), { do: "confirm", key: "b" });
  assert.equal(gate.press("p", 10000).do, "arm");
  assert.equal(gate.press("Enter", 10000 + ARM_MS + 1).do, "none");
});

test("Escape or any other key disarms a stop; capitals and spaces are typing", () => {
  const gate = new KeyGate(KEYS);
  gate.press("r", 0);
  assert.equal(gate.press("Escape", 100).do, "disarm");
  assert.equal(gate.press("Enter", 200).do, "none");
  gate.press("r", 5000);
  assert.equal(gate.press("2", 5100).do, "disarm");
  assert.equal(gate.press("Enter", 5200).do, "none");
  assert.equal(gate.press("B", 9000).do, "typing");
  assert.equal(gate.press(" ", 20000).do, "typing");
});

test("a tap arms like a key, and Enter confirms at once (the tap was the intent)", () => {
  const gate = new KeyGate(KEYS);
  gate.arm("p", 0);
  assert.deepEqual(gate.press("Enter", 10), { do: "confirm", key: "p" });
});
