// Links on the producer panel: every participant's link, with "new link" (rotate: the old link
// stops at once) and "revoke". The new link is shown once, here, to copy; it is not kept.
import { api, clear, el } from "./util.js";

/** options: {token, sessionId: () => id, me: () => own participant_id} */
export function mount(box, { token, sessionId, me }) {
  const list = el("ul", { class: "mine-list", id: "links-list" });
  const error = el("p", { class: "error-box hidden", role: "alert" });
  const details = el(
    "details",
    { class: "playbook", id: "links-box" },
    el("summary", {}, "Links"),
    el("p", { class: "hint" }, "A new link replaces the old one at once (whoever had it is disconnected); revoke stops a link for good."),
    list,
    error,
  );
  box.append(details);
  const showError = (text) => {
    error.textContent = text;
    error.classList.toggle("hidden", !text);
  };

  async function load() {
    showError("");
    try {
      const people = await api(`/api/v1/sessions/${sessionId()}/participants`, token);
      render(people);
    } catch (err) {
      showError(err.message);
    }
  }

  function render(people) {
    clear(list);
    for (const p of people) {
      const own = p.participant_id === me();
      const fresh = el("div", { class: "fresh-link" });
      const rotate = el("button", { type: "button", class: "small", "aria-label": `New link for ${p.name}` }, "New link");
      const revoke = el("button", { type: "button", class: "small danger", "aria-label": `Revoke ${p.name}` }, "Revoke");
      // Not one's own link here: this page would be disconnected by it at once.
      rotate.disabled = p.revoked || own;
      revoke.disabled = p.revoked || own;
      rotate.addEventListener("click", async () => {
        showError("");
        try {
          const r = await api(`/api/v1/sessions/${sessionId()}/participants/${p.participant_id}/rotate`, token, { method: "POST" });
          const link = r.participant.role === "facilitator" ? r.link : `${r.link}&s=${encodeURIComponent(sessionId())}`;
          clear(fresh).append(
            el("code", {}, link),
            el("span", { class: "hint" }, " Send this to them; the old link no longer works."),
          );
        } catch (err) {
          showError(err.message);
        }
      });
      let armed = null;
      revoke.addEventListener("click", async () => {
        showError("");
        if (!armed) {
          // Two clicks: revoking cannot be undone.
          revoke.textContent = "Click again to revoke";
          armed = setTimeout(() => {
            armed = null;
            revoke.textContent = "Revoke";
          }, 4000);
          return;
        }
        clearTimeout(armed);
        try {
          await api(`/api/v1/sessions/${sessionId()}/participants/${p.participant_id}`, token, { method: "DELETE" });
          await load();
        } catch (err) {
          showError(err.message);
        }
      });
      list.append(
        el(
          "li",
          { class: "mine-row", dataset: { participant: p.participant_id, role: p.role } },
          el("div", { class: "grow" }, el("strong", {}, p.name), el("span", { class: "hint" }, ` ${p.role}${own ? " (you)" : ""}${p.revoked ? " · revoked" : p.online ? " · online" : ""}`), fresh),
          el("div", { class: "row" }, rotate, revoke),
        ),
      );
    }
  }
  details.addEventListener("toggle", () => details.open && load());
}
