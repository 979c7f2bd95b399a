// "My sessions": the links of sessions created in this browser, kept only in its localStorage.
// The links carry their keys after the "#"; they are never sent to the server from here.

const KEY = "backchannel.mySessions";
const MAX = 50;

/** The kept sessions, newest first: [{id, title, created, links: {producer, facilitator, observer, debrief}}]. */
export function listSessions(storage = globalThis.localStorage) {
  try {
    const raw = JSON.parse(storage.getItem(KEY) || "[]");
    return Array.isArray(raw) ? raw.filter((s) => s && typeof s.id === "string" && s.links) : [];
  } catch {
    return [];
  }
}

function save(list, storage) {
  try {
    storage.setItem(KEY, JSON.stringify(list.slice(0, MAX)));
    return true;
  } catch {
    return false; // storage full or disabled: the list is a convenience, the links are still shown
  }
}

export function rememberSession(entry, storage = globalThis.localStorage) {
  const list = listSessions(storage).filter((s) => s.id !== entry.id);
  list.unshift(entry);
  return save(list, storage);
}

export function forgetSession(id, storage = globalThis.localStorage) {
  return save(
    listSessions(storage).filter((s) => s.id !== id),
    storage,
  );
}

/** "5, 1, 0" → [5, 1, 0]; throws an Error with a message a person can act on. */
export function parseAutoPrompts(text) {
  const parts = text.split(/[,;\s]+/).filter(Boolean);
  const out = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p) || Number(p) > 600) throw new Error(`“${p}” is not a number of minutes from 0 to 600.`);
    if (!out.includes(Number(p))) out.push(Number(p));
  }
  if (out.length > 10) throw new Error("At most 10 automatic prompts.");
  return out.sort((a, b) => b - a);
}
