// The module's logic against a real Backchannel server (BACKCHANNEL_URL; tests/test_companion.py
// starts one and runs these): it follows the live feed, sends presets and commands, and its
// variables and feedbacks follow the facilitator's answers.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Backchannel } from "../src/backchannel.js";

const URL_ = process.env.BACKCHANNEL_URL;

async function http(path, { token, method = "GET", json } = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(URL_ + path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  const data = await res.json().catch(() => null);
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

async function until(check, what, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    if (check()) return;
    if (Date.now() > end) assert.fail(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("follows a session, sends a preset and shows its receipt, segments, alerts and requests", { skip: !URL_ && "BACKCHANNEL_URL is not set" }, async (t) => {
  const created = await http("/api/v1/sessions", {
    method: "POST",
    json: { title: "Companion class", agenda: [{ title: "Warm-up", minutes: 1 }, { title: "Role play", minutes: 20 }] },
  });
  const sid = created.session.id;
  const { producer, facilitator } = created.tokens;
  const bc = new Backchannel({ url: URL_ + "/", session: sid, token: producer }, { retryMs: 200 }).start();
  const fac = new Backchannel({ url: URL_, session: sid, token: facilitator }, { retryMs: 200 });
  t.after(() => {
    bc.stop();
    fac.stop();
  });
  await until(() => bc.status === "online" && bc.presets.length > 0, "online with presets");
  assert.equal(bc.variables().segment, "");
  assert.equal(bc.countdownTone(), "none");
  assert.equal(bc.facilitatorOnline(), false);

  // Start: the feed's state gives segment, next, countdown (under 2 min: amber).
  await bc.startNext();
  await until(() => bc.variables().segment === "Warm-up", "segment");
  let v = bc.variables();
  assert.equal(v.next_segment, "Role play");
  assert.match(v.countdown, /^(1:00|0:5\d)$/);
  assert.equal(bc.countdownTone(), "amber");
  await bc.extend(-1);
  await until(() => bc.countdownTone() === "red", "red when over");
  assert.match(bc.variables().countdown, /^-0:0\d$/);
  await bc.extend(5);
  await until(() => bc.countdownTone() === "ok", "ok after +5");

  // A preset: sent, then delivered once the facilitator is online, seen, acknowledged.
  const sent = await bc.sendPreset("five-min");
  await until(() => bc.last && bc.last.seq === sent.seq, "the preset in the feed");
  assert.equal(bc.receipt(), "sent");
  fac.start();
  await until(() => bc.facilitatorOnline() && bc.receipt() === "delivered", "delivered");
  assert.equal(bc.receiptAtLeast("delivered"), true);
  assert.equal(bc.receiptAtLeast("seen"), false);
  await http(`/api/v1/sessions/${sid}/events`, { token: facilitator, method: "POST", json: { kind: "seen", body: { ref: sent.seq } } });
  await until(() => bc.receipt() === "seen", "seen");
  await http(`/api/v1/sessions/${sid}/events`, { token: facilitator, method: "POST", json: { kind: "ack", body: { ref: sent.seq, status: "done" } } });
  await until(() => bc.receipt() === "acknowledged", "acknowledged");
  assert.equal(bc.variables().receipt, "acknowledged");

  // A stop alert waits (with its waiting time) until it is answered.
  const alert = await bc.sendPreset("stop-chat");
  await until(() => bc.alertWaiting(), "alert waiting");
  await until(() => bc.variables().waiting === "0:01", "waiting time counts", 5000);
  await http(`/api/v1/sessions/${sid}/events`, { token: facilitator, method: "POST", json: { kind: "ack", body: { ref: alert.seq, status: "done" } } });
  await until(() => !bc.alertWaiting(), "alert answered");

  // A facilitator's request, answered from the button.
  await http(`/api/v1/sessions/${sid}/events`, { token: facilitator, method: "POST", json: { kind: "request", body: { action: "breakout" } } });
  await until(() => (bc.state.open_requests || []).length === 1, "request open");
  await bc.answerRequest("done");
  await until(() => (bc.state.open_requests || []).length === 0, "request closed");
  const events = await http(`/api/v1/sessions/${sid}/events?after=0&limit=1000`, { token: producer });
  const statuses = events.events.filter((e) => e.kind === "request.status").map((e) => e.body.status);
  assert.deepEqual(statuses, ["done"]);

  // End the segment: no countdown.
  await bc.endSegment();
  await until(() => bc.variables().countdown === "" && bc.countdownTone() === "none", "segment ended");
});

test("a wrong key is refused for good, not retried forever", { skip: !URL_ && "BACKCHANNEL_URL is not set" }, async () => {
  const created = await http("/api/v1/sessions", { method: "POST", json: { title: "Wrong key" } });
  const bc = new Backchannel({ url: URL_, session: created.session.id, token: "not-a-key" }, { retryMs: 100 }).start();
  await until(() => bc.status === "closed", "closed");
  bc.stop();
});
