// Playbook editor: add, edit, reorder and delete presets (label, kind, text, key), saved with
// PUT /api/v1/sessions/{id}/presets. Clashing keys are refused here with a clear message before
// anything is sent; the server validates again and its message is shown as it is.
import { $, FLAG_TEXT, STOP_TEXT, api, clear, el } from "./util.js";

// The producer panel's own shortcuts (PANEL_KEYS in web/producer-help.js, plus "?" for help): a preset
// may not take them. The panel passes its list itself; the create page uses this copy.
export const PANEL_SHORTCUTS = ["m", "n", "l", "]", "[", "=", "?"];

const KINDS = {
  "prompt.time": "Timing prompt",
  "flag.learner": "Learner flag",
  "alert.stop": "Stop alert",
  message: "Message",
};

/** Checks a playbook; returns a message a person can act on, or "" when it is fine. */
export function problemWith(presets, reservedKeys = []) {
  const owner = new Map(reservedKeys.map((k) => [k.toLowerCase(), null]));
  for (const [i, p] of presets.entries()) {
    const name = p.label.trim() || `preset ${i + 1}`;
    if (!p.label.trim()) return `Preset ${i + 1} needs a label.`;
    if ((p.kind === "prompt.time" || p.kind === "message") && !(p.body.text || "").trim())
      return `“${name}” needs the text to send.`;
    if (!p.key) continue;
    if (p.key === "?" || /\s/.test(p.key)) return `“${name}”: “${p.key}” cannot be a key.`;
    const k = p.key.toLowerCase();
    if (owner.has(k)) {
      const other = owner.get(k);
      return other === null
        ? `Key “${p.key}” of “${name}” is already a panel shortcut; choose another key.`
        : `Key “${p.key}” is used by both “${other}” and “${name}”; give one of them another key.`;
    }
    owner.set(k, name);
  }
  return "";
}

function newId() {
  return `p-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** The body to save for a row: only the fields its kind takes, trimmed, empty ones left out. */
function cleanBody(p) {
  const b = p.body;
  const text = (b.text || "").trim();
  if (p.kind === "prompt.time") {
    const out = { text };
    if (b.minutes_left !== undefined && b.minutes_left !== "" && b.minutes_left !== null) out.minutes_left = Number(b.minutes_left);
    return out;
  }
  if (p.kind === "flag.learner") return { learner: (b.learner || "").trim() || "Someone", flag: b.flag || "hand", ...(text ? { text } : {}) };
  if (p.kind === "alert.stop") return { reason: b.reason || "problem", ...(text ? { text } : {}) };
  return { text, ...(b.urgent ? { urgent: true } : {}) };
}

/**
 * Mounts the editor in `box`. options: {token, sessionId: () => id, reservedKeys: [..],
 * presets: () => current list, onSaved: (presets) => void}.
 */
export function mount(box, { token, sessionId, reservedKeys = [], presets, onSaved }) {
  let rows = [];
  const list = el("ol", { class: "pb-list", "aria-label": "Presets" });
  const error = el("p", { class: "error-box hidden", role: "alert" });
  const status = el("span", { class: "hint", role: "status" });
  const add = el("button", { type: "button" }, "+ Add preset");
  const save = el("button", { type: "button", class: "primary" }, "Save playbook");
  const reset = el("button", { type: "button" }, "Discard changes");
  const details = el(
    "details",
    { class: "playbook", id: "playbook" },
    el("summary", {}, "Edit playbook"),
    el("p", { class: "hint" }, "One-tap presets and their keys. Changes apply to every producer screen once saved."),
    el("p", { class: "hint", id: "playbook-variables" }, "A text may say {segment}, {next}, {minutes_left}, {facilitator} or {learner}: filled in when the preset is sent."),
    list,
    error,
    el("div", { class: "row" }, add, save, reset, status),
  );
  box.append(details);

  function load() {
    rows = presets().map((p) => ({ ...p, body: { ...p.body }, key: p.key || "" }));
    render();
  }

  function render(focusSel) {
    clear(list);
    rows.forEach((p, i) => list.append(rowFor(p, i)));
    if (focusSel) {
      const n = list.querySelector(focusSel);
      if (n) n.focus();
    }
  }

  function field(labelText, input) {
    return el("label", { class: "pb-field" }, el("span", { class: "hint" }, labelText), input);
  }

  function input(p, path, attrs = {}) {
    const [obj, name] = path === "label" || path === "key" ? [p, path] : [p.body, path];
    const node = el("input", { ...attrs, value: obj[name] ?? "" });
    node.addEventListener("input", () => {
      obj[name] = attrs.type === "checkbox" ? node.checked : node.value;
      status.textContent = "Not saved yet";
    });
    return node;
  }

  function select(p, name, options) {
    const node = el("select", {}, Object.entries(options).map(([v, t]) => el("option", { value: v }, t)));
    node.value = p.body[name] || Object.keys(options)[0];
    p.body[name] = node.value;
    node.addEventListener("change", () => {
      p.body[name] = node.value;
      status.textContent = "Not saved yet";
    });
    return node;
  }

  function rowFor(p, i) {
    const n = i + 1;
    const kind = el("select", { "aria-label": `Preset ${n} kind` }, Object.entries(KINDS).map(([v, t]) => el("option", { value: v }, t)));
    kind.value = p.kind;
    kind.addEventListener("change", () => {
      p.kind = kind.value;
      render(`[data-row="${i}"] select`);
    });
    const fields = [
      field("Label", input(p, "label", { "aria-label": `Preset ${n} label`, maxlength: 60, class: "pb-label" })),
      field("Kind", kind),
    ];
    if (p.kind === "prompt.time") {
      fields.push(field("Text", input(p, "text", { "aria-label": `Preset ${n} text`, maxlength: 500 })));
      fields.push(field("Minutes left", input(p, "minutes_left", { "aria-label": `Preset ${n} minutes left`, type: "number", min: -600, max: 600, class: "pb-num" })));
    } else if (p.kind === "flag.learner") {
      fields.push(field("Flag", select(p, "flag", FLAG_TEXT)));
      fields.push(field("Text (optional)", input(p, "text", { "aria-label": `Preset ${n} text`, maxlength: 500 })));
    } else if (p.kind === "alert.stop") {
      fields.push(field("Reason", select(p, "reason", STOP_TEXT)));
      fields.push(field("Text (optional)", input(p, "text", { "aria-label": `Preset ${n} text`, maxlength: 500, placeholder: "e.g. Ahmed's audio" })));
    } else {
      fields.push(field("Text", input(p, "text", { "aria-label": `Preset ${n} text`, maxlength: 500 })));
    }
    fields.push(field("Key", input(p, "key", { "aria-label": `Preset ${n} key`, maxlength: 1, class: "pb-key", autocomplete: "off" })));
    const move = (d) => () => {
      const j = i + d;
      if (j < 0 || j >= rows.length) return;
      [rows[i], rows[j]] = [rows[j], rows[i]];
      status.textContent = "Not saved yet";
      render(`[data-row="${j}"] button[data-move="${d}"]`);
    };
    const up = el("button", { type: "button", class: "small", "aria-label": `Move preset ${n} up`, dataset: { move: "-1" } }, "↑");
    const down = el("button", { type: "button", class: "small", "aria-label": `Move preset ${n} down`, dataset: { move: "1" } }, "↓");
    const del = el("button", { type: "button", class: "small", "aria-label": `Delete preset ${n}` }, "✕");
    up.addEventListener("click", move(-1));
    down.addEventListener("click", move(1));
    del.addEventListener("click", () => {
      rows.splice(i, 1);
      status.textContent = "Not saved yet";
      render(`[data-row="${Math.min(i, rows.length - 1)}"] input`);
    });
    return el("li", { class: "pb-row", dataset: { row: i, preset: p.preset_id } }, ...fields, el("div", { class: "row pb-moves" }, up, down, del));
  }

  function showError(text) {
    error.textContent = text;
    error.classList.toggle("hidden", !text);
  }

  add.addEventListener("click", () => {
    rows.push({ preset_id: newId(), label: "", kind: "prompt.time", body: { text: "" }, key: "" });
    status.textContent = "Not saved yet";
    render(`[data-row="${rows.length - 1}"] .pb-label`);
  });
  reset.addEventListener("click", () => {
    showError("");
    status.textContent = "";
    load();
  });
  save.addEventListener("click", async () => {
    showError("");
    const problem = problemWith(rows, reservedKeys);
    if (problem) {
      showError(problem);
      return;
    }
    const out = rows.map((p) => ({
      preset_id: p.preset_id,
      label: p.label.trim(),
      kind: p.kind,
      body: cleanBody(p),
      // Lower case: the panel takes a capital letter as typing, never as a shortcut.
      ...(p.key ? { key: p.key.toLowerCase() } : {}),
    }));
    save.disabled = true;
    try {
      const data = await api(`/api/v1/sessions/${sessionId()}/presets`, token, { method: "PUT", json: { presets: out } });
      status.textContent = `Saved ${data.presets.length} presets`;
      onSaved(data.presets);
      load();
      status.textContent = `Saved ${data.presets.length} presets`;
    } catch (err) {
      showError(err.message || "Could not save the playbook.");
    } finally {
      save.disabled = false;
    }
  });
  details.addEventListener("toggle", () => {
    if (details.open && !status.textContent) load();
  });
  // Presets that arrive while the editor is open (the first load after the welcome, or another
  // tab's save) are shown unless this editor holds changes not saved yet.
  const refresh = () => {
    if (details.open && status.textContent !== "Not saved yet") load();
  };
  return { reload: load, refresh };
}
