// Follows a session's live feed with node's own EventSource (the WHATWG one browsers have),
// as a browser page would: a ticket per stream, resume with `since` = the last event id.
// Run by tests/test_stream_eventsource.py against a live server:
//   node --experimental-eventsource eventsource_feed.mjs BASE SESSION PRODUCER_TOKEN FACILITATOR_TOKEN
const [base, sid, producer, facilitator] = process.argv.slice(2);
const api = `${base}/api/v1/sessions/${sid}`;

async function post(kind, body) {
  const r = await fetch(`${api}/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${producer}`, "content-type": "application/json" },
    body: JSON.stringify({ kind, body }),
  });
  if (r.status !== 201) throw new Error(`post ${r.status} ${await r.text()}`);
  return r.json();
}

async function ticket() {
  const r = await fetch(`${api}/stream-tickets`, { method: "POST", headers: { authorization: `Bearer ${facilitator}` } });
  if (r.status !== 201) throw new Error(`ticket ${r.status}`);
  return (await r.json()).ticket;
}

/** Opens a stream and collects events until `until(event)`; resolves with what it saw. */
async function follow(since, until) {
  const t = await ticket();
  const url = `${api}/stream?ticket=${encodeURIComponent(t)}${since ? `&since=${since}` : ""}`;
  const seen = { events: [], ids: [], states: 0, welcome: null, lastEventId: null };
  const es = new EventSource(url);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timed out")), 10000);
    es.addEventListener("welcome", (m) => (seen.welcome = JSON.parse(m.data)));
    es.addEventListener("state", () => seen.states++);
    es.addEventListener("event", (m) => {
      const ev = JSON.parse(m.data).event;
      seen.events.push(ev);
      seen.ids.push(m.lastEventId);
      seen.lastEventId = m.lastEventId;
      if (until(ev)) {
        clearTimeout(timer);
        resolve();
      }
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) reject(new Error("stream refused"));
    };
  });
  es.close();
  return seen;
}

const text = (name) => (ev) => ev.kind === "message" && ev.body.text === name;
for (const name of ["m1", "m2"]) await post("message", { text: name });
await post("note", { text: "never shown to the facilitator" });
const first = await follow(0, text("m2"));
// While no stream is open: more messages, and a note the facilitator must not get.
await post("message", { text: "m3" });
await post("note", { text: "hidden again" });
await post("message", { text: "m4" });
const second = await follow(Number(first.lastEventId), text("m4"));
console.log(JSON.stringify({ first, second }));
