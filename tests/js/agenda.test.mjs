// The panel's agenda editor rules (web/agenda-editor.js): started segments stay where they are,
// and what cannot be saved is said in words.
import assert from "node:assert/strict";
import { test } from "node:test";

import { agendaProblem, agendaRows, canDelete, canMove } from "../../web/agenda-editor.js";

const row = (title, minutes, state = "pending") => ({ title, minutes: String(minutes), state });

test("rows come from the state's segments, or from the agenda before the first state", () => {
  const state = { segments: [{ index: 0, title: "Welcome", planned_minutes: 10, state: "running" }] };
  assert.deepEqual(agendaRows(state, []), [row("Welcome", 10, "running")]);
  assert.deepEqual(agendaRows(null, [{ title: "Close", minutes: 12.5 }]), [row("Close", 12.5)]);
});

test("a started segment neither moves nor lets a pending one take its place", () => {
  const rows = [row("Welcome", 10, "done"), row("Practice", 20, "running"), row("Pairs", 15), row("Close", 5)];
  assert.equal(canMove(rows, 1, -1), false);
  assert.equal(canMove(rows, 2, -1), false); // would push the running segment down
  assert.equal(canMove(rows, 2, 1), true);
  assert.equal(canMove(rows, 3, 1), false); // nothing below the last one
});

test("a pending segment can be deleted only when no started one follows it", () => {
  const rows = [row("Welcome", 10, "done"), row("Skipped", 20), row("Pairs", 15, "running"), row("Close", 5)];
  assert.equal(canDelete(rows, 0), false);
  assert.equal(canDelete(rows, 1), false); // Pairs would move up into its place
  assert.equal(canDelete(rows, 2), false);
  assert.equal(canDelete(rows, 3), true);
});

test("titles and minutes are checked with messages that name the segment", () => {
  assert.equal(agendaProblem([row("Welcome", 10), row("Close", 0.5)]), "");
  assert.equal(agendaProblem([row("Welcome", 10), row("  ", 5)]), "Segment 2 needs a title.");
  assert.match(agendaProblem([row("Welcome", "")]), /^Segment 1 \(“Welcome”\): planned minutes must be a number above 0/);
  assert.match(agendaProblem([row("Welcome", 0)]), /above 0 and at most 1440/);
  assert.match(agendaProblem([row("Welcome", 1441)]), /at most 1440/);
  assert.match(agendaProblem([row("Welcome", "ten")]), /planned minutes must be a number/);
  assert.match(agendaProblem(Array.from({ length: 51 }, (_, i) => row(`S${i}`, 5))), /at most 50 segments; this one has 51/);
});
