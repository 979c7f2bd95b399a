// Edits of the session made elsewhere (another producer tab, the setup on another machine)
// reach this page live: a `state` frame with "session_changed" (client.js "session-changed")
// makes it re-read the session (title, agenda, roster, settings) and the playbook. Several
// changes in a row are read once more after the read in progress, never in parallel.
import { api } from "./util.js";

/** options: {token, sessionId: () => id, onSession: session => void, onPresets: () => void} */
export function follow(ch, { token, sessionId, onSession, onPresets }) {
  let reading = false;
  let again = false;

  async function read() {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      const sid = sessionId();
      if (sid) {
        const view = await api(`/api/v1/sessions/${sid}`, token);
        onSession(view.session);
        onPresets();
      }
    } catch {
      // The next change, or the next welcome after a reconnect, brings it.
    } finally {
      reading = false;
      if (again) {
        again = false;
        read();
      }
    }
  }

  ch.addEventListener("session-changed", read);
}
