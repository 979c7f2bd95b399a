// Golden vectors (tests/vectors/*.json) through the browser's model (web/model.js): the same
// `status` of every message that pytest checks against app/delivery.py, the overlay's `cards`, and `superseded`:
// the timing prompts whose card a newer prompt or a segment boundary retired unanswered are
// the ones the debrief (app/report.py) does not count as "never answered".
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { Cards, MoreTime, Ticks } from "../../web/model.js";

const DIR = fileURLToPath(new URL("../vectors/", import.meta.url));
const files = readdirSync(DIR).filter((f) => f.endsWith(".json")).sort();

test("there are vectors with statuses and with cards", () => {
  const all = files.map((f) => JSON.parse(readFileSync(join(DIR, f), "utf8")));
  assert.ok(all.some((v) => v.expect && v.expect.status), "no vector has expect.status");
  assert.ok(all.some((v) => v.expect && v.expect.cards), "no vector has expect.cards");
});

for (const file of files) {
  const v = JSON.parse(readFileSync(join(DIR, file), "utf8"));
  const expect = v.expect || {};

  test(`${file}: events are in seq order from 1 without gaps`, () => {
    v.events.forEach((ev, i) => assert.equal(ev.seq, i + 1, `${file} event #${i}`));
  });

  if (expect.status) {
    test(`${file}: every message's status (delivered, seen, ack, escalation, cancel) matches`, () => {
      const ticks = new Ticks(v.participants);
      for (const ev of v.events) ticks.apply(ev);
      assert.deepEqual(ticks.all(), expect.status);
    });
  }

  if (expect.superseded) {
    test(`${file}: the cards retired as replaced are the report's superseded prompts`, () => {
      const cards = new Cards();
      for (const ev of v.events) cards.apply(ev);
      const replaced = cards.closed().filter((c) => c.reason === "replaced" || c.reason === "segment_end").map((c) => c.seq);
      assert.deepEqual(replaced.sort((a, b) => a - b), expect.superseded);
    });
  }

  if (expect.dismissed) {
    test(`${file}: the cards "Clear all" closed include the report's dismissed messages`, () => {
      const cards = new Cards();
      for (const ev of v.events) cards.apply(ev);
      const closed = new Map(cards.closed().map((c) => [c.seq, c.reason]));
      for (const seq of expect.dismissed) assert.equal(closed.get(seq), "dismissed", `#${seq}`);
    });
  }

  if (expect.cards) {
    for (const cp of expect.cards.checkpoints || []) {
      test(`${file}: cards after #${cp.after_seq} at ${cp.now}`, () => {
        const cards = new Cards();
        for (const ev of v.events) if (ev.seq <= cp.after_seq) cards.apply(ev);
        const { open, snoozed } = cards.at(Date.parse(cp.now));
        assert.deepEqual(open.map((c) => c.seq), cp.open, "open");
        assert.deepEqual(snoozed.map((c) => c.seq), cp.snoozed, "snoozed");
        if (cp.closed) {
          const closed = Object.fromEntries(cards.closed().map((c) => [String(c.seq), c.reason]));
          assert.deepEqual(closed, cp.closed, "closed");
        }
      });
    }
    for (const cp of expect.cards.more_time || []) {
      test(`${file}: pending "1 more minute" after #${cp.after_seq}`, () => {
        const more = new MoreTime();
        for (const ev of v.events) if (ev.seq <= cp.after_seq) more.apply(ev);
        const ask = more.pending();
        assert.equal(ask ? ask.seq : null, cp.pending);
      });
    }
  }
}
