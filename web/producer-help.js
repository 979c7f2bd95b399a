// The producer panel's own shortcut keys and the help that lists them (with the presets' keys):
// "?" or the help button opens it; Esc, "?" or a click outside closes it and gives the focus
// back where it was.
import { S } from "./producer-state.js";
import { $, clear, el } from "./util.js";

export const PANEL_KEYS = { m: "Type a message to the facilitator (Enter sends)", n: "Write a private note (Ctrl+Enter saves)", l: "Type a learner's name, Enter, then a learner key", "]": "Start the next segment", "[": "End the current segment", "=": "Give the current segment 1 more minute" };

let helpReturn = null;
export function toggleHelp(open) {
  $("#help").classList.toggle("hidden", !open);
  if (open) {
    helpReturn = document.activeElement;
    $("#help-close").focus();
  } else if (helpReturn && helpReturn.focus) {
    helpReturn.focus();
  }
}

/** The help's buttons: open, close, and a click beside the dialog. */
export function wireHelp() {
  $("#help-btn").addEventListener("click", () => toggleHelp(true));
  $("#help-close").addEventListener("click", () => toggleHelp(false));
  $("#help").addEventListener("click", (e) => e.target === $("#help") && toggleHelp(false));
}

/** The table of keys: the presets' first (as they are now), then the panel's own. */
export function renderHelpKeys() {
  const keys = clear($("#help-keys"));
  const row = (k, what) => keys.append(el("tr", {}, el("td", {}, el("kbd", {}, k)), el("td", {}, what)));
  for (const p of S.presets) if (p.key) row(p.kind === "alert.stop" ? `${p.key} then Enter` : p.key, p.label);
  for (const [k, what] of Object.entries(PANEL_KEYS)) row(k, what);
  row("?", "Show or hide this help");
  row("Esc", "Close help / cancel a stop alert / leave a text box");
  keys.append(el("tr", {}, el("td", { colspan: "2", class: "hint" }, "A key works alone: after a second without keys, and it goes when nothing follows it for a moment (a bar shows it; any key cancels). Words typed here, meant for another window, send nothing.")));
}
