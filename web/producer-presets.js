// The producer panel's presets: fetched (and kept from the last visit, so keys work before the
// fetch returns), drawn as buttons in their groups, and what pressing one sends. A learner flag
// goes about the learner picked on the roster's buttons, or typed in #learner.
import { renderHelpKeys } from "./producer-help.js";
import { S, flash, send, token } from "./producer-state.js";
import { arm } from "./producer-stop.js";
import { pointOf } from "./stop-confirm.js";
import { $, KIND_META, api, clear, el, fatal, icon } from "./util.js";

/** Presets from the last visit, so keys work before the first fetch returns. */
export function cachedPresets(sid) {
  try {
    const list = JSON.parse(localStorage.getItem("bc.presets." + sid) || "[]");
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

export async function loadPresets() {
  try {
    const data = await api(`/api/v1/sessions/${S.sid}/presets`, token);
    S.presets = data.presets;
    try {
      localStorage.setItem("bc.presets." + S.sid, JSON.stringify(S.presets));
    } catch {
      // Only a start-up cache.
    }
    renderPresets();
    if (S.playbook) S.playbook.refresh();
  } catch (err) {
    if (err.status === 401) fatal("This link is not valid (or was revoked).");
  }
}

export function firePreset(p, point = null) {
  if (p.kind === "alert.stop") {
    arm(p, false, point);
    return;
  }
  const body = { ...p.body };
  if (p.kind === "flag.learner") {
    if (!S.learner && S.learnerBox.askIfAmbiguous()) return; // "Which Maria?" first
    const typed = $("#learner").value.trim();
    const who = S.learner || typed;
    if (who) body.learner = who;
    S.learner = null;
    $("#learner").value = "";
    renderRoster();
  }
  send(p.kind, body, p.preset_id);
  flash(p.preset_id);
}

function presetButton(p) {
  const meta = KIND_META[p.kind] || KIND_META.note;
  const btn = el(
    "button",
    { type: "button", class: `preset tone-${meta.tone}`, dataset: { preset: p.preset_id }, "aria-keyshortcuts": p.key },
    icon(meta.icon),
    el("span", { class: "label" }, p.label),
    p.key ? el("kbd", {}, p.kind === "alert.stop" ? `${p.key} ⏎` : p.key) : null,
  );
  btn.addEventListener("click", (e) => firePreset(p, pointOf(e, btn)));
  return btn;
}

export function renderPresets() {
  const groups = { "prompt.time": "#presets-time", "flag.learner": "#presets-learner", "alert.stop": "#presets-stop" };
  for (const sel of [...Object.values(groups), "#presets-other"]) clear($(sel));
  for (const p of S.presets) $(groups[p.kind] || "#presets-other").append(presetButton(p));
  $("#presets-other").previousElementSibling.classList.toggle("hidden", !$("#presets-other").children.length);
  renderRoster();
  renderHelpKeys();
}

export function renderRoster() {
  const roster = S.session ? S.session.roster : [];
  const buttons = [...$("#roster").querySelectorAll("button")];
  if (buttons.length && buttons.length === roster.length && buttons.every((b, i) => b.textContent === roster[i])) {
    for (const b of buttons) b.setAttribute("aria-pressed", String(S.learner === b.textContent));
    return;
  }
  const box = clear($("#roster"));
  for (const name of roster) {
    const b = el("button", { type: "button", "aria-pressed": String(S.learner === name) }, name);
    b.addEventListener("click", () => {
      S.learner = S.learner === name ? null : name;
      $("#learner").value = "";
      renderRoster();
    });
    box.append(b);
  }
  if (!roster.length) box.append(el("span", { class: "hint" }, "No roster: type a name, or the flag says “Someone”."));
  if (S.learnerBox) S.learnerBox.refresh(); // a roster saved while the list is open
}
