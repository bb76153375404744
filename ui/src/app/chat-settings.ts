// A conversation's settings (the Settings popover): temperature, context length, thinking and the
// system prompt. They belong to the conversation (saved with it, reset by New chat) and go out with
// every `chat` as `options.temperature`, `options.num_ctx`, `think` and a leading system message.
// Empty fields mean "the model's default" and send nothing.

import type { ChatParams, Message } from "../protocol";
import { h } from "./view";

export interface ChatSettings {
  temperature?: number;
  /** options.num_ctx */
  contextLength?: number;
  /** undefined: not sent (the model's default) */
  think?: boolean;
  system?: string;
}

export const TEMPERATURE_MAX = 2;
export const CONTEXT_MIN = 256;

/** Keeps only well-formed values (settings come back from storage). */
export function cleanSettings(value: unknown): ChatSettings {
  const out: ChatSettings = {};
  if (!value || typeof value !== "object") return out;
  const v = value as Record<string, unknown>;
  if (typeof v.temperature === "number" && v.temperature >= 0 && v.temperature <= TEMPERATURE_MAX) {
    out.temperature = v.temperature;
  }
  if (typeof v.contextLength === "number" && Number.isInteger(v.contextLength) && v.contextLength >= CONTEXT_MIN) {
    out.contextLength = v.contextLength;
  }
  if (typeof v.think === "boolean") out.think = v.think;
  if (typeof v.system === "string" && v.system !== "") out.system = v.system;
  return out;
}

/** Adds the settings to `chat` params: options, think, and the system prompt as the first message. */
export function applySettings(params: ChatParams, settings: ChatSettings, thinkingShown: boolean): ChatParams {
  const options: Record<string, unknown> = { ...(params.options ?? {}) };
  if (settings.temperature !== undefined) options.temperature = settings.temperature;
  if (settings.contextLength !== undefined) options.num_ctx = settings.contextLength;
  const out: ChatParams = { ...params };
  if (Object.keys(options).length) out.options = options;
  if (thinkingShown && settings.think !== undefined) out.think = settings.think;
  if (settings.system && settings.system.trim()) {
    const system: Message = { role: "system", content: settings.system };
    out.messages = [system, ...(params.messages ?? []).filter((m) => m.role !== "system")];
  }
  return out;
}

const SYSTEM_LOCKED_HINT = "Set when this conversation began; New chat to use another";

/** The popover's controls; `onChange` gets the whole new settings after every edit. */
export class SettingsPanel {
  readonly element: HTMLElement;
  readonly temperature: HTMLInputElement;
  readonly contextLength: HTMLInputElement;
  readonly thinking: HTMLInputElement;
  readonly system: HTMLTextAreaElement;
  private readonly thinkingRow: HTMLElement;
  private readonly systemHint: HTMLElement;
  private value: ChatSettings = {};
  private readonly listeners: Array<(settings: ChatSettings) => void> = [];

  constructor() {
    this.temperature = h("input", {
      id: "setting-temperature", type: "number", min: "0", max: String(TEMPERATURE_MAX), step: "0.1",
      inputmode: "decimal", placeholder: "default",
    });
    this.contextLength = h("input", {
      id: "setting-num-ctx", type: "number", min: String(CONTEXT_MIN), step: "1024",
      inputmode: "numeric", placeholder: "default",
    });
    this.thinking = h("input", { id: "setting-think", type: "checkbox", checked: true });
    this.system = h("textarea", {
      id: "system-prompt", rows: "3", spellcheck: "false",
      placeholder: "How the model should behave (optional)",
    });
    this.systemHint = h("div", { class: "setting-hint", id: "system-prompt-hint", hidden: true, text: SYSTEM_LOCKED_HINT });
    const row = (id: string, label: string, control: HTMLElement, hint?: string) =>
      h("div", { class: "setting" }, h("label", { for: id, text: label }), control,
        hint ? h("div", { class: "setting-hint", id: `${id}-hint`, text: hint }) : null);
    this.thinkingRow = h("div", { class: "setting setting-check" },
      h("label", { for: "setting-think" }, this.thinking, " Thinking"),
      h("div", { class: "setting-hint", text: "For models that think before they answer" }));
    this.element = h(
      "div",
      { class: "settings-body" },
      row("setting-temperature", "Temperature", this.temperature, "0 to 2; empty: the model's default"),
      row("setting-num-ctx", "Context length", this.contextLength, "Tokens (options.num_ctx); empty: default"),
      this.thinkingRow,
      h("div", { class: "setting" }, h("label", { for: "system-prompt", text: "System prompt" }), this.system, this.systemHint),
    );
    this.temperature.setAttribute("aria-describedby", "setting-temperature-hint");
    this.contextLength.setAttribute("aria-describedby", "setting-num-ctx-hint");
    const changed = () => this.read();
    for (const el of [this.temperature, this.contextLength, this.system]) el.addEventListener("input", changed);
    this.thinking.addEventListener("change", changed);
  }

  get settings(): ChatSettings {
    return { ...this.value };
  }

  onChange(listener: (settings: ChatSettings) => void): void {
    this.listeners.push(listener);
  }

  /** Shows `settings` (a restored or new conversation's). */
  show(settings: ChatSettings): void {
    this.value = cleanSettings(settings);
    this.temperature.value = this.value.temperature === undefined ? "" : String(this.value.temperature);
    this.contextLength.value = this.value.contextLength === undefined ? "" : String(this.value.contextLength);
    this.thinking.checked = this.value.think ?? true;
    this.system.value = this.value.system ?? "";
  }

  /** A started conversation's system prompt is its own (sent by the sidecar, set when the
   * conversation began): shown read-only, saying so, instead of taking edits that go nowhere. */
  lockSystem(locked: boolean): void {
    this.system.readOnly = locked;
    this.systemHint.hidden = !locked;
    if (locked) this.system.setAttribute("aria-describedby", "system-prompt-hint");
    else this.system.removeAttribute("aria-describedby");
  }

  /** Whether the model can think (false hides the Thinking switch and `think` is not sent). */
  setThinkingShown(shown: boolean): void {
    this.thinkingRow.hidden = !shown;
  }

  get thinkingShown(): boolean {
    return !this.thinkingRow.hidden;
  }

  private read(): void {
    const next: ChatSettings = {};
    const t = this.temperature.value.trim() === "" ? NaN : Number(this.temperature.value);
    if (Number.isFinite(t)) next.temperature = Math.min(TEMPERATURE_MAX, Math.max(0, t));
    const n = this.contextLength.value.trim() === "" ? NaN : Number(this.contextLength.value);
    if (Number.isFinite(n)) next.contextLength = Math.max(CONTEXT_MIN, Math.round(n));
    // The switch starts on (the model's default); `think` is sent once the user has touched it.
    if (this.value.think !== undefined || !this.thinking.checked) next.think = this.thinking.checked;
    if (this.system.value !== "") next.system = this.system.value;
    this.value = next;
    for (const listener of this.listeners) listener(this.settings);
  }
}
