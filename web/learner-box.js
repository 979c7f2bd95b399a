// The panel's learner box as a combobox: while the producer types, the roster names it could
// mean are listed above it (web/names.js, the server's own rule). ↓/↑ move through them,
// Enter or Tab picks one, Esc closes the list; Enter with none chosen keeps what the server
// would log (the roster's spelling when the name is clear, else the text as typed) and hands
// the keyboard back to the panel, so the next learner key sends the flag.
import { el } from "./util.js";
import { matchLearner, suggestLearners } from "./names.js";

/** options: {list: the role=listbox element, roster: () => names, onEnter: () => void} */
export function mount(input, { list, roster, onEnter }) {
  let names = [];
  let active = -1;
  const status = el("span", { class: "sr-only", role: "status" });
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

  input.addEventListener("input", suggest);
  input.addEventListener("blur", close);
  input.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return; // an IME's Enter and arrows are its own
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      move(e.key === "ArrowDown" ? 1 : -1);
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (isOpen() && active >= 0) pick(active);
      else {
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
  return { close, refresh: () => isOpen() && suggest() };
}
