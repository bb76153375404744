// DOM building for the window: the frame (header, thread, composer) and the pieces of a
// conversation (user message, assistant reply with thinking, text and tool cards, alerts).
// Accessible names and data-* attributes here are a contract the e2e tests rely on.

import type { ApprovalScope } from "../client";
import type { Message } from "../protocol";
import { APPROVAL_CHOICES, argumentsView } from "./approval";
import { FrameBatcher, StreamingMarkdown, StreamingText, renderStatic } from "./renderer";

type Attrs = Record<string, string | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Array<Node | string | null | undefined>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name === "class") el.className = String(value);
    else if (name === "text") el.textContent = String(value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(child);
  }
  return el;
}

export interface Frame {
  root: HTMLElement;
  statusDot: HTMLElement;
  statusText: HTMLElement;
  badge: HTMLElement;
  /** The header's controls (model, tools, settings, theme): a dropdown menu on small screens. */
  controls: HTMLElement;
  menuButton: HTMLButtonElement;
  modelSelect: HTMLSelectElement;
  toolsToggle: HTMLInputElement;
  themeSelect: HTMLSelectElement;
  settingsButton: HTMLButtonElement;
  /** The Settings popover (role dialog); SettingsPanel fills it. */
  settingsPopover: HTMLElement;
  newChat: HTMLButtonElement;
  banner: HTMLElement;
  scriptedNote: HTMLElement;
  scroller: HTMLElement;
  thread: HTMLElement;
  empty: HTMLElement;
  jump: HTMLButtonElement;
  form: HTMLFormElement;
  input: HTMLTextAreaElement;
  send: HTMLButtonElement;
  stop: HTMLButtonElement;
  /** A polite live region: each finished reply is announced here once. */
  announcer: HTMLElement;
}

export function buildFrame(root: HTMLElement): Frame {
  const statusDot = h("span", { class: "status-dot", "data-status": "connecting", "aria-hidden": "true" });
  const statusText = h("span", { class: "status-text", text: "Connecting…" });
  const badge = h("span", {
    class: "badge",
    "data-scripted": "true",
    title: "Replies come from the scripted Ollama of ollama-sidecar, not from a real model: the model name picks a scripted scenario",
    hidden: true,
    text: "scripted model",
  });
  const modelSelect = h("select", { id: "model-select", name: "model", "aria-label": "Model" });
  const toolsToggle = h("input", { type: "checkbox", id: "tools-toggle", name: "tools" });
  const themeSelect = h(
    "select",
    { id: "theme-select", name: "theme", "aria-label": "Theme" },
    new Option("System", "system"),
    new Option("Light", "light"),
    new Option("Dark", "dark"),
  );
  const settingsButton = h("button", {
    type: "button", class: "ghost settings-button", "aria-haspopup": "dialog", "aria-expanded": "false",
    "aria-controls": "chat-settings", text: "Settings",
  });
  const settingsPopover = h("div", {
    id: "chat-settings", class: "popover settings", role: "dialog", "aria-label": "Chat settings", hidden: true,
  });
  const newChat = h("button", { type: "button", class: "ghost new-chat", text: "New chat" });
  const menuButton = h("button", {
    type: "button", class: "ghost menu-button", "aria-expanded": "false", "aria-controls": "topbar-controls",
    "aria-label": "Menu", title: "Model, tools, settings and theme",
  });
  menuButton.append(h("span", { class: "menu-icon", "aria-hidden": "true" }));
  const banner = h("div", { class: "banner", role: "status", hidden: true });
  const scriptedNote = h(
    "p",
    { class: "scripted-note", "data-scripted-note": "true", hidden: true },
    "No real model here: this is the scripted Ollama, and the model name picks a scripted " +
      "scenario (demo answers in a friendly way, echo repeats you, thinking thinks, tools calls tools…).",
  );
  const empty = h(
    "div",
    { class: "empty-state" },
    h("h1", { class: "empty-title", text: "Start a conversation" }),
    h("p", { class: "empty-sub", text: "Replies stream from your local model through ollama-sidecar." }),
    scriptedNote,
  );
  // Not a live region: a reply is announced once, when it ends, through `announcer`.
  const thread = h("div", { class: "thread" }, empty);
  const scroller = h("main", { class: "scroller", tabindex: "0", "aria-label": "Conversation", "data-pinned": "true" }, thread);
  const jump = h("button", { type: "button", class: "jump", hidden: true }, "↓ Jump to latest");
  jump.setAttribute("aria-label", "Jump to latest");
  const input = h("textarea", {
    id: "message-input",
    rows: "1",
    "aria-label": "Message",
    "aria-describedby": "composer-hint",
    placeholder: "Message the model…",
  });
  const send = h("button", { type: "submit", class: "primary send", disabled: true, text: "Send" });
  const stop = h("button", { type: "button", class: "stop", hidden: true, text: "Stop" });
  stop.title = "Stop the reply (Esc)";
  stop.setAttribute("aria-label", "Stop"); // the ■ drawn by CSS must not join the name
  const form = h("form", { class: "composer", autocomplete: "off" }, input, h("div", { class: "composer-actions" }, stop, send));
  const hint = h("div", { class: "composer-hint", id: "composer-hint", text: "Enter to send, Shift+Enter for a new line, Esc to stop" });
  const announcer = h("div", { class: "sr-only", "aria-live": "polite", "aria-atomic": "true", "data-announcer": "true" });

  const controls = h(
    "div",
    { class: "topbar-controls", id: "topbar-controls" },
    h(
      "label",
      { class: "tools-label", for: "tools-toggle", title: "Let the model use the project tools" },
      toolsToggle,
      " Tools",
    ),
    h("label", { class: "model-label", for: "model-select", text: "Model" }),
    modelSelect,
    settingsButton,
    themeSelect,
  );
  const header = h(
    "header",
    { class: "topbar" },
    h(
      "div",
      { class: "topbar-row" },
      h(
        "div",
        { class: "brand" },
        h("span", { class: "brand-mark", "aria-hidden": "true", text: "◐" }),
        h("span", { class: "brand-name", text: "Ollama Sidecar" }),
      ),
      h("div", { class: "status", role: "status" }, statusDot, statusText),
      badge,
      h("div", { class: "spacer" }),
      controls,
      newChat,
      menuButton,
      settingsPopover,
    ),
  );
  toolsToggle.setAttribute("aria-label", "Tools");

  root.replaceChildren(
    h(
      "div",
      { class: "app" },
      header,
      banner,
      h("div", { class: "stage" }, scroller, jump),
      h("footer", { class: "composer-wrap" }, form, hint),
      announcer,
    ),
  );
  return {
    root,
    statusDot,
    statusText,
    badge,
    controls,
    menuButton,
    modelSelect,
    toolsToggle,
    themeSelect,
    settingsButton,
    settingsPopover,
    newChat,
    banner,
    scriptedNote,
    scroller,
    thread,
    empty,
    jump,
    form,
    input,
    send,
    stop,
    announcer,
  };
}

/** Grows a textarea with its content up to `max` pixels. */
export function autoGrow(textarea: HTMLTextAreaElement, max = 220): void {
  textarea.style.height = "auto";
  textarea.style.height = `${Math.min(textarea.scrollHeight, max)}px`;
}

export function userMessage(text: string, images: string[] = []): HTMLElement {
  const thumbs = images.length
    ? h(
        "div",
        { class: "msg-images", role: "group", "aria-label": "Images" },
        ...images.map((b64, i) => h("img", { class: "thumb", src: `data:image/png;base64,${b64}`, alt: `Image ${i + 1}` })),
      )
    : null;
  return h(
    "div",
    { class: "turn turn-user" },
    h("article", { class: "msg msg-user", "data-role": "user", "aria-label": "You" }, thumbs, h("div", { class: "msg-body", text })),
  );
}

// --- tool cards ---------------------------------------------------------------------------------

export type ToolState = "running" | "waiting" | "done" | "error";

const STATE_LABEL: Record<ToolState, string> = {
  running: "Running…",
  waiting: "Waiting for approval",
  done: "Done",
  error: "Error",
};

const LONG_RESULT_CHARS = 400;
const LONG_RESULT_LINES = 8;

function prettyJson(value: unknown): string {
  try {
    return JSON.stringify(value ?? {}, null, 2);
  } catch {
    return String(value);
  }
}

export class ToolCard {
  readonly element: HTMLElement;
  readonly callId: string;
  private readonly stateLabel: HTMLElement;
  private approval: HTMLElement | null = null;
  private resultBox: HTMLElement | null = null;
  state: ToolState = "running";

  constructor(callId: string, name: string, args: Record<string, unknown>) {
    this.callId = callId;
    this.stateLabel = h("span", { class: "tool-state" });
    const argsText = prettyJson(args);
    const argsBody = argumentsView(args);
    const argsSection =
      argsText.length > LONG_RESULT_CHARS || argsText.split("\n").length > LONG_RESULT_LINES * 2
        ? h("details", { class: "tool-section" }, h("summary", { text: "Arguments" }), argsBody)
        : h("div", { class: "tool-section" }, h("div", { class: "tool-label", text: "Arguments" }), argsBody);
    this.element = h(
      "div",
      { class: "tool-card", "data-tool-call": callId },
      h(
        "div",
        { class: "tool-head" },
        h("span", { class: "tool-icon", "aria-hidden": "true", text: "⚙" }),
        h("span", { class: "tool-name", text: name }),
        this.stateLabel,
      ),
      argsSection,
    );
    this.setState("running");
  }

  setState(state: ToolState, label?: string): void {
    this.state = state;
    this.element.dataset.state = state;
    this.stateLabel.textContent = label ?? STATE_LABEL[state];
  }

  /** Shows the approval choices (approval.ts); `decide` runs on a click, the buttons go away when it settles. */
  askApproval(decide: (approved: boolean, scope: ApprovalScope) => Promise<void>): void {
    this.setState("waiting");
    if (this.approval) return;
    const buttons = APPROVAL_CHOICES.map((choice) =>
      h("button", { type: "button", class: choice.primary ? "primary small" : "small", text: choice.label }),
    );
    const note = h("span", { class: "tool-approval-note", text: "Run this tool?" });
    const box = h("div", { class: "tool-approval" }, note, ...buttons);
    const click = (approved: boolean, scope: ApprovalScope) => async () => {
      for (const button of buttons) button.disabled = true;
      try {
        await decide(approved, scope);
        this.removeApproval();
        if (this.state === "waiting") {
          if (approved) this.setState("running");
          else this.setState("error", "Denied");
        }
      } catch (err) {
        note.textContent = `Could not answer: ${err instanceof Error ? err.message : String(err)}`;
        this.removeApproval(true);
      }
    };
    APPROVAL_CHOICES.forEach((choice, i) => buttons[i].addEventListener("click", click(choice.approved, choice.scope)));
    this.approval = box;
    this.element.append(box);
    buttons[0].focus({ preventScroll: true }); // a keyboard user answers right away ("Allow once")
  }

  removeApproval(keepNote = false): void {
    if (!this.approval) return;
    if (keepNote) this.approval.querySelectorAll("button").forEach((b) => b.remove());
    else this.approval.remove();
    this.approval = null;
  }

  setResult(content: string, isError: boolean): void {
    this.removeApproval();
    this.resultBox?.remove();
    const body = h("pre", { class: "tool-output" }, content || "(empty)");
    const lines = content.split("\n").length;
    const label = isError ? "Error" : "Result";
    this.resultBox =
      content.length > LONG_RESULT_CHARS || lines > LONG_RESULT_LINES
        ? h(
            "details",
            { class: "tool-section tool-result" },
            h("summary", { text: `${label} (${lines} line${lines === 1 ? "" : "s"}, ${content.length} chars)` }),
            body,
          )
        : h(
            "div",
            { class: "tool-section tool-result" },
            h("div", { class: "tool-label", text: label }),
            body,
          );
    this.element.append(this.resultBox);
    this.setState(isError ? "error" : "done");
  }

  /** The reply ended while this call had no result. */
  settle(stopped: boolean): void {
    if (this.state !== "running" && this.state !== "waiting") return;
    this.removeApproval();
    if (stopped) this.setState("error", "Cancelled");
    else this.setState("done", "Not run");
  }
}

// --- the assistant reply ------------------------------------------------------------------------

export interface ToolEventLike {
  call_id: string;
  name: string;
  arguments: Record<string, unknown>;
}

function formatSeconds(ms: number): number {
  return Math.max(1, Math.round(ms / 1000));
}

interface ThinkingSection {
  details: HTMLDetailsElement;
  summary: HTMLElement;
  text: StreamingText;
  started: number;
  done: boolean;
}

export class AssistantReply {
  readonly turn: HTMLElement;
  readonly article: HTMLElement;
  private readonly body: HTMLElement;
  private readonly meta: HTMLElement;
  private readonly batcher: FrameBatcher;
  private waiting: HTMLElement | null = null;
  private waitingTimer: ReturnType<typeof setInterval> | null = null;
  private text: StreamingMarkdown | null = null;
  private roundTexts: StreamingMarkdown[] = [];
  private thinking: ThinkingSection | null = null;
  private readonly cards = new Map<string, ToolCard>();
  readonly thoughtSeconds: number[] = [];
  readonly toolErrors: string[] = [];
  private hasContent = false;
  private ended = false;

  constructor(batcher: FrameBatcher) {
    this.batcher = batcher;
    this.body = h("div", { class: "msg-body", "data-content": "true" });
    this.article = h(
      "article",
      { class: "msg msg-assistant is-empty", "data-role": "assistant", "aria-label": "Assistant" },
      this.body,
    );
    this.meta = h("div", { class: "msg-meta" });
    this.turn = h("div", { class: "turn turn-assistant" }, this.article, this.meta);
  }

  get isEmpty(): boolean {
    return !this.hasContent;
  }

  getCard(callId: string): ToolCard | undefined {
    return this.cards.get(callId);
  }

  /** The text shown since the last tool call (what the final assistant message holds). */
  get roundText(): string {
    return this.roundTexts.map((t) => t.shownText).join("");
  }

  /** While streaming the reply is aria-busy: assistive technology waits for the finished text. */
  setStreaming(on: boolean): void {
    if (on) {
      this.article.dataset.streaming = "true";
      this.article.setAttribute("aria-busy", "true");
    } else {
      delete this.article.dataset.streaming;
      this.article.removeAttribute("aria-busy");
    }
  }

  /** The reply's visible text (for the announcement when it ends). */
  get plainText(): string {
    const copy = this.body.cloneNode(true) as HTMLElement;
    copy.querySelectorAll(".copy-code").forEach((b) => b.remove());
    return (copy.textContent ?? "").trim();
  }

  showWaiting(onTick?: () => void): void {
    const started = Date.now();
    const label = h("span", { class: "waiting-text" });
    this.waiting = h("div", { class: "waiting", "data-waiting": "true", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), label);
    const tick = () => {
      const s = Math.floor((Date.now() - started) / 1000);
      let text = `Waiting for the model… ${s} s`;
      if (s >= 10) text += " · loading a model can take a minute";
      label.textContent = text;
      onTick?.();
    };
    tick();
    this.waitingTimer = setInterval(tick, 1000);
    this.turn.insertBefore(this.waiting, this.article);
  }

  clearWaiting(): void {
    if (this.waitingTimer !== null) clearInterval(this.waitingTimer);
    this.waitingTimer = null;
    this.waiting?.remove();
    this.waiting = null;
  }

  private reveal(): void {
    this.clearWaiting();
    if (!this.hasContent) {
      this.hasContent = true;
      this.article.classList.remove("is-empty");
    }
  }

  token(delta: string): void {
    if (this.ended || !delta) return;
    this.reveal();
    this.endThinking();
    if (!this.text) {
      const el = h("div", { class: "md" });
      this.body.append(el);
      this.text = new StreamingMarkdown(el, this.batcher);
      this.roundTexts.push(this.text);
    }
    this.text.append(delta);
  }

  thinkingDelta(delta: string): void {
    if (this.ended || !delta) return;
    this.reveal();
    if (this.text) this.endText();
    if (!this.thinking || this.thinking.done) {
      const summary = h("summary", { text: "Thinking…" });
      const bodyEl = h("div", { class: "thinking-body" });
      const details = h("details", { class: "thinking", "data-thinking": "streaming" }, summary, bodyEl);
      this.body.append(details);
      this.thinking = {
        details,
        summary,
        text: new StreamingText(bodyEl, this.batcher),
        started: Date.now(),
        done: false,
      };
    }
    this.thinking.text.append(delta);
  }

  toolCall(event: ToolEventLike): ToolCard {
    this.reveal();
    this.endThinking();
    this.endText();
    this.roundTexts = [];
    let card = this.cards.get(event.call_id);
    if (!card) {
      card = new ToolCard(event.call_id, event.name, event.arguments);
      this.cards.set(event.call_id, card);
      this.body.append(card.element);
    }
    return card;
  }

  toolResult(callId: string, name: string, content: string, isError: boolean): void {
    const card = this.cards.get(callId) ?? this.toolCall({ call_id: callId, name, arguments: {} });
    card.setResult(content, isError);
    if (isError && !this.toolErrors.includes(callId)) this.toolErrors.push(callId);
  }

  /** Flushes everything buffered, synchronously (stop, error, done). */
  flush(): void {
    this.batcher.flushAll();
  }

  /** The reply is over: flush, end sections, settle unanswered tool cards. */
  end(stopped: boolean): void {
    if (this.ended) return;
    this.flush();
    this.clearWaiting();
    this.endThinking();
    this.endText();
    for (const card of this.cards.values()) card.settle(stopped);
    this.ended = true;
    this.setStreaming(false);
  }

  private endText(): void {
    if (!this.text) return;
    this.text.finish();
    this.text = null;
  }

  private endThinking(): void {
    const t = this.thinking;
    if (!t || t.done) return;
    t.text.finish();
    t.done = true;
    const seconds = formatSeconds(Date.now() - t.started);
    this.thoughtSeconds.push(seconds);
    t.summary.textContent = `Thought for ${seconds} s`;
    t.details.dataset.thinking = "done";
  }

  addMark(text: string, attr: string, kind = ""): void {
    if (this.meta.querySelector(`[${attr}]`)) return;
    const mark = h("span", { class: `mark ${kind}`.trim(), text });
    mark.setAttribute(attr, "true");
    this.meta.prepend(mark);
  }

  markStopped(): void {
    this.addMark("Stopped", "data-stopped", "mark-stopped");
  }

  setStats(text: string): void {
    let el = this.meta.querySelector<HTMLElement>("[data-stats]");
    if (!el) {
      el = h("span", { class: "stats", "data-stats": "true" });
      this.meta.append(el);
    }
    el.textContent = text;
  }

  /** Rebuilds a finished reply from stored wire messages. */
  static fromHistory(
    batcher: FrameBatcher,
    messages: Message[],
    meta: { stopped?: boolean; stats?: string; doneReason?: string; thoughtSeconds?: number[]; toolErrors?: string[]; error?: string },
  ): AssistantReply {
    const reply = new AssistantReply(batcher);
    const seconds = [...(meta.thoughtSeconds ?? [])];
    const errors = new Set(meta.toolErrors ?? []);
    for (const m of messages) {
      if (m.role === "assistant") {
        if (m.thinking) {
          reply.reveal();
          const s = seconds.shift();
          const bodyEl = h("div", { class: "thinking-body" }, m.thinking);
          reply.body.append(
            h(
              "details",
              { class: "thinking", "data-thinking": "done" },
              h("summary", { text: s !== undefined ? `Thought for ${s} s` : "Thoughts" }),
              bodyEl,
            ),
          );
        }
        if (m.content) {
          reply.reveal();
          const el = h("div", { class: "md" });
          renderStatic(el, m.content);
          reply.body.append(el);
        }
        for (const call of m.tool_calls ?? []) {
          const id = call.id ?? `call_${reply.cards.size}`;
          const card = new ToolCard(id, call.function.name, call.function.arguments ?? {});
          reply.reveal();
          reply.cards.set(id, card);
          reply.body.append(card.element);
        }
      } else if (m.role === "tool") {
        const card = m.tool_call_id ? reply.cards.get(m.tool_call_id) : undefined;
        if (card) card.setResult(m.content ?? "", errors.has(card.callId));
      }
    }
    for (const card of reply.cards.values()) card.settle(!!meta.stopped);
    reply.ended = true;
    if (meta.stopped) reply.markStopped();
    if (meta.doneReason) reply.markDoneReason(meta.doneReason);
    if (meta.error) reply.addMark(`Failed: ${meta.error}`, "data-failed", "mark-error");
    if (meta.stats) reply.setStats(meta.stats);
    return reply;
  }

  markDoneReason(reason: string): void {
    if (reason === "length") this.addMark("Length limit reached", "data-done-reason", "mark-warn");
    else if (reason === "tool_limit") this.addMark("Tool round limit reached", "data-done-reason", "mark-warn");
  }
}

// --- errors -------------------------------------------------------------------------------------

export function errorAlert(message: string, hint: string | undefined, kind: string, onRetry: () => void): HTMLElement {
  const retry = h("button", { type: "button", class: "small", text: "Retry" });
  retry.addEventListener("click", onRetry);
  return h(
    "div",
    { class: "alert", role: "alert", "data-kind": kind },
    h("div", { class: "alert-icon", "aria-hidden": "true" }),
    h(
      "div",
      { class: "alert-text" },
      h("div", { class: "alert-message", text: message }),
      hint ? h("div", { class: "alert-hint", text: hint }) : null,
    ),
    h("div", { class: "alert-actions" }, retry),
  );
}

/** An alert that can no longer be retried (a newer turn started): a quiet note, not an alert. */
export function retireAlert(alert: HTMLElement): void {
  alert.removeAttribute("role");
  alert.classList.add("retired");
  alert.querySelector(".alert-actions")?.remove();
}
