// The debrief's picture of the class: an SVG timeline drawn here (createElementNS, textContent).
// Lanes: planned and actual segments, stop alerts from raised to answered (with escalations),
// one lane per learner (every roster name, flagged or not), and one per participant who dropped out.
import { FLAG_TEXT, STOP_TEXT, clockTime } from "./util.js";

const NS = "http://www.w3.org/2000/svg";
const RIGHT = 12;
const LANE = 26;
const AXIS = 28;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A hover/tooltip and screen-reader name for an SVG shape. */
function titled(node, text) {
  node.append(svg("title", {}, text));
  return node;
}

const ms = (iso) => (iso ? Date.parse(iso) : NaN);

/** The time span of the picture: session start (or first event) to its end (or last event). */
function span(session, report, events) {
  const times = [];
  for (const s of report.segments || []) times.push(ms(s.started_at), ms(s.ended_at));
  for (const e of events) times.push(ms(e.at));
  const known = times.filter(Number.isFinite);
  let from = ms(session.started_at);
  if (!Number.isFinite(from)) from = known.length ? Math.min(...known) : Date.now();
  let to = ms(session.ended_at);
  if (!Number.isFinite(to)) to = known.length ? Math.max(...known) : from;
  // The planned agenda may run past the actual end: show it whole.
  const planned = (report.segments || []).reduce((n, s) => n + s.planned_minutes, 0) * 60_000;
  to = Math.max(to, from + planned, from + 60_000);
  return [from, to];
}

function tickStep(totalMs, maxTicks) {
  const minutes = totalMs / 60_000;
  for (const step of [1 / 6, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 240]) if (minutes / step <= maxTicks) return step * 60_000;
  return 480 * 60_000;
}

/** The screen's picture: a 1000-unit-wide viewBox scaled to its box. */
export const SCREEN = { width: 1000, label: 190, labelChars: 26, charPx: 7, maxTicks: 10, titleId: "tl-svg-title" };
/**
 * The printed picture: drawn at the width it prints at on A4 (190 mm between the margins, less
 * the panel's padding: ~700 CSS px), so one unit is one CSS px and the 13-px text of
 * debrief.css is ~9.75 pt on paper; lane names shortened to what the narrower column holds.
 */
export const PRINT = { width: 700, label: 170, labelChars: 20, charPx: 8, maxTicks: 6, titleId: "tl-print-title" };

/**
 * Draws the timeline into `box` (emptied first). Returns the <svg>.
 * data: {session, report, events, people: {participant_id: {name, role}}}; layout: SCREEN or PRINT.
 */
export function drawTimeline(box, { session, report, events, people = {} }, layout = SCREEN) {
  const { width: W, label: LABEL, labelChars, charPx, maxTicks, titleId } = layout;
  box.replaceChildren();
  const [from, to] = span(session, report, events);
  const x = (t) => LABEL + ((Math.min(Math.max(t, from), to) - from) / (to - from)) * (W - LABEL - RIGHT);
  const bySeq = new Map(events.map((e) => [e.seq, e]));
  const segs = report.segments || [];
  const alerts = (report.messages || []).filter((m) => m.kind === "alert.stop");
  const learners = Object.keys(report.learners || {});
  const drops = report.offline || [];
  const dropLanes = [...new Set(drops.map((o) => o.participant_id))];

  const lanes = [];
  lanes.push({ key: "planned", label: "Agenda (planned)" });
  lanes.push({ key: "actual", label: "Agenda (actual)" });
  lanes.push({ key: "alerts", label: "Stop alerts" });
  for (const name of learners) lanes.push({ key: `learner:${name}`, label: name, group: "learner" });
  for (const pid of dropLanes) {
    const o = drops.find((d) => d.participant_id === pid);
    const p = people[pid] || o;
    lanes.push({ key: `drop:${pid}`, label: `${p.name || pid} offline`, group: "drop" });
  }
  const laneY = new Map(lanes.map((l, i) => [l.key, AXIS + i * LANE]));
  const height = AXIS + lanes.length * LANE + 8;

  const root = svg("svg", {
    viewBox: `0 0 ${W} ${height}`,
    class: "tl-svg",
    role: "img",
    "aria-labelledby": titleId,
    preserveAspectRatio: "xMinYMin meet",
  });
  root.append(svg("title", { id: titleId }, `Timeline of ${session.title}, ${clockTime(new Date(from).toISOString())} to ${clockTime(new Date(to).toISOString())}`));

  // Lanes and their names.
  const grid = svg("g", { class: "tl-lanes" });
  lanes.forEach((l, i) => {
    const y = laneY.get(l.key);
    if (i % 2 === 0) grid.append(svg("rect", { class: "tl-stripe", x: 0, y, width: W, height: LANE }));
    grid.append(svg("text", { class: `tl-label${l.group ? " tl-" + l.group : ""}`, x: 6, y: y + LANE / 2 + 4 }, shorten(l.label, labelChars)));
  });
  root.append(grid);

  // Time axis: a tick and a clock time every step.
  const axis = svg("g", { class: "tl-axis" });
  const step = tickStep(to - from, maxTicks);
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) {
    axis.append(svg("line", { x1: x(t), x2: x(t), y1: AXIS - 6, y2: height - 8 }));
    // A label near the right edge ends at its tick, so it is never clipped by the SVG's box.
    const anchor = x(t) > W - RIGHT - 40 ? "end" : "middle";
    axis.append(svg("text", { x: x(t), y: AXIS - 10, "text-anchor": anchor }, clockTime(new Date(t).toISOString())));
  }
  root.append(axis);

  // Segments: planned (back to back from the start) and actual (as run), one bar each.
  const segG = svg("g", { class: "tl-segments" });
  let plannedAt = from;
  segs.forEach((s, i) => {
    const g = svg("g", { class: "tl-seg", "data-index": s.index });
    const pEnd = plannedAt + s.planned_minutes * 60_000;
    const py = laneY.get("planned") + 4;
    g.append(titled(svg("rect", { class: "tl-planned", x: x(plannedAt), y: py, width: Math.max(1, x(pEnd) - x(plannedAt)), height: LANE - 8, rx: 3 }),
      `${s.index + 1}. ${s.title}: planned ${s.planned_minutes} min`));
    const start = ms(s.started_at);
    if (Number.isFinite(start)) {
      const endRaw = ms(s.ended_at);
      const end = Number.isFinite(endRaw) ? endRaw : start + (s.actual_minutes || 0) * 60_000;
      const over = (s.overrun_minutes || 0) > 0;
      const ay = laneY.get("actual") + 4;
      g.append(titled(svg("rect", { class: `tl-actual${over ? " tl-over" : ""} tl-c${i % 4}`, x: x(start), y: ay, width: Math.max(2, x(end) - x(start)), height: LANE - 8, rx: 3 }),
        `${s.index + 1}. ${s.title}: ${clockTime(s.started_at)}–${s.ended_at ? clockTime(s.ended_at) : "…"}, ${s.actual_minutes} of ${s.planned_minutes} min planned`));
      if (x(end) - x(start) > 40) g.append(svg("text", { class: "tl-barlabel", x: x(start) + 4, y: ay + LANE / 2 }, shorten(s.title, Math.floor((x(end) - x(start)) / charPx))));
    }
    if (x(pEnd) - x(plannedAt) > 40) g.append(svg("text", { class: "tl-barlabel tl-planned-label", x: x(plannedAt) + 4, y: py + LANE / 2 - 2 }, shorten(s.title, Math.floor((x(pEnd) - x(plannedAt)) / charPx))));
    plannedAt = pEnd;
    segG.append(g);
  });
  root.append(segG);

  // Stop alerts: a mark from raised to answered (or cancelled; open ones run to the end).
  const alertG = svg("g", { class: "tl-alerts" });
  const cancelAt = new Map();
  for (const e of events) if (e.kind === "alert.cancel") cancelAt.set(e.body.ref, ms(e.at));
  const ay = laneY.get("alerts") + LANE / 2;
  for (const a of alerts) {
    const raised = ms(a.at);
    let end = null;
    let how = "never answered";
    if (a.ack_after_s !== null && a.ack_after_s !== undefined) {
      end = raised + a.ack_after_s * 1000;
      how = `answered ${a.ack_status} after ${Math.round(a.ack_after_s)} s`;
    } else if (a.cancelled && cancelAt.has(a.seq)) {
      end = cancelAt.get(a.seq);
      how = "cancelled";
    }
    const stopEv = bySeq.get(a.seq);
    const reason = stopEv ? STOP_TEXT[stopEv.body.reason] || stopEv.body.reason : "";
    const g = titled(svg("g", { class: `tl-alert${end === null ? " tl-open" : ""}`, "data-seq": a.seq }),
      `${clockTime(a.at)} stop alert${reason ? ": " + reason : ""}${a.text ? " — " + a.text : ""}; ${how}`);
    const x2 = end === null ? x(to) : x(end);
    g.append(svg("line", { x1: x(raised), x2: Math.max(x2, x(raised) + 3), y1: ay, y2: ay }));
    g.append(svg("circle", { cx: x(raised), cy: ay, r: 5 }));
    if (end !== null) g.append(svg("rect", { class: "tl-answered", x: x2 - 1.5, y: ay - 6, width: 3, height: 12 }));
    alertG.append(g);
  }
  // Escalations: a small triangle on the alert lane at each level.
  for (const e of events) {
    if (e.kind !== "alert.escalated") continue;
    const ex = x(ms(e.at));
    alertG.append(titled(svg("path", { class: "tl-escalation", "data-ref": e.body.ref, d: `M${ex - 5},${ay - 8} L${ex + 5},${ay - 8} L${ex},${ay - 1} Z` }),
      `${clockTime(e.at)} escalated to level ${e.body.level}`));
  }
  root.append(alertG);

  // Flags per learner: a dot at each flag, in the learner's lane.
  const flagG = svg("g", { class: "tl-flags" });
  for (const e of events) {
    if (e.kind !== "flag.learner") continue;
    const y = laneY.get(`learner:${e.body.learner}`);
    if (y === undefined) continue;
    const fx = x(ms(e.at));
    const g = titled(svg("g", { class: `tl-flag tl-flag-${e.body.flag}`, "data-seq": e.seq }),
      `${clockTime(e.at)} ${e.body.learner}: ${FLAG_TEXT[e.body.flag] || e.body.flag}${e.body.minutes ? ` (${e.body.minutes} min)` : ""}${e.body.text ? " — " + e.body.text : ""}`);
    g.append(svg("circle", { cx: fx, cy: y + LANE / 2, r: 5 }));
    flagG.append(g);
  }
  // Learners never flagged: say so in their lane.
  for (const name of learners) {
    if (Object.keys(report.learners[name] || {}).length) continue;
    flagG.append(svg("text", { class: "tl-silent", x: LABEL + 6, y: laneY.get(`learner:${name}`) + LANE / 2 + 4 }, "not flagged"));
  }
  root.append(flagG);

  // Drop-outs: a bar from offline to back online (or the end).
  const dropG = svg("g", { class: "tl-drops" });
  for (const o of drops) {
    const y = laneY.get(`drop:${o.participant_id}`) + 6;
    const s = ms(o.from);
    const e = Number.isFinite(ms(o.to)) ? ms(o.to) : to;
    dropG.append(titled(svg("rect", { class: "tl-drop", x: x(s), y, width: Math.max(2, x(e) - x(s)), height: LANE - 12, rx: 2 }),
      `${o.name || o.participant_id} offline ${clockTime(o.from)}–${o.to ? clockTime(o.to) : "end"} (${Math.round(o.seconds)} s)`));
  }
  root.append(dropG);

  box.append(root);
  return root;
}

function shorten(text, max) {
  if (max < 2) return "";
  return text.length > max ? text.slice(0, Math.max(1, max - 1)) + "…" : text;
}
