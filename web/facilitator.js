// Facilitator heads-up overlay: a big countdown, at most three cards, a stop-alert takeover,
// one-tap answers and requests. Timer, stop alerts and requests are drawn from the session
// state (client.js "session"); which cards are open comes from model.js. Transparent mode
// (?mode=transparent, for OBS) is read-only.
import { Channel } from "./client.js";
import { watchLink } from "./link-state.js";
import { CARD_KINDS, Cards, MORE_TIME, MoreTime, Ticks, ackFor, actionsFor, clearable, countdownTone, secondsLeft, visibleCards, waited } from "./model.js";
import {
  $, KIND_META, REQUEST_STATUS_TEXT, REQUEST_TEXT, STOP_TEXT, beep, clear, clockTime, describe, el, fatal, icon,
  mmss, onceAFrame, soundReady, takeToken, unlockSound,
} from "./util.js";

const REQUEST_SHORT = { breakout: "Breakouts", poll: "Poll", whiteboard: "Whiteboard", break: "Break", chat: "Chat", tech: "Tech help" };
const QUICK = [["OK", "OK"], ["1 more min", "1 more minute"], ["Thanks", "Thanks"], ["A moment", "Need a moment"]];
const CLOSED_TEXT = { done: "✓ done", declined: "✕ dismissed", dismissed: "cleared", replaced: "replaced by a newer prompt", segment_end: "segment ended", session_end: "session ended" };
const DEFAULT_PREFS = { "sound.stop": true, "vibrate.stop": true };
const PREFS_KEY = "bc.facilitator.prefs";
const mode = new URLSearchParams(location.search).get("mode");
const readOnly = mode === "transparent";
const token = takeToken();

const S = {
  ch: null,
  session: null,
  me: null,
  state: null, // the session state (server)
  cards: new Cards(),
  ticks: new Ticks(),
  more: new MoreTime(), // a "1 more minute" asked here (or by a co-facilitator), not granted yet
  answered: new Set(), // seqs answered here whose ack is not back yet (hidden at once)
  seenSent: new Set(),
  alerts: null, // seq -> level of the open stop alerts last drawn (null before the first state)
  nodes: new Map(), // card seq -> {key, node}
  snoozedNodes: new Map(), // snoozed stop alert seq -> {key, node}
  replying: null, // seq of the message card with its reply box open
  showAll: false,
  moreRow: { key: null, node: null },
  closedRequests: [], // [{action, status, text, at}] answered while this page was open
  prefs: loadPrefs(),
  blank: false, // panic blank: everything hidden but a neutral dot (a stop alert breaks through)
};

if (mode === "compact") document.body.classList.add("compact");
if (readOnly) {
  document.documentElement.classList.add("transparent");
  document.body.classList.add("transparent");
}

// Many changes in one frame draw once.
const schedule = onceAFrame(render);

if (!token) {
  fatal("This page needs the facilitator link (…/facilitator#t=…) from the producer.");
  // The link pasted into this tab changes only the fragment: start then, without a reload.
  addEventListener("hashchange", function first() {
    const t = takeToken();
    if (!t) return;
    removeEventListener("hashchange", first);
    $("#fatal").classList.add("hidden");
    start(t);
  });
} else {
  start(token);
}

function loadPrefs() {
  try {
    return { ...DEFAULT_PREFS, ...(JSON.parse(localStorage.getItem(PREFS_KEY) || "{}") || {}) };
  } catch {
    return { ...DEFAULT_PREFS };
  }
}

function savePrefs() {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(S.prefs));
  } catch {
    // Preferences are a nicety.
  }
}

function start(token) {
  const ch = new Channel(token).start();
  S.ch = ch;
  watchLink(ch); // a replaced link: one full-page notice; a new #t=… reconnects in place
  ch.addEventListener("state", (e) => {
    const { state, reason } = e.detail;
    const pill = $("#conn");
    pill.dataset.state = state;
    pill.textContent = { connecting: "Connecting…", online: "Live", offline: "Offline — reconnecting", closed: "Disconnected" }[state];
    if (reason && !ch.stopped) fatal(reason);
    schedule();
  });
  ch.addEventListener("welcome", (e) => {
    const w = e.detail;
    S.session = w.session;
    S.me = w.you.participant_id;
    S.ticks.learn(w.participants || []);
    document.title = `${w.session.title} — heads-up`;
    schedule();
  });
  ch.addEventListener("session", (e) => onState(e.detail.state));
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
  setInterval(tick, 250);
  buildControls();
}

const pendingToasts = new Map();
function send(kind, body, label) {
  if (readOnly) return null;
  const id = S.ch.send(kind, body);
  if (label) pendingToasts.set(id, label);
  return id;
}

// -- state and events -------------------------------------------------------------------

function onState(state) {
  S.state = state;
  S.ticks.learn(state.online || []);
  const first = S.alerts === null;
  const now = new Map();
  for (const a of waitingAlerts()) {
    now.set(a.seq, a.level);
    if (first) continue;
    if (!S.alerts.has(a.seq)) {
      alertUser("stop", 0);
      $("#live-urgent").textContent = `Stop alert: ${stopText(a)}`;
    } else if (a.level > S.alerts.get(a.seq)) {
      alertUser("stop", a.level);
    }
  }
  S.alerts = now;
  schedule();
}

function onEvent(ev, replay) {
  const b = ev.body || {};
  S.cards.apply(ev);
  S.ticks.apply(ev);
  const ask = S.more.pending();
  S.more.apply(ev);
  if (!replay && ask && ev.kind === "segment.extend" && b.minutes > 0) {
    // The producer granted the minute asked for: say so on the ask itself.
    const line = `${MORE_TIME}: granted +${b.minutes} min`;
    S.closedRequests.unshift({ line, status: "done", at: ev.at });
    S.closedRequests.length = Math.min(S.closedRequests.length, 3);
    toast(`Producer: granted +${b.minutes} min`);
    $("#live").textContent = `Producer: ${line}`;
  }
  if (ev.kind === "ack") S.answered.delete(b.ref);
  if (!replay && CARD_KINDS.has(ev.kind)) {
    const urgent = ev.kind === "message" && b.urgent === true;
    alertUser(urgent ? "stop" : KIND_META[ev.kind].sound, 0);
    const meta = KIND_META[ev.kind];
    (urgent ? $("#live-urgent") : $("#live")).textContent = `${urgent ? "Urgent " : ""}${meta.label}: ${text(ev)}`;
  }
  if (!replay && ev.kind === "request.status") {
    const req = (S.state && S.state.open_requests || []).find((r) => r.seq === b.ref);
    const what = req ? REQUEST_TEXT[req.action] || req.action : `Request #${b.ref}`;
    const line = `${what}: ${REQUEST_STATUS_TEXT[b.status] || b.status}${b.text ? " — " + b.text : ""}`;
    if (b.status !== "on_it") S.closedRequests.unshift({ line, status: b.status, at: ev.at });
    S.closedRequests.length = Math.min(S.closedRequests.length, 3);
    toast(`Producer: ${line}`);
    $("#live").textContent = `Producer: ${line}`;
  }
  schedule();
}

function now() {
  return S.ch ? S.ch.now() : Date.now();
}

/** Open stop alerts snoozed here: they stay on the overlay as "snoozed until HH:MM". */
function snoozedAlerts() {
  const st = S.state;
  if (!st || st.status === "ended") return [];
  return (st.open_alerts || []).filter((a) => a.snoozed_until && !S.answered.has(a.seq));
}

/** Open stop alerts that wait for an answer (not snoozed, not answered here a moment ago). */
function waitingAlerts() {
  const st = S.state;
  if (!st || st.status === "ended") return [];
  return (st.open_alerts || []).filter((a) => !a.snoozed_until && !S.answered.has(a.seq));
}

function alertUser(tone, level) {
  if (readOnly) return;
  if (S.blank && tone !== "stop") return; // blanked: only a stop alert is heard
  if (S.prefs[`sound.${tone}`]) {
    const volume = Math.min(0.9, 0.25 + 0.2 * level);
    if (tone === "stop") {
      const twice = [[988, 180], [740, 180], [988, 220]];
      beep(level ? [...twice, ...twice.slice(0, Math.min(3, level))] : twice, volume);
    } else if (tone === "learner") beep([[523, 120], [659, 160]], 0.15);
    else beep([[880, 140]], 0.15);
  }
  if (S.prefs[`vibrate.${tone}`] && navigator.vibrate) {
    navigator.vibrate(tone === "stop" ? Array(3 + Math.min(level, 4) * 2).fill(250) : [150]);
  }
}

// -- answering --------------------------------------------------------------------------

function answer(seq, action, replyText) {
  const body = ackFor(action, seq, replyText);
  send("ack", body, action === "reply" ? "Reply" : null);
  // Optimistic: it leaves now; the logged ack confirms it (the outbox keeps it if offline).
  S.answered.add(seq);
  if (S.replying === seq) S.replying = null;
  $("#live").textContent = `Answered: ${{ done: "OK", snoozed: "snoozed 2 minutes", declined: "dismissed", dismissed: "cleared" }[body.status]}`;
  schedule();
}

/** "Clear all" is not an answer: an ack `dismissed` for each card (never for a stop alert). */
function clearAll(cards) {
  for (const c of cards) answer(c.seq, "clear");
  document.body.focus();
}

function buildControls() {
  const req = $("#requests");
  for (const [action, label] of Object.entries(REQUEST_SHORT)) {
    const btn = el("button", { type: "button", dataset: { action }, "aria-label": `Ask the producer: ${REQUEST_TEXT[action]}` }, icon("hand"), label);
    btn.addEventListener("click", () => send("request", { action }, REQUEST_TEXT[action]));
    req.append(btn);
  }
  const quick = $("#quick");
  for (const [label, t] of QUICK) {
    // The accessible name holds the visible words (axe label-content-name-mismatch).
    const btn = el("button", { type: "button", class: "small", "aria-label": `Reply: ${label}`, title: `Reply “${t}”` }, icon("bubble"), " ", label);
    btn.addEventListener("click", () => send("reply", { text: t }, `“${t}”`));
    quick.append(btn);
  }
  const safe = $("#safe");
  safe.checked = !!S.prefs.safe;
  safe.addEventListener("change", () => {
    S.prefs.safe = safe.checked;
    S.nodes.clear();
    savePrefs();
    schedule();
  });
  for (const box of document.querySelectorAll("[data-pref]")) {
    box.checked = !!S.prefs[box.dataset.pref];
    box.addEventListener("change", () => {
      S.prefs[box.dataset.pref] = box.checked;
      savePrefs();
      if (box.checked && box.dataset.pref.startsWith("sound.")) unlockSound().then(() => beep([[660, 60]]));
      schedule();
    });
  }
  // Browsers keep sound off until the first tap or key: unlock it then, and say so until then.
  // On "click", not "pointerdown": hiding the banner between press and release would move
  // the page under the finger and the tap would miss what it was aimed at.
  const unlock = () => unlockSound().then(() => schedule());
  document.addEventListener("click", unlock, { capture: true });
  document.addEventListener("keydown", unlock, { capture: true });
  $("#sound-unlock").addEventListener("click", () => unlockSound().then(() => beep([[660, 60]])));
  const nav = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
  $("#sound-unlock").textContent = nav && nav.type === "reload"
    ? "Sound is off again after the reload: tap so stop alerts can chime"
    : "Tap to enable sound: stop alerts chime";
  // Panic blank: key B or one tap on the corner dot, the same again to come back.
  $("#blank-dot").addEventListener("click", () => setBlank(!S.blank));
  document.addEventListener("keydown", (e) => {
    if (e.key !== "b" && e.key !== "B") return;
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const t = e.target;
    if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
    e.preventDefault();
    setBlank(!S.blank);
  });
  document.body.tabIndex = -1; // focus goes back here after a reply box closes
}

/** Hide everything but a neutral dot (for a wrong window shared by mistake), or show it again. */
function setBlank(on) {
  S.blank = on;
  document.body.classList.toggle("blank", on);
  // While the rest is hidden, the dot's box is the page's main landmark and holds its h1.
  $("#blank-title").classList.toggle("hidden", !on);
  $("#blank-box").setAttribute("role", on ? "main" : "complementary");
  const dot = $("#blank-dot");
  dot.setAttribute("aria-pressed", String(on));
  dot.setAttribute("aria-label", on ? "Show the overlay again (key B)" : "Blank the overlay (key B)");
  dot.title = on ? "Show the overlay (B)" : "Blank the overlay (B)";
  if (on && document.activeElement && document.activeElement !== dot) document.body.focus();
  $("#live").textContent = on ? "Overlay blanked. Press B to show it again." : "Overlay shown.";
  schedule();
}

/** The toast sits above the request bar, never over its buttons or the quick replies. */
function placeToast() {
  const box = $("#toast");
  if (box.classList.contains("hidden")) return;
  const bar = $("#request-bar").getBoundingClientRect();
  box.style.bottom = bar.height > 0 ? `${Math.max(16, innerHeight - bar.top + 8)}px` : "";
}

let toastTimer = null;
function toast(t) {
  const box = $("#toast");
  box.textContent = t;
  box.classList.remove("hidden");
  placeToast();
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => box.classList.add("hidden"), 3500);
}

// -- drawing ----------------------------------------------------------------------------

function text(ev) {
  return describe(ev, { initialsOnly: !!S.prefs.safe });
}

function stopText(a) {
  return (STOP_TEXT[a.reason] || "Stop") + (a.text ? ` — ${a.text}` : "");
}

function cardNode(card) {
  const ev = card.ev;
  const meta = KIND_META[ev.kind];
  const tone = card.urgent ? "stop" : meta.tone;
  const head = el(
    "div",
    { class: "card-head" },
    el("span", { class: "tag" }, icon(meta.icon), card.urgent ? "Urgent" : meta.label),
    el("span", { class: "when" }, clockTime(ev.at)),
  );
  const actions = el("div", { class: "actions" });
  if (!readOnly) {
    if (S.replying === card.seq) {
      const input = el("input", { type: "text", maxlength: "500", "aria-label": "Your reply", placeholder: "Reply…", class: "grow" });
      const form = el("form", { class: "reply-form" }, input, el("button", { type: "submit", class: "ok" }, "Send"));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const t = input.value.trim();
        answer(card.seq, "reply", t || undefined);
        document.body.focus();
      });
      input.addEventListener("keydown", (e) => {
        if (e.key === "Escape") {
          S.replying = null;
          document.body.focus();
          schedule();
        }
      });
      actions.append(form);
      requestAnimationFrame(() => input.focus());
    } else {
      for (const [action, label] of actionsFor(ev.kind)) {
        // Names start with the visible words (axe label-content-name-mismatch).
        const aria = action === "done" ? `${label} — Acknowledge` : null;
        const btn = el("button", { type: "button", class: action === "done" ? "ok" : "", dataset: { action }, "aria-label": aria }, label);
        btn.addEventListener("click", () => {
          if (action === "reply") {
            S.replying = card.seq;
            schedule();
          } else {
            answer(card.seq, action);
          }
        });
        actions.append(btn);
      }
    }
  }
  return el(
    "article",
    { class: `card tone-${tone}${card.urgent ? " urgent" : ""}`, dataset: { seq: ev.seq, kind: ev.kind }, "aria-label": `${card.urgent ? "Urgent " : ""}${meta.label} message` },
    head,
    el("div", { class: "text" }, text(ev)),
    actions.children.length ? actions : null,
  );
}

function render() {
  const open = S.cards.at(now()).open.filter((c) => !S.answered.has(c.seq));
  const max = mode === "compact" ? 1 : S.showAll ? Infinity : 3;
  const { shown, more } = visibleCards(open, max);
  const want = [];
  for (const c of shown) {
    const key = `${!!S.prefs.safe}:${S.replying === c.seq}`;
    let cached = S.nodes.get(c.seq);
    if (!cached || cached.key !== key) {
      cached = { key, node: cardNode(c) };
      S.nodes.set(c.seq, cached);
    }
    want.push(cached.node);
  }
  // The "+N more" / "Clear all" row is rebuilt only when it changes: a row replaced between
  // a button's mousedown and mouseup would swallow the click.
  const clearList = clearable(open);
  const showMore = mode !== "compact" && (more > 0 || S.showAll) && open.length > 3;
  const showClear = !readOnly && mode !== "compact" && clearList.length >= 2;
  const rowKey = `${showMore}:${more}:${S.showAll}:${showClear}:${clearList.length}`;
  if (S.moreRow.key !== rowKey) S.moreRow = { key: rowKey, node: moreRow(showMore, more, showClear, clearList.length) };
  const snoozed = snoozedAlerts();
  for (const a of snoozed) {
    const key = `${a.snoozed_until}:${a.reason}:${a.text}`;
    let cached = S.snoozedNodes.get(a.seq);
    if (!cached || cached.key !== key) {
      const until = clockTime(a.snoozed_until).slice(0, 5);
      const node = el("p", { class: "snoozed-stop tone-stop", dataset: { seq: a.seq } }, icon("stop"), ` ${stopText(a)} — snoozed until ${until}`);
      cached = { key, node };
      S.snoozedNodes.set(a.seq, cached);
    }
    want.push(cached.node);
  }
  for (const seq of [...S.snoozedNodes.keys()]) if (!snoozed.some((a) => a.seq === seq)) S.snoozedNodes.delete(seq);
  if (S.moreRow.node) want.push(S.moreRow.node);
  if (!open.length && !snoozed.length) {
    const st = S.state ? S.state.status : "planned";
    const quiet = st === "ended" ? "The session has ended. Thank you!" : "All clear. New messages from the producer appear here.";
    want.push(el("p", { class: "empty" }, quiet));
  }
  const box = $("#cards");
  const same = box.children.length === want.length && want.every((n, i) => box.children[i] === n);
  // Rebuild only when the set changed, so a focused button keeps its focus.
  if (!same) box.replaceChildren(...want);
  for (const seq of [...S.nodes.keys()]) if (!shown.some((c) => c.seq === seq)) S.nodes.delete(seq);

  const alerts = waitingAlerts();
  renderTakeover(alerts);
  renderRequests();
  placeToast(); // the bar may have grown (a chip)
  renderEarlier();
  sendSeen(shown, alerts.slice(0, 1));
  tick();
}

function moreRow(showMore, more, showClear, clearCount) {
  const extra = [];
  if (showMore) {
    const btn = el("button", { type: "button", class: "small more", "aria-expanded": String(S.showAll) }, S.showAll ? "Show fewer" : `+${more} more`);
    btn.addEventListener("click", () => {
      S.showAll = !S.showAll;
      schedule();
    });
    extra.push(btn);
  }
  if (showClear) {
    const btn = el("button", { type: "button", class: "small clear-all" }, `Clear all (${clearCount})`);
    // What is open when tapped, not when drawn.
    btn.addEventListener("click", () => clearAll(clearable(S.cards.at(now()).open.filter((c) => !S.answered.has(c.seq)))));
    extra.push(btn);
  }
  return extra.length ? el("div", { class: "cards-more row" }, extra) : null;
}

function renderTakeover(alerts) {
  const box = $("#takeover");
  const wasOpen = !box.classList.contains("hidden");
  if (!alerts.length) {
    if (wasOpen && box.contains(document.activeElement)) document.body.focus();
    box.classList.add("hidden");
    box.dataset.seq = "";
    return;
  }
  const a = alerts[0]; // the oldest open stop first
  const level = Math.min(a.level || 0, 3);
  const key = `${a.seq}:${level}:${alerts.length}`;
  if (box.dataset.key !== key) {
    box.dataset.key = key;
    box.dataset.seq = String(a.seq);
    box.dataset.level = String(level);
    const actions = el("div", { class: "actions" });
    if (!readOnly) {
      for (const [action, label] of actionsFor("alert.stop")) {
        const btn = el("button", { type: "button", class: action === "done" ? "ok" : "", dataset: { action } }, action === "done" ? `${label} ✓` : label);
        btn.addEventListener("click", () => answer(a.seq, action));
        actions.append(btn);
      }
    }
    clear(box).append(
      ...[
        el("span", { class: "tag tone-stop" }, icon("stop"), "Stop alert"),
        el("div", { class: "big", id: "takeover-text" }, STOP_TEXT[a.reason] || "Stop"),
        a.text ? el("div", { class: "detail" }, a.text) : null,
        el("div", { class: "waiting" }, el("span", { class: "since" }, ""), alerts.length > 1 ? ` · ${alerts.length - 1} more after this` : null),
        actions.children.length ? actions : null,
      ].filter(Boolean),
    );
  }
  box.classList.remove("hidden");
  if (!wasOpen && !readOnly) box.querySelector("button.ok").focus({ preventScroll: true });
}

function reminded(level) {
  if (!level) return "";
  return ` — reminded ${level === 1 ? "once" : level === 2 ? "twice" : `${level} times`}`;
}

function renderRequests() {
  // Nothing can be asked once the session has ended (the server refuses it).
  const ended = !!S.state && S.state.status === "ended";
  for (const btn of document.querySelectorAll("#requests button, #quick button")) btn.disabled = ended;
  const box = clear($("#my-requests"));
  const ask = S.more.pending();
  if (ask && !ended) box.append(el("span", { class: "chip", dataset: { status: "open", seq: ask.seq } }, `${MORE_TIME}: waiting for the producer`));
  const mine = ((S.state && S.state.open_requests) || []).filter((r) => r.by === S.me);
  for (const r of mine) {
    const status = r.status === "on_it" ? `producer is on it${r.status_text ? " — " + r.status_text : ""}` : "waiting for the producer";
    box.append(el("span", { class: `chip ${r.status === "on_it" ? "on" : ""}`, dataset: { seq: r.seq, status: r.status || "open" } }, `${REQUEST_TEXT[r.action] || r.action}: ${status}`));
  }
  for (const c of S.closedRequests) box.append(el("span", { class: `chip ${c.status}`, dataset: { status: c.status } }, c.line));
  box.classList.toggle("hidden", !box.children.length);
}

function renderEarlier() {
  const list = clear($("#earlier"));
  const t = now();
  const rows = [
    ...S.cards.at(t).snoozed.map((c) => ({ c, state: "snoozed", label: `snoozed until ${clockTime(new Date(c.until).toISOString())}` })),
    ...S.cards.closed().slice(0, 8).map((c) => ({ c, state: c.reason, label: CLOSED_TEXT[c.reason] || c.reason })),
  ];
  for (const { c, state, label } of rows.slice(0, 8)) {
    list.append(el("li", { dataset: { seq: c.seq, state } }, `${clockTime(c.ev.at)} · ${text(c.ev)} — ${label}`));
  }
  list.parentElement.classList.toggle("hidden", !rows.length);
}

/** `seen` receipts only for cards and alerts actually on a visible screen (never from OBS). */
function sendSeen(shown, alerts) {
  if (readOnly || document.visibilityState !== "visible") return;
  const seqs = [...shown.map((c) => c.seq), ...alerts.filter((a) => !a.seen_at).map((a) => a.seq)];
  for (const seq of seqs) {
    const t = S.ticks.get(seq);
    if ((t && t.seen) || S.seenSent.has(seq)) continue;
    S.seenSent.add(seq);
    send("seen", { ref: seq });
  }
}

function tick() {
  const st = S.state;
  const t = now();
  const left = secondsLeft(st, t);
  const timer = $("#timer");
  const cd = $("#countdown");
  const title = $("#seg-title");
  if (left !== null) {
    cd.textContent = mmss(left);
    timer.dataset.tone = countdownTone(left, amberSeconds());
    title.textContent = st.segment.title;
  } else {
    cd.textContent = "–:––";
    timer.dataset.tone = "none";
    title.textContent = !st ? "Connecting…" : st.status === "ended" ? "Session ended" : st.status === "live" ? "Between segments" : S.session ? S.session.title : "Waiting for the session";
  }
  if (S.ch && S.ch.state === "online") $("#conn").textContent = st && st.status === "ended" ? "Session ended" : "Live";
  const next = st && st.next_segment;
  $("#next").textContent = st && st.status === "ended" ? "" : next ? `Next: ${next.title} (${next.planned_minutes} min)` : st && st.segment ? "Last segment" : "";
  const since = $("#takeover .since");
  if (since) {
    const a = waitingAlerts()[0];
    if (a) since.textContent = `Sent ${clockTime(a.at)} · ${waited(a.at, t)}${reminded(a.level)}`;
  }
  const ended = !!st && st.status === "ended"; // nothing more will chime
  const needSound = !readOnly && !ended && !soundReady() && (S.prefs["sound.stop"] || S.prefs["sound.time"] || S.prefs["sound.learner"]);
  $("#sound-unlock").classList.toggle("hidden", !needSound);
  const wake = S.cards.nextWake(t - 1000);
  if (wake !== null && wake <= t) schedule(); // a snooze ran out
}

function amberSeconds() {
  const s = S.state && S.state.settings;
  return s && Number.isFinite(s.countdown_amber_s) ? s.countdown_amber_s : 120;
}
