// Facilitator heads-up overlay: big cards, stop-alert takeover, one-tap answers and requests.
import { Channel } from "./client.js";
import {
  $, KIND_META, REQUEST_TEXT, STOP_TEXT, beep, clear, clockTime, describe, el, fatal, icon, mmss,
  nextSegment, onceAFrame, takeToken,
} from "./util.js";

const CARD_KINDS = new Set(["prompt.time", "flag.learner", "alert.stop"]);
const TONE_PREF = { "prompt.time": "time", "flag.learner": "learner", "alert.stop": "stop" };
const REQUEST_SHORT = { breakout: "Breakouts", poll: "Poll", whiteboard: "Whiteboard", break: "Break", chat: "Chat", tech: "Tech help" };
const QUICK = ["OK", "1 more minute", "Thanks", "Need a moment"];
const mode = new URLSearchParams(location.search).get("mode");
const token = takeToken();
const PREFS_KEY = "bc.facilitator.prefs";

const S = {
  cards: new Map(), // seq -> card
  session: null,
  status: "planned",
  segment: null,
  extensions: {},
  seenSent: new Set(),
  prefs: loadPrefs(),
  me: null,
};

if (mode === "compact") document.body.classList.add("compact");
if (mode === "transparent") document.body.classList.add("transparent");

// Many changes in one frame draw once.
const schedule = onceAFrame(render);

if (!token) {
  fatal("This page needs the facilitator link (…/facilitator#t=…) from the producer.");
} else {
  start();
}

function loadPrefs() {
  try {
    return JSON.parse(localStorage.getItem(PREFS_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

function savePrefs() {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(S.prefs));
  } catch {
    // Preferences are a nicety.
  }
}

function start() {
  const ch = new Channel(token).start();
  S.ch = ch;
  ch.addEventListener("state", (e) => {
    const { state, reason } = e.detail;
    const pill = $("#conn");
    pill.dataset.state = state;
    pill.textContent = { connecting: "Connecting…", online: "Live", offline: "Offline — reconnecting", closed: "Disconnected" }[state];
    if (reason) fatal(reason);
  });
  ch.addEventListener("welcome", (e) => {
    const w = e.detail;
    S.session = w.session;
    S.me = w.you.participant_id;
    S.status = w.state.status;
    S.segment = w.state.segment;
    if (S.segment) S.extensions[S.segment.index] = S.segment.extended_minutes;
    document.title = `${w.session.title} — heads-up`;
    schedule();
  });
  ch.addEventListener("event", (e) => onEvent(e.detail.event, e.detail.replay));
  ch.addEventListener("sent", (e) => {
    const label = pendingToasts.get(e.detail.id);
    if (label) {
      pendingToasts.delete(e.detail.id);
      toast(`${label} ✓ sent`);
    }
  });
  ch.addEventListener("failed", (e) => toast(`Not sent: ${e.detail.message}`));
  document.addEventListener("visibilitychange", () => schedule());
  setInterval(tickAndWake, 500);
  buildControls();
}

const pendingToasts = new Map();
function send(kind, body, label) {
  const id = S.ch.send(kind, body);
  if (label) pendingToasts.set(id, label);
  return id;
}

// -- events -----------------------------------------------------------------------------

function onEvent(ev, replay) {
  const b = ev.body || {};
  if (CARD_KINDS.has(ev.kind)) {
    S.cards.set(ev.seq, { ev, state: "open", level: 0, seen: false, fresh: !replay });
    if (!replay) {
      alertUser(ev);
      announce(ev);
    }
  } else if (ev.kind === "seen") {
    const c = S.cards.get(b.ref);
    if (c) c.seen = true;
  } else if (ev.kind === "ack") {
    const c = S.cards.get(b.ref);
    if (c) {
      c.seen = true;
      c.answer = { status: b.status, at: ev.at, text: b.text, minutes: b.minutes };
      if (b.status === "snoozed") {
        c.state = "snoozed";
        c.until = Date.parse(ev.at) + (b.minutes || 1) * 60000;
      } else {
        c.state = b.status;
      }
    }
  } else if (ev.kind === "alert.cancel") {
    const c = S.cards.get(b.ref);
    if (c) c.state = "cancelled";
  } else if (ev.kind === "alert.escalated") {
    const c = S.cards.get(b.ref);
    if (c) {
      c.level = Math.max(c.level, b.level);
      if (!replay && c.state === "open") alertUser(c.ev, true);
    }
  } else if (ev.kind === "alert.resurface") {
    const c = S.cards.get(b.ref);
    if (c && c.state === "snoozed") {
      c.state = "open";
      c.until = null;
      if (!replay) alertUser(c.ev);
    }
  } else if (ev.kind === "session.start" && !replay) {
    S.status = "live";
  } else if (ev.kind === "session.end" && !replay) {
    S.status = "ended";
  }
  if ((ev.kind.startsWith("segment.") || ev.kind === "session.end") && !replay) {
    S.segment = nextSegment(S.segment, ev, S.session ? S.session.agenda : [], S.extensions);
  } else if (ev.kind === "segment.extend" && replay) {
    S.extensions[b.index] = (S.extensions[b.index] || 0) + b.minutes;
  }
  schedule();
}

function alertUser(ev, escalated = false) {
  const tone = TONE_PREF[ev.kind];
  if (S.prefs[`sound.${tone}`]) {
    if (tone === "stop") beep(escalated ? [[988, 160], [740, 160], [988, 160], [740, 160]] : [[988, 180], [740, 180], [988, 220]]);
    else if (tone === "learner") beep([[523, 120], [659, 160]]);
    else beep([[880, 140]]);
  }
  if (S.prefs[`vibrate.${tone}`] && navigator.vibrate) {
    navigator.vibrate(tone === "stop" ? [300, 120, 300, 120, 300] : [150]);
  }
}

function announce(ev) {
  const meta = KIND_META[ev.kind];
  const text = `${meta.label}: ${describe(ev, { initialsOnly: S.prefs.safe })}`;
  const region = ev.kind === "alert.stop" ? $("#live-urgent") : $("#live");
  region.textContent = text;
}

/** Open cards, newest first (snoozes that ran out count as open again). */
function openCards() {
  const now = S.ch ? S.ch.now() : Date.now();
  const out = [];
  for (const c of S.cards.values()) {
    if (c.state === "snoozed" && c.until && now >= c.until) {
      c.state = "open";
      c.until = null;
    }
    if (c.state === "open") out.push(c);
  }
  return out.sort((a, b) => b.ev.seq - a.ev.seq);
}

// -- answering --------------------------------------------------------------------------

function answer(card, status, extra = {}) {
  send("ack", { ref: card.ev.seq, status, ...extra });
  // Optimistic: the card leaves now; the logged ack confirms it (the outbox keeps it if offline).
  card.state = status;
  if (status === "snoozed") {
    card.until = (S.ch ? S.ch.now() : Date.now()) + (extra.minutes || 1) * 60000;
  }
  card.answer = { status, at: new Date().toISOString(), ...extra };
  schedule();
}

function answerButtons(card, big = false) {
  const buttons = [];
  const b = (label, cls, fn, aria) => {
    const btn = el("button", { type: "button", class: cls, "aria-label": aria || null }, label);
    btn.addEventListener("click", fn);
    buttons.push(btn);
  };
  b(big ? "Acknowledge ✓" : "OK ✓", "ok", () => answer(card, "done"), big ? null : "Acknowledge");
  if (card.ev.kind === "prompt.time") b("1 more min", "", () => answer(card, "done", { text: "1 more minute" }));
  for (const m of [1, 2, 5]) b(`Snooze ${m}`, "", () => answer(card, "snoozed", { minutes: m }), `Snooze ${m} minute${m > 1 ? "s" : ""}`);
  b("Decline", "", () => answer(card, "declined"));
  return buttons;
}

function buildControls() {
  const req = $("#requests");
  for (const [action, label] of Object.entries(REQUEST_SHORT)) {
    const btn = el("button", { type: "button", dataset: { action }, "aria-label": `Ask the producer: ${REQUEST_TEXT[action]}` }, icon("hand"), label);
    btn.addEventListener("click", () => send("request", { action }, REQUEST_TEXT[action]));
    req.append(btn);
  }
  const quick = $("#quick");
  for (const text of QUICK) {
    const btn = el("button", { type: "button", class: "small" }, icon("bubble"), " ", text);
    btn.addEventListener("click", () => send("reply", { text }, `“${text}”`));
    quick.append(btn);
  }
  const safe = $("#safe");
  safe.checked = !!S.prefs.safe;
  safe.addEventListener("change", () => {
    S.prefs.safe = safe.checked;
    savePrefs();
    schedule();
  });
  for (const box of document.querySelectorAll("[data-pref]")) {
    box.checked = !!S.prefs[box.dataset.pref];
    box.addEventListener("change", () => {
      S.prefs[box.dataset.pref] = box.checked;
      savePrefs();
      // A tap here also unlocks audio on browsers that need a gesture first.
      if (box.checked && box.dataset.pref.startsWith("sound.")) beep([[660, 60]]);
    });
  }
}

let toastTimer = null;
function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.classList.remove("hidden");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.add("hidden"), 2500);
}

// -- drawing ----------------------------------------------------------------------------

function text(ev) {
  return describe(ev, { initialsOnly: !!S.prefs.safe });
}

function cardNode(card) {
  const ev = card.ev;
  const meta = KIND_META[ev.kind];
  const head = el(
    "div",
    { class: "card-head" },
    el("span", { class: "tag" }, icon(meta.icon), meta.label),
    el("span", { class: "when" }, clockTime(ev.at)),
  );
  return el(
    "article",
    { class: `card tone-${meta.tone}`, dataset: { seq: ev.seq, kind: ev.kind }, "aria-label": `${meta.label} message` },
    head,
    el("div", { class: "text" }, text(ev)),
    el("div", { class: "actions" }, answerButtons(card)),
  );
}

function render() {
  const open = openCards();
  const stops = open.filter((c) => c.ev.kind === "alert.stop");
  const others = open.filter((c) => c.ev.kind !== "alert.stop");
  const shown = [];

  const want = [];
  const safe = !!S.prefs.safe;
  for (const c of others.slice(0, mode === "compact" ? 1 : 6)) {
    if (!c.node || c.nodeSafe !== safe) {
      c.node = cardNode(c);
      c.nodeSafe = safe;
    }
    want.push(c.node);
    shown.push(c);
  }
  if (others.length > 6 && mode !== "compact") want.push(el("p", { class: "empty" }, `+${others.length - 6} more`));
  if (!others.length) {
    const quiet = S.status === "ended" ? "The session has ended. Thank you!" : "All clear. New messages from the producer appear here.";
    want.push(el("p", { class: "empty" }, quiet));
  }
  const cards = $("#cards");
  const same = cards.children.length === want.length && want.every((n, i) => cards.children[i] === n);
  // Rebuild only when the set changed, so a focused button keeps its focus.
  if (!same) cards.replaceChildren(...want);

  renderTakeover(stops, shown);
  renderEarlier();
  sendSeen(shown);
  tick();
}

function renderTakeover(stops, shown) {
  const box = $("#takeover");
  const wasOpen = !box.classList.contains("hidden");
  if (!stops.length) {
    box.classList.add("hidden");
    box.dataset.seq = "";
    return;
  }
  const card = stops[stops.length - 1]; // the oldest open stop first
  shown.push(card);
  if (box.dataset.seq === String(card.ev.seq) && box.dataset.level === String(card.level) && box.dataset.safe === String(!!S.prefs.safe)) return;
  clear(box);
  box.dataset.seq = String(card.ev.seq);
  box.dataset.level = String(card.level);
  box.dataset.safe = String(!!S.prefs.safe);
  box.classList.toggle("escalated", card.level > 0);
  const reason = STOP_TEXT[card.ev.body.reason] || "Stop";
  box.append(
    ...[
    el("span", { class: "tag tone-stop" }, icon("stop"), "Stop alert"),
    el("div", { class: "big", id: "takeover-text" }, reason),
    card.ev.body.text ? el("div", { class: "card-text" }, el("span", { class: "text" }, card.ev.body.text)) : null,
    el("div", { class: "hint" }, `Sent ${clockTime(card.ev.at)}`,
      card.level ? el("span", { class: "level" }, ` · still waiting (level ${card.level})`) : null,
      stops.length > 1 ? ` · ${stops.length - 1} more after this` : null),
    el("div", { class: "actions" }, answerButtons(card, true)),
    ].filter(Boolean),
  );
  box.classList.remove("hidden");
  if (!wasOpen) box.querySelector("button.ok").focus({ preventScroll: true });
}

function renderEarlier() {
  const list = clear($("#earlier"));
  const done = [...S.cards.values()].filter((c) => c.state !== "open").sort((a, b) => b.ev.seq - a.ev.seq);
  const label = { done: "✓ done", declined: "✕ declined", cancelled: "withdrawn", snoozed: "snoozed" };
  for (const c of done.slice(0, 8)) {
    const when = c.state === "snoozed" && c.until ? ` until ${clockTime(new Date(c.until).toISOString())}` : "";
    list.append(el("li", { dataset: { seq: c.ev.seq, state: c.state } }, `${clockTime(c.ev.at)} · ${text(c.ev)} — ${label[c.state]}${when}`));
  }
  list.parentElement.classList.toggle("hidden", !done.length);
}

/** `seen` receipts only for cards actually on a visible screen. */
function sendSeen(shown) {
  if (document.visibilityState !== "visible") return;
  for (const c of shown) {
    if (c.seen || S.seenSent.has(c.ev.seq)) continue;
    S.seenSent.add(c.ev.seq);
    send("seen", { ref: c.ev.seq });
  }
}

function tick() {
  const cd = $("#countdown");
  const title = $("#seg-title");
  if (S.segment && S.ch) {
    const left = (Date.parse(S.segment.planned_end) - S.ch.now()) / 1000;
    cd.textContent = mmss(left);
    cd.classList.toggle("over", left < 0);
    title.textContent = S.segment.title;
  } else {
    cd.textContent = "–:––";
    cd.classList.remove("over");
    title.textContent = S.status === "ended" ? "Session ended" : S.session ? S.session.title : "Waiting for the session";
  }
}

function tickAndWake() {
  tick();
  // Snoozes run out on the clock, not on an event.
  const now = S.ch ? S.ch.now() : Date.now();
  for (const c of S.cards.values()) if (c.state === "snoozed" && c.until && now >= c.until) schedule();
}
