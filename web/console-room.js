// One room on the console: a producer link's socket (client.js), the session state the server
// sends, and from the events only what the console shows — the last message and its receipt
// (model.js Ticks). The full log is not kept: twenty rooms stay light.
import { Channel } from "./client.js";
import { TRACKED_KINDS, Ticks, countdownTone, secondsLeft } from "./model.js";
import { api } from "./util.js";

const ANSWER = { done: "Acknowledged", snoozed: "Snoozed", declined: "Declined", dismissed: "Cleared unanswered" };

export class Room {
  /** `entry`: {token, sid, title}; `onChange(room, why)` — why: "state", "event", "alert", "request", "conn". */
  constructor(entry, onChange) {
    this.entry = entry;
    this.key = entry.token;
    this.onChange = onChange;
    this.ticks = new Ticks();
    this.last = null; // the last message the facilitator was sent (its event)
    this.lastReply = null; // the facilitator's last reply, request or answer with words
    this.state = null;
    this.session = null;
    this.role = null;
    this.conn = "connecting";
    this.problem = null;
    this.presets = [];
    this.known = null; // seqs of open alerts and requests already seen (null before the first state)
    this.ch = new Channel(entry.token);
    this.ch.addEventListener("state", (e) => {
      this.conn = e.detail.state;
      if (e.detail.reason) this.problem = e.detail.reason;
      this.onChange(this, "conn");
    });
    this.ch.addEventListener("welcome", (e) => this._welcome(e.detail));
    this.ch.addEventListener("session", (e) => this._state(e.detail.state));
    this.ch.addEventListener("event", (e) => this._event(e.detail.event));
    this.ch.addEventListener("outbox", () => this.onChange(this, "event"));
  }

  start() {
    this.ch.start();
    return this;
  }

  close() {
    this.ch.close();
  }

  get sid() {
    return (this.session && this.session.id) || this.entry.sid;
  }

  get title() {
    return (this.session && this.session.title) || this.entry.title || "Session " + (this.entry.sid || "…");
  }

  get readOnly() {
    return this.role !== null && this.role !== "producer";
  }

  /** The producer panel of this room (the key in the fragment: it never reaches the server). */
  panelHref() {
    const sid = this.sid;
    return `/producer#t=${encodeURIComponent(this.entry.token)}${sid ? "&s=" + encodeURIComponent(sid) : ""}`;
  }

  facilitatorOnline() {
    return !!(this.state && (this.state.online || []).some((p) => p.role === "facilitator"));
  }

  /** {left (s), tone} of the running segment, or null. */
  countdown() {
    const left = secondsLeft(this.state, this.ch.now());
    if (left === null) return null;
    const s = this.state.settings;
    const amber = s && Number.isFinite(s.countdown_amber_s) ? s.countdown_amber_s : 120;
    return { left, tone: countdownTone(left, amber) };
  }

  /** The last message and its receipt in words: {ev, receipt, tone} or null. */
  lastMessage() {
    if (!this.last) return null;
    const t = this.ticks.get(this.last.seq);
    if (!t) return null;
    const answer = t.ack && t.ack.status;
    if (answer) return { ev: this.last, receipt: ANSWER[answer] || answer, tone: answer === "done" ? "acked" : "answered" };
    if (t.seen) return { ev: this.last, receipt: "Seen", tone: "seen" };
    if (t.delivered) return { ev: this.last, receipt: "Delivered", tone: "delivered" };
    return { ev: this.last, receipt: "Not delivered yet", tone: "waiting" };
  }

  queued() {
    return this.ch.outbox.length;
  }

  /** Sends preset `p` to this room: its own event (its own id, its own receipt). */
  sendPreset(p) {
    if (this.readOnly || !this.presets.some((x) => x.preset_id === p.preset_id)) return null;
    return this.ch.send(p.kind, { ...p.body }, p.preset_id);
  }

  _welcome(w) {
    const first = this.session === null;
    this.session = w.session;
    this.role = w.you.role;
    this.ticks.learn(w.participants || []);
    if (first) this._loadPresets();
    this.onChange(this, "state");
  }

  async _loadPresets() {
    try {
      const data = await api(`/api/v1/sessions/${encodeURIComponent(this.session.id)}/presets`, this.entry.token);
      this.presets = data.presets || [];
      this.onChange(this, "presets");
    } catch {
      // No presets for this room this time: it can still be watched and opened.
    }
  }

  _state(state) {
    const seqs = new Set([...(state.open_alerts || []).map((a) => "a" + a.seq), ...(state.open_requests || []).map((r) => "r" + r.seq)]);
    let why = "state";
    if (this.known !== null) {
      for (const s of seqs) {
        if (this.known.has(s)) continue;
        why = s.startsWith("a") ? "alert" : why === "alert" ? why : "request";
      }
    }
    this.known = seqs;
    this.state = state;
    this.ticks.learn(state.online || []);
    this.onChange(this, why);
  }

  _event(ev) {
    this.ticks.apply(ev);
    const role = ev.author && ev.author.role;
    if (TRACKED_KINDS.has(ev.kind) && role !== "facilitator") this.last = ev;
    else if (role === "facilitator" && (ev.kind === "reply" || ev.kind === "request" || (ev.kind === "ack" && ev.body && ev.body.text))) this.lastReply = ev;
    this.onChange(this, "event");
  }
}
