// The console: several sessions followed from their producer links (console-links.js keeps
// them), one socket each (console-room.js). Each room draws its state; a room with a stop
// alert waiting or a new request rises to the top with a sound; a preset goes to the selected
// rooms (or the focused one), one event per room, each with its own receipt.
import { MAX_ROOMS, addRooms, attentionOrder, listRooms, parseLinks, saveRooms } from "./console-links.js";
import { Room } from "./console-room.js";
import { listSessions } from "./my-sessions.js";
import { KIND_META, REQUEST_TEXT, STOP_TEXT, $, beep, clear, describe, el, icon, mmss, soundReady, unlockSound } from "./util.js";
import { waited } from "./model.js";

const STATUS_TEXT = { planned: "Not started", live: "Live", ended: "Ended" };
const CONN_TEXT = { connecting: "Connecting…", offline: "Offline — reconnecting", closed: "Link not valid" };
const CONFIRM_MS = 8000;
const CONSOLE_KEYS = new Set(["j", "k", "x", "?"]);

const C = {
  rooms: new Map(), // key -> {room, node, parts, selected}
  entries: listRooms(),
  current: null, // key of the room last focused
  armed: null, // {preset, targets, timer}
  soundOn: true,
  dirty: new Set(),
  frame: false,
};

// -- rooms ------------------------------------------------------------------------------

function follow(entry) {
  const room = new Room(entry, changed);
  const parts = {};
  const node = roomNode(room, parts);
  C.rooms.set(room.key, { room, node, parts, selected: false });
  $("#rooms").appendChild(node);
  room.start();
}

function unfollow(key) {
  const r = C.rooms.get(key);
  if (!r) return;
  r.room.close();
  r.node.remove();
  C.rooms.delete(key);
  C.entries = C.entries.filter((e) => e.token !== key);
  saveRooms(C.entries);
  if (C.current === key) C.current = null;
  renderAll();
}

function changed(room, why) {
  if (why === "alert" || why === "request") alertFor(room, why);
  if (why === "state" || why === "presets") remember(room);
  C.dirty.add(room.key);
  if (why === "presets") renderPresets();
  if (!C.frame) {
    C.frame = true;
    requestAnimationFrame(flush);
  }
}

/** The stored entry learns the session's id and title (for the next visit's first paint). */
function remember(room) {
  const e = C.entries.find((x) => x.token === room.key);
  if (!e || !room.session || (e.sid === room.session.id && e.title === room.session.title)) return;
  e.sid = room.session.id;
  e.title = room.session.title;
  saveRooms(C.entries);
}

function alertFor(room, why) {
  const text = why === "alert" ? `Stop alert waiting in ${room.title}` : `New request in ${room.title}`;
  $("#announce").textContent = text;
  if (C.soundOn) beep(why === "alert" ? [[880, 150], [660, 150], [880, 150]] : [[660, 110], [880, 140]], why === "alert" ? 0.35 : 0.2);
}

function flush() {
  C.frame = false;
  for (const key of C.dirty) {
    const r = C.rooms.get(key);
    if (r) drawRoom(r);
  }
  C.dirty.clear();
  reorder();
  summary();
}

// -- drawing ----------------------------------------------------------------------------

let nextId = 0;
function roomNode(room, parts) {
  const id = "room-" + ++nextId;
  parts.select = el("input", { type: "checkbox", class: "room-select", "aria-label": "Select for sending" });
  parts.title = el("h3", { class: "room-title", id: id + "-title" }, room.title);
  parts.status = el("span", { class: "room-status pill" });
  parts.segment = el("span", { class: "room-seg" });
  parts.countdown = el("span", { class: "countdown room-countdown", "data-tone": "none" }, "–:––");
  parts.next = el("span", { class: "hint room-next" });
  parts.fac = el("span", { class: "room-fac", "data-online": "false" });
  parts.alerts = el("ul", { class: "room-alerts", "aria-label": "Stop alerts waiting" });
  parts.requests = el("ul", { class: "room-requests", "aria-label": "Open requests" });
  parts.lastText = el("span", { class: "room-last-text" });
  parts.receipt = el("span", { class: "receipt" });
  parts.last = el("p", { class: "room-last" }, el("span", { class: "hint" }, "Last: "), parts.lastText, " ", parts.receipt);
  parts.reply = el("p", { class: "room-reply hint hidden" });
  parts.open = el("a", { class: "room-open", href: room.panelHref(), target: "_blank", rel: "noopener" }, "Open panel");
  parts.remove = el("button", { type: "button", class: "small room-remove" }, "Remove");
  const node = el(
    "li",
    { class: "room", tabindex: "0", id, "aria-labelledby": id + "-title", dataset: { attention: "none" } },
    el("div", { class: "row room-head" }, parts.select, parts.title, parts.status, el("span", { class: "grow" }), parts.fac),
    el("div", { class: "row room-time" }, parts.segment, parts.countdown, parts.next),
    parts.alerts,
    parts.requests,
    parts.last,
    parts.reply,
    el("div", { class: "row room-actions" }, parts.open, parts.remove),
  );
  parts.select.addEventListener("change", () => {
    C.rooms.get(room.key).selected = parts.select.checked;
    node.classList.toggle("selected", parts.select.checked);
    target();
  });
  parts.remove.addEventListener("click", () => unfollow(room.key));
  node.addEventListener("focusin", () => {
    C.current = room.key;
    target();
  });
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setAttr(node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

function drawRoom(r) {
  const { room, parts, node } = r;
  const st = room.state;
  setText(parts.title, room.title);
  setAttr(parts.open, "href", room.panelHref());
  setAttr(parts.select, "aria-label", `Select ${room.title} for sending`);
  if (parts.select.disabled !== room.readOnly) parts.select.disabled = room.readOnly;
  if (room.conn !== "online" && CONN_TEXT[room.conn]) {
    setText(parts.status, room.conn === "closed" ? room.problem || CONN_TEXT.closed : CONN_TEXT[room.conn]);
    setAttr(parts.status, "data-status", room.conn);
  } else {
    const s = st ? st.status : "planned";
    setText(parts.status, (STATUS_TEXT[s] || s) + (room.readOnly ? " · read-only" : ""));
    setAttr(parts.status, "data-status", s);
  }
  const online = room.facilitatorOnline();
  setText(parts.fac, online ? "Facilitator online" : "Facilitator offline");
  setAttr(parts.fac, "data-online", String(online));
  setText(parts.segment, st && st.segment ? st.segment.title : st && st.status === "ended" ? "Session ended" : "No segment running");
  setText(parts.next, st && st.next_segment ? "next: " + st.next_segment.title : "");
  drawTimes(r);
  drawLists(r);
  const last = room.lastMessage();
  setText(parts.lastText, last ? describe(last.ev) : "nothing sent yet");
  const queued = room.queued();
  setText(parts.receipt, queued ? `${queued} queued` : last ? last.receipt : "");
  setAttr(parts.receipt, "data-receipt", queued ? "queued" : last ? last.tone : "none");
  const reply = room.lastReply;
  parts.reply.classList.toggle("hidden", !reply);
  if (reply) setText(parts.reply, "Facilitator: " + describe(reply));
  const attention = st && (st.open_alerts || []).length ? "alert" : st && (st.open_requests || []).length ? "request" : "none";
  setAttr(node, "data-attention", attention);
}

/** The countdown and the waiting times: every second, and whenever the state changes. */
function drawTimes(r) {
  const cd = r.room.countdown();
  setText(r.parts.countdown, cd ? mmss(cd.left) : "–:––");
  setAttr(r.parts.countdown, "data-tone", cd ? cd.tone : "none");
  setAttr(r.parts.countdown, "aria-label", cd ? `Time left: ${mmss(cd.left)}${cd.tone === "over" ? " (over time)" : cd.tone === "warn" ? " (ending soon)" : ""}` : "No countdown");
  const now = r.room.ch.now();
  for (const li of r.parts.alerts.children) setText(li.querySelector(".wait"), waited(li.dataset.at, now));
  for (const li of r.parts.requests.children) setText(li.querySelector(".wait"), waited(li.dataset.at, now));
}

function drawLists(r) {
  const st = r.room.state;
  const now = r.room.ch.now();
  const alerts = (st && st.open_alerts) || [];
  const requests = (st && st.open_requests) || [];
  const sig = JSON.stringify([alerts.map((a) => [a.seq, a.level, a.snoozed_until, a.seen_at]), requests.map((q) => [q.seq, q.status])]);
  if (r.listSig === sig) return;
  r.listSig = sig;
  clear(r.parts.alerts);
  for (const a of alerts) {
    const extra = [a.level ? `level ${a.level}` : null, a.snoozed_until ? "snoozed" : null, a.seen_at ? "seen" : null].filter(Boolean).join(" · ");
    r.parts.alerts.appendChild(
      el("li", { class: "room-alert", dataset: { at: a.at, seq: a.seq } }, icon("stop"), el("strong", {}, STOP_TEXT[a.reason] || "Stop"), a.text ? " — " + a.text : "", " ", el("span", { class: "wait" }, waited(a.at, now)), extra ? ` · ${extra}` : ""),
    );
  }
  clear(r.parts.requests);
  for (const q of requests) {
    r.parts.requests.appendChild(
      el("li", { class: "room-request", dataset: { at: q.at, seq: q.seq } }, icon("hand"), el("strong", {}, REQUEST_TEXT[q.action] || "Request"), q.text ? " — " + q.text : "", " ", el("span", { class: "wait" }, waited(q.at, now)), q.status === "on_it" ? " · on it" : ""),
    );
  }
}

function tick() {
  for (const r of C.rooms.values()) drawTimes(r);
}

/** Rooms that need someone first; the focused room keeps its focus when it moves. */
function reorder() {
  const list = $("#rooms");
  const order = attentionOrder(
    [...C.rooms.values()].map(({ room }) => {
      const st = room.state || {};
      const a = (st.open_alerts || [])[0];
      const q = (st.open_requests || [])[0];
      return { key: room.key, alertAt: a ? a.at : null, requestAt: q ? q.at : null };
    }),
  );
  const nodes = order.map((k) => C.rooms.get(k).node);
  if (nodes.every((n, i) => list.children[i] === n)) return;
  const active = document.activeElement;
  for (const n of nodes) list.appendChild(n);
  if (active && active !== document.activeElement && active.isConnected) active.focus({ preventScroll: true });
}

function summary() {
  const n = C.rooms.size;
  let alerts = 0;
  let requests = 0;
  for (const { room } of C.rooms.values()) {
    const st = room.state || {};
    alerts += (st.open_alerts || []).length;
    requests += (st.open_requests || []).length;
  }
  const parts = [`${n} room${n === 1 ? "" : "s"}`];
  if (alerts) parts.push(`${alerts} stop alert${alerts === 1 ? "" : "s"} waiting`);
  if (requests) parts.push(`${requests} open request${requests === 1 ? "" : "s"}`);
  setText($("#summary"), n ? parts.join(" · ") : "No rooms yet");
  setText($("#count"), `(${n} of ${MAX_ROOMS})`);
  $("#empty").classList.toggle("hidden", n > 0);
  document.title = (alerts + requests ? `(${alerts + requests}) ` : "") + "Console — Backchannel";
}

function renderAll() {
  for (const r of C.rooms.values()) C.dirty.add(r.room.key);
  flush();
  renderPresets();
  target();
}

// -- presets and sending ------------------------------------------------------------------

/** The presets of every followed room, by id, in the order the first room that has them lists them. */
function presets() {
  const seen = new Map();
  for (const { room } of C.rooms.values()) for (const p of room.presets) if (!seen.has(p.preset_id)) seen.set(p.preset_id, p);
  return [...seen.values()];
}

function renderPresets() {
  const box = clear($("#console-presets"));
  const list = presets();
  if (!list.length) box.appendChild(el("p", { class: "hint" }, "The rooms' presets show here once they are connected."));
  for (const p of list) {
    const meta = KIND_META[p.kind] || KIND_META.note;
    const key = keyOf(p);
    const btn = el(
      "button",
      { type: "button", class: `preset tone-${meta.tone}`, dataset: { preset: p.preset_id }, "aria-keyshortcuts": key },
      icon(meta.icon),
      el("span", { class: "label" }, p.label),
      key ? el("kbd", {}, key) : null,
    );
    btn.addEventListener("click", () => fire(p));
    box.appendChild(btn);
  }
}

/** A preset's key is its playbook's, as on the panel; the console's own keys are not given away. */
function keyOf(p) {
  const k = p.key ? p.key.toLowerCase() : null;
  return k && !CONSOLE_KEYS.has(k) ? k : null;
}

/** Where a preset goes now: the selected rooms, or else the room last focused. */
function targets() {
  const selected = [...C.rooms.values()].filter((r) => r.selected && !r.room.readOnly).map((r) => r.room);
  if (selected.length) return selected;
  const cur = C.current && C.rooms.get(C.current);
  return cur && !cur.room.readOnly ? [cur.room] : [];
}

function target() {
  const t = targets();
  const sel = [...C.rooms.values()].some((r) => r.selected);
  setText($("#target"), !t.length ? "Select rooms (x) or focus one" : sel ? `To ${t.length} selected room${t.length === 1 ? "" : "s"}` : `To ${t[0].title}`);
}

function fire(p) {
  const rooms = targets();
  if (!rooms.length) {
    setText($("#send-result"), "No room to send to: select rooms (x) or focus one.");
    return;
  }
  if (p.kind === "alert.stop") {
    arm(p, rooms);
    return;
  }
  sendTo(p, rooms);
}

function sendTo(p, rooms) {
  const sent = [];
  const missing = [];
  for (const room of rooms) (room.sendPreset(p) ? sent : missing).push(room.title);
  let text = sent.length ? `Sent “${p.label}” to ${sent.length === 1 ? sent[0] : sent.length + " rooms"}.` : "";
  if (missing.length) text += ` Not in the playbook of ${missing.join(", ")}.`;
  setText($("#send-result"), text.trim());
  for (const k of C.rooms.keys()) C.dirty.add(k);
  changedSoon();
}

function changedSoon() {
  if (!C.frame) {
    C.frame = true;
    requestAnimationFrame(flush);
  }
}

function arm(p, rooms) {
  disarm();
  const names = rooms.length === 1 ? rooms[0].title : `${rooms.length} rooms`;
  setText($("#confirm-title"), `Send “${STOP_TEXT[p.body && p.body.reason] || p.label}” to ${names}?`);
  $("#confirm").classList.remove("hidden");
  C.armed = { preset: p, rooms, timer: setTimeout(disarm, CONFIRM_MS) };
}

function disarm() {
  if (!C.armed) return;
  clearTimeout(C.armed.timer);
  C.armed = null;
  $("#confirm").classList.add("hidden");
}

function confirmSend() {
  if (!C.armed) return;
  const { preset, rooms } = C.armed;
  disarm();
  sendTo(preset, rooms);
}

// -- adding rooms -------------------------------------------------------------------------

function add(text) {
  const { found, errors } = parseLinks(text, location.origin);
  const r = addRooms(C.entries, found);
  const fresh = r.rooms.slice(C.entries.length);
  C.entries = r.rooms;
  saveRooms(C.entries);
  for (const entry of fresh) follow(entry);
  const box = clear($("#add-errors"));
  for (const msg of [...errors, ...r.skipped]) box.appendChild(el("li", {}, msg));
  renderAll();
  return r.added;
}

function addMine() {
  const mine = listSessions().map((s) => s.links && s.links.producer).filter(Boolean);
  if (!mine.length) {
    const box = clear($("#add-errors"));
    box.appendChild(el("li", {}, "No sessions were created in this browser."));
    return;
  }
  add(mine.join("\n"));
}

// -- keys ---------------------------------------------------------------------------------

function wire() {
  $("#add-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (add($("#add-links").value)) $("#add-links").value = "";
  });
  $("#add-mine").addEventListener("click", addMine);
  $("#select-all").addEventListener("click", () => select(true));
  $("#select-none").addEventListener("click", () => select(false));
  $("#confirm-send").addEventListener("click", confirmSend);
  $("#confirm-cancel").addEventListener("click", disarm);
  $("#sound-btn").addEventListener("click", () => {
    C.soundOn = !C.soundOn;
    $("#sound-btn").setAttribute("aria-pressed", String(C.soundOn));
    setText($("#sound-btn"), C.soundOn ? "Sound on" : "Sound off");
  });
  // Browsers start sound muted until a tap or key: the first one unlocks it.
  const unlock = async () => {
    if (await unlockSound()) $("#sound-hint").classList.add("hidden");
  };
  addEventListener("pointerdown", unlock);
  addEventListener("keydown", unlock);
  document.addEventListener("keydown", onKey);
  if (soundReady()) $("#sound-hint").classList.add("hidden");
}

function select(on) {
  for (const r of C.rooms.values()) {
    r.selected = on && !r.room.readOnly;
    r.parts.select.checked = r.selected;
    r.node.classList.toggle("selected", r.selected);
  }
  target();
}

function roomNodes() {
  return [...$("#rooms").children];
}

function move(by) {
  const nodes = roomNodes();
  if (!nodes.length) return;
  const at = nodes.findIndex((n) => n.contains(document.activeElement));
  const i = at < 0 ? 0 : Math.max(0, Math.min(nodes.length - 1, at + by));
  nodes[i].focus();
}

function focusedRoom() {
  for (const r of C.rooms.values()) if (r.node.contains(document.activeElement)) return r;
  return null;
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  const typing = t instanceof HTMLElement && (t.isContentEditable || /^(TEXTAREA|SELECT)$/.test(t.tagName) || (t.tagName === "INPUT" && t.type !== "checkbox"));
  if (e.key === "Escape") {
    if (C.armed) disarm();
    else if (typing) t.blur();
    return;
  }
  if (typing) return; // no shortcut, and never a send, while someone types
  if (C.armed && e.key === "Enter") {
    e.preventDefault();
    confirmSend();
    return;
  }
  const r = focusedRoom();
  switch (e.key) {
    case "ArrowDown":
    case "j":
      e.preventDefault();
      move(1);
      return;
    case "ArrowUp":
    case "k":
      e.preventDefault();
      move(-1);
      return;
    case "Enter":
      if (r && t === r.node) {
        e.preventDefault();
        open(r.room.panelHref(), "_blank", "noopener");
      }
      return;
    case "x":
      if (r && !r.room.readOnly) {
        e.preventDefault();
        r.parts.select.checked = !r.parts.select.checked;
        r.parts.select.dispatchEvent(new Event("change"));
      }
      return;
    default:
  }
  if (e.key.length === 1) {
    const p = presets().find((x) => keyOf(x) === e.key);
    if (p) {
      e.preventDefault();
      fire(p);
    }
  }
}

// -- start ------------------------------------------------------------------------------

for (const entry of C.entries) follow(entry);
wire();
renderAll();
setInterval(tick, 1000);
