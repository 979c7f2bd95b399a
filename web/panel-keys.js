// The producer panel's shortcut keys: web/keys.js decides what a keystroke is; this module
// acts on it and shows a lone key while it waits for quiet ("Sending “2 min left”…"), so the
// producer sees what is about to go and that any key cancels it.
import { el } from "./util.js";

/**
 * options: {gate: KeyGate, keys: () => gate keys, label: key => text of what it does,
 *   run: key => void (a quiet key), focus: key => void (a FOCUS key, at once),
 *   confirm: () => void (Enter on an armed stop), disarm: () => void, typing: () => void}
 * Returns {press(e)}: call it with a keydown meant for the panel (not for a text box).
 */
export function mount({ gate, keys, label, run, focus, confirm, disarm, typing }) {
  const bar = el("p", { class: "pending-key hidden", id: "pending-key", role: "status" });
  (document.querySelector("main") || document.body).append(bar); // inside a landmark
  let timer = null;

  function hide() {
    clearTimeout(timer);
    timer = null;
    bar.classList.add("hidden");
    bar.replaceChildren();
  }

  function show(key, ms, stop) {
    const what = label(key) || key;
    const fill = el("span", { class: "fill" });
    fill.style.animationDuration = `${ms}ms`; // CSSOM: the CSP refuses style attributes
    bar.replaceChildren(
      el("kbd", {}, key),
      el("span", { class: "what" }, stop ? `Stop alert “${what}”: confirm next…` : `Sending “${what}”…`),
      el("span", { class: "hint" }, "any key cancels"),
      fill,
    );
    bar.classList.remove("hidden");
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      hide();
      const k = gate.due(performance.now());
      if (k) run(k);
    }, ms + 20);
  }

  function press(e) {
    gate.setKeys(keys());
    const r = gate.press(e.key, performance.now());
    if (r.cancelled) hide();
    switch (r.do) {
      case "defer":
        e.preventDefault();
        show(r.key, r.ms, r.stop);
        break;
      case "focus":
        e.preventDefault(); // the key itself does not land in the box; what follows does
        hide();
        focus(r.key);
        break;
      case "confirm":
        e.preventDefault(); // and no click on a focused button
        confirm();
        break;
      case "disarm":
        hide();
        disarm();
        if (r.typing) typing();
        break;
      case "typing":
        typing();
        break;
      default:
    }
  }

  /** Esc: cancels a key still waiting; true if there was one. */
  function escape() {
    const waiting = gate.pendingKey() !== null;
    if (waiting) gate.press("Escape", performance.now());
    hide();
    return waiting;
  }

  return { press, escape };
}
