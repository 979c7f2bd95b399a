// Pages honour Retry-After (web/util.js fetchPolitely): a read refused with 429 is asked
// again after the wait the server names; a write is not repeated. Against a real HTTP server.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";

import { fetchPolitely } from "../../web/util.js";

async function serve(answers) {
  const seen = [];
  const server = createServer((req, res) => {
    seen.push(req.method);
    const [status, retry] = answers[Math.min(seen.length - 1, answers.length - 1)];
    res.writeHead(status, retry ? { "Retry-After": String(retry), "Content-Type": "application/json" } : { "Content-Type": "application/json" });
    res.end(JSON.stringify({ n: seen.length }));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}/x`, seen, close: () => new Promise((r) => server.close(r)) };
}

test("a read refused with 429 is asked again after its Retry-After", async () => {
  const srv = await serve([[429, 3], [429, 2], [200]]);
  const waits = [];
  try {
    const res = await fetchPolitely(srv.url, {}, { sleep: async (ms) => waits.push(ms) });
    assert.equal(res.status, 200);
    assert.deepEqual(waits, [3000, 2000]);
    assert.equal(srv.seen.length, 3);
  } finally {
    await srv.close();
  }
});

test("it gives up after a few tries and hands the 429 back", async () => {
  const srv = await serve([[429, 1]]);
  try {
    const res = await fetchPolitely(srv.url, {}, { tries: 3, sleep: async () => {} });
    assert.equal(res.status, 429);
    assert.equal(srv.seen.length, 3);
  } finally {
    await srv.close();
  }
});

test("a refused write is not sent again", async () => {
  const srv = await serve([[429, 1], [201]]);
  try {
    const res = await fetchPolitely(srv.url, { method: "POST", body: "{}" }, { sleep: async () => {} });
    assert.equal(res.status, 429);
    assert.deepEqual(srv.seen, ["POST"]);
  } finally {
    await srv.close();
  }
});
