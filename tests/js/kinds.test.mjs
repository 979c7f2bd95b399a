// The pages take every table of kinds from web/kinds.json (generated from app/models/kinds.py,
// held to it by tests/unit/test_kinds.py): what they derive from it, and that each thing it
// names — an icon, a tone, a sound, the words of every value — exists on the pages.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import SPEC from "../../web/kinds.json" with { type: "json" };
import { CARD_KINDS, TRACKED_KINDS } from "../../web/model.js";
import { ACK_TEXT, FLAG_TEXT, KIND_META, REQUEST_STATUS_TEXT, REQUEST_TEXT, STOP_TEXT, describe } from "../../web/util.js";

const read = (name) => readFileSync(new URL(`../../web/${name}`, import.meta.url), "utf8");
const kinds = Object.entries(SPEC.kinds);

test("the pages' sets and tables of kinds are those of kinds.json", () => {
  assert.deepEqual([...TRACKED_KINDS].sort(), kinds.filter(([, k]) => k.tracked).map(([kind]) => kind).sort());
  assert.deepEqual([...CARD_KINDS].sort(), kinds.filter(([, k]) => k.card).map(([kind]) => kind).sort());
  assert.deepEqual(Object.keys(KIND_META), Object.keys(SPEC.kinds));
  assert.equal(FLAG_TEXT, SPEC.kinds["flag.learner"].words.flag);
  assert.equal(STOP_TEXT, SPEC.kinds["alert.stop"].words.reason);
  assert.equal(REQUEST_TEXT, SPEC.kinds.request.words.action);
  assert.equal(REQUEST_STATUS_TEXT, SPEC.kinds["request.status"].words.status);
  assert.equal(ACK_TEXT, SPEC.kinds.ack.words.status);
});

test("every icon, tone and sound a kind names exists on the pages", () => {
  const util = read("util.js");
  const css = read("app.css");
  const facilitator = read("facilitator.html");
  for (const [kind, k] of kinds) {
    assert.match(util, new RegExp(`\\n  ${k.icon}: \\[`), `${kind}: no icon ${k.icon} in util.js ICONS`);
    assert.ok(css.includes(`.tone-${k.tone}`), `${kind}: no .tone-${k.tone} in app.css`);
    if (k.sound !== null) assert.ok(facilitator.includes(`data-pref="sound.${k.sound}"`), `${kind}: no sound.${k.sound} switch`);
  }
});

test("every value of every enum reads as its words on the pages, never as the raw value", () => {
  const bodies = {
    "flag.learner": (flag) => ({ learner: "Ada", flag }),
    "alert.stop": (reason) => ({ reason }),
    ack: (status) => ({ ref: 3, status }),
    request: (action) => ({ action }),
    "request.status": (status) => ({ ref: 3, status }),
  };
  for (const [kind, k] of kinds) {
    for (const [field, words] of Object.entries(k.words)) {
      for (const [value, text] of Object.entries(words)) {
        assert.ok(text, `${kind}.${field}=${value} has no words`);
        if (!bodies[kind]) continue;
        const line = describe({ kind, body: bodies[kind](value) });
        assert.ok(line.includes(text), `${kind}.${field}=${value}: "${line}" lacks "${text}"`);
      }
    }
  }
});
