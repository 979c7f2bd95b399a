// The one place where pages derive facts from events (pure functions, no DOM; node imports it
// for the golden vectors in tests/vectors/*.json). Everything else a page draws — the timer,
// open stop alerts, open requests, who is online — comes from the server's `state`.
//
//   Ticks     per message (prompt.time, flag.learner, alert.stop, message): its status —
//             delivered, seen, answer, escalation, cancel — exactly as app/delivery.py derives
//             it for `GET …/events/{seq}/status`, same fields, same names (`expect.status`).
//   Cards     which cards the overlay shows (prompt.time, flag.learner, message) and why the
//             others left (the vectors' `expect.cards`). Stop alerts are not cards here: the
//             overlay takes them from state.open_alerts.
//   MoreTime  a pending "1 more minute" from the facilitator (the producer's "grant +1").
//   KeyGate   (in keys.js) which keystrokes on the producer panel are shortcuts.
//
// Which kinds are messages (ticks) and cards comes from web/kinds.json, generated from
// app/models/kinds.py like every other table of kinds.
import SPEC from "./kinds.json" with { type: "json" };

const KINDS = Object.entries(SPEC.kinds); // generated from app/models/kinds.py
export const TRACKED_KINDS = new Set(KINDS.filter(([, k]) => k.tracked).map(([kind]) => kind));
export const CARD_KINDS = new Set(KINDS.filter(([, k]) => k.card).map(([kind]) => kind));

const ms = (iso) => Date.parse(iso);

/**
 * The status of each message, exactly as `GET …/events/{seq}/status` gives it (app/delivery.py),
 * field for field and under the same names — the vectors' `expect.status`:
 *   delivered, delivered_at  a facilitator was online (per presence events before it) when it
 *                            was logged (then), or one came online after it (then), or it was
 *                            seen or answered (then: when it was logged);
 *   seen                     {at, by} of the first `seen` or `ack` that refers to it, or null;
 *   ack                      its latest ack {status, at, by, text, minutes, seq}, or null: a
 *                            snooze that resurfaced is no answer again (`resurfaced_at`), and a
 *                            `dismissed` ("Clear all") leaves an earlier done/declined answer;
 *   escalation_level         the highest `alert.escalated` level; cancelled_at: the first cancel.
 */
export class Ticks {
  constructor(participants = []) {
    this.roles = new Map(); // participant_id -> role
    this.messages = new Map(); // seq -> record
    this.presence = []; // presence events in seq order: {seq, at, pid, online}
    this.learn(participants);
  }

  /** Participants with their roles (welcome.participants, state.online, event authors). */
  learn(participants) {
    for (const p of participants || []) if (p && p.participant_id && p.role) this.roles.set(p.participant_id, p.role);
  }

  apply(ev) {
    const b = ev.body || {};
    const a = ev.author;
    if (a && a.participant_id && a.role && a.role !== "system") this.roles.set(a.participant_id, a.role);
    if (TRACKED_KINDS.has(ev.kind)) {
      this.messages.set(ev.seq, {
        seq: ev.seq, kind: ev.kind, at: ev.at, seen: null, ack: null, answered: false,
        escalation_level: 0, cancelled_at: null, resurfaced_at: null,
      });
      return;
    }
    if (ev.kind === "presence") {
      this.presence.push({ seq: ev.seq, at: ev.at, pid: b.participant_id, online: b.status === "online" });
      return;
    }
    const m = this.messages.get(b.ref);
    if (!m) return;
    const by = a ? a.name : null;
    if (ev.kind === "seen") {
      m.seen = m.seen || { at: ev.at, by };
    } else if (ev.kind === "ack") {
      m.seen = m.seen || { at: ev.at, by }; // an answer implies it was seen
      // "Clear all" closes a card but answers nothing: an answer given before stays.
      if (b.status === "dismissed" && m.answered) return;
      if (b.status === "done" || b.status === "declined") m.answered = true;
      m.ack = { status: b.status, at: ev.at, by, text: b.text ?? null, minutes: b.minutes ?? null, seq: ev.seq };
    } else if (ev.kind === "alert.resurface") {
      // A snooze that ran out is no answer any more: the message waits again.
      if (m.ack && m.ack.seq === b.ack) {
        m.ack = null;
        m.resurfaced_at = ev.at;
      }
    } else if (ev.kind === "alert.escalated") {
      m.escalation_level = Math.max(m.escalation_level, b.level || 0);
    } else if (ev.kind === "alert.cancel") {
      m.cancelled_at = m.cancelled_at || ev.at;
    }
  }

  /** When it reached a facilitator's screen (ISO), or null. */
  deliveredAt(m) {
    const isFacilitator = (pid) => this.roles.get(pid) === "facilitator";
    const online = new Set();
    let i = 0;
    for (; i < this.presence.length && this.presence[i].seq < m.seq; i++) {
      const p = this.presence[i];
      if (!isFacilitator(p.pid)) continue;
      if (p.online) online.add(p.pid);
      else online.delete(p.pid);
    }
    if (online.size) return m.at;
    for (; i < this.presence.length; i++) {
      const p = this.presence[i];
      if (p.online && isFacilitator(p.pid)) return p.at;
    }
    return m.seen ? m.at : null;
  }

  /** The status of one message (the endpoint's object), or null if unknown. */
  get(seq) {
    const m = this.messages.get(seq);
    if (!m) return null;
    const delivered_at = this.deliveredAt(m);
    return {
      seq,
      kind: m.kind,
      delivered: delivered_at !== null,
      delivered_at,
      seen: m.seen,
      ack: m.ack,
      escalation_level: m.escalation_level,
      resurfaced_at: m.resurfaced_at,
      cancelled_at: m.cancelled_at,
    };
  }

  /** {"<seq>": status} for every message — the vectors' `expect.status`. */
  all() {
    const out = {};
    for (const seq of this.messages.keys()) out[String(seq)] = this.get(seq);
    return out;
  }
}

/**
 * The overlay's cards. A card opens when its message is logged and leaves:
 *   "done" / "declined"  answered by an ack;
 *   "dismissed"          cleared by "Clear all" (an ack `dismissed`: closed, not answered);
 *   "replaced"           (timing cards) a newer timing prompt was logged;
 *   "segment_end"        (timing cards) a segment started or ended after it;
 *   "session_end"        (every card) the session ended.
 * An ack `snoozed` hides it until ack time + minutes (default 1); it comes back on its own
 * only if nothing above retired it meanwhile (or at once on an `alert.resurface` for it).
 */
export class Cards {
  constructor() {
    this.cards = new Map(); // seq -> {seq, kind, ev, urgent, status, reason, until, ackSeq}
  }

  apply(ev) {
    const b = ev.body || {};
    if (CARD_KINDS.has(ev.kind)) {
      if (ev.kind === "prompt.time") this._retire((c) => c.kind === "prompt.time", "replaced");
      this.cards.set(ev.seq, {
        seq: ev.seq, kind: ev.kind, ev, urgent: ev.kind === "message" && b.urgent === true,
        status: "open", reason: null, until: null, ackSeq: null,
      });
      return;
    }
    switch (ev.kind) {
      case "ack": {
        const c = this.cards.get(b.ref);
        if (!c || c.status === "closed") return;
        if (b.status === "snoozed") {
          c.status = "snoozed";
          c.until = ms(ev.at) + (b.minutes || 1) * 60000;
          c.ackSeq = ev.seq;
        } else {
          this._close(c, b.status);
        }
        return;
      }
      case "alert.resurface": {
        const c = this.cards.get(b.ref);
        if (c && c.status === "snoozed" && c.ackSeq === b.ack) {
          c.status = "open";
          c.until = null;
        }
        return;
      }
      case "segment.start":
      case "segment.end":
        this._retire((c) => c.kind === "prompt.time", "segment_end");
        return;
      case "session.end":
        this._retire(() => true, "session_end");
        return;
      default:
    }
  }

  _retire(which, reason) {
    for (const c of this.cards.values()) if (c.status !== "closed" && which(c)) this._close(c, reason);
  }

  _close(c, reason) {
    c.status = "closed";
    c.reason = reason;
    c.until = null;
  }

  /** At server time `nowMs`: open cards in display order (urgent first, then newest first) and snoozed ones. */
  at(nowMs) {
    const open = [];
    const snoozed = [];
    for (const c of this.cards.values()) {
      if (c.status === "open" || (c.status === "snoozed" && nowMs >= c.until)) open.push(c);
      else if (c.status === "snoozed") snoozed.push(c);
    }
    open.sort((x, y) => Number(y.urgent) - Number(x.urgent) || y.seq - x.seq);
    snoozed.sort((x, y) => x.until - y.until);
    return { open, snoozed };
  }

  /** Closed cards, newest first, with the reason they left. */
  closed() {
    return [...this.cards.values()].filter((c) => c.status === "closed").sort((x, y) => y.seq - x.seq);
  }

  /** The soonest moment a snoozed card comes back (ms), or null. */
  nextWake(nowMs) {
    let next = null;
    for (const c of this.cards.values()) if (c.status === "snoozed" && c.until > nowMs && (next === null || c.until < next)) next = c.until;
    return next;
  }
}

/**
 * The overlay shows at most `max` cards; the rest are counted ("+N more"). With room for two
 * or more, the open timing card is always among them: flags and messages never push the
 * current time under "+N more" (it takes the place of the last card that is not urgent).
 * With room for one (the compact strip), the first card is shown: an urgent one first.
 */
export function visibleCards(open, max = 3) {
  const shown = open.slice(0, max);
  const timing = open.find((c) => c.kind === "prompt.time");
  if (timing && max >= 2 && !shown.includes(timing)) {
    const last = shown.findLastIndex((c) => !c.urgent);
    if (last >= 0) {
      shown.splice(last, 1);
      shown.push(timing);
    }
  }
  return { shown, more: open.length - shown.length };
}

/** Cards that "Clear all" dismisses (an ack `dismissed` each): everything but urgent messages. */
export function clearable(open) {
  return open.filter((c) => !c.urgent);
}

/** The answers a card offers, by kind: [action, label]; each action maps to one ack. */
export function actionsFor(kind) {
  switch (kind) {
    case "prompt.time":
      return [["done", "OK"], ["more", "1 more min"], ["snooze", "Snooze 2 min"]];
    case "flag.learner":
      return [["done", "OK"], ["dismiss", "Dismiss"]];
    case "message":
      return [["done", "OK"], ["reply", "Reply"]];
    case "alert.stop":
      return [["done", "Acknowledge"], ["snooze", "Snooze 2 min"], ["declined", "Decline"]];
    default:
      return [["done", "OK"]];
  }
}

/** The ack body an action sends for the card with seq `ref` (`text` for replies). */
export function ackFor(action, ref, text) {
  switch (action) {
    case "more":
      return { ref, status: "done", text: MORE_TIME };
    case "snooze":
      return { ref, status: "snoozed", minutes: 2 };
    case "dismiss":
    case "declined":
      return { ref, status: "declined" };
    case "clear":
      return { ref, status: "dismissed" };
    case "reply":
      return text ? { ref, status: "done", text } : { ref, status: "done" };
    default:
      return { ref, status: "done" };
  }
}

export const MORE_TIME = "1 more minute";
const MORE_RE = /\b(1|one) more min/i;

/** A facilitator's "1 more minute" (a reply or an ack's text) not yet granted by an extension. */
export class MoreTime {
  constructor() {
    this.ask = null;
  }

  apply(ev) {
    const b = ev.body || {};
    const role = ev.author && ev.author.role;
    if ((ev.kind === "reply" || ev.kind === "ack") && role === "facilitator" && MORE_RE.test(b.text || "")) {
      this.ask = ev;
    } else if (ev.kind === "segment.extend" || ev.kind === "segment.start" || ev.kind === "segment.end" || ev.kind === "session.end") {
      this.ask = null;
    }
  }

  pending() {
    return this.ask;
  }
}

/** "1:45" → plain words for how long something has waited: "waiting 1:45". */
export function waited(fromIso, nowMs) {
  const s = Math.max(0, Math.floor((nowMs - ms(fromIso)) / 1000));
  return `waiting ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Countdown tone: "over" below zero, "warn" under `amberS` seconds, else "ok". */
export function countdownTone(leftS, amberS = 120) {
  if (leftS < 0) return "over";
  if (leftS < amberS) return "warn";
  return "ok";
}

/** Seconds left in the running segment of `state` at server time `nowMs`, or null. */
export function secondsLeft(state, nowMs) {
  if (!state || !state.segment || !state.segment.planned_end) return null;
  return (ms(state.segment.planned_end) - nowMs) / 1000;
}
