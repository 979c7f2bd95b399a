// The console's rooms: producer links pasted into it, kept in this browser's localStorage (like
// "My sessions"). The key stays in the link's fragment and in storage: it is never put in a
// URL that goes to the server. Pure functions (storage passed in), so node tests drive them.

const KEY = "backchannel.console";
export const MAX_ROOMS = 20;

/**
 * One pasted link → {token, sid} or {error}. Only this server's producer links (an observer's
 * link is a producer page too, and is followed read-only); a facilitator link would make the
 * facilitator look online, so it is refused.
 */
export function parseLink(text, origin) {
  const raw = String(text || "").trim();
  if (!raw) return null;
  let url;
  try {
    url = new URL(raw, origin);
  } catch {
    return { error: `“${short(raw)}” is not a link.` };
  }
  if (url.origin !== new URL(origin).origin) return { error: `“${short(raw)}” is a link to another server (${url.host}).` };
  const params = new URLSearchParams(url.hash.slice(1));
  const token = params.get("t");
  if (url.pathname === "/facilitator") return { error: "That is a facilitator's link: the console follows producer links." };
  if (url.pathname !== "/producer" || !token) return { error: `“${short(raw)}” is not a producer link (…/producer#t=…).` };
  return { token, sid: params.get("s") || null };
}

function short(s) {
  return s.length > 48 ? s.slice(0, 45) + "…" : s;
}

/** Links pasted one or more a line (or separated by spaces) → {found: [{token, sid}], errors: [..]}. */
export function parseLinks(text, origin) {
  const found = [];
  const errors = [];
  for (const part of String(text || "").split(/\s+/)) {
    const r = parseLink(part, origin);
    if (!r) continue;
    if (r.error) errors.push(r.error);
    else found.push(r);
  }
  return { found, errors };
}

/** The kept rooms, in the order they were added: [{token, sid, title}]. */
export function listRooms(storage = globalThis.localStorage) {
  try {
    const raw = JSON.parse(storage.getItem(KEY) || "[]");
    return Array.isArray(raw) ? raw.filter((r) => r && typeof r.token === "string" && r.token).slice(0, MAX_ROOMS) : [];
  } catch {
    return [];
  }
}

export function saveRooms(rooms, storage = globalThis.localStorage) {
  try {
    storage.setItem(KEY, JSON.stringify(rooms.slice(0, MAX_ROOMS).map(({ token, sid, title }) => ({ token, sid: sid || null, title: title || null }))));
    return true;
  } catch {
    return false; // storage full or disabled: the rooms are followed for this visit only
  }
}

/**
 * Adds `links` to `rooms` (a new list): the same token or session twice is skipped, and no
 * more than MAX_ROOMS are kept. Returns {rooms, added, skipped: [messages]}.
 */
export function addRooms(rooms, links) {
  const out = rooms.slice();
  const skipped = [];
  let added = 0;
  for (const link of links) {
    if (out.some((r) => r.token === link.token || (link.sid && r.sid === link.sid))) {
      skipped.push("Already followed: " + (link.sid || "that link") + ".");
      continue;
    }
    if (out.length >= MAX_ROOMS) {
      skipped.push(`At most ${MAX_ROOMS} rooms: remove one to add another.`);
      break;
    }
    out.push({ token: link.token, sid: link.sid || null, title: null });
    added += 1;
  }
  return { rooms: out, added, skipped };
}

/**
 * The order rooms are shown in: a stop alert waiting first (the longest waiting on top), then
 * an open request (likewise), then the rest as they were added. `rooms`: [{key, alertAt,
 * requestAt}] with ISO times or null; returns the keys.
 */
export function attentionOrder(rooms) {
  const rank = (r) => (r.alertAt ? 0 : r.requestAt ? 1 : 2);
  const since = (r) => Date.parse(r.alertAt || r.requestAt || "") || 0;
  return rooms
    .map((r, i) => ({ r, i }))
    .sort((a, b) => rank(a.r) - rank(b.r) || since(a.r) - since(b.r) || a.i - b.i)
    .map(({ r }) => r.key);
}
