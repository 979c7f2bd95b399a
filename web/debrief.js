// Debrief: report figures, planned vs actual agenda, latencies, learners, timeline, export.
import { Channel } from "./client.js";
import { PRINT, drawTimeline } from "./debrief-timeline.js";
import { $, KIND_META, api, clear, clockTime, describe, el, fatal, fetchPolitely, icon, storedSessionId, takeToken } from "./util.js";

const token = takeToken();
const QUIET_KINDS = new Set(["seen", "presence"]);
const PAGE = 1000;
const D = { sid: storedSessionId(), events: [], people: {}, report: null, session: null, you: null };

if (!token) {
  fatal("This page needs a link with a key (…/debrief#t=…): open it from the producer panel.");
} else {
  main();
}

/** The session id: from the link, or from one welcome on the socket. */
function sessionId() {
  if (D.sid) return Promise.resolve(D.sid);
  return new Promise((resolve, reject) => {
    const ch = new Channel(token);
    ch.addEventListener("welcome", (e) => {
      ch.close();
      resolve(e.detail.session.id);
    });
    ch.addEventListener("state", (e) => {
      if (e.detail.state === "closed") reject(new Error(e.detail.reason));
    });
    ch.start();
  });
}

async function main() {
  $("#refresh").addEventListener("click", load);
  $("#export").addEventListener("click", () => download("export", `backchannel-${D.sid}.json`, $("#export")));
  $("#csv").addEventListener("click", () => download("events?format=csv", `backchannel-${D.sid}.csv`, $("#csv")));
  $("#print").addEventListener("click", () => window.print());
  $("#show-receipts").addEventListener("change", renderTimeline);
  try {
    D.sid = await sessionId();
    await load();
  } catch (err) {
    fatal(err.message || "Could not load the report.");
  }
}

async function load() {
  const base = `/api/v1/sessions/${D.sid}`;
  const [view, report] = await Promise.all([api(base, token), api(`${base}/report`, token)]);
  D.session = view.session;
  D.you = view.you;
  D.report = report;
  // Pages of at most 1,000 (the server's maximum); each is charged by its rows, and a
  // refused one is asked again after its Retry-After (util.js fetchPolitely).
  const events = [];
  let after = 0;
  for (;;) {
    const page = await api(`${base}/events?after=${after}&limit=${PAGE}`, token);
    events.push(...page.events);
    if (page.events.length < PAGE) break;
    after = page.events[page.events.length - 1].seq;
  }
  D.events = events;
  for (const ev of events) if (ev.author && ev.author.role !== "system") D.people[ev.author.participant_id] = ev.author;
  for (const o of report.offline || []) if (o.name) D.people[o.participant_id] = o;
  render();
}

function render() {
  const s = D.session;
  document.title = `${s.title} — debrief`;
  $("#title").textContent = `Debrief: ${s.title}`;
  const started = s.started_at || (D.events[0] && D.events[0].at);
  // One format: the date once, then 24-hour local clock times everywhere.
  $("#when").textContent = started
    ? `${dateOf(started)}, ${clockTime(started)}${s.ended_at ? " – " + clockTime(s.ended_at) : " (not ended yet)"}`
    : "Not started yet";
  $("#export").classList.toggle("hidden", !(D.you && (D.you.role === "producer" || D.you.role === "observer")));
  renderFigures();
  const picture = { session: s, report: D.report, events: D.events, people: D.people };
  drawTimeline($("#chart"), picture);
  drawTimeline($("#chart-print"), picture, PRINT); // shown on paper only (debrief.css)
  renderSegments();
  renderLatency();
  renderLearners();
  renderOffline();
  renderNotes();
  renderTimeline();
}

function dateOf(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

const fmtS = (v) => (v === null || v === undefined ? "—" : v < 90 ? `${Math.round(v * 10) / 10} s` : `${(v / 60).toFixed(1)} min`);
const fmtMin = (v) => (v === null || v === undefined ? "—" : `${Math.round(v * 10) / 10}`);

function renderFigures() {
  const r = D.report;
  const c = r.counts || {};
  const acks = (r.messages || []).filter((m) => m.ack_after_s !== null && m.ack_after_s !== undefined);
  // "Never answered" is the server's `unacknowledged` (app/report.py defines it once): timing
  // prompts a newer prompt replaced while they waited are superseded, not ignored.
  const open = Object.values(r.latency || {}).reduce((n, l) => n + (l.unacknowledged || 0), 0);
  const stop = (r.latency || {})["alert.stop"];
  const segs = (r.segments || []).filter((x) => x.actual_minutes !== null);
  const over = segs.reduce((n, x) => n + Math.max(0, x.overrun_minutes || 0), 0);
  const figs = [
    [c["prompt.time"] || 0, "timing prompts"],
    [c["flag.learner"] || 0, "learner flags"],
    [c["alert.stop"] || 0, "stop alerts"],
    [stop ? fmtS(stop.ack_p50_s) : "—", "stop alerts: median time to acknowledge"],
    [`${acks.length}/${(r.messages || []).length}`, "messages answered"],
    [open, "never answered"],
    [(c.reply || 0) + (c.request || 0), "replies and requests"],
    [`${fmtMin(over)} min`, "total overrun"],
  ];
  const box = clear($("#figures"));
  for (const [n, k] of figs) box.append(el("div", { class: "figure" }, el("div", { class: "n" }, String(n)), el("div", { class: "k" }, k)));
}

function table(node, head, rows, empty) {
  clear(node);
  if (!rows.length) {
    node.append(el("tbody", {}, el("tr", {}, el("td", { class: "hint" }, empty))));
    return;
  }
  node.append(el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))));
  node.append(el("tbody", {}, rows.map((r) => el("tr", {}, r.map((cell) => (cell instanceof Node && cell.tagName === "TD" ? cell : el("td", {}, cell)))))));
}

function renderSegments() {
  const segs = D.report.segments || [];
  // Overrun is actual − planned (the agenda as created); extensions are shown, not added.
  const longest = Math.max(1, ...segs.map((x) => Math.max(x.planned_minutes, x.actual_minutes || 0)));
  const rows = segs.map((x) => {
    const planned = x.planned_minutes;
    const bars = el("div", { class: "bars", "aria-hidden": "true" });
    const pb = el("div", { class: "bar planned" });
    pb.style.width = `${(planned / longest) * 100}%`;
    bars.append(pb);
    if (x.actual_minutes !== null) {
      const ab = el("div", { class: `bar${x.overrun_minutes > 0 ? " overrun" : ""}` });
      ab.style.width = `${(x.actual_minutes / longest) * 100}%`;
      bars.append(ab);
    }
    const over = x.overrun_minutes === null ? "—" : `${x.overrun_minutes > 0 ? "+" : ""}${fmtMin(x.overrun_minutes)}`;
    return [
      `${x.index + 1}. ${x.title}`,
      fmtMin(x.planned_minutes),
      x.extended_minutes ? `${x.extended_minutes > 0 ? "+" : ""}${x.extended_minutes}` : "—",
      fmtMin(x.actual_minutes),
      el("td", { class: x.overrun_minutes > 0 ? "num over" : "num" }, over),
      el("td", {}, bars),
    ];
  });
  table($("#segments"), ["Segment", "Planned (min)", "Extended", "Actual", "Over", "Planned / actual"], rows, "No agenda.");
}

function renderLatency() {
  const rows = Object.entries(D.report.latency || {}).map(([kind, l]) => [
    el("td", {}, el("span", { class: `tag tone-${KIND_META[kind].tone}` }, icon(KIND_META[kind].icon), KIND_META[kind].label)),
    String(l.count ?? "—"),
    fmtS(l.seen_p50_s),
    fmtS(l.seen_max_s),
    fmtS(l.ack_p50_s),
    fmtS(l.ack_max_s),
    String(l.unacknowledged ?? 0),
    kind === "alert.stop" ? "—" : String(l.dismissed ?? 0),
    kind === "prompt.time" ? String(l.superseded ?? 0) : "—",
  ]);
  // "Cleared unanswered": closed by the overlay's "Clear all" (an ack `dismissed`), not an answer.
  const head = ["Kind", "Sent", "Seen (median)", "Seen (slowest)", "Answered (median)", "Answered (slowest)", "Never answered", "Cleared unanswered", "Replaced by a newer prompt"];
  table($("#latency"), head, rows, "No prompts, flags or alerts were sent.");
}

function renderLearners() {
  const rows = Object.entries(D.report.learners || {}).map(([name, flags]) => [
    name,
    Object.keys(flags).length ? Object.entries(flags).map(([f, n]) => `${f} × ${n}`).join(", ") : el("td", { class: "hint" }, "never flagged"),
  ]);
  table($("#learners"), ["Learner", "Flags"], rows, "No learner was flagged.");
}

function renderOffline() {
  const rows = (D.report.offline || []).map((o) => {
    const p = D.people[o.participant_id];
    return [p ? `${p.name} (${p.role})` : o.participant_id, clockTime(o.from), o.to ? clockTime(o.to) : "—", fmtS(o.seconds)];
  });
  table($("#offline"), ["Who", "From", "To", "For"], rows, "Nobody dropped out during the session.");
}

function renderNotes() {
  const list = clear($("#notes"));
  const notes = D.report.notes || [];
  for (const n of notes) {
    const where = n.segment_title ? ` · ${n.segment_title}` : "";
    const who = n.author && n.author.name ? ` · ${n.author.name}` : "";
    list.append(el("li", {}, el("span", { class: "hint" }, `${clockTime(n.at)}${where}${who}: `), n.text));
  }
  $("#notes-box").classList.toggle("hidden", !notes.length);
}

function renderTimeline() {
  const all = $("#show-receipts").checked;
  const list = clear($("#timeline"));
  // Answer times as the report counts them: a snooze is not an answer.
  const answers = new Map((D.report.messages || []).map((m) => [m.seq, m]));
  for (const ev of D.events) {
    if (!all && QUIET_KINDS.has(ev.kind)) continue;
    const meta = KIND_META[ev.kind] || KIND_META.note;
    let text = describe(ev);
    if (ev.kind === "presence") {
      const p = D.people[ev.body.participant_id];
      text = `${p ? p.name : "Someone"} ${ev.body.status}`;
    }
    const a = answers.get(ev.seq);
    const li = el(
      "li",
      { class: `tone-${meta.tone}`, dataset: { seq: ev.seq, kind: ev.kind } },
      el("span", { class: "hint" }, clockTime(ev.at)),
      el("span", { class: "tag" }, icon(meta.icon), meta.label),
      el("span", { class: "what" }, text,
        a ? el("span", { class: "hint" }, answerText(a)) : null,
        el("span", { class: "hint" }, ` · ${ev.author.name}`)),
    );
    list.append(li);
  }
  if (!list.children.length) list.append(el("li", { class: "hint" }, "Nothing logged yet."));
}

function answerText(m) {
  const snoozes = m.snoozes ? ` (snoozed ${m.snoozes === 1 ? "once" : `${m.snoozes} times`} first)` : "";
  if (m.ack_status && m.ack_after_s !== null && m.ack_after_s !== undefined) return ` → ${m.ack_status} after ${fmtS(m.ack_after_s)}${snoozes}`;
  if (m.dismissed) return m.seen_after_s !== null && m.seen_after_s !== undefined ? ` → cleared unanswered (Clear all) after ${fmtS(m.seen_after_s)}` : " → cleared unanswered (Clear all)";
  if (m.superseded) return m.seen_after_s !== null && m.seen_after_s !== undefined ? ` → seen after ${fmtS(m.seen_after_s)}, then replaced by a newer prompt` : " → replaced by a newer prompt before it was seen";
  if (m.snoozes) return ` → snoozed, never answered`;
  return m.seen_after_s !== null && m.seen_after_s !== undefined ? ` → seen after ${fmtS(m.seen_after_s)}, not answered` : " → not seen";
}

/** Downloads `/api/v1/sessions/{id}/{path}` (the key goes in a header, never in a URL). */
async function download(path, filename, btn) {
  btn.disabled = true;
  try {
    const res = await fetchPolitely(`/api/v1/sessions/${D.sid}/${path}`, { headers: { Authorization: "Bearer " + token } });
    if (!res.ok) throw new Error(`download failed (HTTP ${res.status})`);
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: filename, class: "hidden" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    fatal(err.message);
  } finally {
    btn.disabled = false;
  }
}
