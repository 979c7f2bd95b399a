// Create page: title, agenda editor (add/remove/reorder), roster paste, timing settings;
// then links, copy, QR; and the "My sessions" list kept in this browser.
import { forgetSession, listSessions, parseAutoPrompts, rememberSession } from "./my-sessions.js";
import { PANEL_SHORTCUTS, mount as mountPlaybook } from "./playbook.js";
import { $, api, clear, el, icon } from "./util.js";

const agendaBox = $("#agenda");
const form = $("#create");
const errorBox = $("#create-error");
let qrUrl = null;

$("#brand").prepend(icon("bubble"));

function segmentRow(title = "", minutes = 10) {
  const row = el("div", { class: "agenda-row", role: "listitem" });
  const t = el("input", { "aria-label": "Segment title", maxlength: 200, placeholder: "Segment title", value: title });
  const m = el("input", { "aria-label": "Minutes", type: "number", min: 1, max: 600, value: minutes, inputmode: "numeric" });
  const up = el("button", { type: "button", class: "small", "aria-label": "Move up", title: "Move up" }, "↑");
  const down = el("button", { type: "button", class: "small", "aria-label": "Move down", title: "Move down" }, "↓");
  const del = el("button", { type: "button", class: "small", "aria-label": "Remove segment", title: "Remove" }, "✕");
  up.addEventListener("click", () => {
    if (row.previousElementSibling) agendaBox.insertBefore(row, row.previousElementSibling);
    up.focus();
    renumber();
  });
  down.addEventListener("click", () => {
    if (row.nextElementSibling) agendaBox.insertBefore(row.nextElementSibling, row);
    down.focus();
    renumber();
  });
  del.addEventListener("click", () => {
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    renumber();
    (next ? next.querySelector("input") : $("#add-seg")).focus();
  });
  row.append(t, m, el("div", { class: "moves" }, up, down, del));
  return row;
}

function renumber() {
  [...agendaBox.children].forEach((row, i) => {
    row.querySelector("input").setAttribute("aria-label", `Segment ${i + 1} title`);
    row.querySelectorAll("input")[1].setAttribute("aria-label", `Segment ${i + 1} minutes`);
  });
}

function rosterNames() {
  const seen = new Set();
  return $("#roster")
    .value.split(/\r?\n|,|;/)
    .map((s) => s.trim())
    .filter((s) => s && !seen.has(s.toLowerCase()) && seen.add(s.toLowerCase()));
}

$("#roster").addEventListener("input", () => {
  const n = rosterNames().length;
  $("#roster-count").textContent = n ? `${n} learner${n === 1 ? "" : "s"}` : "";
});

$("#add-seg").addEventListener("click", () => {
  const row = segmentRow("", 10);
  agendaBox.append(row);
  renumber();
  row.querySelector("input").focus();
});

for (const [title, minutes] of [["Welcome and check-in", 10], ["Main activity", 30], ["Wrap-up", 10]]) {
  agendaBox.append(segmentRow(title, minutes));
}
renumber();

function showError(text) {
  errorBox.textContent = text;
  errorBox.classList.toggle("hidden", !text);
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  showError("");
  const title = $("#title").value.trim();
  if (!title) {
    showError("Give the session a title.");
    $("#title").focus();
    return;
  }
  const agenda = [];
  for (const row of agendaBox.children) {
    const [t, m] = row.querySelectorAll("input");
    if (!t.value.trim()) continue;
    const minutes = Number(m.value);
    if (!Number.isFinite(minutes) || minutes <= 0) {
      showError(`“${t.value.trim()}” needs a number of minutes.`);
      m.focus();
      return;
    }
    agenda.push({ title: t.value.trim(), minutes });
  }
  const settings = readSettings();
  if (!settings) return;
  const startText = $("#planned-start").value;
  const plannedStart = startText ? new Date(startText) : null;
  if (plannedStart && Number.isNaN(plannedStart.getTime())) {
    showError("The planned start is not a date and time.");
    $("#planned-start").focus();
    return;
  }
  const copy = copySource();
  const key = $("#orgkey").value.trim();
  const btn = $("#create-btn");
  btn.disabled = true;
  try {
    const data = await api("/api/v1/sessions", key || null, {
      method: "POST",
      json: {
        title,
        agenda,
        roster: rosterNames(),
        settings,
        ...(plannedStart ? { planned_start: plannedStart.toISOString() } : {}),
        ...(copy ? { copy_presets_from: copy.id, copy_presets_token: copy.token } : {}),
      },
    });
    showResult(data);
  } catch (err) {
    if (err.status === 401) $("#org").open = true;
    showError(err.message);
  } finally {
    btn.disabled = false;
  }
});

function readSettings() {
  const esc = Number($("#escalate").value);
  if (!Number.isInteger(esc) || esc < 5 || esc > 3600) {
    showError("Escalate every: a whole number of seconds from 5 to 3600.");
    $("#escalate").focus();
    return null;
  }
  try {
    return { escalate_after_s: esc, auto_prompts: parseAutoPrompts($("#auto-prompts").value) };
  } catch (err) {
    showError(`Automatic prompts: ${err.message}`);
    $("#auto-prompts").focus();
    return null;
  }
}

/** The kept session chosen to copy the playbook from, with its producer key (from this browser). */
function copySource() {
  const id = $("#copy-from").value;
  const s = id && listSessions().find((x) => x.id === id);
  if (!s) return null;
  const token = new URLSearchParams(new URL(s.links.producer).hash.slice(1)).get("t");
  return token ? { id, token } : null;
}

/** After creating: the new session's playbook, editable before the class. */
async function showPlaybook(sid, token) {
  const box = clear($("#result-playbook"));
  let presets = [];
  try {
    presets = (await api(`/api/v1/sessions/${sid}/presets`, token)).presets;
  } catch {
    return; // the panel has the editor too
  }
  mountPlaybook(box, { token, sessionId: () => sid, reservedKeys: PANEL_SHORTCUTS, presets: () => presets, onSaved: (p) => (presets = p) });
}

function withSession(link, sid) {
  return `${link}&s=${encodeURIComponent(sid)}`;
}

function showResult(data) {
  const sid = data.session.id;
  const producer = data.links.producer;
  const debrief = withSession(producer.replace("/producer#", "/debrief#"), sid);
  rememberSession({
    id: sid,
    title: data.session.title,
    created: new Date().toISOString(),
    links: { producer: withSession(producer, sid), facilitator: data.links.facilitator, observer: withSession(data.links.observer, sid), debrief },
  });
  renderMine();
  showPlaybook(sid, data.tokens.producer);
  const rows = [
    ["Producer panel", "You: send prompts, flags and stop alerts.", withSession(producer, sid)],
    ["Facilitator overlay", "For the facilitator: keep it beside the slides or on a phone.", data.links.facilitator],
    ["Observer (read-only)", "For a designer or coach: watch and add notes.", withSession(data.links.observer, sid)],
    ["Debrief", "After class: report, timeline and JSON export.", debrief],
  ];
  const box = clear($("#links"));
  for (const [name, what, url] of rows) {
    const copy = el("button", { type: "button", class: "small", "aria-label": `Copy the ${name.split(" ")[0].toLowerCase()} link` }, "Copy");
    copy.addEventListener("click", () => copyText(url, copy));
    box.append(
      el(
        "div",
        { class: "link-row" },
        el("strong", {}, name),
        el("div", { class: "hint" }, what),
        el("code", {}, url),
        el("div", { class: "row" }, copy, el("a", { href: url, target: "_blank", rel: "noopener" }, "Open")),
      ),
    );
  }
  if (qrUrl) URL.revokeObjectURL(qrUrl);
  qrUrl = URL.createObjectURL(new Blob([data.qr.facilitator], { type: "image/svg+xml" }));
  $("#qr").src = qrUrl;
  $("#result-title").textContent = `“${data.session.title}” is ready`;
  form.classList.add("hidden");
  $("#result").classList.remove("hidden");
  $("#result-title").setAttribute("tabindex", "-1");
  $("#result-title").focus();
}

async function copyText(text, button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    // No clipboard API outside secure contexts: fall back to a selected textarea.
    const area = el("textarea", { class: "sr-only", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
  }
  button.textContent = ok ? "Copied ✓" : "Select and copy";
  setTimeout(() => (button.textContent = "Copy"), 2000);
}

function renderMine() {
  const list = clear($("#mine-list"));
  const mine = listSessions();
  const copyFrom = $("#copy-from");
  const chosen = copyFrom.value;
  for (const opt of [...copyFrom.options].slice(1)) opt.remove();
  for (const s of mine) copyFrom.append(el("option", { value: s.id }, `Copy from “${s.title}”`));
  copyFrom.value = mine.some((s) => s.id === chosen) ? chosen : "";
  $("#copy-box").classList.toggle("hidden", !mine.length);
  $("#mine").classList.toggle("hidden", !mine.length);
  for (const s of mine) {
    const forget = el("button", { type: "button", class: "small", "aria-label": `Forget “${s.title}”` }, "Forget");
    forget.addEventListener("click", () => {
      forgetSession(s.id);
      renderMine();
      ($("#mine-list button") || $("#title")).focus();
    });
    const created = new Date(s.created);
    const when = Number.isNaN(created.getTime()) ? "" : created.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    const kept = [["Producer", s.links.producer], ["Facilitator", s.links.facilitator], ["Observer", s.links.observer], ["Debrief", s.links.debrief]];
    const open = kept
      .filter(([, url]) => safeLink(url))
      .map(([name, url]) => {
        const copy = el("button", { type: "button", class: "small", "aria-label": `Copy the ${name.toLowerCase()} link of “${s.title}”` }, "Copy");
        copy.addEventListener("click", () => copyText(url, copy));
        return el("span", { class: "mine-link" }, el("a", { href: url, target: "_blank", rel: "noopener" }, name), copy);
      });
    list.append(
      el(
        "li",
        { class: "mine-row", dataset: { sid: s.id } },
        el("div", { class: "grow" }, el("strong", {}, s.title), el("div", { class: "hint" }, when ? `created ${when}` : "")),
        el("div", { class: "row" }, ...open, forget),
      ),
    );
  }
}

/** Only http(s) links from storage become hrefs (never javascript: or data:). */
function safeLink(url) {
  try {
    return typeof url === "string" && ["http:", "https:"].includes(new URL(url, location.href).protocol);
  } catch {
    return false;
  }
}

renderMine();

$("#again").addEventListener("click", () => {
  $("#result").classList.add("hidden");
  form.classList.remove("hidden");
  form.reset();
  $("#title").focus();
});
