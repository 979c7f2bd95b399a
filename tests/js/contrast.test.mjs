// Colour pairs the pages put text on, from web/app.css, at WCAG AA (≥ 4.5:1) in both themes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const css = readFileSync(new URL("../../web/app.css", import.meta.url), "utf8");

function vars(selector) {
  const start = css.indexOf(selector + " {");
  assert.ok(start >= 0, `no ${selector} block`);
  const block = css.slice(start, css.indexOf("}", start));
  return Object.fromEntries([...block.matchAll(/--([\w-]+):\s*(#[0-9a-fA-F]{6})/g)].map((m) => [m[1], m[2]]));
}

function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

const light = vars(":root");
const dark = { ...light, ...vars("body.overlay") };
const TONES = ["time", "learner", "stop", "reply", "request", "message", "note"];

for (const [name, theme] of [["light", light], ["overlay", dark]]) {
  test(`${name} theme: text, hints and every tone on its background reach 4.5:1`, () => {
    const pairs = [["ink", "bg"], ["ink", "panel"], ["muted", "bg"], ["muted", "panel"], ["focus", "panel"]];
    for (const t of TONES) pairs.push([t, `${t}-bg`], [t, "panel"]);
    if (name === "light") pairs.push(["warn", "bg"], ["ink", "stop-bg"], ["muted", "stop-bg"], ["stop", "stop-bg"]);
    if (name === "overlay") pairs.push(["learner", "bg"], ["stop", "bg"], ["ink", "stop-bg"]);
    for (const [fg, bg] of pairs) {
      assert.ok(theme[fg] && theme[bg], `missing --${fg} or --${bg}`);
      const ratio = contrast(theme[fg], theme[bg]);
      assert.ok(ratio >= 4.5, `--${fg} ${theme[fg]} on --${bg} ${theme[bg]}: ${ratio.toFixed(2)}:1`);
    }
  });
}

test("white on the stop buttons and the strip's amber countdown reach 4.5:1", () => {
  assert.ok(contrast("#ffffff", light.stop) >= 4.5);
  assert.ok(contrast("#ffffff", "#d92d20") >= 4.5);
  assert.ok(contrast(light.warn, "#eef2f7") >= 4.5);
  assert.ok(contrast(dark.learner, "#1a0503") >= 4.5); // "waiting" on the takeover
});
