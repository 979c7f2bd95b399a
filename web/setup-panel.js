// Session setup on the producer panel: planned start, escalation interval, automatic prompts
// and roster, changed while the session is planned or live with PATCH /api/v1/sessions/{id};
// the agenda below them has an editor and a save of its own (web/agenda-editor.js).
import { mount as mountAgenda } from "./agenda-editor.js";
import { parseAutoPrompts } from "./my-sessions.js";
import { api, el } from "./util.js";

function localInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/**
 * options: {token, session: () => welcome.session, state: () => session state,
 * onSaved: (session) => void}. Returns {refresh}: call it when the state changed.
 */
export function mount(box, { token, session, state, onSaved }) {
  const start = el("input", { id: "setup-start", type: "datetime-local" });
  const esc = el("input", { id: "setup-escalate", type: "number", min: 5, max: 3600, inputmode: "numeric" });
  const autos = el("input", { id: "setup-auto", autocomplete: "off", placeholder: "5, 1, 0" });
  const roster = el("textarea", { id: "setup-roster", rows: 4 });
  const error = el("p", { class: "error-box hidden", role: "alert" });
  const status = el("span", { class: "hint", role: "status" });
  const save = el("button", { type: "button", class: "primary" }, "Save setup");
  const details = el(
    "details",
    { class: "playbook", id: "setup" },
    el("summary", {}, "Session setup"),
    el("label", { for: "setup-start" }, "Planned start"),
    start,
    el("label", { for: "setup-escalate" }, "Escalate an unanswered stop alert every (seconds)"),
    esc,
    el("label", { for: "setup-auto" }, "Automatic timing prompts (minutes left, comma-separated)"),
    autos,
    el("label", { for: "setup-roster" }, "Roster (one name per line)"),
    roster,
    error,
    el("div", { class: "row" }, save, status),
  );
  box.append(details);
  const agenda = mountAgenda(details, { token, session, state, onSaved });

  function fill() {
    const s = session();
    if (!s) return;
    start.value = s.planned_start ? localInput(s.planned_start) : "";
    esc.value = String((s.settings && s.settings.escalate_after_s) ?? 20);
    autos.value = ((s.settings && s.settings.auto_prompts) || []).join(", ");
    roster.value = (s.roster || []).join("\n");
    status.textContent = "";
  }
  const showError = (text) => {
    error.textContent = text;
    error.classList.toggle("hidden", !text);
  };
  details.addEventListener("toggle", () => {
    if (!details.open) return;
    fill();
    agenda.refresh();
  });

  save.addEventListener("click", async () => {
    showError("");
    const s = session();
    const seconds = Number(esc.value);
    if (!Number.isInteger(seconds) || seconds < 5 || seconds > 3600) return showError("Escalate every: a whole number of seconds from 5 to 3600.");
    let auto;
    try {
      auto = parseAutoPrompts(autos.value);
    } catch (err) {
      return showError(`Automatic prompts: ${err.message}`);
    }
    const seen = new Set();
    const names = roster.value.split(/\r?\n/).map((n) => n.trim()).filter((n) => n && !seen.has(n.toLowerCase()) && seen.add(n.toLowerCase()));
    const body = { settings: { escalate_after_s: seconds, auto_prompts: auto }, roster: names };
    if (start.value) {
      const d = new Date(start.value);
      if (Number.isNaN(d.getTime())) return showError("The planned start is not a date and time.");
      body.planned_start = d.toISOString();
    }
    save.disabled = true;
    try {
      // Settings this form does not show (e.g. countdown_amber_s) are sent back as the server
      // has them now, even if another screen changed them since this one opened.
      const now = await api(`/api/v1/sessions/${s.id}`, token);
      body.settings = { ...(now.session.settings || {}), ...body.settings };
      const data = await api(`/api/v1/sessions/${s.id}`, token, { method: "PATCH", json: body });
      onSaved(data.session);
      status.textContent = "Saved";
    } catch (err) {
      showError(err.message || "Could not save.");
    } finally {
      save.disabled = false;
    }
  });
  return { refresh: agenda.refresh };
}
