// The one module that owns the socket: hello, resume by seq, reconnect with backoff,
// dedupe by seq, a persistent outbox (same id on every re-send, so each message is
// logged once), a server clock offset from ping/pong, and a connection-state signal.
//
// Events dispatched (all CustomEvent, data in `detail`):
//   "state"    {state: "connecting"|"online"|"offline"|"closed", reason?} — the CONNECTION
//   "welcome"  the welcome frame (after every (re)connect)
//   "session"  {state, seq} — the SESSION's state object (docs/protocol.md): the welcome's
//              (seq = its last_seq), then every `state` frame whose seq is not older than the
//              one held; pages draw timer, open alerts and requests, and who is online from it
//   "session-changed" {seq} — the session itself (title, agenda, roster, playbook, settings)
//              was edited, maybe in another tab: re-read it (GET /sessions/{id}, /presets)
//   "event"    {event, replay: boolean}  — each seq at most once per page
//   "outbox"   {items}                   — the outbox changed
//   "sent"     {id, seq}
//   "failed"   {id, code, message, item} — refused for good (not retried)
//   "stopped"  {reason: "replaced"|"revoked"|"expired"|"invalid"|"deleted", code} — the link
//              no longer works (close 4401 twice in a row, or 4404); nothing is retried
//              until useToken() gives a new one

const PING_EVERY_MS = 15000;
const PONG_TIMEOUT_MS = 8000;
const WELCOME_TIMEOUT_MS = 10000;
const FATAL = { 4401: "This link is not valid (or was revoked).", 4404: "This session was deleted." };
// The close reasons of a 4401 (docs/protocol.md) -> the "stopped" reason.
const STOP_REASON = { link_replaced: "replaced", link_revoked: "revoked", link_expired: "expired" };
const RETRYABLE = new Set(["rate_limited", "unavailable"]);

export function newId() {
  // crypto.randomUUID needs a secure context; a phone on the LAN over http has none.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A short, non-secret key for this token's outbox (the token itself is not stored there). */
function storageKey(token) {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    a = Math.imul(a ^ c, 16777619) >>> 0;
    b = Math.imul(b ^ c, 2246822519) >>> 0;
  }
  return "bc.outbox." + a.toString(36) + b.toString(36);
}

export class Channel extends EventTarget {
  constructor(token, { url } = {}) {
    super();
    this.token = token;
    this.url = url || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    this.key = storageKey(token);
    this.outbox = this._load();
    this.state = "connecting";
    this.lastSeq = 0;
    this.welcome = null;
    this.session = null; // the latest session state object, and the seq it is as of
    this.sessionSeq = -1;
    this.offsetMs = 0;
    this.rttMs = null;
    this.attempt = 0;
    this.ws = null;
    this.ready = false;
    this.stopped = false;
    this._timers = {};
    this._inflight = new Set();
    this._refusal = null; // the first 4401's reason, while the one re-hello is tried
    addEventListener("online", () => this._wake());
    addEventListener("offline", () => this._drop("offline"));
    addEventListener("storage", (e) => {
      if (e.key === this.key) this._mergeStored();
    });
  }

  /** Now, on the server's clock (ms since epoch). */
  now() {
    return Date.now() + this.offsetMs;
  }

  start() {
    this._connect();
    return this;
  }

  /** Queue a message; returns its id. It is (re)sent until the server answers `sent`.
   * `preset`: the playbook preset it comes from — the server fills its variables. */
  send(kind, body, preset) {
    const item = { id: newId(), kind, body: body || {}, queued_at: new Date().toISOString() };
    if (preset) item.preset = preset;
    this.outbox.push(item);
    this._save();
    this._emit("outbox", { items: this.outbox.slice() });
    if (this.ready) this._transmit(item);
    return item.id;
  }

  /** A new link (a new `#t=…` in the same tab): reconnect with it; the outbox comes along. */
  useToken(token) {
    if (!token || (token === this.token && !this.stopped)) return;
    const pending = this.outbox;
    try {
      localStorage.removeItem(this.key);
    } catch {
      // Storage disabled: nothing was kept there.
    }
    this.token = token;
    this.key = storageKey(token);
    const known = new Set(pending.map((i) => i.id));
    this.outbox = [...pending, ...this._load().filter((i) => !known.has(i.id))];
    this._save();
    this.stopped = false;
    this._refusal = null;
    this.welcome = null; // until the new link's welcome: a refusal now is "invalid"
    this.attempt = 0;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close(1000, "new link");
    }
    this._connect();
  }

  close() {
    this.stopped = true;
    this._clearTimers();
    if (this.ws) this.ws.close(1000, "bye");
  }

  // -- connection ---------------------------------------------------------------------

  _setState(state, reason) {
    if (this.state === state && !reason) return;
    this.state = state;
    this._emit("state", { state, reason });
  }

  _connect() {
    if (this.stopped) return;
    this._clearTimers();
    this.ready = false;
    this._setState("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this._retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "hello", token: this.token, since: this.lastSeq }));
      this._timers.welcome = setTimeout(() => ws.close(4000, "no welcome"), WELCOME_TIMEOUT_MS);
    };
    ws.onmessage = (msg) => this._onFrame(ws, msg.data);
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.ready = false;
      this._inflight.clear();
      this._clearTimers();
      if (e.code === 4401 && this._refusal === null) {
        // One more hello first: a token check that raced a restart or a rotation may have
        // refused a link that works.
        this._refusal = e.reason || "";
        this._timers.retry = setTimeout(() => this._connect(), 250);
        return;
      }
      if (FATAL[e.code]) {
        this.stopped = true;
        this._setState("closed", FATAL[e.code]);
        const why = e.code === 4404 ? "deleted" : STOP_REASON[this._refusal] || (this.welcome ? "replaced" : "invalid");
        this._emit("stopped", { reason: why, code: e.code });
        return;
      }
      this._retry();
    };
  }

  /** Reconnect after an exponential backoff with jitter (0.5 s … 15 s). */
  _retry() {
    if (this.stopped) return;
    this._setState("offline");
    if (navigator.onLine === false) {
      // Nothing to try until the browser is back online (the "online" event wakes us);
      // a slow poll covers browsers that never fire it.
      this._timers.retry = setTimeout(() => this._connect(), 15000);
      return;
    }
    const base = Math.min(15000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * (base / 2);
    this._timers.retry = setTimeout(() => this._connect(), delay);
  }

  _wake() {
    if (this.stopped || (this.ws && this.ws.readyState <= 1)) return;
    this.attempt = 0;
    this._connect();
  }

  _drop(why) {
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close(4000, why);
    }
    this.ready = false;
    this._inflight.clear();
    this._clearTimers();
    this._retry();
  }

  _clearTimers() {
    for (const t of Object.values(this._timers)) {
      clearTimeout(t);
      clearInterval(t);
    }
    this._timers = {};
  }

  _ping() {
    if (!this.ws || this.ws.readyState !== 1) return;
    this.ws.send(JSON.stringify({ type: "ping", t: Date.now() }));
    clearTimeout(this._timers.pong);
    // No pong in time: the link is dead even if the socket does not know yet.
    this._timers.pong = setTimeout(() => this._drop("no pong"), PONG_TIMEOUT_MS);
  }

  // -- frames -------------------------------------------------------------------------

  _onFrame(ws, data) {
    if (ws !== this.ws) return;
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      return;
    }
    switch (f.type) {
      case "welcome":
        clearTimeout(this._timers.welcome);
        this.attempt = 0;
        this._refusal = null;
        this.welcome = f;
        this._adjustClock(Date.parse(f.server_time), null);
        this.ready = true;
        this._setState("online");
        this._emit("welcome", f);
        if (f.state) this._takeState(f.state, f.last_seq);
        this._timers.ping = setInterval(() => this._ping(), PING_EVERY_MS);
        this._ping();
        this._flush();
        break;
      case "event": {
        const ev = f.event;
        if (ev.seq <= this.lastSeq) return; // already had it: dedupe by seq
        this.lastSeq = ev.seq;
        const replay = this.welcome ? ev.seq <= this.welcome.last_seq : false;
        this._emit("event", { event: ev, replay });
        break;
      }
      case "state":
        if (f.state && Number.isInteger(f.seq)) this._takeState(f.state, f.seq);
        if (f.session_changed === true) this._emit("session-changed", { seq: f.seq });
        break;
      case "sent":
        this._settle(f.id, f.seq);
        break;
      case "error":
        this._refused(f);
        break;
      case "pong": {
        clearTimeout(this._timers.pong);
        const sentAt = Number(f.t);
        if (Number.isFinite(sentAt)) this._adjustClock(Date.parse(f.server_time), Date.now() - sentAt);
        break;
      }
      default:
        break;
    }
  }

  _takeState(state, seq) {
    if (this.session && seq < this.sessionSeq) return; // an older state never wins
    this.session = state;
    this.sessionSeq = seq;
    this._emit("session", { state, seq });
  }

  _adjustClock(serverMs, rtt) {
    if (!Number.isFinite(serverMs)) return;
    const half = rtt === null ? 0 : rtt / 2;
    const offset = serverMs + half - Date.now();
    // Keep the estimate from the fastest round trip: it has the least error.
    if (rtt === null || this.rttMs === null || rtt <= this.rttMs * 1.5) {
      this.offsetMs = offset;
      if (rtt !== null) this.rttMs = this.rttMs === null ? rtt : Math.min(this.rttMs, rtt);
    }
  }

  // -- outbox -------------------------------------------------------------------------

  _flush() {
    for (const item of this.outbox) this._transmit(item);
  }

  _transmit(item) {
    if (!this.ready || !this.ws || this._inflight.has(item.id)) return;
    this._inflight.add(item.id);
    const frame = { type: "send", id: item.id, kind: item.kind, body: item.body };
    if (item.preset) frame.preset = item.preset;
    this.ws.send(JSON.stringify(frame));
  }

  _settle(id, seq) {
    this._inflight.delete(id);
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((i) => i.id !== id);
    if (this.outbox.length !== before) {
      this._save();
      this._emit("outbox", { items: this.outbox.slice() });
    }
    this._emit("sent", { id, seq });
  }

  _refused(f) {
    const item = this.outbox.find((i) => i.id === f.id);
    if (!item) return;
    this._inflight.delete(item.id);
    if (RETRYABLE.has(f.code)) {
      const wait = Math.max(250, (f.retry_after_s || 1) * 1000);
      setTimeout(() => this._transmit(item), wait);
      return;
    }
    this.outbox = this.outbox.filter((i) => i.id !== item.id);
    this._save();
    this._emit("outbox", { items: this.outbox.slice() });
    this._emit("failed", { id: item.id, code: f.code, message: f.message, item });
  }

  _load() {
    try {
      const items = JSON.parse(localStorage.getItem(this.key) || "[]");
      return Array.isArray(items) ? items.filter((i) => i && i.id && i.kind) : [];
    } catch {
      return [];
    }
  }

  _save() {
    try {
      if (this.outbox.length) localStorage.setItem(this.key, JSON.stringify(this.outbox));
      else localStorage.removeItem(this.key);
    } catch {
      // Storage full or disabled: the outbox still lives in memory for this page.
    }
  }

  /** Another tab with the same link changed the outbox: adopt its items too. */
  _mergeStored() {
    const stored = this._load();
    const known = new Set(this.outbox.map((i) => i.id));
    let added = false;
    for (const item of stored) {
      if (!known.has(item.id)) {
        this.outbox.push(item);
        added = true;
        if (this.ready) this._transmit(item);
      }
    }
    if (added) this._emit("outbox", { items: this.outbox.slice() });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
