// Agenda editor in the panel's session setup: segments (title, planned minutes) added, edited,
// reordered and deleted while the session is planned or live, saved with PATCH
// /api/v1/sessions/{id} {agenda}. A segment that has started keeps its place, title and minutes
// (the log refers to segments by index; more time is "+1"/"+5"): its row is read-only here, and
// the server refuses such a change too (409 segment_started) when it started meanwhile.
import { api, el } from "./util.js";

export const AGENDA_MAX = 50;
export const TITLE_MAX = 200;
export const MINUTES_MAX = 24 * 60;
const STATE_TEXT = { running: "▶ running", done: "✓ done" };

const started = (row) => row.state === "running" || row.state === "done";

/** Rows from the session state's segments (or the bare agenda): {title, minutes, state}. */
export function agendaRows(state, agenda = []) {
  if (state && Array.isArray(state.segments)) {
    return state.segments.map((s) => ({ title: s.title, minutes: String(s.planned_minutes), state: s.state }));
  }
  return agenda.map((s) => ({ title: s.title, minutes: String(s.minutes), state: "pending" }));
}

/** Row i may swap with row i + step: both exist and neither has started. */
export function canMove(rows, i, step) {
  const j = i + step;
  return j >= 0 && j < rows.length && !started(rows[i]) && !started(rows[j]);
}

/** Row i may go: it has not started, and no started row comes after it (it would move up). */
export function canDelete(rows, i) {
  return !started(rows[i]) && !rows.slice(i + 1).some(started);
}

/** What stops the rows from being saved, said so a person can fix it; "" when they are fine. */
export function agendaProblem(rows) {
  if (rows.length > AGENDA_MAX) return `An agenda has at most ${AGENDA_MAX} segments; this one has ${rows.length}.`;
  for (const [i, row] of rows.entries()) {
    const title = row.title.trim();
    if (!title) return `Segment ${i + 1} needs a title.`;
    if (title.length > TITLE_MAX) return `Segment ${i + 1}: the title is longer than ${TITLE_MAX} characters.`;
    const minutes = Number(String(row.minutes).trim() || NaN);
    if (!Number.isFinite(minutes) || minutes <= 0 || minutes > MINUTES_MAX)
      return `Segment ${i + 1} (“${title}”): planned minutes must be a number above 0 and at most ${MINUTES_MAX}.`;
  }
  return "";
}

/** options: {token, session: () => welcome.session, state: () => session state, onSaved: (session) => void} */
export function mount(box, { token, session, state, onSaved }) {
  let rows = [];
  let loadedKey = "";
  let dirty = false;
  const list = el("ol", { class: "agenda-edit", id: "agenda-rows", "aria-label": "Agenda segments" });
  const error = el("p", { class: "error-box hidden", role: "alert" });
  const status = el("span", { class: "hint", role: "status" });
  const add = el("button", { type: "button" }, "+ Add segment");
  const save = el("button", { type: "button", class: "primary" }, "Save agenda");
  const reset = el("button", { type: "button" }, "Discard changes");
  const ended = el("p", { class: "hint hidden" }, "The session has ended: its agenda stays as it ran.");
  box.append(
    el(
      "fieldset",
      { class: "timing", id: "agenda-editor" },
      el("legend", {}, "Agenda"),
      el("p", { class: "hint" }, "Segments not started yet can be changed, moved and deleted. A started one (running or ✓ done) keeps its place, title and minutes; give the running one more time with +1 or +5."),
      list,
      ended,
      error,
      el("div", { class: "row" }, add, save, reset, status),
    ),
  );

  const keyOf = (st, agenda) => JSON.stringify([st && st.status, agendaRows(st, agenda)]);
  const currentKey = () => keyOf(state(), (session() || {}).agenda || []);

  /** Rows as the server has them: the panel's state, or a PATCH reply's (ahead of its frame). */
  function load(st = state(), agenda = (session() || {}).agenda || []) {
    rows = agendaRows(st, agenda);
    loadedKey = keyOf(st, agenda);
    dirty = false;
    showError("");
    render();
  }

  function changed() {
    dirty = true;
    status.textContent = "Not saved yet";
  }

  const isOver = () => !!state() && state().status === "ended";

  /** Draws the rows; then focuses the first of `focus` (selectors) that is there and enabled. */
  function render(...focus) {
    const over = isOver();
    ended.classList.toggle("hidden", !over);
    add.disabled = over || rows.length >= AGENDA_MAX;
    save.disabled = over;
    list.replaceChildren(...rows.map(rowFor));
    if (!rows.length) list.append(el("li", { class: "hint" }, "No segments yet."));
    for (const sel of focus) {
      const node = list.querySelector(sel);
      if (node && !node.disabled) {
        node.focus();
        break;
      }
    }
  }

  function rowFor(row, i) {
    const n = i + 1;
    const locked = started(row);
    const title = el("input", { "aria-label": `Segment ${n} title`, maxlength: TITLE_MAX, value: row.title, readonly: locked, class: "ag-title" });
    const minutes = el("input", { "aria-label": `Segment ${n} minutes`, type: "number", min: 1, max: MINUTES_MAX, step: "any", inputmode: "decimal", value: row.minutes, readonly: locked, class: "ag-minutes" });
    title.addEventListener("input", () => {
      row.title = title.value;
      changed();
    });
    minutes.addEventListener("input", () => {
      row.minutes = minutes.value;
      changed();
    });
    let tail;
    if (locked) {
      tail = el("span", { class: "ag-state" }, STATE_TEXT[row.state]);
    } else {
      const move = (step) => () => {
        [rows[i], rows[i + step]] = [rows[i + step], rows[i]];
        changed();
        render(`[data-row="${i + step}"] button[data-move="${step}"]`, `[data-row="${i + step}"] .ag-title`);
      };
      const up = el("button", { type: "button", class: "small", "aria-label": `Move segment ${n} up`, dataset: { move: "-1" }, disabled: !canMove(rows, i, -1) }, "↑");
      const down = el("button", { type: "button", class: "small", "aria-label": `Move segment ${n} down`, dataset: { move: "1" }, disabled: !canMove(rows, i, 1) }, "↓");
      const del = el("button", { type: "button", class: "small", "aria-label": `Delete segment ${n}`, disabled: !canDelete(rows, i) }, "✕");
      up.addEventListener("click", move(-1));
      down.addEventListener("click", move(1));
      del.addEventListener("click", () => {
        rows.splice(i, 1);
        changed();
        render(`[data-row="${Math.min(i, rows.length - 1)}"] .ag-title`);
      });
      tail = el("div", { class: "moves" }, up, down, del);
    }
    return el("li", { class: "agenda-row", dataset: { row: i, state: row.state } }, title, minutes, tail);
  }

  function showError(text) {
    error.textContent = text;
    error.classList.toggle("hidden", !text);
  }

  add.addEventListener("click", () => {
    rows.push({ title: "", minutes: "10", state: "pending" });
    changed();
    render(`[data-row="${rows.length - 1}"] .ag-title`);
  });
  reset.addEventListener("click", () => {
    load();
    status.textContent = "";
  });
  save.addEventListener("click", async () => {
    showError("");
    const problem = agendaProblem(rows);
    if (problem) return showError(problem);
    const agenda = rows.map((r) => ({ title: r.title.trim(), minutes: Number(r.minutes) }));
    save.disabled = true;
    try {
      const data = await api(`/api/v1/sessions/${session().id}`, token, { method: "PATCH", json: { agenda } });
      onSaved(data.session);
      load(data.state, data.session.agenda);
      status.textContent = `Saved ${agenda.length} segment${agenda.length === 1 ? "" : "s"}`;
    } catch (err) {
      const again = err.code === "segment_started" ? " “Discard changes” shows the agenda as it is now." : "";
      showError(`Not saved: ${err.message || "the server refused the agenda."}${again}`);
    } finally {
      save.disabled = isOver();
    }
  });

  return {
    load,
    /** The state changed (a segment started, another screen saved): redraw unless edited here. */
    refresh() {
      if (!dirty && currentKey() !== loadedKey) load();
    },
  };
}
