// A page whose link stopped working (rotated, revoked, expired, session deleted: client.js
// "stopped") turns into one full-page notice with nothing left to press: the rest of the page
// is hidden and inert. A new link pasted into the same tab changes only the fragment: the
// page takes the new token and reconnects (client.js useToken) without a reload, or reloads
// where the page holds its token elsewhere too (`reload`).
import { $, el, takeToken } from "./util.js";

const WORDS = {
  replaced: ["This link was replaced", "The producer made a new link for you. Ask the producer for the new one."],
  revoked: ["This link was turned off", "The producer revoked it. Ask the producer for a new link."],
  expired: ["This link has expired", "The session ended long ago; its links no longer open it."],
  invalid: ["This link is not valid", "Check that the whole link was copied, or ask the producer for a new one."],
  deleted: ["This session was deleted", "Nothing is left of it here."],
};
const AGAIN = "Paste the new link into this tab's address bar: it reconnects by itself.";
let hidden = []; // what show() made inert, for lift() to give back

/** Follow `ch` (a client.js Channel): show the notice when it stops, take a new #t=… link. */
export function watchLink(ch, { reload = false } = {}) {
  let sessionId = null;
  ch.addEventListener("welcome", (e) => {
    const id = e.detail.session && e.detail.session.id;
    if (sessionId && id !== sessionId) location.reload(); // another session's link: start over
    sessionId = id;
    lift();
  });
  ch.addEventListener("stopped", (e) => show(e.detail.reason));
  addEventListener("hashchange", () => {
    if (!new URLSearchParams(location.hash.slice(1)).get("t")) return;
    const token = takeToken(); // stored for this tab, and out of the address bar again
    if (reload) location.reload();
    else if (token) ch.useToken(token);
  });
}

function show(reason) {
  const [title, text] = WORDS[reason] || WORDS.invalid;
  const box = el(
    "main",
    { id: "link-stopped", class: "link-stopped", dataset: { reason } },
    el("div", { role: "alert" }, el("h1", {}, title), el("p", { class: "why" }, text)),
    reason === "expired" || reason === "deleted" ? null : el("p", { class: "hint" }, AGAIN),
  );
  const old = $("#link-stopped");
  if (old) old.replaceWith(box);
  else document.body.append(box);
  for (const node of document.body.children) {
    if (node === box || node.classList.contains("sr-only") || node.inert) continue;
    node.inert = true;
    hidden.push(node);
  }
  document.body.classList.add("link-stopped-page");
  if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
}

function lift() {
  const box = $("#link-stopped");
  if (!box) return;
  box.remove();
  for (const node of hidden) node.inert = false;
  hidden = [];
  document.body.classList.remove("link-stopped-page");
  const f = $("#fatal");
  if (f) f.classList.add("hidden");
}
