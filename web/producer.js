// Producer push panel (and the read-only observer view): presets, shortcuts, statuses, log.
import { Channel } from "./client.js";
import {
  $, KIND_META, api, beep, clear, clockTime, describe, el, fatal, icon, mmss, nextSegment,
  onceAFrame, storedSessionId, takeToken,
} from "./util.js";

const TRACKED = new Set(["prompt.time", "flag.learner", "alert.stop"]);
const token = takeToken();

const S = {
  role: null,
  me: null,
  sid: storedSessionId(),
  session: null,
  status: "planned",
  segment: null,
  extensions: {},
  ended: new Set(),
  presets: [],
  learner: null,
  events: [], // every event, seq order
  people: {}, // participant_id -> {role, name}
  presence: [], // [{pid, status, at}]
  messages: new Map(), // id -> message status
  bySeq: new Map(), // seq -> message
  incoming: [],
  failed: [],
  welcomed: false,
};

// Many changes in one frame draw once.
const schedule = onceAFrame(render);

if (!token) {
  fatal("This page needs a link with a key (…/producer#t=…). Create a session on the start page.");
} else {
  start();
}

function start() {
  const ch = new Channel(token).start();
  S.ch = ch;
  ch.addEventListener("state", (e) => showConn(e.detail));
  ch.addEventListener("welcome", (e) => onWelcome(e.detail));
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
    loadSessionData();
  }
  setInterval(tick, 250);
  wireControls();
}

function showConn({ state, reason }) {
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

/** Presets from the last visit, so keys work before the first fetch returns. */
function cachedPresets(sid) {
  try {
    const list = JSON.parse(localStorage.getItem("bc.presets." + sid) || "[]");
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

async function loadSessionData() {
  try {
    const [view, presets] = await Promise.all([
      api(`/api/v1/sessions/${S.sid}`, token),
      api(`/api/v1/sessions/${S.sid}/presets`, token),
    ]);
    S.presets = presets.presets;
    try {
      localStorage.setItem("bc.presets." + S.sid, JSON.stringify(S.presets));
    } catch {
      // Only a start-up cache.
    }
    if (!S.welcomed) {
      S.session = view.session;
      S.role = view.you.role;
      S.me = view.you.participant_id;
      S.status = view.state.status;
      applyRole();
    }
    renderStatic();
    const exp = await api(`/api/v1/sessions/${S.sid}/export`, token);
    for (const p of exp.participants) S.people[p.participant_id] = p;
    schedule();
  } catch (err) {
    if (err.status === 401) fatal("This link is not valid (or was revoked).");
  }
}

function onWelcome(w) {
  const first = !S.welcomed;
  S.welcomed = true;
  S.session = w.session;
  S.role = w.you.role;
  S.me = w.you.participant_id;
  S.people[w.you.participant_id] = w.you;
  for (const p of w.state.online) S.people[p.participant_id] = p;
  S.status = w.state.status;
  S.segment = w.state.segment;
  if (S.segment) S.extensions[S.segment.index] = S.segment.extended_minutes;
  document.title = `${w.session.title} — producer`;
  $("#title").textContent = w.session.title;
  const debrief = $("#debrief-link");
  debrief.href = `/debrief#t=${encodeURIComponent(token)}&s=${encodeURIComponent(w.session.id)}`;
  debrief.classList.remove("hidden");
  applyRole();
  if (first || S.sid !== w.session.id) {
    S.sid = w.session.id;
    loadSessionData();
  }
  renderStatic();
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
  const a = ev.author || {};
  if (a.participant_id && a.role !== "system") S.people[a.participant_id] = a;
  const b = ev.body || {};
  if (TRACKED.has(ev.kind)) {
    const m = S.messages.get(ev.id) || { id: ev.id };
    Object.assign(m, { seq: ev.seq, kind: ev.kind, body: b, at: ev.at, author: a.name });
    S.messages.set(ev.id, m);
    S.bySeq.set(ev.seq, m);
  } else if (ev.kind === "seen" || ev.kind === "ack" || ev.kind === "alert.escalated" || ev.kind === "alert.cancel" || ev.kind === "alert.resurface") {
    const m = S.bySeq.get(b.ref);
    if (m) {
      if (ev.kind === "seen") m.seen_at = m.seen_at || ev.at;
      if (ev.kind === "ack") {
        m.ack = { status: b.status, at: ev.at, text: b.text, minutes: b.minutes };
        m.seen_at = m.seen_at || ev.at;
      }
      if (ev.kind === "alert.escalated") m.level = Math.max(m.level || 0, b.level);
      if (ev.kind === "alert.cancel") m.cancelled = ev.at;
      if (ev.kind === "alert.resurface") m.resurfaced = ev.at;
    }
  } else if (ev.kind === "presence") {
    S.presence.push({ pid: b.participant_id, status: b.status, at: ev.at });
    if (!S.people[b.participant_id] && !replay) refreshPeople();
  } else if (ev.kind === "session.start" && !replay) {
    S.status = "live";
  } else if (ev.kind === "session.end" && !replay) {
    S.status = "ended";
  }
  if (ev.kind === "segment.end") S.ended.add(b.index);
  if (ev.kind === "segment.start") S.ended.delete(b.index);
  if (ev.kind.startsWith("segment.") || ev.kind === "session.end") {
    if (!replay) S.segment = nextSegment(S.segment, ev, S.session ? S.session.agenda : [], S.extensions);
    else if (ev.kind === "segment.extend") S.extensions[b.index] = (S.extensions[b.index] || 0) + b.minutes;
  }
  if ((ev.kind === "reply" || ev.kind === "request") && a.role === "facilitator") {
    S.incoming.unshift({ ev, fresh: !replay });
    S.incoming.length = Math.min(S.incoming.length, 6);
    if (!replay && $("#sound").checked) beep([[660, 110], [880, 140]]);
  }
  schedule();
}

let refreshing = null;
function refreshPeople() {
  if (refreshing || !S.sid) return;
  refreshing = setTimeout(async () => {
    try {
      const view = await api(`/api/v1/sessions/${S.sid}`, token);
      for (const p of view.state.online) S.people[p.participant_id] = p;
      schedule();
    } catch {
      // Next presence change tries again.
    }
    refreshing = null;
  }, 300);
}

function isFacilitator(pid) {
  return S.people[pid] && S.people[pid].role === "facilitator";
}

/** Facilitators online now, and when the last one left. */
function facilitatorPresence() {
  const online = new Set();
  let lastLeft = null;
  for (const p of S.presence) {
    if (!isFacilitator(p.pid)) continue;
    if (p.status === "online") online.add(p.pid);
    else {
      online.delete(p.pid);
      lastLeft = p.at;
    }
  }
  return { online: [...online], lastLeft };
}

/** When a message reached a facilitator's screen: logged while one was online, or when one came. */
function deliveredAt(m) {
  if (!m.at) return null;
  const t = Date.parse(m.at);
  const online = new Set();
  for (const p of S.presence) {
    const pt = Date.parse(p.at);
    if (pt > t && online.size) return m.at;
    if (!isFacilitator(p.pid)) continue;
    if (p.status === "online") online.add(p.pid);
    else online.delete(p.pid);
    if (pt >= t && online.size) return p.at;
  }
  if (online.size) return m.at;
  return m.seen_at || null;
}

// -- sending ----------------------------------------------------------------------------

function send(kind, body) {
  if (S.role === "observer" && kind !== "note") return null;
  const id = S.ch.send(kind, body);
  const m = { id, kind, body, queued_at: new Date().toISOString() };
  if (TRACKED.has(kind)) S.messages.set(id, m);
  schedule();
  return id;
}

function firePreset(p) {
  let body = { ...p.body };
  if (p.kind === "flag.learner") {
    const typed = $("#learner").value.trim();
    const who = S.learner || typed;
    if (who) body.learner = who;
    S.learner = null;
    $("#learner").value = "";
    renderRoster();
  }
  send(p.kind, body);
  flash(p.preset_id);
}

function flash(presetId) {
  const btn = document.querySelector(`[data-preset="${CSS.escape(presetId)}"]`);
  if (!btn) return;
  btn.classList.add("sent-flash");
  setTimeout(() => btn.classList.remove("sent-flash"), 400);
}

function nextIndex() {
  const agenda = S.session ? S.session.agenda : [];
  if (S.segment) return S.segment.index + 1 < agenda.length ? S.segment.index + 1 : null;
  for (let i = 0; i < agenda.length; i++) if (!S.ended.has(i)) return i;
  return null;
}

function wireControls() {
  $("#seg-next").addEventListener("click", startNext);
  $("#seg-end").addEventListener("click", endSegment);
  $("#seg-plus1").addEventListener("click", () => extend(1));
  $("#seg-plus5").addEventListener("click", () => extend(5));
  $("#seg-minus").addEventListener("click", () => extend(-1));
  $("#session-btn").addEventListener("click", sessionButton);
  $("#help-btn").addEventListener("click", () => toggleHelp(true));
  $("#help-close").addEventListener("click", () => toggleHelp(false));
  $("#help").addEventListener("click", (e) => e.target === $("#help") && toggleHelp(false));
  $("#filter").addEventListener("change", () => schedule());
  $("#learner").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      $("#learner").blur(); // the name stays; the next learner key uses it
    }
  });
  $("#learner").addEventListener("input", () => {
    S.learner = null;
    renderRoster();
  });
  $("#free").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("#free-text").value.trim();
    if (!text) return;
    if ($("#free-stop").checked) send("alert.stop", { reason: "other", text });
    else send("prompt.time", { text });
    $("#free-text").value = "";
    $("#free-stop").checked = false;
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
  document.addEventListener("keydown", onKey);
}

function saveNote() {
  const text = $("#note").value.trim();
  if (!text) return;
  send("note", { text });
  $("#note").value = "";
  $("#note-status").textContent = "Saved to the log";
  setTimeout(() => ($("#note-status").textContent = ""), 2500);
}

function startNext() {
  const i = nextIndex();
  if (i === null) return;
  if (S.status === "planned") send("session.start", {});
  send("segment.start", { index: i });
}

function endSegment() {
  if (S.segment) send("segment.end", { index: S.segment.index });
}

function extend(minutes) {
  if (S.segment) send("segment.extend", { index: S.segment.index, minutes });
}

let confirmEnd = null;
function sessionButton() {
  const btn = $("#session-btn");
  if (S.status === "planned") {
    send("session.start", {});
  } else if (S.status === "live") {
    if (!confirmEnd) {
      btn.textContent = "Click again to end";
      confirmEnd = setTimeout(() => {
        confirmEnd = null;
        renderSessionButton();
      }, 3000);
      return;
    }
    clearTimeout(confirmEnd);
    confirmEnd = null;
    if (S.segment) send("segment.end", { index: S.segment.index });
    send("session.end", {});
  }
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  const typing = t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  const helpOpen = !$("#help").classList.contains("hidden");
  if (helpOpen && e.key === "Tab") {
    e.preventDefault(); // a modal dialog: focus stays on its one control
    $("#help-close").focus();
    return;
  }
  if (e.key === "Escape") {
    if (helpOpen) toggleHelp(false);
    else if (typing) t.blur();
    return;
  }
  if (typing) return;
  if (e.key === "?") {
    e.preventDefault();
    toggleHelp($("#help").classList.contains("hidden"));
    return;
  }
  if (!$("#help").classList.contains("hidden")) return;
  if (S.role === "observer") {
    if (e.key === "n") {
      e.preventDefault();
      $("#note").focus();
    }
    return;
  }
  const preset = S.presets.find((p) => p.key && p.key.toLowerCase() === e.key.toLowerCase());
  if (preset) {
    e.preventDefault();
    firePreset(preset);
    return;
  }
  const actions = {
    m: () => $("#free-text").focus(),
    n: () => $("#note").focus(),
    l: () => $("#learner").focus(),
    "]": startNext,
    "[": endSegment,
    "=": () => extend(1),
  };
  if (actions[e.key]) {
    e.preventDefault();
    actions[e.key]();
  }
}

let helpReturn = null;
function toggleHelp(open) {
  $("#help").classList.toggle("hidden", !open);
  if (open) {
    helpReturn = document.activeElement;
    $("#help-close").focus();
  } else if (helpReturn && helpReturn.focus) {
    helpReturn.focus();
  }
}

// -- drawing ----------------------------------------------------------------------------

function presetButton(p) {
  const meta = KIND_META[p.kind] || KIND_META.note;
  const btn = el(
    "button",
    { type: "button", class: `preset tone-${meta.tone}`, dataset: { preset: p.preset_id }, "aria-keyshortcuts": p.key },
    icon(meta.icon),
    el("span", { class: "label" }, p.label),
    p.key ? el("kbd", {}, p.key) : null,
  );
  btn.addEventListener("click", () => firePreset(p));
  return btn;
}

function renderStatic() {
  renderPresets();
  renderSessionButton();
}

function renderPresets() {
  const groups = { "prompt.time": "#presets-time", "flag.learner": "#presets-learner", "alert.stop": "#presets-stop" };
  for (const sel of [...Object.values(groups), "#presets-other"]) clear($(sel));
  for (const p of S.presets) $(groups[p.kind] || "#presets-other").append(presetButton(p));
  $("#presets-other").previousElementSibling.classList.toggle("hidden", !$("#presets-other").children.length);
  renderRoster();
  const keys = clear($("#help-keys"));
  const row = (k, what) => keys.append(el("tr", {}, el("td", {}, el("kbd", {}, k)), el("td", {}, what)));
  for (const p of S.presets) if (p.key) row(p.key, p.label);
  row("]", "Start the next segment");
  row("[", "End the current segment");
  row("=", "Give the current segment 1 more minute");
  row("l", "Type a learner's name, Enter, then a learner key");
  row("m", "Type a free message (Enter sends)");
  row("n", "Write a private note (Ctrl+Enter saves)");
  row("?", "Show or hide this help");
  row("Esc", "Close help / leave a text box");
}

function renderSessionButton() {
  if (confirmEnd) return;
  const btn = $("#session-btn");
  btn.textContent = S.status === "planned" ? "Start session" : S.status === "live" ? "End session" : "Session ended";
  btn.disabled = S.status === "ended";
}

function renderRoster() {
  const roster = S.session ? S.session.roster : [];
  const buttons = [...$("#roster").querySelectorAll("button")];
  if (buttons.length && buttons.length === roster.length && buttons.every((b, i) => b.textContent === roster[i])) {
    for (const b of buttons) b.setAttribute("aria-pressed", String(S.learner === b.textContent));
    return;
  }
  const box = clear($("#roster"));
  const list = clear($("#roster-list"));
  for (const name of roster) {
    const b = el("button", { type: "button", "aria-pressed": String(S.learner === name) }, name);
    b.addEventListener("click", () => {
      S.learner = S.learner === name ? null : name;
      $("#learner").value = "";
      renderRoster();
    });
    box.append(b);
    list.append(el("option", { value: name }));
  }
  if (!roster.length) box.append(el("span", { class: "hint" }, "No roster: type a name, or the flag says “Someone”."));
}

function render() {
  renderSessionButton();
  renderSegments();
  renderPresence();
  renderIncoming();
  renderMessages();
  renderLog();
  showConn({ state: S.ch.state });
  tick();
}

function renderSegments() {
  const box = clear($("#segments"));
  const agenda = S.session ? S.session.agenda : [];
  agenda.forEach((seg, i) => {
    const current = S.segment && S.segment.index === i;
    const cls = "seg" + (current ? " current" : S.ended.has(i) ? " done" : "");
    box.append(el("span", { class: cls, "aria-current": current ? "step" : null }, `${i + 1}. ${seg.title} · ${seg.minutes}′`));
  });
  $("#seg-title").textContent = S.segment ? S.segment.title : S.status === "ended" ? "Session ended" : "No segment running";
  const next = nextIndex();
  $("#seg-next").disabled = next === null || S.status === "ended";
  $("#seg-next").textContent = next === null ? "Start next" : `Start ${next + 1}`;
  for (const id of ["#seg-end", "#seg-plus1", "#seg-plus5", "#seg-minus"]) $(id).disabled = !S.segment;
}

function tick() {
  const cd = $("#countdown");
  if (!S.segment || !S.ch) {
    cd.textContent = "–:––";
    cd.classList.remove("over");
    return;
  }
  const left = (Date.parse(S.segment.planned_end) - S.ch.now()) / 1000;
  cd.textContent = mmss(left);
  cd.classList.toggle("over", left < 0);
}

function renderPresence() {
  const { online, lastLeft } = facilitatorPresence();
  const box = $("#presence");
  box.classList.toggle("on", online.length > 0);
  if (online.length) box.textContent = `Facilitator online: ${online.map((p) => S.people[p].name).join(", ")}`;
  else if (lastLeft) box.textContent = `Facilitator offline since ${clockTime(lastLeft)}`;
  else box.textContent = "Facilitator: not joined yet";
}

function renderIncoming() {
  const box = clear($("#incoming"));
  if (!S.incoming.length) {
    box.append(el("p", { class: "hint" }, "Replies and requests show up here."));
    return;
  }
  for (const item of S.incoming) {
    const ev = item.ev;
    const meta = KIND_META[ev.kind];
    box.append(
      el(
        "div",
        { class: `item tone-${meta.tone}${item.fresh ? " fresh" : ""}`, dataset: { seq: ev.seq } },
        icon(meta.icon),
        el("span", { class: "tag" }, meta.label),
        el("span", { class: "grow" }, describe(ev)),
        el("span", { class: "hint" }, clockTime(ev.at)),
      ),
    );
    item.fresh = false;
  }
}

function statusOf(m) {
  if (!m.seq) return "sending";
  if (m.cancelled) return "cancelled";
  if (m.ack) return m.ack.status;
  if (m.seen_at) return "seen";
  return deliveredAt(m) ? "delivered" : "logged";
}

function renderMessages() {
  const box = clear($("#messages"));
  const queued = new Set(S.ch.outbox.map((i) => i.id));
  for (const item of S.ch.outbox) {
    if (TRACKED.has(item.kind) && !S.messages.has(item.id)) S.messages.set(item.id, { ...item });
  }
  for (const f of S.failed.slice(0, 3)) {
    box.append(
      el("li", { class: "msg tone-stop", dataset: { id: f.id, status: "failed" } },
        icon("x"), el("span", { class: "text" }, describe({ kind: f.item.kind, body: f.item.body })),
        el("span", { class: "ticks" }, el("span", { class: "tick bad" }, `Not sent: ${f.message}`))),
    );
  }
  const list = [...S.messages.values()].filter((m) => m.seq || queued.has(m.id));
  list.sort((a, b) => (b.seq || Infinity) - (a.seq || Infinity) || (b.queued_at || "").localeCompare(a.queued_at || ""));
  for (const m of list.slice(0, 40)) box.append(messageItem(m));
  if (!box.children.length) box.append(el("li", { class: "hint" }, "Nothing sent yet. Press a button or its key."));
}

function messageItem(m) {
  const meta = KIND_META[m.kind];
  const status = statusOf(m);
  const ticks = [];
  const tick = (cls, text) => ticks.push(el("span", { class: `tick ${cls}` }, text));
  if (!m.seq) {
    tick(S.ch.state === "online" ? "" : "warn", S.ch.state === "online" ? "◌ Sending…" : "◌ Queued — will send when back online");
  } else {
    tick("on", `✓ Logged #${m.seq} ${clockTime(m.at)}`);
    const d = deliveredAt(m);
    if (d) tick("on", `✓ Delivered ${clockTime(d)}`);
    else tick("warn", "Facilitator not connected");
    if (m.seen_at) tick("on", `✓ Seen ${clockTime(m.seen_at)}`);
    if (m.ack) {
      const label = { done: "Acknowledged", snoozed: `Snoozed ${m.ack.minutes || 1} min`, declined: "Declined" }[m.ack.status];
      tick(m.ack.status === "declined" ? "bad" : "on", `✓ ${label} ${clockTime(m.ack.at)}${m.ack.text ? " — “" + m.ack.text + "”" : ""}`);
    }
    if (m.level) tick("bad", `Escalated (level ${m.level})`);
    if (m.cancelled) tick("", `Withdrawn ${clockTime(m.cancelled)}`);
  }
  const li = el(
    "li",
    { class: `msg tone-${meta.tone}`, dataset: { id: m.id, seq: m.seq || "", status } },
    icon(meta.icon),
    el("span", { class: "text" }, describe({ kind: m.kind, body: m.body })),
    el("span", { class: "ticks" }, ticks),
  );
  if (m.kind === "alert.stop" && m.seq && !m.ack && !m.cancelled && S.role === "producer") {
    const cancel = el("button", { type: "button", class: "small" }, "Withdraw");
    cancel.addEventListener("click", () => send("alert.cancel", { ref: m.seq }));
    li.querySelector(".ticks").append(cancel);
  }
  return li;
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
