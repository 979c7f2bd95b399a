// Producer push panel (and the read-only observer view): presets, shortcuts, statuses, log.
// This is its entry point: it opens the channel, keeps what the welcome, the session state and
// the events say in S (producer-state.js), and wires the parts: presets (producer-presets.js),
// the stop alert's arm and confirm (producer-stop.js), segments (producer-segments.js), keys
// and help (producer-keys.js, producer-help.js) and the drawing (producer-render.js).
// Timer, segments, open stop alerts, open requests and who is online are drawn from the
// session state (client.js "session"); message ticks and "1 more minute" come from model.js;
// which keys are shortcuts and which are typing, from keys.js.
import { Channel } from "./client.js";
import { watchLink } from "./link-state.js";
import { mount as mountAttention } from "./attention.js";
import { follow as followSession } from "./session-sync.js";
import { mount as mountPlaybook } from "./playbook.js";
import { mount as mountRoster } from "./roster-view.js";
import { mount as mountSetup } from "./setup-panel.js";
import { mount as mountLinks } from "./links-panel.js";
import { mount as mountWebhooks } from "./webhooks-panel.js";
import { mount as mountLearnerBox } from "./learner-box.js";
import { S, drawWith, schedule, send, toPanel, token } from "./producer-state.js";
import { wireStop } from "./producer-stop.js";
import { wireSegments } from "./producer-segments.js";
import { PANEL_KEYS, wireHelp } from "./producer-help.js";
import { cachedPresets, loadPresets, renderPresets, renderRoster } from "./producer-presets.js";
import { showTypingHint, wireKeys } from "./producer-keys.js";
import { render, showConn, tick } from "./producer-render.js";
import { TRACKED_KINDS } from "./model.js";
import { $, beep, describe, fatal, unlockSound } from "./util.js";

const ANSWER_TEXT = { done: "Acknowledged", snoozed: "Snoozed", declined: "Declined", dismissed: "Cleared unanswered" };

drawWith(render);

if (!token) {
  fatal("This page needs a link with a key (…/producer#t=…). Create a session on the start page.");
} else {
  start();
}

function start() {
  const ch = new Channel(token).start();
  S.ch = ch;
  watchLink(ch, { reload: true }); // a replaced link: a full-page notice; a new one reloads
  ch.addEventListener("state", (e) => showConn(e.detail));
  ch.addEventListener("welcome", (e) => onWelcome(e.detail));
  ch.addEventListener("session", (e) => {
    S.state = e.detail.state;
    if (S.setup) S.setup.refresh(); // the agenda editor follows segments that start
    for (const p of S.state.online || []) S.people[p.participant_id] = p;
    S.ticks.learn(S.state.online || []);
    schedule();
  });
  ch.addEventListener("event", (e) => onEvent(e.detail.event, e.detail.replay));
  ch.addEventListener("outbox", () => schedule());
  ch.addEventListener("sent", () => schedule());
  ch.addEventListener("failed", (e) => {
    S.failed.unshift({ ...e.detail, at: new Date().toISOString() });
    schedule();
  });
  if (S.sid) {
    S.presets = cachedPresets(S.sid);
    renderPresets();
    loadPresets();
  }
  S.attention = mountAttention({ sound: () => $("#sound").checked, title: () => S.title || "Producer panel — Backchannel" });
  setInterval(tick, 250);
  wireControls();
  S.playbook = mountPlaybook($("#playbook-box"), {
    token, sessionId: () => S.sid, reservedKeys: [...Object.keys(PANEL_KEYS), "?"], presets: () => S.presets,
    onSaved: (presets) => { S.presets = presets; renderPresets(); loadPresets(); },
  });
  mountRoster($("#roster-view-box"), { roster: () => (S.session && S.session.roster) || [], events: () => S.events });
  mountLinks($("#setup-box"), { token, sessionId: () => S.sid, me: () => S.me });
  mountWebhooks($("#setup-box"), { token, sessionId: () => S.sid });
  S.setup = mountSetup($("#setup-box"), { token, session: () => S.session, state: () => S.state, onSaved: (session) => { S.session = session; renderRoster(); } });
  followSession(ch, {
    token, sessionId: () => S.sid,
    onSession: (session) => {
      S.session = { ...S.session, ...session };
      S.title = `${session.title} — producer`;
      $("#title").textContent = session.title;
      renderRoster();
      S.setup.refresh();
      schedule();
    },
    onPresets: () => loadPresets().then(() => S.playbook.reload()),
  });
}

function onWelcome(w) {
  const first = !S.welcomed;
  S.welcomed = true;
  S.session = w.session;
  S.role = w.you.role;
  S.me = w.you.participant_id;
  S.people[w.you.participant_id] = w.you;
  for (const p of w.participants || []) S.people[p.participant_id] = p;
  S.ticks.learn(w.participants || []);
  S.title = `${w.session.title} — producer`;
  document.title = S.title;
  $("#title").textContent = w.session.title;
  const debrief = $("#debrief-link");
  debrief.href = `/debrief#t=${encodeURIComponent(token)}&s=${encodeURIComponent(w.session.id)}`;
  debrief.classList.remove("hidden");
  applyRole();
  if (first || S.sid !== w.session.id) {
    S.sid = w.session.id;
    loadPresets();
  }
  renderPresets();
  schedule();
}

function applyRole() {
  const readOnly = S.role === "observer";
  document.body.classList.toggle("observer", readOnly);
  for (const node of document.querySelectorAll(".producer-only")) node.classList.toggle("hidden", readOnly);
  $("#readonly").classList.toggle("hidden", !readOnly);
}

// -- events -----------------------------------------------------------------------------

function onEvent(ev, replay) {
  S.events.push(ev);
  S.ticks.apply(ev);
  S.more.apply(ev);
  const a = ev.author || {};
  const b = ev.body || {};
  if (a.participant_id && a.role !== "system") S.people[a.participant_id] = a;
  if (TRACKED_KINDS.has(ev.kind)) S.tracked.push(ev);
  if ((ev.kind === "reply" || ev.kind === "request" || (ev.kind === "ack" && b.text)) && a.role === "facilitator") {
    S.incoming.unshift({ ev, fresh: !replay });
    S.incoming.length = Math.min(S.incoming.length, 6);
    if (!replay && $("#sound").checked) beep([[660, 110], [880, 140]]);
  }
  if (!replay && ev.kind === "ack") {
    const m = S.tracked.find((x) => x.seq === b.ref);
    if (m) $("#announce").textContent = `${ANSWER_TEXT[b.status] || b.status}: ${describe(m)}${b.text ? " — " + b.text : ""}`;
  }
  schedule();
}

// -- controls ---------------------------------------------------------------------------

function wireControls() {
  document.body.tabIndex = -1; // focus comes back here after a text box sends
  wireSegments();
  wireHelp();
  $("#filter").addEventListener("change", () => schedule());
  // Enter in the learner box: the name stays (as the roster spells it, when it is clear);
  // the next learner key uses it.
  S.learnerBox = mountLearnerBox($("#learner"), { list: $("#learner-suggestions"), roster: () => (S.session && S.session.roster) || [], onEnter: toPanel, onTyping: showTypingHint });
  $("#learner").addEventListener("input", () => {
    S.learner = null;
    renderRoster();
  });
  $("#free").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("#free-text").value.trim();
    if (!text) return;
    send("message", $("#free-urgent").checked ? { text, urgent: true } : { text });
    $("#free-text").value = "";
    $("#free-urgent").checked = false;
    toPanel();
  });
  $("#note-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveNote();
  });
  $("#note").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      saveNote();
    }
  });
  wireStop();
  $("#sound").addEventListener("change", () => unlockSound());
  wireKeys();
}

function saveNote() {
  const text = $("#note").value.trim();
  if (!text) return;
  send("note", { text });
  $("#note").value = "";
  $("#note-status").textContent = "Saved to the log";
  setTimeout(() => ($("#note-status").textContent = ""), 2500);
  toPanel();
}
