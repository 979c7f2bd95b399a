// The producer panel's keyboard: which keys the gate waits for (the panel's own and the
// presets'), what each one does, Esc and Tab around the help and the armed stop box, and the
// hint shown when words are typed here. What a keystroke is: web/keys.js, through
// web/panel-keys.js.
import { mount as mountPanelKeys } from "./panel-keys.js";
import { PANEL_KEYS, toggleHelp } from "./producer-help.js";
import { firePreset } from "./producer-presets.js";
import { endSegment, extend, startNext } from "./producer-segments.js";
import { S, toPanel } from "./producer-state.js";
import { arm, confirmStop, disarm } from "./producer-stop.js";
import { $ } from "./util.js";

// Keys that only put the focus in a box where Enter sends nothing: they act at once.
const FOCUS_KEYS = new Set(["l", "n"]);

function gateKeys() {
  const keys = {};
  for (const k of [...Object.keys(PANEL_KEYS), "?"]) keys[k] = { focus: FOCUS_KEYS.has(k) };
  for (const p of S.presets) if (p.key) keys[p.key.toLowerCase()] = { stop: p.kind === "alert.stop" };
  return keys;
}

/** What a key does, for the bar shown while it waits. */
function keyLabel(key) {
  const preset = S.presets.find((p) => p.key && p.key.toLowerCase() === key);
  return preset ? preset.label : PANEL_KEYS[key] || (key === "?" ? "Show the keys" : key);
}

function runKey(key) {
  const preset = S.presets.find((p) => p.key && p.key.toLowerCase() === key);
  if (preset) {
    if (preset.kind === "alert.stop") arm(preset, true);
    else firePreset(preset);
    return;
  }
  const actions = {
    m: () => $("#free-text").focus(),
    n: () => $("#note").focus(),
    l: () => S.learnerBox.focusFromKey(),
    "]": startNext,
    "[": endSegment,
    "=": () => extend(1),
    "?": () => toggleHelp(true),
  };
  if (actions[key]) actions[key]();
}

/** The panel's keys: the gate (S.keys) and the one keydown listener on the page. */
export function wireKeys() {
  S.keys = mountPanelKeys({
    gate: S.gate, keys: gateKeys, label: keyLabel, run: runKey, focus: runKey, confirm: confirmStop, disarm, typing: showTypingHint,
  });
  document.addEventListener("keydown", onKey);
}

let typingHint = null;
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
    else if (S.armed) disarm();
    else if (S.keys.escape()) return;
    else if (typing) toPanel();
    return;
  }
  if (typing) return;
  if (S.armed && e.key === "Tab") {
    e.preventDefault();
    $("#stop-detail").focus();
    return;
  }
  if (helpOpen) {
    if (e.key === "?") toggleHelp(false);
    return;
  }
  if (S.role === "observer") {
    if (e.key === "n") {
      e.preventDefault();
      $("#note").focus();
    }
    return;
  }
  S.keys.press(e);
}

export function showTypingHint() {
  $("#typing-hint").classList.remove("hidden");
  clearTimeout(typingHint);
  typingHint = setTimeout(() => $("#typing-hint").classList.add("hidden"), 2500);
}
