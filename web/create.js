// Create page: title, agenda editor (add/remove/reorder), roster paste; then links, copy, QR.
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
  const key = $("#orgkey").value.trim();
  const btn = $("#create-btn");
  btn.disabled = true;
  try {
    const data = await api("/api/v1/sessions", key || null, {
      method: "POST",
      json: { title, agenda, roster: rosterNames() },
    });
    showResult(data);
  } catch (err) {
    if (err.status === 401) $("#org").open = true;
    showError(err.message);
  } finally {
    btn.disabled = false;
  }
});

function withSession(link, sid) {
  return `${link}&s=${encodeURIComponent(sid)}`;
}

function showResult(data) {
  const sid = data.session.id;
  const producer = data.links.producer;
  const debrief = withSession(producer.replace("/producer#", "/debrief#"), sid);
  const rows = [
    ["Producer panel", "You: send prompts, flags and stop alerts.", withSession(producer, sid)],
    ["Facilitator overlay", "For the facilitator: keep it beside the slides or on a phone.", data.links.facilitator],
    ["Observer (read-only)", "For a designer or coach: watch and add notes.", withSession(data.links.observer, sid)],
    ["Debrief", "After class: report, timeline and JSON export.", debrief],
  ];
  const box = clear($("#links"));
  for (const [name, what, url] of rows) {
    const copy = el("button", { type: "button", class: "small" }, "Copy");
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

$("#again").addEventListener("click", () => {
  $("#result").classList.add("hidden");
  form.classList.remove("hidden");
  form.reset();
  $("#title").focus();
});
