// Small helpers shared by the pages: tokens from the fragment, DOM building, times, icons.
import SPEC from "./kinds.json" with { type: "json" };

/** The token from `#t=…`, moved out of the visible URL into sessionStorage (per path). */
export function takeToken() {
  const key = "bc.token:" + location.pathname;
  const params = new URLSearchParams(location.hash.slice(1));
  const fromHash = params.get("t");
  if (fromHash) {
    sessionStorage.setItem(key, fromHash);
    const sid = params.get("s");
    if (sid) sessionStorage.setItem("bc.sid:" + location.pathname, sid);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(key);
}

export function storedSessionId() {
  return sessionStorage.getItem("bc.sid:" + location.pathname);
}

/** el("div", {class: "x", onclick: f}, "text", child) — text children become text nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      node.className = value;
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** A function that runs `fn` at the next animation frame, once however often it is called. */
export function onceAFrame(fn) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      fn();
    });
  };
}

/** Shows a page-stopping problem (a missing or bad link) in the page's #fatal box. */
export function fatal(text) {
  const box = $("#fatal");
  box.textContent = text;
  box.classList.remove("hidden");
}

export function clockTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** 125 -> "2:05", -65 -> "−1:05". */
export function mmss(seconds) {
  const neg = seconds < 0;
  const s = Math.abs(Math.round(seconds));
  const text = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  return neg ? "−" + text : text;
}

export function ago(iso, nowMs) {
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return clockTime(iso);
}

export function initials(name) {
  return (
    String(name)
      .split(/\s+/)
      .filter(Boolean)
      .map((w) => w[0].toUpperCase() + ".")
      .join("") || "?"
  );
}

// What the pages know of each event kind — label, icon, tone, sound, and the words for the
// values of its body's fields — generated from app/models/kinds.py (`backchannel kinds`).
const KINDS = SPEC.kinds;

export const FLAG_TEXT = KINDS["flag.learner"].words.flag;
export const STOP_TEXT = KINDS["alert.stop"].words.reason;
export const REQUEST_TEXT = KINDS.request.words.action;
export const REQUEST_STATUS_TEXT = KINDS["request.status"].words.status;
export const ACK_TEXT = KINDS.ack.words.status;

/** Kind -> label, icon name, tone and sound, so colour is never the only cue. */
export const KIND_META = Object.fromEntries(
  Object.entries(KINDS).map(([kind, k]) => [kind, { label: k.label, icon: k.icon, tone: k.tone, sound: k.sound }]),
);

/** One line of human text for any event (untrusted parts stay plain strings). */
export function describe(ev, { initialsOnly = false } = {}) {
  const b = ev.body || {};
  const who = (name) => (initialsOnly ? initials(name) : name);
  switch (ev.kind) {
    case "prompt.time":
      return b.text;
    case "flag.learner":
      return `${who(b.learner)}: ${FLAG_TEXT[b.flag] || b.flag}${b.text ? " — " + b.text : ""}`;
    case "alert.stop":
      return (STOP_TEXT[b.reason] || "Stop") + (b.text ? " — " + b.text : "");
    case "alert.cancel":
      return `Alert #${b.ref} withdrawn`;
    case "alert.escalated":
      return `Alert #${b.ref} still open (level ${b.level})`;
    case "alert.resurface":
      return `Snoozed message #${b.ref} is back`;
    case "note":
      return b.text + (b.tags && b.tags.length ? ` [${b.tags.join(", ")}]` : "");
    case "seen":
      return `Seen #${b.ref}`;
    case "ack": {
      const what = b.status === "snoozed" ? `${ACK_TEXT.snoozed} ${b.minutes || 1} min` : ACK_TEXT[b.status] || b.status;
      return `${what} #${b.ref}${b.text ? " — " + b.text : ""}`;
    }
    case "message":
      return b.text;
    case "reply":
      return b.text;
    case "request.status":
      return `${REQUEST_STATUS_TEXT[b.status] || b.status} (request #${b.ref})${b.text ? " — " + b.text : ""}`;
    case "request":
      return (REQUEST_TEXT[b.action] || b.action) + (b.text ? " — " + b.text : "");
    case "presence":
      return `${b.participant_id} ${b.status}`;
    case "segment.start":
      return `Segment ${b.index + 1} started`;
    case "segment.end":
      return `Segment ${b.index + 1} ended`;
    case "segment.extend":
      return `Segment ${b.index + 1} ${b.minutes >= 0 ? "+" : ""}${b.minutes} min`;
    case "session.start":
      return "Session started";
    case "session.end":
      return "Session ended";
    default:
      return ev.kind;
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";
const ICONS = {
  clock: ["M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z", "M12 7v5l3 2"],
  person: ["M12 4a4 4 0 1 0 0 8a4 4 0 1 0 0-8z", "M4 21c1-4 4-6 8-6s7 2 8 6"],
  stop: ["M8 2h8l6 6v8l-6 6H8l-6-6V8z", "M12 7v6", "M12 16.5v.5"],
  bubble: ["M4 5h16v10H9l-5 4z"],
  hand: ["M8 12V5a1.5 1.5 0 0 1 3 0v5V3.5a1.5 1.5 0 0 1 3 0V10V5a1.5 1.5 0 0 1 3 0v9c0 4-3 7-6 7c-3 0-4-2-6-5l-2-3a1.5 1.5 0 0 1 2.5-1.5z"],
  check: ["M4 12l5 5L20 6"],
  x: ["M5 5l14 14", "M19 5L5 19"],
  eye: ["M2 12s4-7 10-7s10 7 10 7s-4 7-10 7S2 12 2 12z", "M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6z"],
  pen: ["M4 20l4-1L19 8l-3-3L5 16z"],
  dot: ["M12 8a4 4 0 1 0 0 8a4 4 0 1 0 0-8z"],
  flag: ["M5 21V4", "M5 4h12l-2 4l2 4H5"],
};

export function icon(name, cls = "icon") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", cls);
  svg.setAttribute("aria-hidden", "true");
  for (const d of ICONS[name] || ICONS.dot) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.appendChild(path);
  }
  return svg;
}

/** Sound through WebAudio (no audio files). Browsers start it muted until a tap or key. */
let audioCtx = null;
function audio() {
  if (!audioCtx && typeof AudioContext !== "undefined") audioCtx = new AudioContext();
  return audioCtx;
}

/** True once the page may play sound (after the first tap or key). */
export function soundReady() {
  return !!audioCtx && audioCtx.state === "running";
}

/** Call from a tap or key handler: unlocks sound for the rest of the page's life. */
export async function unlockSound() {
  try {
    const ctx = audio();
    if (ctx && ctx.state !== "running") await ctx.resume();
  } catch {
    // No WebAudio: the page stays silent and says so.
  }
  return soundReady();
}

/** A short beep; `pattern` is a list of [hz, ms]; `volume` 0…1 (louder for each escalation). */
export function beep(pattern = [[880, 120]], volume = 0.2) {
  try {
    const ctx = audio();
    if (!ctx || ctx.state !== "running") return;
    let t = ctx.currentTime;
    for (const [hz, ms] of pattern) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = volume > 0.4 ? "square" : "sine";
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(Math.min(1, Math.max(0.01, volume)), t + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + ms / 1000);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + ms / 1000 + 0.02);
      t += ms / 1000 + 0.05;
    }
  } catch {
    // Sound is a nicety; a browser without WebAudio just stays quiet.
  }
}

/** Seconds a 429 asks to wait (its Retry-After), within 1…60. */
export function retryAfter(res) {
  const s = Number(res.headers.get("Retry-After"));
  return Math.min(60, Math.max(1, Number.isFinite(s) ? s : 1));
}

/**
 * fetch, honouring the server's Retry-After: a read refused with 429 (large reads are
 * priced by the rows they return) is asked again after the wait it names, up to `tries`
 * times. Only reads: a refused write is the caller's to retry.
 */
export async function fetchPolitely(path, init = {}, { tries = 5, sleep = (ms) => new Promise((r) => setTimeout(r, ms)) } = {}) {
  const read = !init.method || init.method === "GET";
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(path, init);
    if (res.status !== 429 || !read || attempt >= tries) return res;
    await sleep(retryAfter(res) * 1000);
  }
}

/** Authorised JSON fetch; throws Error(message) with `.code` from the API's error shape. */
export async function api(path, token, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (token) headers.Authorization = "Bearer " + token;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options = { ...options, body: JSON.stringify(options.json) };
  }
  const res = await fetchPolitely(path, { ...options, headers, cache: "no-store" });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Error((data && data.error && data.error.message) || `HTTP ${res.status}`);
    err.code = data && data.error && data.error.code;
    err.status = res.status;
    throw err;
  }
  return data;
}
