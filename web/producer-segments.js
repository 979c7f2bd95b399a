// The producer panel's segments and session: the agenda's list (the running one marked), start
// the next segment, end it, give it minutes, and start or end the session (ending asks for a
// second click within 3 s). The segments come from the session state, the agenda before that.
import { S, send } from "./producer-state.js";
import { $, clear, el } from "./util.js";

function nextIndex() {
  const st = S.state;
  if (!st || st.status === "ended") return null;
  if (st.next_segment) return st.next_segment.index;
  if (st.segments) return null; // the server says there is no next segment
  const agenda = S.session ? S.session.agenda : [];
  const i = st.segment ? st.segment.index + 1 : 0;
  return i < agenda.length ? i : null;
}

export function startNext() {
  const i = nextIndex();
  if (i === null) return;
  if (S.state && S.state.status === "planned") send("session.start", {});
  send("segment.start", { index: i });
}

export function endSegment() {
  if (S.state && S.state.segment) send("segment.end", { index: S.state.segment.index });
}

export function extend(minutes) {
  if (S.state && S.state.segment) send("segment.extend", { index: S.state.segment.index, minutes });
}

let confirmEnd = null;
function sessionButton() {
  const btn = $("#session-btn");
  const status = S.state ? S.state.status : "planned";
  if (status === "planned") {
    send("session.start", {});
  } else if (status === "live") {
    if (!confirmEnd) {
      btn.textContent = "Click again to end";
      confirmEnd = setTimeout(() => {
        confirmEnd = null;
        renderSessionButton();
      }, 3000);
      return;
    }
    clearTimeout(confirmEnd);
    confirmEnd = null;
    if (S.state.segment) send("segment.end", { index: S.state.segment.index });
    send("session.end", {});
  }
}

/** The segment and session buttons. */
export function wireSegments() {
  $("#seg-next").addEventListener("click", startNext);
  $("#seg-end").addEventListener("click", endSegment);
  $("#seg-plus1").addEventListener("click", () => extend(1));
  $("#seg-plus5").addEventListener("click", () => extend(5));
  $("#seg-minus").addEventListener("click", () => extend(-1));
  $("#session-btn").addEventListener("click", sessionButton);
}

export function renderSessionButton() {
  if (confirmEnd) return;
  const btn = $("#session-btn");
  const status = S.state ? S.state.status : "planned";
  btn.textContent = status === "planned" ? "Start session" : status === "live" ? "End session" : "Session ended";
  btn.disabled = status === "ended";
}

export function renderSegments() {
  const box = clear($("#segments"));
  const st = S.state;
  const agenda = S.session ? S.session.agenda : [];
  const segs = st && st.segments ? st.segments : agenda.map((s, index) => ({ index, title: s.title, planned_minutes: s.minutes, state: "pending" }));
  for (const seg of segs) {
    const current = seg.state === "running" || (st && st.segment && st.segment.index === seg.index);
    const done = !current && seg.state === "done";
    const ext = seg.extended_minutes ? ` ${seg.extended_minutes > 0 ? "+" : ""}${seg.extended_minutes}` : "";
    box.append(
      el("li", { class: "seg" + (current ? " current" : done ? " done" : ""), "aria-current": current ? "step" : null, dataset: { index: seg.index, state: current ? "running" : seg.state } },
        done ? el("span", { class: "mark", "aria-label": "finished" }, "✓ ") : null,
        `${seg.index + 1}. ${seg.title} · ${seg.planned_minutes}′${ext}`),
    );
  }
  const status = st ? st.status : "planned";
  $("#seg-title").textContent = st && st.segment ? st.segment.title : status === "ended" ? "Session ended" : "No segment running";
  const next = nextIndex();
  $("#seg-next").disabled = next === null || status === "ended";
  $("#seg-next").textContent = next === null ? "Start next" : `Start ${next + 1}`;
  for (const id of ["#seg-end", "#seg-plus1", "#seg-plus5", "#seg-minus"]) $(id).disabled = !(st && st.segment);
}
