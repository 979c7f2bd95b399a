// A stop alert the facilitator has not answered reaches a producer who is in another window:
// the tab's title flashes "(!) waiting 1:05 — …", a chime sounds every CHIME_EVERY_S (when
// sound is on, the default), and a system notification appears while the tab is hidden (its
// permission is asked once, on a tap or key, and never needed: without it nothing else changes).
import { beep, mmss, unlockSound } from "./util.js";

export const CHIME_EVERY_S = 20;
const ASKED = "bc.notify.asked";

/** options: {sound: () => bool, title: () => the page's own title} */
export function mount({ sound, title }) {
  let chimed = new Map(); // alert seq -> how many 20 s steps have chimed
  let noticed = new Map(); // alert seq -> step of the last notification
  let waiting = null; // {seq, at, text, waitedS} of the oldest unanswered alert
  let flash = false;

  // Sound needs a tap or a key once (browsers start it muted); so does the permission prompt.
  const gesture = () => {
    if (sound()) unlockSound();
  };
  addEventListener("pointerdown", gesture, true);
  addEventListener("keydown", gesture, true);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && waiting) notify(waiting, -1);
  });

  function notify(w, step) {
    if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
    if (noticed.get(w.seq) === step) return;
    noticed.set(w.seq, step);
    try {
      const n = new Notification(`Stop alert waiting ${mmss(w.waitedS)}`, {
        body: `${w.text} — the facilitator has not answered yet`,
        tag: `backchannel-stop-${w.seq}`,
        renotify: true,
      });
      n.onclick = () => {
        window.focus();
        n.close();
      };
    } catch {
      // Some browsers only notify from a service worker: the title and the chime remain.
    }
  }

  /** Called on every tick with the open stop alerts ({seq, at, text, snoozed_until}). */
  function update(alerts, nowMs) {
    const open = alerts.filter((a) => !(a.snoozed_until && Date.parse(a.snoozed_until) > nowMs));
    const seqs = new Set(open.map((a) => a.seq));
    chimed = new Map([...chimed].filter(([s]) => seqs.has(s)));
    noticed = new Map([...noticed].filter(([s]) => seqs.has(s)));
    if (!open.length) {
      waiting = null;
      if (document.title !== title()) document.title = title();
      return;
    }
    const oldest = open.reduce((a, b) => (Date.parse(a.at) <= Date.parse(b.at) ? a : b));
    const waitedS = Math.max(0, Math.floor((nowMs - Date.parse(oldest.at)) / 1000));
    waiting = { seq: oldest.seq, at: oldest.at, text: oldest.text, waitedS };
    flash = Math.floor(nowMs / 1000) % 2 === 0;
    document.title = `${flash ? "(!)" : "( )"} waiting ${mmss(waitedS)} — ${title()}`;
    for (const a of open) {
      const step = Math.floor(Math.max(0, nowMs - Date.parse(a.at)) / 1000 / CHIME_EVERY_S);
      if (step < 1 || (chimed.get(a.seq) || 0) >= step) continue;
      chimed.set(a.seq, step);
      if (sound()) beep([[988, 160], [740, 160], [988, 220]], Math.min(0.6, 0.25 + 0.1 * step));
      if (document.visibilityState === "hidden") notify({ ...waiting, seq: a.seq }, step);
    }
  }

  /** On a tap or key that sends a stop alert: ask for notifications, once per browser. */
  function askOnce() {
    if (typeof Notification === "undefined" || Notification.permission !== "default") return;
    try {
      if (localStorage.getItem(ASKED)) return;
      localStorage.setItem(ASKED, "1");
    } catch {
      // No storage: ask anyway; the browser remembers the answer.
    }
    try {
      const asked = Notification.requestPermission();
      if (asked && asked.catch) asked.catch(() => {});
    } catch {
      // Not allowed here: the title and the chime remain.
    }
  }

  return { update, askOnce };
}
