// Which keystrokes on the producer panel are shortcuts, and which are someone typing (pure:
// the clock is passed in, so node tests drive it). A producer often types into the panel by
// mistake, thinking it is the video call's chat; words typed at any speed must send nothing.
// Rules:
//   - a printable key (digits included) is a shortcut only when it comes alone: no key in the
//     QUIET_BEFORE_MS before it, and no key in the QUIET_AFTER_MS after it; it fires when that
//     quiet time has passed (the page shows what is about to go, and any key cancels it);
//   - Enter, Backspace and Delete are typing too; a capital letter or a space never is a
//     shortcut; Tab, arrows and function keys are neither typing nor shortcuts;
//   - FOCUS_KEYS (e.g. "l": the learner box) only move the focus to a text box where Enter
//     cannot send anything: they act at once, so the name typed straight after lands in the box;
//   - a stop key, once its quiet time passed, only arms: Enter confirms if it comes
//     CONFIRM_AFTER_MS … ARM_MS after the arming; any other printable key or Esc disarms.

export const QUIET_BEFORE_MS = 1000;
export const QUIET_AFTER_MS = 800;
export const ARM_MS = 3000;
export const CONFIRM_AFTER_MS = 250;

const TYPING_KEYS = new Set(["Enter", "Backspace", "Delete"]);

export class KeyGate {
  /** `keys`: key -> {stop: bool, focus: bool}; shortcuts are one printable character. */
  constructor(keys = {}) {
    this.keys = keys;
    this.lastKeyAt = -Infinity;
    this.pending = null; // {key, at, stop}: a lone key waiting for quiet
    this.armed = null; // {key, at}: a stop key waiting for Enter
  }

  setKeys(keys) {
    this.keys = keys;
  }

  /**
   * One keydown (no Ctrl/Alt/Meta; `key` as in KeyboardEvent.key). Returns what to do:
   *   {do: "defer", key, ms, stop} (call due() after ms; show that it is about to go)
   *   · {do: "focus", key} now · {do: "confirm", key} (Enter on an armed stop)
   *   · {do: "disarm"} · {do: "typing", cancelled} · {do: "none"}
   * `cancelled` is the key whose wait this keystroke cancelled, if any.
   */
  press(key, now) {
    if (this.armed && now - this.armed.at > ARM_MS) this.armed = null;
    if (key === "Enter" && this.armed) {
      const { key: k, at } = this.armed;
      this.armed = null;
      this.lastKeyAt = now;
      if (now - at < CONFIRM_AFTER_MS) return { do: "disarm", typing: true };
      return { do: "confirm", key: k };
    }
    if (key === "Escape") {
      const had = this.armed || this.pending;
      this.armed = null;
      this.pending = null;
      return had ? { do: "disarm" } : { do: "none" };
    }
    if (key.length !== 1 && !TYPING_KEYS.has(key)) return { do: "none" }; // Tab, arrows, Shift
    const quietBefore = now - this.lastKeyAt >= QUIET_BEFORE_MS;
    this.lastKeyAt = now;
    const cancelled = this.pending ? this.pending.key : null;
    this.pending = null;
    if (this.armed) {
      this.armed = null;
      return { do: "disarm", typing: true, cancelled };
    }
    if (cancelled !== null || !quietBefore || key.length !== 1) return { do: "typing", cancelled };
    const spec = key.toLowerCase() === key && !/\s/.test(key) ? this.keys[key] : undefined;
    if (!spec) return { do: "typing", cancelled: null };
    if (spec.focus) return { do: "focus", key };
    this.pending = { key, at: now, stop: !!spec.stop };
    return { do: "defer", key, ms: QUIET_AFTER_MS, stop: !!spec.stop };
  }

  /** The waiting key whose quiet time passed (once), or null if it was typing after all. */
  due(now) {
    if (!this.pending || now - this.pending.at < QUIET_AFTER_MS) return null;
    const k = this.pending.key;
    this.pending = null;
    return k;
  }

  /** The key waiting for quiet, or null. */
  pendingKey() {
    return this.pending ? this.pending.key : null;
  }

  /** The armed stop key, or null once ARM_MS passed. */
  armedKey(now) {
    if (this.armed && now - this.armed.at > ARM_MS) this.armed = null;
    return this.armed ? this.armed.key : null;
  }

  /** Arm a stop key: by key after its quiet time (Enter confirms a moment later), or from a
   * tap (`tapped`: the tap was the intent, Enter confirms at once). */
  arm(key, now, tapped = false) {
    this.armed = { key, at: tapped ? now - CONFIRM_AFTER_MS : now };
  }

  /** True once an Enter would confirm the armed stop (shown as "Enter sends"). */
  ready(now) {
    return this.armed !== null && now - this.armed.at >= CONFIRM_AFTER_MS;
  }

  disarm() {
    this.armed = null;
  }
}
