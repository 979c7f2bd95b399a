// The producer panel's shared state: one object, `S`, that every part of the panel reads and
// writes, the link's key, and what every part does with them: send an event, ask for a
// redraw, flash a preset that went, and give the focus back to the panel.
import { KeyGate } from "./keys.js";
import { MoreTime, Ticks } from "./model.js";
import { onceAFrame, storedSessionId, takeToken } from "./util.js";

// Before S: it moves `#t=…&s=…` out of the URL, and storedSessionId() reads that `s`.
export const token = takeToken();

export const S = {
  role: null,
  me: null,
  sid: storedSessionId(),
  session: null,
  state: null,
  presets: [],
  learner: null,
  events: [], // every event, seq order
  tracked: [], // prompts, flags, alerts and messages, seq order
  incoming: [], // replies and requests from the facilitator, newest first
  people: {}, // participant_id -> {role, name}
  ticks: new Ticks(),
  more: new MoreTime(),
  failed: [],
  welcomed: false,
  gate: new KeyGate(),
  armed: null, // {preset, until}
  learnerBox: null, // web/learner-box.js: roster names suggested while #learner is typed in
  setup: null, // web/setup-panel.js: {refresh} for the agenda editor
};

let draw = () => {};
/** The whole panel's drawing (web/producer-render.js), given once at start. */
export function drawWith(fn) {
  draw = fn;
}

// Many changes in one frame draw once.
export const schedule = onceAFrame(() => draw());

export function send(kind, body, preset) {
  if (S.role === "observer" && kind !== "note") return null;
  const id = S.ch.send(kind, body, preset);
  schedule();
  return id;
}

export function flash(presetId) {
  const btn = document.querySelector(`[data-preset="${CSS.escape(presetId)}"]`);
  if (!btn) return;
  btn.classList.add("sent-flash");
  setTimeout(() => btn.classList.remove("sent-flash"), 400);
}

/** Back to the panel after sending from a text box, so the next shortcut works. */
export function toPanel() {
  if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
  document.body.focus({ preventScroll: true });
}
