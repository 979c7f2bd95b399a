// The producer panel's stop alerts: a stop preset (its button or its key) only arms; a second
// tap at the same point, or Enter, sends it, with an optional detail. The armed box runs out
// after 3 s unless a detail is being written. Where the box appears: web/stop-confirm.js.
import { S, flash, send, toPanel } from "./producer-state.js";
import { centreOf, placeStopConfirm } from "./stop-confirm.js";
import { $, STOP_TEXT } from "./util.js";

/** Arms a stop preset; by key the gate has armed it already (Enter sends a moment later). */
export function arm(p, byKey = false, point = null) {
  if (S.role === "observer") return;
  S.attention.askOnce(); // a tap or key: the one moment a browser lets a page ask
  if (S.armed && S.armed.preset.preset_id === p.preset_id) {
    confirmStop(); // a second tap on the same stop button confirms
    return;
  }
  S.gate.arm(p.key || "", performance.now(), !byKey);
  S.armed = { preset: p, until: performance.now() + 3000 };
  setTimeout(armTick, 300);
  $("#armed-title").textContent = `Send “${STOP_TEXT[p.body.reason] || p.label}”${p.body.text ? " — " + p.body.text : ""}?`;
  $("#stop-detail").value = "";
  $("#armed-send").textContent = byKey ? "Send it (Enter)" : "Tap again to send";
  const btn = document.querySelector(`#presets-stop [data-preset="${CSS.escape(p.preset_id)}"]`);
  placeStopConfirm($("#armed"), $("#armed-send"), point || centreOf(btn));
  for (const b of document.querySelectorAll("#presets-stop [data-preset]")) b.classList.toggle("armed-btn", b === btn);
  armTick();
}

export function disarm() {
  S.armed = null;
  S.gate.disarm();
  $("#armed").classList.add("hidden");
  for (const btn of document.querySelectorAll("#presets-stop [data-preset]")) btn.classList.remove("armed-btn");
}

export function confirmStop() {
  if (!S.armed) return;
  const p = S.armed.preset;
  const detail = $("#stop-detail").value.trim();
  const body = { ...p.body };
  if (detail) body.text = detail;
  send("alert.stop", body, p.preset_id);
  flash(p.preset_id);
  disarm();
  toPanel();
}

/** The armed window runs out after 3 s, unless a detail is being written. */
export function armTick() {
  if (!S.armed) return;
  const writing = document.activeElement === $("#stop-detail") || $("#stop-detail").value;
  if (writing) S.armed.until = performance.now() + 3000;
  const left = Math.max(0, S.armed.until - performance.now());
  $("#armed-left").textContent = writing ? "waiting while you write" : `cancels in ${Math.ceil(left / 1000)} s`;
  // An Enter straight after the key is typing; the banner says when Enter will send.
  $("#armed").toggleAttribute("data-ready", writing || S.gate.ready(performance.now()));
  if (left <= 0) disarm();
}

/** The armed box's send, cancel and Esc. */
export function wireStop() {
  $("#armed-form").addEventListener("submit", (e) => {
    e.preventDefault();
    confirmStop();
  });
  $("#armed-cancel").addEventListener("click", () => {
    disarm();
    toPanel();
  });
  $("#stop-detail").addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      disarm();
      toPanel();
    }
  });
}
