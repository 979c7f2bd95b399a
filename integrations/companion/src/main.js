// The Companion side: config fields, actions, feedbacks and variables over src/backchannel.js.
import { InstanceBase, InstanceStatus, combineRgb, runEntrypoint } from "@companion-module/base";
import { Backchannel } from "./backchannel.js";

const GREEN = combineRgb(23, 111, 49);
const AMBER = combineRgb(138, 75, 0);
const RED = combineRgb(180, 35, 24);
const WHITE = combineRgb(255, 255, 255);

class BackchannelInstance extends InstanceBase {
  async init(config) {
    this.config = config;
    this.connect();
  }

  async configUpdated(config) {
    this.config = config;
    this.connect();
  }

  async destroy() {
    if (this.bc) this.bc.stop();
    clearInterval(this.timer);
  }

  getConfigFields() {
    return [
      { type: "textinput", id: "url", label: "Server URL (e.g. https://backchannel.example.org)", width: 12 },
      { type: "textinput", id: "session", label: "Session id", width: 6 },
      { type: "textinput", id: "token", label: "Producer key (the t=… of the producer link)", width: 6 },
    ];
  }

  connect() {
    if (this.bc) this.bc.stop();
    clearInterval(this.timer);
    const { url, session, token } = this.config || {};
    if (!url || !session || !token) {
      this.updateStatus(InstanceStatus.BadConfig, "Server URL, session and key are needed");
      return;
    }
    this.updateStatus(InstanceStatus.Connecting);
    this.bc = new Backchannel({ url, session, token }).start();
    this.bc.addEventListener("status", (e) => {
      const { status, reason } = e.detail;
      if (status === "online") this.updateStatus(InstanceStatus.Ok);
      else if (status === "closed") this.updateStatus(InstanceStatus.AuthenticationFailure, reason);
      else this.updateStatus(InstanceStatus.ConnectionFailure, reason);
    });
    this.bc.addEventListener("change", () => this.refresh());
    this.bc.addEventListener("presets", () => this.define());
    this.define();
    this.timer = setInterval(() => this.refresh(), 1000); // the countdown runs between events
  }

  refresh() {
    if (!this.bc) return;
    this.setVariableValues(this.bc.variables());
    this.checkFeedbacks();
  }

  define() {
    const bc = this.bc;
    const presetChoices = bc.presets.map((p) => ({ id: p.preset_id, label: p.label }));
    const run = (fn) => async (event) => {
      try {
        await fn(event);
      } catch (err) {
        this.log("warn", String(err.message || err));
      }
    };
    this.setActionDefinitions({
      send_preset: {
        name: "Send a preset",
        options: [
          { type: "dropdown", id: "preset", label: "Preset", choices: presetChoices, default: presetChoices[0] ? presetChoices[0].id : "" },
          { type: "textinput", id: "learner", label: "Learner (for learner presets, optional)" },
        ],
        callback: run((e) => bc.sendPreset(e.options.preset, { learner: e.options.learner || undefined })),
      },
      start_next: { name: "Start the next segment", options: [], callback: run(() => bc.startNext()) },
      end_segment: { name: "End the segment", options: [], callback: run(() => bc.endSegment()) },
      extend: {
        name: "Extend the segment",
        options: [{ type: "number", id: "minutes", label: "Minutes (negative shortens)", default: 1, min: -60, max: 60 }],
        callback: run((e) => bc.extend(Number(e.options.minutes))),
      },
      answer_request: {
        name: "Answer the oldest open request",
        options: [{ type: "dropdown", id: "status", label: "Answer", default: "done", choices: [{ id: "on_it", label: "On it" }, { id: "done", label: "Done" }, { id: "declined", label: "Declined" }] }],
        callback: run((e) => bc.answerRequest(e.options.status)),
      },
    });
    this.setFeedbackDefinitions({
      receipt: {
        type: "boolean",
        name: "Last message delivered / seen / acknowledged",
        defaultStyle: { bgcolor: GREEN, color: WHITE },
        options: [{ type: "dropdown", id: "level", label: "At least", default: "acknowledged", choices: [{ id: "delivered", label: "Delivered" }, { id: "seen", label: "Seen" }, { id: "acknowledged", label: "Acknowledged" }] }],
        callback: (fb) => bc.receiptAtLeast(fb.options.level),
      },
      alert_waiting: { type: "boolean", name: "A stop alert is waiting", defaultStyle: { bgcolor: RED, color: WHITE }, options: [], callback: () => bc.alertWaiting() },
      facilitator_online: { type: "boolean", name: "Facilitator online", defaultStyle: { bgcolor: GREEN, color: WHITE }, options: [], callback: () => bc.facilitatorOnline() },
      countdown: {
        type: "boolean",
        name: "Countdown amber / red",
        defaultStyle: { bgcolor: AMBER, color: WHITE },
        options: [{ type: "dropdown", id: "tone", label: "When", default: "amber", choices: [{ id: "amber", label: "Amber (ending soon)" }, { id: "red", label: "Red (over time)" }] }],
        callback: (fb) => bc.countdownTone() === fb.options.tone,
      },
    });
    this.setVariableDefinitions([
      { variableId: "countdown", name: "Time left in the segment" },
      { variableId: "segment", name: "Segment title" },
      { variableId: "next_segment", name: "Next segment" },
      { variableId: "waiting", name: "How long the oldest stop alert (or request) has waited" },
      { variableId: "receipt", name: "The last message's receipt" },
      { variableId: "facilitator", name: "Facilitator online or offline" },
    ]);
    this.refresh();
  }
}

runEntrypoint(BackchannelInstance, []);
