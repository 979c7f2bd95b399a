// Webhooks on the producer panel: the session's endpoints (status, last error, their
// deliveries), add one (the secret is shown once, here), remove one. docs/webhooks.md.
import { api, clear, el } from "./util.js";

const KINDS = [
  ["alert.unanswered", "Stop alert not answered"],
  ["request", "Facilitator's requests"],
  ["alert.stop", "Stop alerts sent"],
  ["message", "Messages"],
  ["session.end", "Session ended"],
];

/** options: {token, sessionId: () => id} */
export function mount(box, { token, sessionId }) {
  const list = el("ul", { class: "mine-list", id: "webhooks-list" });
  const error = el("p", { class: "error-box hidden", role: "alert" });
  const url = el("input", { type: "url", id: "webhook-url", placeholder: "https://hooks.slack.com/services/…", maxlength: "2000" });
  const checks = KINDS.map(([kind, label]) => {
    const box = el("input", { type: "checkbox", value: kind, checked: kind === "alert.unanswered" });
    return el("label", { class: "hint row" }, box, ` ${label}`);
  });
  const level = el("select", { id: "webhook-level", "aria-label": "Escalation level" },
    [1, 2, 3, 4, 5].map((n) => el("option", { value: String(n) }, `after level ${n}`)));
  level.value = "2";
  const add = el("button", { type: "button", class: "primary" }, "Add webhook");
  const secret = el("div", { class: "fresh-link", id: "webhook-secret" });
  const details = el(
    "details",
    { class: "playbook", id: "webhooks-box" },
    el("summary", {}, "Webhooks"),
    el("p", { class: "hint" }, "Send events to Slack, Teams, ntfy or your own service — e.g. a stop alert nobody answered. Public https:// addresses only."),
    list,
    el("label", { class: "pb-field", for: "webhook-url" }, el("span", { class: "hint" }, "Endpoint URL"), url),
    el("div", { class: "row" }, ...checks, level),
    el("div", { class: "row" }, add),
    secret,
    error,
  );
  box.append(details);
  const showError = (text) => {
    error.textContent = text;
    error.classList.toggle("hidden", !text);
  };
  const base = () => `/api/v1/sessions/${sessionId()}/webhooks`;

  async function load() {
    showError("");
    try {
      render((await api(base(), token)).webhooks);
    } catch (err) {
      showError(err.message);
    }
  }

  function render(hooks) {
    clear(list);
    if (!hooks.length) list.append(el("li", { class: "hint" }, "No webhooks yet."));
    for (const w of hooks) {
      const log = el("ol", { class: "hint webhook-log" });
      const show = el("button", { type: "button", class: "small" }, "Deliveries");
      const remove = el("button", { type: "button", class: "small danger", "aria-label": `Remove webhook ${w.url}` }, "Remove");
      show.addEventListener("click", async () => {
        try {
          const rows = (await api(`${base()}/${w.webhook_id}/deliveries`, token)).deliveries;
          clear(log);
          if (!rows.length) log.append(el("li", {}, "Nothing sent yet."));
          for (const d of rows) {
            const how = d.status === "delivered" ? `delivered (HTTP ${d.response_status})` : `${d.status}${d.last_error ? ": " + d.last_error : ""}`;
            log.append(el("li", {}, `#${d.seq} ${d.type} — ${how}, ${d.attempts} attempt${d.attempts === 1 ? "" : "s"}`));
          }
        } catch (err) {
          showError(err.message);
        }
      });
      remove.addEventListener("click", async () => {
        try {
          await api(`${base()}/${w.webhook_id}`, token, { method: "DELETE" });
          await load();
        } catch (err) {
          showError(err.message);
        }
      });
      const kinds = w.kinds.map((k) => (k === "alert.unanswered" ? `unanswered (level ${w.level})` : k)).join(", ");
      const state = w.status === "disabled" ? `disabled: ${w.disabled_reason}` : w.status === "retrying" ? `retrying: ${w.last_error}` : "active";
      list.append(
        el(
          "li",
          { class: "mine-row", dataset: { webhook: w.webhook_id, status: w.status } },
          el("div", { class: "grow" }, el("code", {}, w.url), el("span", { class: "hint" }, ` ${kinds} · ${state}`), log),
          el("div", { class: "row" }, show, remove),
        ),
      );
    }
  }

  add.addEventListener("click", async () => {
    showError("");
    const kinds = checks.map((c) => c.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    const json = { url: url.value.trim(), kinds };
    if (kinds.includes("alert.unanswered")) json.level = Number(level.value);
    add.disabled = true;
    try {
      const r = await api(base(), token, { method: "POST", json });
      url.value = "";
      clear(secret).append(
        el("span", { class: "hint" }, "Signing secret (shown once — keep it to check signatures): "),
        el("code", {}, r.secret),
      );
      await load();
    } catch (err) {
      showError(err.message);
    } finally {
      add.disabled = false;
    }
  });
  details.addEventListener("toggle", () => {
    if (details.open) load();
  });
  return { reload: load };
}
