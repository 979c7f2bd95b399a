// The producer panel's drawing from the state it holds: the connection pill, the countdown,
// who is online, open stop alerts and requests, the facilitator's replies, what was sent with
// its ticks, and the log. Segments draw themselves (web/producer-segments.js).
import { TRACKED_KINDS, countdownTone, secondsLeft, waited } from "./model.js";
import { extend, renderSegments, renderSessionButton } from "./producer-segments.js";
import { S, send } from "./producer-state.js";
import { armTick } from "./producer-stop.js";
import {
  $, KIND_META, REQUEST_STATUS_TEXT, REQUEST_TEXT, STOP_TEXT, clear, clockTime, describe, el, fatal, icon, mmss,
} from "./util.js";

export function showConn({ state, reason }) {
  const pill = $("#conn");
  pill.dataset.state = state;
  const pending = S.ch ? S.ch.outbox.length : 0;
  const text = {
    connecting: "Connecting…",
    online: "Online",
    offline: pending ? `Offline — ${pending} queued` : "Offline — reconnecting",
    closed: "Disconnected",
  }[state];
  pill.textContent = text;
  if (reason) fatal(reason);
}

export function render() {
  renderSessionButton();
  renderSegments();
  renderPresence();
  renderWaiting();
  renderRequests();
  renderIncoming();
  renderMessages();
  renderLog();
  showConn({ state: S.ch.state });
  tick();
}

export function tick() {
  const cd = $("#countdown");
  const st = S.state;
  const now = S.ch ? S.ch.now() : Date.now();
  const left = secondsLeft(st, now);
  if (left === null) {
    cd.textContent = "–:––";
    cd.dataset.tone = "none";
  } else {
    cd.textContent = mmss(left);
    const amber = st.settings && Number.isFinite(st.settings.countdown_amber_s) ? st.settings.countdown_amber_s : 120;
    cd.dataset.tone = countdownTone(left, amber);
  }
  $("#next").textContent = st && st.next_segment && st.status !== "ended" ? `Next: ${st.next_segment.title}` : "";
  for (const node of document.querySelectorAll("[data-waiting-since]")) node.textContent = waited(node.dataset.waitingSince, now);
  armTick();
  const alerts = S.role === "producer" && st ? st.open_alerts || [] : [];
  S.attention.update(alerts.map((a) => ({ ...a, text: STOP_TEXT[a.reason] || "Stop" })), now);
}

function renderPresence() {
  const online = ((S.state && S.state.online) || []).filter((p) => p.role === "facilitator");
  const box = $("#presence");
  box.classList.toggle("on", online.length > 0);
  box.textContent = online.length ? `Facilitator online: ${online.map((p) => p.name).join(", ")}` : "Facilitator not connected";
}

/** Rebuilds `box` only when `key` changed, so a focused button keeps its focus. */
function keyed(box, key) {
  if (box.dataset.key === key) return null;
  box.dataset.key = key;
  return clear(box);
}

function reminded(level) {
  if (!level) return null;
  return `reminded ${level === 1 ? "once" : level === 2 ? "twice" : `${level} times`}`;
}

/** Open stop alerts, pinned on top, with how long each has waited. */
function renderWaiting() {
  const alerts = (S.state && S.state.open_alerts) || [];
  $("#waiting-panel").classList.toggle("hidden", !alerts.length);
  const box = keyed($("#waiting"), JSON.stringify([S.role, alerts]));
  if (!box) return;
  for (const a of alerts) {
    const li = el(
      "li",
      { class: "msg tone-stop", dataset: { seq: a.seq } },
      icon("stop"),
      el("span", { class: "text" }, (STOP_TEXT[a.reason] || "Stop") + (a.text ? ` — ${a.text}` : "")),
      el(
        "span",
        { class: "ticks" },
        a.snoozed_until
          ? el("span", { class: "tick warn" }, `Snoozed until ${clockTime(a.snoozed_until)}`)
          : el("span", { class: "tick bad", dataset: { waitingSince: a.at } }, waited(a.at, S.ch.now())),
        el("span", { class: `tick ${a.seen_at ? "on" : ""}` }, a.seen_at ? `✓ Seen ${clockTime(a.seen_at)}` : "Not seen yet"),
        reminded(a.level) ? el("span", { class: "tick bad" }, reminded(a.level)) : null,
      ),
    );
    if (S.role === "producer") {
      const cancel = el("button", { type: "button", class: "small" }, "Withdraw");
      cancel.addEventListener("click", () => send("alert.cancel", { ref: a.seq }));
      li.querySelector(".ticks").append(cancel);
    }
    box.append(li);
  }
}

/** The facilitator's open requests: on it / done / declined in one tap. */
function renderRequests() {
  const reqs = (S.state && S.state.open_requests) || [];
  $("#requests-open").classList.toggle("hidden", !reqs.length);
  const box = keyed($("#requests-open"), JSON.stringify([S.role, reqs]));
  if (!box) return;
  for (const r of reqs) {
    const li = el(
      "li",
      { class: "item tone-request", dataset: { seq: r.seq, status: r.status || "open" } },
      icon("hand"),
      el("span", { class: "grow" }, el("strong", {}, REQUEST_TEXT[r.action] || r.action), r.text ? ` — ${r.text}` : "",
        el("span", { class: "hint" }, ` · ${clockTime(r.at)} · `, r.status === "on_it" ? "you are on it" : el("span", { dataset: { waitingSince: r.at } }, waited(r.at, S.ch.now())))),
    );
    if (S.role === "producer") {
      const actions = el("span", { class: "row" });
      for (const status of ["on_it", "done", "declined"]) {
        if (status === "on_it" && r.status === "on_it") continue;
        const btn = el("button", { type: "button", class: "small", dataset: { status } }, REQUEST_STATUS_TEXT[status]);
        btn.addEventListener("click", () => send("request.status", { ref: r.seq, status }));
        actions.append(btn);
      }
      li.append(actions);
    }
    box.append(li);
  }
}

function renderIncoming() {
  const ask = S.more.pending();
  const canGrant = !!(ask && S.state && S.state.segment && S.role === "producer");
  const box = keyed($("#incoming"), JSON.stringify([canGrant && ask.seq, S.incoming.map((i) => i.ev.seq)]));
  if (!box) return;
  if (canGrant) {
    const grant = el("button", { type: "button", class: "primary", id: "grant-more" }, "Grant +1 min");
    grant.addEventListener("click", () => extend(1));
    box.append(el("div", { class: "item tone-reply grant" }, icon("clock"), el("span", { class: "grow" }, `The facilitator asks for 1 more minute (${clockTime(ask.at)})`), grant));
  }
  if (!S.incoming.length) {
    if (!box.children.length) box.append(el("p", { class: "hint" }, "Replies and requests show up here."));
    return;
  }
  for (const item of S.incoming) {
    const ev = item.ev;
    const meta = KIND_META[ev.kind];
    const what = ev.kind === "ack" ? `${ev.body.text} (answer to #${ev.body.ref})` : describe(ev);
    box.append(
      el(
        "div",
        { class: `item tone-${meta.tone}${item.fresh ? " fresh" : ""}`, dataset: { seq: ev.seq } },
        icon(meta.icon),
        el("span", { class: "tag" }, ev.kind === "ack" ? "Reply" : meta.label),
        el("span", { class: "grow" }, what),
        el("span", { class: "hint" }, clockTime(ev.at)),
      ),
    );
    item.fresh = false;
  }
}

function statusOf(t) {
  if (t.cancelled_at) return "cancelled";
  if (t.ack) return t.ack.status;
  if (t.seen) return "seen";
  return t.delivered ? "delivered" : "logged";
}

function renderMessages() {
  const box = clear($("#messages"));
  for (const f of S.failed.slice(0, 3)) {
    box.append(
      el("li", { class: "msg tone-stop", dataset: { id: f.id, status: "failed" } },
        icon("x"), el("span", { class: "text" }, describe({ kind: f.item.kind, body: f.item.body })),
        el("span", { class: "ticks" }, el("span", { class: "tick bad" }, `Not sent: ${f.message}`))),
    );
  }
  for (const item of [...S.ch.outbox].reverse()) {
    if (TRACKED_KINDS.has(item.kind)) box.append(queuedItem(item));
  }
  for (let i = S.tracked.length - 1, n = 0; i >= 0 && n < 40; i--, n++) box.append(messageItem(S.tracked[i]));
  if (!box.children.length) box.append(el("li", { class: "hint" }, "Nothing sent yet. Press a button or its key."));
}

function queuedItem(item) {
  const meta = KIND_META[item.kind];
  const online = S.ch.state === "online";
  return el(
    "li",
    { class: `msg tone-${meta.tone}`, dataset: { id: item.id, seq: "", status: "sending" } },
    icon(meta.icon),
    el("span", { class: "text" }, describe({ kind: item.kind, body: item.body })),
    el("span", { class: "ticks" }, el("span", { class: `tick ${online ? "" : "warn"}` }, online ? "◌ Sending…" : "◌ Queued — will send when back online")),
  );
}

function messageItem(ev) {
  const meta = KIND_META[ev.kind];
  const t = S.ticks.get(ev.seq);
  const ticks = [];
  const tick = (cls, text) => ticks.push(el("span", { class: `tick ${cls}` }, text));
  tick("on", `✓ Logged #${ev.seq} ${clockTime(ev.at)}`);
  if (t.delivered) tick("on", `✓ Delivered ${clockTime(t.delivered_at)}`);
  else tick("warn", "Facilitator not connected");
  if (t.seen) tick("on", `✓ Seen ${clockTime(t.seen.at)}`);
  if (t.ack) {
    const dismissed = t.ack.status === "declined" && ev.kind === "flag.learner";
    const label = { done: "Acknowledged", snoozed: `Snoozed ${t.ack.minutes || 1} min`, declined: dismissed ? "Dismissed" : "Declined", dismissed: "Cleared unanswered" }[t.ack.status];
    tick({ declined: "bad", dismissed: "warn" }[t.ack.status] || "on", `✓ ${label} ${clockTime(t.ack.at)}${t.ack.text ? " — “" + t.ack.text + "”" : ""}`);
  }
  if (t.escalation_level) tick("bad", `Not answered: ${reminded(t.escalation_level)}`);
  if (t.cancelled_at) tick("", `Withdrawn ${clockTime(t.cancelled_at)}`);
  const urgent = ev.kind === "message" && ev.body.urgent;
  return el(
    "li",
    { class: `msg tone-${urgent ? "stop" : meta.tone}`, dataset: { id: ev.id, seq: ev.seq, kind: ev.kind, status: statusOf(t) } },
    icon(meta.icon),
    el("span", { class: "text" }, (urgent ? "Urgent: " : "") + describe(ev)),
    el("span", { class: "ticks" }, ticks),
  );
}

function renderLog() {
  const filter = $("#filter");
  const kinds = new Set(S.events.map((e) => e.kind));
  const have = new Set([...filter.options].map((o) => o.value));
  for (const k of [...kinds].sort()) if (!have.has(k)) filter.append(el("option", { value: k }, k));
  const want = filter.value;
  const box = clear($("#log"));
  let n = 0;
  for (let i = S.events.length - 1; i >= 0 && n < 300; i--) {
    const ev = S.events[i];
    if (want && ev.kind !== want) continue;
    n++;
    const meta = KIND_META[ev.kind] || KIND_META.note;
    let text = describe(ev);
    if (ev.kind === "presence") {
      const p = S.people[ev.body.participant_id];
      text = `${p ? `${p.name} (${p.role})` : "Someone"} ${ev.body.status}`;
    }
    box.append(
      el("li", { class: `tone-${meta.tone}`, dataset: { seq: ev.seq, kind: ev.kind } },
        el("span", { class: "when" }, clockTime(ev.at)),
        el("span", { class: "tag" }, icon(meta.icon), meta.label),
        el("span", { class: "what" }, text, el("span", { class: "hint" }, ` · ${ev.author.name} · #${ev.seq}`))),
    );
  }
  if (!n) box.append(el("li", { class: "hint" }, "Nothing logged yet."));
}
