// What the Companion module knows of one Backchannel session, without Companion: it follows the
// live feed (Server-Sent Events over fetch, the token in the Authorization header, resumed with
// Last-Event-ID), keeps the server's `state`, the last message and its receipt, and sends
// presets and commands over the HTTP API. src/main.js maps it onto Companion; test/ drives it
// against a real server.

const TRACKED = new Set(["prompt.time", "flag.learner", "alert.stop", "message"]);
const RECEIPTS = ["none", "sent", "delivered", "seen", "acknowledged"];

export class Backchannel extends EventTarget {
  /** `config`: {url, session, token}. Emits "change" (anything drawn changed) and "status". */
  constructor(config, { fetchImpl = globalThis.fetch, retryMs = 2000 } = {}) {
    super();
    this.url = String(config.url || "").replace(/\/+$/, "");
    this.session = config.session;
    this.token = config.token;
    this.fetch = fetchImpl;
    this.retryMs = retryMs;
    this.state = null;
    this.info = null; // the welcome's session
    this.presets = [];
    this.lastSeq = 0;
    this.offsetMs = 0;
    this.roles = new Map();
    this.last = null; // {seq, kind, text, seen, ack}
    this.status = "connecting";
    this.stopped = false;
    this.abort = null;
  }

  // -- following the live feed -------------------------------------------------------------

  start() {
    this._loop();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
  }

  async _loop() {
    while (!this.stopped) {
      try {
        await this._follow();
      } catch (err) {
        if (this.stopped) return;
        this._setStatus("offline", String(err && err.message ? err.message : err));
      }
      if (this.stopped || this.status === "closed") return;
      await new Promise((r) => setTimeout(r, this.retryMs));
    }
  }

  async _follow() {
    this.abort = new AbortController();
    const headers = { Authorization: `Bearer ${this.token}`, Accept: "text/event-stream" };
    if (this.lastSeq) headers["Last-Event-ID"] = String(this.lastSeq);
    const res = await this.fetch(`${this.url}/api/v1/sessions/${encodeURIComponent(this.session)}/stream`, { headers, signal: this.abort.signal });
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      this._setStatus("closed", `the server refused the link (HTTP ${res.status})`);
      return;
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk, { stream: true });
      let at;
      while ((at = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
        if (data) this._frame(JSON.parse(data));
        if (this.status === "closed") return;
      }
    }
    throw new Error("the feed ended");
  }

  _frame(f) {
    switch (f.type) {
      case "welcome":
        this.info = f.session;
        this.offsetMs = Date.parse(f.server_time) - Date.now();
        for (const p of f.participants || []) this.roles.set(p.participant_id, p.role);
        this._setStatus("online");
        if (f.state) this.state = f.state;
        this.loadPresets().catch(() => {});
        break;
      case "state":
        this.state = f.state;
        break;
      case "event":
        if (f.event.seq <= this.lastSeq) return;
        this.lastSeq = f.event.seq;
        this._event(f.event);
        break;
      case "close":
        if (f.code === 4401 || f.code === 4404) this._setStatus("closed", f.reason || `closed ${f.code}`);
        return;
      default:
        return;
    }
    this._emit("change");
  }

  _event(ev) {
    const b = ev.body || {};
    const role = ev.author && ev.author.role;
    if (TRACKED.has(ev.kind) && role !== "facilitator") {
      this.last = { seq: ev.seq, kind: ev.kind, text: b.text || "", at: ev.at, seen: false, ack: null };
    } else if (this.last && b.ref === this.last.seq) {
      if (ev.kind === "seen") this.last.seen = true;
      if (ev.kind === "ack") {
        this.last.seen = true;
        if (!(b.status === "dismissed" && this.last.ack && this.last.ack !== "snoozed")) this.last.ack = b.status;
      }
    }
  }

  _setStatus(status, reason) {
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: { status, reason } }));
  }

  _emit(type) {
    this.dispatchEvent(new CustomEvent(type));
  }

  /** Now on the server's clock. */
  now() {
    return Date.now() + this.offsetMs;
  }

  // -- what the buttons show ---------------------------------------------------------------

  facilitatorOnline() {
    return !!(this.state && (this.state.online || []).some((p) => p.role === "facilitator"));
  }

  /** The last message's receipt: "none", "sent", "delivered", "seen" or "acknowledged". */
  receipt() {
    const m = this.last;
    if (!m) return "none";
    if (m.ack === "done") return "acknowledged";
    if (m.seen) return "seen";
    return this.facilitatorOnline() ? "delivered" : "sent";
  }

  /** True when the receipt is at least `level` ("delivered" < "seen" < "acknowledged"). */
  receiptAtLeast(level) {
    return RECEIPTS.indexOf(this.receipt()) >= RECEIPTS.indexOf(level);
  }

  alertWaiting() {
    return !!(this.state && (this.state.open_alerts || []).length);
  }

  /** Seconds left of the running segment, or null. */
  secondsLeft() {
    const seg = this.state && this.state.segment;
    return seg && seg.planned_end ? (Date.parse(seg.planned_end) - this.now()) / 1000 : null;
  }

  /** "ok", "amber" (under the session's countdown_amber_s, default 120 s), "red" (over), or "none". */
  countdownTone() {
    const left = this.secondsLeft();
    if (left === null) return "none";
    const s = this.state.settings || {};
    const amber = Number.isFinite(s.countdown_amber_s) ? s.countdown_amber_s : 120;
    return left < 0 ? "red" : left < amber ? "amber" : "ok";
  }

  /** Companion variables: countdown, segment title, next segment, waiting time of the oldest open alert. */
  variables() {
    const left = this.secondsLeft();
    const st = this.state || {};
    const oldest = (st.open_alerts || [])[0] || (st.open_requests || [])[0];
    return {
      countdown: left === null ? "" : mmss(left),
      segment: st.segment ? st.segment.title : "",
      next_segment: st.next_segment ? st.next_segment.title : "",
      waiting: oldest ? mmss(Math.max(0, (this.now() - Date.parse(oldest.at)) / 1000)) : "",
      receipt: this.receipt(),
      facilitator: this.facilitatorOnline() ? "online" : "offline",
    };
  }

  // -- actions -----------------------------------------------------------------------------

  async _api(path, init = {}) {
    const res = await this.fetch(`${this.url}/api/v1/sessions/${encodeURIComponent(this.session)}${path}`, {
      ...init,
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json", Accept: "application/json" },
    });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error((data && data.error && data.error.message) || `HTTP ${res.status}`);
    return data;
  }

  async loadPresets() {
    const data = await this._api("/presets");
    this.presets = data.presets || [];
    this._emit("presets");
    return this.presets;
  }

  /** Sends a preset (its variables filled by the server); `id` makes a retry safe. */
  sendPreset(presetId, { learner, id } = {}) {
    const body = {};
    if (learner) body.learner = learner;
    if (id) body.id = id;
    return this._api(`/presets/${encodeURIComponent(presetId)}/send`, { method: "POST", body: JSON.stringify(body) });
  }

  post(kind, body) {
    return this._api("/events", { method: "POST", body: JSON.stringify({ kind, body }) });
  }

  /** Starts the next segment (and the session, if it has not started). */
  async startNext() {
    const st = this.state;
    if (!st || st.status === "ended" || !st.next_segment) throw new Error("no segment to start");
    if (st.status === "planned") await this.post("session.start", {});
    return this.post("segment.start", { index: st.next_segment.index });
  }

  endSegment() {
    const seg = this.state && this.state.segment;
    if (!seg) throw new Error("no segment is running");
    return this.post("segment.end", { index: seg.index });
  }

  extend(minutes) {
    const seg = this.state && this.state.segment;
    if (!seg) throw new Error("no segment is running");
    return this.post("segment.extend", { index: seg.index, minutes });
  }

  /** Answers the oldest open request (or the one with seq `ref`): "on_it", "done" or "declined". */
  answerRequest(status, ref) {
    const open = (this.state && this.state.open_requests) || [];
    const req = ref ? open.find((r) => r.seq === ref) : open[0];
    if (!req) throw new Error("no open request");
    return this.post("request.status", { ref: req.seq, status });
  }
}

export function mmss(seconds) {
  const neg = seconds < 0;
  const s = Math.abs(Math.round(seconds));
  const text = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  return neg ? "-" + text : text;
}
