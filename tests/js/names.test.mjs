// Learner names (web/names.js) against the golden vectors that pytest runs through app/roster.py:
// the panel's suggestions and the server's matching follow one rule.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { foldName, matchLearner, suggestLearners } from "../../web/names.js";

const v = JSON.parse(readFileSync(new URL("../vectors/roster/names.json", import.meta.url), "utf8"));

for (const c of v.cases) {
  const roster = v.rosters[c.roster];
  test(`${c.roster}: ${JSON.stringify(c.typed)} is logged as ${JSON.stringify(c.logged)}`, () => {
    assert.equal(matchLearner(roster, c.typed), c.logged);
  });
  test(`${c.roster}: ${JSON.stringify(c.typed)} suggests ${JSON.stringify(c.suggest)}`, () => {
    assert.deepEqual(suggestLearners(roster, c.typed), c.suggest);
  });
}

for (const [name, folded] of v.fold) {
  test(`${JSON.stringify(name)} folds to ${JSON.stringify(folded)}`, () => {
    assert.equal(foldName(name), folded);
  });
}

test("a name the server would log is always among the suggestions", () => {
  for (const c of v.cases) {
    const roster = v.rosters[c.roster];
    const logged = matchLearner(roster, c.typed);
    if (logged !== c.typed) assert.ok(suggestLearners(roster, c.typed).includes(logged), JSON.stringify(c));
  }
});

test("suggestions stop at the limit, best first", () => {
  const roster = Array.from({ length: 20 }, (_, i) => `Learner ${i}`);
  assert.deepEqual(suggestLearners(roster, "learner", 3), ["Learner 0", "Learner 1", "Learner 2"]);
});
