// The panel's learner box as a combobox: while the producer types, the roster names it could
// mean are listed above it (web/names.js, the server's own rule). ↓/↑ move through them,
// Enter or Tab picks one, Esc closes the list; Enter with none chosen keeps what the server
// would log (the roster's spelling when the name is clear, else the text as typed) and hands
// the keyboard back to the panel, so the next learner key sends the flag. A name that could be
// several roster names ("maria" with two Marias) is not logged as a new learner: the box asks
// "Which Maria?" with the names to choose from.
//
// Opened by the L key with letters typed straight after it (no pause), the box is "quick": a
// producer who types "let me check…" into the panel, thinking it is the call's chat, lands
// "et me check…" here. So a quick box keeps only a roster name (or asks which one); anything
// else is cleared on Enter or when the box loses the focus, and the panel says it was typing.
// After a pause (L, then the name), any name is kept, as it is when the box is clicked.
import { el } from "./util.js";
import { QUIET_AFTER_MS } from "./keys.js";
import { ambiguousLearners, matchLearner, suggestLearners } from "./names.js";

/** options: {list: the role=listbox element, roster: () => names, onEnter: () => void,
 * onTyping: () => void (a quick box's text was cleared as typing)} */
export function mount(input, { list, roster, onEnter, onTyping = () => {} }) {
  let names = [];
  let active = -1;
  let quickSince = null; // performance.now() of the L key while the box is quick, else null
  const status = el("span", { class: "sr-only", role: "status" });
  const which = el("p", { class: "which hidden", id: `${list.id}-which` });
  list.before(which);
  list.after(status);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");

  const isOpen = () => !list.classList.contains("hidden");

  function draw() {
    list.replaceChildren(
      ...names.map((name, i) => {
        const option = el("li", { role: "option", id: `${list.id}-${i}`, "aria-selected": String(i === active), dataset: { name } }, name);
        // mousedown would move the focus out of the box (and close the list) before the click.
        option.addEventListener("mousedown", (e) => e.preventDefault());
        option.addEventListener("click", () => pick(i));
        return option;
      }),
    );
    const open = names.length > 0;
    list.classList.toggle("hidden", !open);
    if (!open) {
      which.classList.add("hidden");
      list.removeAttribute("aria-labelledby");
    }
    input.setAttribute("aria-expanded", String(open));
    if (active >= 0) {
      input.setAttribute("aria-activedescendant", `${list.id}-${active}`);
      list.children[active].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function suggest() {
    names = document.activeElement === input ? suggestLearners(roster(), input.value) : [];
    active = -1;
    draw();
    status.textContent = names.length ? `${names.length} roster ${names.length === 1 ? "name matches" : "names match"}; arrow keys to choose` : "";
  }

  /** Opens the choice when the typed name could be several roster names; true if it did. */
  function askIfAmbiguous() {
    const typed = input.value.trim();
    const many = typed ? ambiguousLearners(roster(), typed) : [];
    if (many.length < 2) return false;
    if (document.activeElement !== input) input.focus();
    names = many;
    active = -1;
    draw();
    which.textContent = `Which ${typed.charAt(0).toUpperCase()}${typed.slice(1)}?`;
    which.classList.remove("hidden");
    list.setAttribute("aria-labelledby", which.id);
    status.textContent = `${which.textContent} ${many.join(", ")}; arrow keys to choose`;
    return true;
  }

  function close() {
    names = [];
    active = -1;
    draw();
  }

  function pick(i) {
    input.value = names[i];
    close();
    status.textContent = `${input.value} chosen`;
  }

  function move(step) {
    if (!isOpen()) {
      suggest();
      if (!names.length) return;
    }
    active = active < 0 ? (step > 0 ? 0 : names.length - 1) : (active + step + names.length) % names.length;
    draw();
  }

  /** Clears a quick box whose text is not a roster name; true if it did. */
  function dropIfTyping() {
    const quick = quickSince !== null;
    quickSince = null;
    const typed = input.value.trim();
    if (!quick || !typed) return false;
    const known = roster();
    if (known.includes(matchLearner(known, typed)) || ambiguousLearners(known, typed).length > 1) return false;
    input.value = "";
    close();
    status.textContent = "Cleared: that was typing, not a learner's name";
    onTyping();
    return true;
  }

  input.addEventListener("input", () => {
    // The first letter after a pause: the producer meant the box, whatever the name.
    if (quickSince !== null && performance.now() - quickSince >= QUIET_AFTER_MS && input.value.trim().length <= 1) quickSince = null;
    suggest();
  });
  input.addEventListener("blur", () => {
    dropIfTyping();
    close();
  });
  input.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return; // an IME's Enter and arrows are its own
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      move(e.key === "ArrowDown" ? 1 : -1);
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (isOpen() && active >= 0) pick(active);
      else if (askIfAmbiguous()) return; // the producer picks one; nothing is logged yet
      else if (dropIfTyping()) {
        // typing by mistake: nothing kept, back to the panel
      } else {
        const typed = input.value.trim();
        if (typed) input.value = matchLearner(roster(), typed);
        close();
      }
      onEnter();
    } else if (e.key === "Tab") {
      if (isOpen() && active >= 0) pick(active); // and the focus moves on as usual
      else close();
    } else if (e.key === "Escape" && isOpen()) {
      e.preventDefault();
      e.stopPropagation(); // the first Esc closes the list; the next one leaves the box
      close();
    }
  });
  /** The L key: focus the box; letters typed straight after make it quick (see above). */
  function focusFromKey() {
    quickSince = performance.now();
    input.focus();
  }
  return { close, askIfAmbiguous, focusFromKey, refresh: () => isOpen() && suggest() };
}
