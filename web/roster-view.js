// Roster view on the panel: each learner's last flag and the time since, sortable, showing who
// has not been heard from. Drawn from the events the panel already holds and the roster of
// welcome.session; nothing is fetched.
import { FLAG_TEXT, clear, clockTime, el } from "./util.js";

const SORTS = {
  silent: "Longest silent first",
  recent: "Most recent first",
  name: "Name",
  count: "Most flags first",
};

/** Per learner: {name, inRoster, last: event|null, count}, for every roster name and any other flagged name. */
export function rosterRows(roster, events) {
  const rows = new Map(roster.map((name) => [name, { name, inRoster: true, last: null, count: 0 }]));
  for (const ev of events) {
    if (ev.kind !== "flag.learner") continue;
    const name = ev.body.learner;
    if (!rows.has(name)) rows.set(name, { name, inRoster: false, last: null, count: 0 });
    const r = rows.get(name);
    r.count += 1;
    r.last = ev;
  }
  return [...rows.values()];
}

export function sortRows(rows, by) {
  const t = (r) => (r.last ? Date.parse(r.last.at) : -Infinity);
  const byName = (a, b) => a.name.localeCompare(b.name);
  const cmp = {
    silent: (a, b) => t(a) - t(b) || byName(a, b), // never heard from first, then the oldest flag
    recent: (a, b) => t(b) - t(a) || byName(a, b),
    name: byName,
    count: (a, b) => b.count - a.count || byName(a, b),
  }[by] || byName;
  return [...rows].sort(cmp);
}

function since(iso, nowMs) {
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Mounts the view in `box`; options: {roster: () => [names], events: () => [events]}. */
export function mount(box, { roster, events }) {
  let sortBy = "silent";
  const sel = el("select", { id: "roster-sort", "aria-label": "Sort learners" }, Object.entries(SORTS).map(([v, t]) => el("option", { value: v }, t)));
  const summary = el("p", { class: "hint", id: "roster-summary", role: "status" });
  const body = el("tbody", {});
  const others = el("tbody", { class: "roster-others" });
  const tableEl = el(
    "table",
    { class: "data roster-table", id: "roster-view" },
    el("thead", {}, el("tr", {}, ["Learner", "Last flag", "Since", "Flags"].map((h) => el("th", { scope: "col" }, h)))),
    body,
    others,
  );
  box.append(
    el("div", { class: "row" }, el("h2", { class: "grow" }, "Learners"), sel),
    summary,
    el("div", { class: "table-wrap" }, tableEl),
  );
  sel.addEventListener("change", () => {
    sortBy = sel.value;
    update();
  });

  let lastKey = "";
  function update() {
    const now = Date.now();
    const rows = sortRows(rosterRows(roster() || [], events() || []), sortBy);
    const lines = rows.map((r) => [
      r.name,
      r.last ? `${FLAG_TEXT[r.last.body.flag] || r.last.body.flag}${r.last.body.minutes ? ` ${r.last.body.minutes} min` : ""} at ${clockTime(r.last.at)}` : "not heard from",
      r.last ? since(r.last.at, now) : "—",
      String(r.count),
      r.last ? "heard" : "silent",
      r.name,
      r.inRoster,
    ]);
    const key = JSON.stringify(lines);
    if (key === lastKey) return;
    lastKey = key;
    clear(body);
    clear(others);
    const row = ([name, last, ago, count, state, learner]) =>
      el("tr", { class: `roster-${state}`, dataset: { learner, state } },
        el("th", { scope: "row" }, name), el("td", {}, last), el("td", { class: "num" }, ago), el("td", { class: "num" }, count));
    // The roster's learners are counted; names flagged that are not on it are listed apart.
    const listed = lines.filter((l) => l[6]);
    const extra = lines.filter((l) => !l[6]);
    for (const line of listed) body.append(row(line));
    if (!listed.length) body.append(el("tr", {}, el("td", { colspan: 4, class: "hint" }, "No roster for this session.")));
    if (extra.length) {
      others.append(el("tr", { class: "roster-apart" }, el("th", { colspan: 4, scope: "colgroup" }, `Not on the roster (${extra.length})`)));
      for (const line of extra) others.append(row(line));
    }
    const silent = listed.filter((l) => l[4] === "silent").length;
    summary.textContent = listed.length ? `${silent} of ${listed.length} not heard from yet` : "";
  }
  update();
  setInterval(update, 1000);
  return { update };
}
