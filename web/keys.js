// Which keystrokes on the producer panel are shortcuts, and which are someone typing (pure:
// the clock is passed in, so node tests drive it). Rules:
//   - digit shortcuts (timing prompts) fire at once;
//   - letter shortcuts (learner flags, other presets) fire QUIET_AFTER_MS later, unless another
//     printable key comes first — then both were typing ("hi bob" sends nothing);
//   - stop keys only arm: Enter confirms if it comes CONFIRM_AFTER_MS … ARM_MS after the key (an
//     Enter straight after it is someone typing a word that ends in that letter); any other
//     printable key or Esc disarms;
//   - any key within TYPING_MS of a typing key is typing too (a paragraph sends nothing), and a
//     capital letter or a space is always typing.

export const TYPING_MS = 1000;
export const QUIET_AFTER_MS = 300;
export const ARM_MS = 3000;
export const CONFIRM_AFTER_MS = 250;

export class KeyGate {
  /** `keys`: key -> {stop: bool}; shortcuts are one printable character. */
  constructor(keys = {}) {
    this.keys = keys;
    this.lastTypingAt = -Infinity;
    this.pending = null; // {key, at}: a letter shortcut waiting for quiet
    this.armed = null; // {key, at}: a stop key waiting for Enter
  }

  setKeys(keys) {
    this.keys = keys;
  }

  /**
   * One keydown (no Ctrl/Alt/Meta; `key` as in KeyboardEvent.key). Returns what to do:
   *   {do: "fire", key} now · {do: "defer", key, ms} (call due() after ms) · {do: "arm", key}
   *   · {do: "confirm", key} (Enter on an armed stop) · {do: "disarm"} · {do: "typing"} · {do: "none"}
   */
  press(key, now) {
    if (this.armed && now - this.armed.at > ARM_MS) this.armed = null;
    if (key === "Enter" && this.armed) {
      const { key: k, at } = this.armed;
      this.armed = null;
      if (now - at < CONFIRM_AFTER_MS) {
        this.lastTypingAt = now;
        return { do: "disarm", typing: true };
      }
      return { do: "confirm", key: k };
    }
    if (key === "Escape" && this.armed) {
      this.armed = null;
      return { do: "disarm" };
    }
    if (key.length !== 1) return { do: "none" }; // Tab, arrows, F-keys: not typing, not shortcuts
    const wasArmed = this.armed !== null;
    this.armed = null;
    if (this.pending || wasArmed || now - this.lastTypingAt < TYPING_MS || /\s/.test(key)) {
      this.pending = null;
      this.lastTypingAt = now;
      return wasArmed ? { do: "disarm", typing: true } : { do: "typing" };
    }
    const k = key.toLowerCase() === key ? key : null;
    const spec = k !== null ? this.keys[k] : undefined;
    if (!spec) {
      this.lastTypingAt = now;
      return { do: "typing" };
    }
    if (spec.stop) {
      this.armed = { key: k, at: now };
      return { do: "arm", key: k, ms: ARM_MS };
    }
    if (/^[0-9]$/.test(k)) return { do: "fire", key: k };
    this.pending = { key: k, at: now };
    return { do: "defer", key: k, ms: QUIET_AFTER_MS };
  }

  /** A deferred letter shortcut whose quiet time passed: its key, or null if it was typing. */
  due(now) {
    if (!this.pending || now - this.pending.at < QUIET_AFTER_MS) return null;
    const k = this.pending.key;
    this.pending = null;
    return k;
  }

  /** The armed stop key, or null once ARM_MS passed. */
  armedKey(now) {
    if (this.armed && now - this.armed.at > ARM_MS) this.armed = null;
    return this.armed ? this.armed.key : null;
  }

  /** Arm from a click/tap (the confirm is a second tap or Enter). */
  arm(key, now) {
    this.armed = { key, at: now - CONFIRM_AFTER_MS };
  }

  /** True once an Enter would confirm the armed stop (shown as "Enter sends"). */
  ready(now) {
    return this.armed !== null && now - this.armed.at >= CONFIRM_AFTER_MS;
  }

  disarm() {
    this.armed = null;
  }
}
