// The pure pieces of web/model.js that the vectors do not cover on their own.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  Cards, Ticks, ackFor, actionsFor, clearable, countdownTone, secondsLeft, visibleCards,
  waited,
} from "../../web/model.js";

const F = { participant_id: "f1", role: "facilitator", name: "F" };
const P = { participant_id: "p1", role: "producer", name: "P" };
let seq = 0;
const ev = (kind, body, author = P, at = "2025-01-01T10:00:00.000Z") => ({ seq: ++seq, id: `e${seq}`, kind, body, author, at });

test("buttons fit the kind", () => {
  assert.deepEqual(actionsFor("flag.learner").map((a) => a[1]), ["OK", "Dismiss"]);
  assert.deepEqual(actionsFor("alert.stop").map((a) => a[1]), ["Acknowledge", "Snooze 2 min", "Decline"]);
  assert.deepEqual(actionsFor("message").map((a) => a[1]), ["OK", "Reply"]);
  assert.ok(actionsFor("prompt.time").length <= 3);
  assert.ok(!actionsFor("message").some(([a]) => a === "more"), "no '1 more min' on a message");
});

test("each action is one ack body", () => {
  assert.deepEqual(ackFor("dismiss", 4), { ref: 4, status: "declined" });
  assert.deepEqual(ackFor("clear", 4), { ref: 4, status: "dismissed" }); // "Clear all" is no answer
  assert.deepEqual(ackFor("snooze", 4), { ref: 4, status: "snoozed", minutes: 2 });
  assert.deepEqual(ackFor("reply", 4, "on it"), { ref: 4, status: "done", text: "on it" });
  assert.deepEqual(ackFor("more", 4), { ref: 4, status: "done", text: "1 more minute" });
});

test("at most three cards show, the rest are counted; clear all skips urgent messages", () => {
  const cards = new Cards();
  cards.apply(ev("message", { text: "urgent", urgent: true }));
  for (let i = 0; i < 5; i++) cards.apply(ev("flag.learner", { learner: "A", flag: "hand" }));
  const { open } = cards.at(Date.parse("2025-01-01T10:00:01.000Z"));
  const { shown, more } = visibleCards(open);
  assert.equal(shown.length, 3);
  assert.equal(more, 3);
  assert.equal(shown[0].urgent, true);
  assert.equal(clearable(open).length, 5);
});

test("flags never push the current timing card under +N more", () => {
  const cards = new Cards();
  cards.apply(ev("prompt.time", { text: "5 min left" }));
  for (const who of ["A", "B", "C", "D"]) cards.apply(ev("flag.learner", { learner: who, flag: "hand" }));
  const { open } = cards.at(0);
  const { shown, more } = visibleCards(open);
  assert.deepEqual(shown.map((c) => c.kind), ["flag.learner", "flag.learner", "prompt.time"]);
  assert.equal(more, 2);
  assert.deepEqual(visibleCards(open, 1).shown.map((c) => c.kind), ["flag.learner"]); // compact: the newest
  // Urgent messages keep their places; the time takes the last ordinary one.
  cards.apply(ev("message", { text: "Now!", urgent: true }));
  cards.apply(ev("message", { text: "Also now", urgent: true }));
  const urgent = visibleCards(cards.at(0).open).shown;
  assert.deepEqual(urgent.map((c) => c.urgent || c.kind), [true, true, "prompt.time"]);
  assert.equal(visibleCards(open, Infinity).more, 0);
});

test("a snoozed card's wake-up time is known, so the page can redraw then", () => {
  const cards = new Cards();
  const p = ev("prompt.time", { text: "x" });
  cards.apply(p);
  cards.apply(ev("ack", { ref: p.seq, status: "snoozed", minutes: 2 }, F, "2025-01-01T10:00:10.000Z"));
  assert.equal(cards.nextWake(0), Date.parse("2025-01-01T10:02:10.000Z"));
});

test("delivery waits for a facilitator whose role is learned later", () => {
  const ticks = new Ticks();
  const m = ev("message", { text: "hi" });
  ticks.apply(m);
  ticks.apply(ev("presence", { participant_id: "f1", status: "online" }, { role: "system" }));
  assert.equal(ticks.get(m.seq).delivered, false);
  ticks.learn([F]);
  assert.equal(ticks.get(m.seq).delivered, true);
});

test("countdown tones, seconds left from state, waiting in plain words", () => {
  assert.equal(countdownTone(121), "ok");
  assert.equal(countdownTone(119), "warn");
  assert.equal(countdownTone(-1), "over");
  assert.equal(countdownTone(200, 300), "warn");
  const state = { segment: { planned_end: "2025-01-01T10:10:00.000Z" } };
  assert.equal(secondsLeft(state, Date.parse("2025-01-01T10:09:00.000Z")), 60);
  assert.equal(secondsLeft({ segment: null }, 0), null);
  assert.equal(waited("2025-01-01T10:00:00.000Z", Date.parse("2025-01-01T10:01:45.400Z")), "waiting 1:45");
});
