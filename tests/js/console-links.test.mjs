// The console's rooms (web/console-links.js): which pasted links are followed, kept, and in what order.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MAX_ROOMS, addRooms, attentionOrder, listRooms, parseLinks, saveRooms } from "../../web/console-links.js";

const ORIGIN = "http://127.0.0.1:8000";

function memory() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), raw: m };
}

test("producer links are followed; facilitator, foreign and broken links are refused in words", () => {
  const { found, errors } = parseLinks(
    `${ORIGIN}/producer#t=tok1&s=s1\n/producer#t=tok2\n${ORIGIN}/facilitator#t=f\nhttp://evil.example/producer#t=x\n${ORIGIN}/producer`,
    ORIGIN,
  );
  assert.deepEqual(found, [{ token: "tok1", sid: "s1" }, { token: "tok2", sid: null }]);
  assert.equal(errors.length, 3);
  assert.match(errors[0], /facilitator's link/);
  assert.match(errors[1], /another server \(evil\.example\)/);
  assert.match(errors[2], /not a producer link/);
});

test("the same room is not followed twice and at most twenty are kept", () => {
  let r = addRooms([], [{ token: "a", sid: "s1" }, { token: "a", sid: null }, { token: "b", sid: "s1" }]);
  assert.equal(r.added, 1);
  assert.equal(r.skipped.length, 2);
  const many = Array.from({ length: 25 }, (_, i) => ({ token: "t" + i, sid: "s" + i }));
  r = addRooms([], many);
  assert.equal(r.rooms.length, MAX_ROOMS);
  assert.match(r.skipped.at(-1), /At most 20 rooms/);
});

test("rooms are kept in storage with their key, id and title only", () => {
  const store = memory();
  saveRooms([{ token: "a", sid: "s1", title: "Plenary", extra: "x" }], store);
  assert.deepEqual(listRooms(store), [{ token: "a", sid: "s1", title: "Plenary" }]);
  store.setItem("backchannel.console", "not json");
  assert.deepEqual(listRooms(store), []);
});

test("a waiting stop alert comes first, then a request, the longest waiting on top", () => {
  const order = attentionOrder([
    { key: "calm", alertAt: null, requestAt: null },
    { key: "request", alertAt: null, requestAt: "2026-12-05T09:00:00Z" },
    { key: "late-alert", alertAt: "2026-12-05T09:02:00Z", requestAt: null },
    { key: "early-alert", alertAt: "2026-12-05T09:01:00Z", requestAt: "2026-12-05T08:00:00Z" },
    { key: "calm2", alertAt: null, requestAt: null },
  ]);
  assert.deepEqual(order, ["early-alert", "late-alert", "request", "calm", "calm2"]);
});
