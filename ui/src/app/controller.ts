// Wiring: the frame's controls, the conversation store, the sidecar client and chat events.
//
// One chat streams at a time. Send -> a user message, a waiting line with elapsed seconds, then
// chat events go straight (synchronously, via onEvent) into the reply's renderers. Stop / Esc ->
// one cancel_chat, a synchronous flush, nothing more is shown for that chat, a "Stopped" mark,
// and Send works at once (the next chat waits only for the stopped one's result, which carries
// the messages to send back). Errors -> an alert with the sidecar's hint and Retry.

import { ClosedError, RpcError, SidecarClient, type ChatEvent, type ChatHandle } from "../client";
import type { ChatParams, ChatResult, Message, ModelInfo, StreamingReply, Usage } from "../protocol";
import type { Transport } from "../transport";
import { showServer } from "./approval";
import { ModelPanel } from "./models";
import { SettingsPanel, applySettings, cleanSettings } from "./chat-settings";
import { disclosure, type Disclosure } from "./popovers";
import { handleCopyButtons } from "./markdown";
import { FrameBatcher } from "./renderer";
import { ScrollPin } from "./scroll";
import { ConversationStore, Settings, type Entry } from "./store";
import { ThemeController, type ThemeChoice } from "./theme";
import { ThreadsMode, type ThreadHost, type TurnSpec } from "./threads";
import { ToolsPanel } from "./tools-panel";
import {
  AssistantReply,
  autoGrow,
  buildFrame,
  errorAlert,
  retireAlert,
  userMessage,
  type Frame,
} from "./view";

export interface AppConfig {
  /** The dev shell's /config.json: `scripted` shows the "scripted model" badge. */
  scripted?: boolean;
  ollama_url?: string;
}

export interface AppOptions {
  /** Opens a new transport to a sidecar (called again to reconnect after a close). */
  connect: () => Transport | Promise<Transport>;
  config?: AppConfig;
  /** A model to select (and add to the picker if it is not listed), e.g. from `?model=`. */
  model?: string | null;
  storage?: Storage | null;
}

interface Turn {
  reply: AssistantReply;
  handle: ChatHandle | null;
  client: SidecarClient | null;
  stopped: boolean;
  /** Sent without a model (none listed): a "no model" error is explained by the list's failure. */
  noModel?: boolean;
  /** Resolves once the chat's response (or failure) has been handled. */
  settled: Promise<void>;
  /** A chat on a stored thread (threads.ts): what it asks. */
  spec?: TurnSpec;
  /** Sent before the window knew whether the sidecar keeps conversations: decided in `run`. */
  early?: { text: string; element: HTMLElement };
}

/** The scripted Ollama's friendly scenario: the picker's default when the replies are scripted. */
export const SCRIPTED_DEFAULT_MODEL = "demo:latest";

/** How long a new Send waits for a stopped chat's response before sending without it. */
const STOPPED_RESULT_WAIT_MS = 3000;

export function formatStats(usage: Usage | undefined | null): string | null {
  if (!usage) return null;
  const tps = Number.isFinite(usage.tokens_per_second) ? usage.tokens_per_second.toFixed(1) : "–";
  const first = usage.first_token_ms == null ? "–" : String(Math.round(usage.first_token_ms));
  return `${tps} tok/s · first token ${first} ms`;
}

/** The messages of a stopped chat, trimmed to what was on screen when Stop was pressed. */
export function reconcileStopped(messages: Message[], shownRoundText: string): Message[] {
  const out = messages.map((m) => ({ ...m }));
  for (let i = out.length - 1; i >= 0; i--) {
    const m = out[i];
    if (m.role !== "assistant") continue;
    if (!m.tool_calls?.length && (m.content ?? "").startsWith(shownRoundText)) {
      m.content = shownRoundText;
    }
    break;
  }
  return out;
}

export class ChatApp implements ThreadHost {
  readonly frame: Frame;
  readonly batcher: FrameBatcher;
  readonly scroll: ScrollPin;
  readonly store: ConversationStore;
  readonly settings: Settings;
  /** The model lifecycle: capabilities, loading, Get a model, Delete, images (models.ts). */
  readonly modelPanel: ModelPanel;
  readonly theme: ThemeController;
  readonly chatSettings: SettingsPanel;
  readonly settingsPopover: Disclosure;
  readonly menu: Disclosure;
  private readonly options: AppOptions;
  private scripted = false;
  private models: ModelInfo[] = [];
  /** The picker's value was chosen by the window, not by the user (the scripted default may replace it). */
  private autoModel = true;
  private client: SidecarClient | null = null;
  private clientReady: Promise<SidecarClient> | null = null;
  private active: Turn | null = null;
  private lastTurn: Turn | null = null;
  private alert: { element: HTMLElement; reply: AssistantReply; entry: Entry | null } | null = null;
  private requestedModel: string | null;
  private modelsError: unknown = null;
  private readyText = "Connected";
  /** Conversations kept by the sidecar (null until known, and for a --no-store sidecar). */
  threads: ThreadsMode | null = null;
  private threadsStarting: Promise<void> | null = null;
  private threadsDecided = false;
  private readonly toolsPanel = new ToolsPanel();

  constructor(root: HTMLElement, options: AppOptions) {
    this.options = options;
    this.requestedModel = options.model ?? null;
    this.frame = buildFrame(root);
    this.frame.scroller.parentElement?.before(this.toolsPanel.element); // above the thread (tools-panel.ts)
    this.batcher = new FrameBatcher();
    this.scroll = new ScrollPin(this.frame.scroller, this.frame.jump);
    this.batcher.onFlush(() => this.scroll.followLater());
    this.store = new ConversationStore(options.storage);
    this.settings = new Settings(options.storage);
    this.theme = new ThemeController(this.settings);
    this.chatSettings = new SettingsPanel();
    this.frame.settingsPopover.append(this.chatSettings.element);
    handleCopyButtons(this.frame.thread);
    const f = this.frame;
    const small = () => getComputedStyle(f.menuButton).display !== "none";
    this.menu = disclosure(f.menuButton, f.controls, { useHidden: false });
    this.settingsPopover = disclosure(f.settingsButton, f.settingsPopover, {
      focusFirst: true,
      returnTo: () => (small() ? f.menuButton : f.settingsButton),
      onToggle: (open) => {
        if (open && small()) this.menu.hide(false);
      },
    });
    this.modelPanel = new ModelPanel(this.frame, {
      client: () => this.connect(),
      reloadModels: (select) => this.reloadModels(select),
    });
    if (options.config) this.setConfig(options.config);
    this.restoreSettings();
    this.bindControls();
    this.restoreConversation();
    this.connect();
    f.input.focus();
  }

  // --- set-up -----------------------------------------------------------------------------------

  private restoreSettings(): void {
    const f = this.frame;
    f.toolsToggle.checked = this.settings.get("tools") === "true";
    f.themeSelect.value = this.theme.choice;
    // The picker stays empty until list_models answers (or fails: then the saved choice).
  }

  private bindControls(): void {
    const f = this.frame;
    f.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    f.input.addEventListener("input", () => {
      autoGrow(f.input);
      this.updateControls();
    });
    f.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    f.stop.addEventListener("click", () => this.stop());
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.active && !e.defaultPrevented) {
        e.preventDefault();
        this.stop();
      }
    });
    f.modelSelect.addEventListener("change", () => {
      this.settings.set("model", f.modelSelect.value || null);
      this.requestedModel = null;
      this.autoModel = false;
      this.updateThinking();
    });
    f.themeSelect.addEventListener("change", () => this.theme.set(f.themeSelect.value as ThemeChoice));
    this.chatSettings.onChange((settings) => {
      if (this.threads) {
        // A thread's settings are kept per thread in this browser (its system prompt is the
        // thread's own, set when the thread is created).
        if (this.threads.threadId) this.settings.set(`thread-settings:${this.threads.threadId}`, JSON.stringify(settings));
        return;
      }
      this.store.settings = settings;
      this.store.save();
    });
    this.chatSettings.system.addEventListener("input", () => autoGrow(this.chatSettings.system, 200));
    f.toolsToggle.addEventListener("change", () => {
      this.settings.set("tools", f.toolsToggle.checked ? "true" : null);
    });
    f.newChat.addEventListener("click", () => this.newChat());
    this.updateControls();
  }

  private restoreConversation(): void {
    const entries = this.store.load();
    const legacySystem = this.settings.get("system"); // the header's system prompt, before settings
    if (legacySystem !== null) {
      const current = cleanSettings(this.store.settings);
      if (current.system === undefined) this.store.settings = { ...current, system: legacySystem };
      this.settings.set("system", null);
      this.store.save();
    }
    this.chatSettings.show(cleanSettings(this.store.settings));
    for (const entry of entries) {
      if (entry.kind === "user") {
        this.appendToThread(userMessage(entry.message.content, entry.message.images));
      } else {
        this.appendToThread(AssistantReply.fromHistory(this.batcher, entry.messages, entry.meta).turn);
      }
    }
    this.updateEmpty();
    // After layout: start at the bottom of a restored conversation.
    requestAnimationFrame(() => this.scroll.jumpToLatest());
  }

  /** Applies the dev shell's /config.json: the "scripted model" badge. */
  setConfig(config: AppConfig): void {
    this.scripted = !!config.scripted;
    this.frame.badge.hidden = !this.scripted;
    this.frame.scriptedNote.hidden = !this.scripted;
    const select = this.frame.modelSelect;
    if (this.scripted && this.autoModel && select.value && select.value !== SCRIPTED_DEFAULT_MODEL) {
      if ([...select.options].some((o) => o.value === SCRIPTED_DEFAULT_MODEL)) {
        select.value = SCRIPTED_DEFAULT_MODEL;
        this.updateThinking();
      }
    }
  }

  // --- the connection ---------------------------------------------------------------------------

  private connect(): Promise<SidecarClient> {
    if (this.clientReady) return this.clientReady;
    this.setStatus("connecting", "Connecting…");
    const attempt = (async () => {
      let client: SidecarClient | null = null;
      const transport = observeClose(await this.options.connect(), (reason) => {
        if (client) this.onClosed(client, reason);
      });
      // Ids from the clock: a reloaded page may share its sidecar with the chat of the page
      // before it (the dev shell, Tauri, Electron keep it), and no id of ours may equal that one.
      client = new SidecarClient(transport, { firstId: Date.now() });
      this.client = client;
      const ready = await client.ready;
      this.modelPanel.setMethods(ready.methods);
      this.readyText = `Connected · sidecar ${ready.version}`;
      this.setStatus("ready", this.readyText);
      this.frame.statusDot.title = `Ollama at ${ready.ollama_url}`;
      void this.loadModels(client);
      await this.startThreads(client);
      void this.toolsPanel.attach(client);
      return client;
    })();
    this.clientReady = attempt;
    attempt.catch((err) => {
      if (this.clientReady === attempt) this.clientReady = null;
      this.setStatus("closed", "Disconnected");
      this.showBanner(`Could not reach the sidecar: ${describe(err)}`);
    });
    return attempt;
  }

  /** Thread mode when the sidecar keeps conversations (decided once per page). */
  private startThreads(client: SidecarClient): Promise<void> {
    if (this.threads) {
      this.threads.setClient(client); // a new sidecar after a reconnect
      return Promise.resolve();
    }
    if (this.threadsDecided) return Promise.resolve();
    this.threadsStarting ??= ThreadsMode.start(this, client)
      .then((mode) => {
        this.threads = mode;
      })
      .catch((err) => console.warn("conversations unavailable:", err))
      .finally(() => {
        this.threadsStarting = null;
        this.threadsDecided = true;
      });
    return this.threadsStarting;
  }

  // --- what threads.ts uses (ThreadHost) ----------------------------------------------------------

  busy(): boolean {
    return this.active !== null;
  }

  connectClient(): Promise<SidecarClient> {
    return this.connect();
  }

  clearView(): void {
    this.alert = null;
    this.lastTurn = null;
    this.frame.thread.querySelectorAll(".turn, .alert").forEach((el) => el.remove());
    this.updateEmpty();
  }

  startThreadTurn(spec: TurnSpec, userText: string | null): void {
    if (this.active) return;
    this.retireAlert();
    if (userText !== null) {
      const element = userMessage(userText, spec.kind === "send" ? spec.images ?? [] : []);
      this.appendToThread(element);
      this.threads?.addLiveRow("user", element);
      this.updateEmpty();
    }
    this.scroll.jumpToLatest();
    this.startTurn(spec);
  }

  adopt(client: SidecarClient, handle: ChatHandle, streaming: StreamingReply): (event: ChatEvent) => void {
    const reply = new AssistantReply(this.batcher);
    reply.setStreaming(true);
    this.appendToThread(reply.turn);
    if (streaming.thinking) reply.thinkingDelta(streaming.thinking);
    if (streaming.content) reply.token(streaming.content);
    const turn: Turn = { reply, handle, client, stopped: false, settled: Promise.resolve(), spec: { kind: "regenerate", after: null } };
    this.active = turn;
    this.lastTurn = turn;
    turn.settled = handle.result.then(
      (result) => this.onResult(turn, result),
      (err) => this.onError(turn, err),
    );
    this.updateEmpty();
    this.updateControls();
    requestAnimationFrame(() => this.scroll.jumpToLatest());
    return (event) => this.onEvent(turn, event);
  }

  formatStats(usage: Usage | undefined | null): string | null {
    return formatStats(usage);
  }

  chatSystem(): string | undefined {
    return this.chatSettings.settings.system;
  }

  showThreadSettings(threadId: string | null, system: string | null): void {
    this.chatSettings.lockSystem(threadId !== null);
    if (threadId === null) {
      this.chatSettings.show({});
      return;
    }
    const key = `thread-settings:${threadId}`;
    let saved: unknown = {};
    try {
      saved = JSON.parse(this.settings.get(key) ?? "{}");
    } catch {
      saved = {};
    }
    // A thread just created keeps what the popover holds; an opened one shows what was kept.
    const base = this.settings.get(key) === null ? this.chatSettings.settings : cleanSettings(saved);
    const shown = { ...base, system: system ?? undefined };
    if (shown.system === undefined) delete shown.system;
    this.chatSettings.show(shown);
    this.settings.set(key, JSON.stringify(shown));
  }

  focusInput(): void {
    this.frame.input.focus();
  }

  private onClosed(client: SidecarClient, reason: string): void {
    if (this.client !== client) return;
    this.client = null;
    this.clientReady = null;
    this.setStatus("closed", "Disconnected");
    this.frame.statusDot.title = `The connection to the sidecar closed: ${reason}`;
  }

  private async loadModels(client: SidecarClient): Promise<void> {
    try {
      const models = await client.listModels();
      this.modelsError = null;
      this.models = models;
      this.setModelOptions(models, this.requestedModel ?? this.settings.get("model"));
      this.modelPanel.setModels(models, client);
      this.hideBanner();
      if (this.frame.statusDot.dataset.status === "warning") this.setStatus("ready", this.readyText);
      if (models.length === 0) {
        this.showBanner(this.modelPanel.noModelsNotice());
      }
    } catch (err) {
      if (err instanceof ClosedError) return;
      this.modelsError = err;
      if (this.frame.modelSelect.options.length === 0) {
        this.setModelOptions([], this.requestedModel ?? this.settings.get("model"));
      }
      const hint = err instanceof RpcError && err.hint ? ` ${err.hint}` : "";
      this.setStatus("warning", "Ollama unreachable");
      this.showBanner(`Could not list models: ${describe(err)}.${hint}`);
    }
  }

  /** list_models again (after a pull or a delete); `select` picks that model (and warms it). */
  private async reloadModels(select?: string): Promise<void> {
    const client = await this.connect();
    await this.loadModels(client);
    if (!select) return;
    const picker = this.frame.modelSelect;
    const names = Array.from(picker.options).map((o) => o.value);
    const name = names.find((n) => n === select || n === `${select}:latest`);
    if (name && picker.value !== name) {
      picker.value = name;
      picker.dispatchEvent(new Event("change"));
    }
  }

  /**
   * Fills the picker from list_models: the requested (`?model=`) or saved choice if there is one
   * (added as an option when Ollama does not list it), else the first model.
   */
  private setModelOptions(models: ModelInfo[], preferred: string | null): void {
    const select = this.frame.modelSelect;
    const names = models.map((m) => m.name);
    // A model chosen before the list came (or between two lists) stays chosen.
    const want = select.value || preferred;
    select.replaceChildren();
    for (const model of models) {
      const details = [model.parameter_size, model.quantization].filter(Boolean).join(" · ");
      const option = new Option(model.name, model.name);
      if (details) option.title = details;
      select.add(option);
    }
    let choice: string | null = names[0] ?? null;
    if (this.scripted && names.includes(SCRIPTED_DEFAULT_MODEL)) choice = SCRIPTED_DEFAULT_MODEL;
    this.autoModel = !want;
    if (want) {
      if (!names.includes(want)) {
        const option = new Option(want, want);
        option.title = "Not in Ollama's model list";
        select.add(option);
      }
      choice = want;
    }
    if (choice !== null) select.value = choice;
    this.updateThinking();
  }

  /**
   * Thinking on/off shows for models that think: those whose `capabilities` name "thinking", and
   * every model when the sidecar does not say (then `think` is only sent once the user sets it).
   */
  private updateThinking(): void {
    const name = this.frame.modelSelect.value;
    const info = this.models.find((m) => m.name === name) as (ModelInfo & { capabilities?: string[] }) | undefined;
    const caps = info?.capabilities;
    this.chatSettings.setThinkingShown(!caps || caps.length === 0 || caps.includes("thinking"));
  }

  private setStatus(state: "connecting" | "ready" | "warning" | "closed", text: string): void {
    this.frame.statusDot.dataset.status = state;
    this.frame.statusText.textContent = text;
  }

  private showBanner(text: string): void {
    this.frame.banner.textContent = text;
    this.frame.banner.hidden = false;
  }

  private hideBanner(): void {
    this.frame.banner.hidden = true;
    this.frame.banner.textContent = "";
  }

  // --- sending ----------------------------------------------------------------------------------

  private updateControls(): void {
    const f = this.frame;
    const streaming = this.active !== null;
    f.send.disabled = streaming || f.input.value.trim() === "";
    f.stop.hidden = !streaming;
    f.newChat.disabled = streaming;
  }

  /** Says a finished reply once, in the polite live region (the streaming reply is aria-busy). */
  private announce(reply: AssistantReply, suffix = ""): void {
    const text = reply.plainText;
    this.frame.announcer.textContent = text || suffix ? `Assistant: ${text}${suffix}` : "";
  }

  private updateEmpty(): void {
    this.frame.empty.hidden = this.frame.thread.querySelector(".turn") !== null;
  }

  private appendToThread(node: HTMLElement): void {
    this.frame.thread.append(node);
  }

  send(): void {
    const f = this.frame;
    const text = f.input.value;
    if (this.active || text.trim() === "") return;
    f.input.value = "";
    autoGrow(f.input);
    this.retireAlert();
    const images = this.modelPanel.takeImages();
    if (this.threads) {
      this.startThreadTurn({ kind: "send", text, images }, text);
      f.input.focus();
      return;
    }
    if (!this.threadsDecided) {
      // Not connected yet: whether this goes to a thread is decided once we are (run).
      const element = userMessage(text);
      this.appendToThread(element);
      this.updateEmpty();
      this.scroll.jumpToLatest();
      this.startTurn(undefined, { text, element });
      f.input.focus();
      return;
    }
    this.store.addUser(text, images);
    this.store.save();
    this.appendToThread(userMessage(text, images));
    this.updateEmpty();
    this.scroll.jumpToLatest();
    this.startTurn();
    f.input.focus();
  }

  private startTurn(spec?: TurnSpec, early?: Turn["early"]): void {
    const reply = new AssistantReply(this.batcher);
    reply.setStreaming(true);
    this.appendToThread(reply.turn);
    if (spec) this.threads?.addLiveRow("reply", reply.turn);
    reply.showWaiting();
    this.scroll.follow();
    const previous = this.lastTurn;
    const turn: Turn = { reply, handle: null, client: null, stopped: false, settled: Promise.resolve(), spec, early };
    this.active = turn;
    this.lastTurn = turn;
    turn.settled = this.run(turn, previous);
    this.updateControls();
  }

  /** The model and tools of the next chat (a thread's chat sends no history: threads.ts). */
  private baseParams(): ChatParams {
    const f = this.frame;
    const params: ChatParams = {};
    if (f.modelSelect.value) params.model = f.modelSelect.value;
    if (f.toolsToggle.checked) params.tools = true;
    return params;
  }

  /** A thread's chat: the model, tools and settings, no messages (the system is the thread's). */
  private threadBaseParams(): ChatParams {
    const settings = { ...this.chatSettings.settings, system: undefined };
    const params = applySettings({ ...this.baseParams(), messages: [] }, settings, this.chatSettings.thinkingShown);
    delete params.messages;
    return params;
  }

  private buildParams(): ChatParams {
    const f = this.frame;
    const params: ChatParams = { messages: this.store.wireMessages() };
    if (f.modelSelect.value) params.model = f.modelSelect.value;
    if (f.toolsToggle.checked && this.modelPanel.toolsAllowed()) params.tools = true;
    return applySettings(params, this.chatSettings.settings, this.chatSettings.thinkingShown);
  }

  private async run(turn: Turn, previous: Turn | null): Promise<void> {
    try {
      if (previous && previous !== turn) {
        // A stopped chat's response carries the messages to send back; it comes within moments.
        await Promise.race([previous.settled, delay(STOPPED_RESULT_WAIT_MS)]);
      }
      const client = await this.connect();
      if (turn.early) {
        if (this.threads) {
          turn.spec = { kind: "send", text: turn.early.text };
          this.threads.addLiveRow("user", turn.early.element);
          this.threads.addLiveRow("reply", turn.reply.turn);
        } else {
          this.store.addUser(turn.early.text);
          this.store.save();
        }
        turn.early = undefined;
      }
      if (turn.stopped) {
        this.finishStopped(turn, null, null);
        return;
      }
      if (!this.frame.modelSelect.value) {
        // No model to name: the sidecar may have a --model. Ask Ollama for its list again too.
        turn.noModel = true;
        void this.loadModels(client);
      }
      turn.client = client;
      const params = turn.spec && this.threads ? await this.threads.params(turn.spec, this.threadBaseParams()) : this.buildParams();
      if (turn.stopped) {
        this.finishStopped(turn, null, null);
        return;
      }
      const handle = client.chat(params, (event) => this.onEvent(turn, event));
      turn.handle = handle;
      const result = await handle.result;
      this.onResult(turn, result);
    } catch (err) {
      this.onError(turn, err);
    }
  }

  private onEvent(turn: Turn, event: ChatEvent): void {
    if (turn.stopped || this.active !== turn) return; // nothing is shown after Stop
    const reply = turn.reply;
    switch (event.type) {
      case "token":
        reply.token(event.content);
        break;
      case "thinking":
        reply.thinkingDelta(event.content);
        break;
      case "tool_call":
        showServer(reply.toolCall(event), event.server);
        this.scroll.follow();
        break;
      case "approval_request": {
        const card = reply.toolCall(event);
        showServer(card, event.server);
        card.askApproval(async (approved, scope) => {
          const client = turn.client;
          const handle = turn.handle;
          try {
            if (!client || !handle) throw new Error("the chat is over");
            await client.approve(handle.id, event.call_id, approved, undefined, approved ? scope : undefined);
          } finally {
            this.frame.input.focus(); // back to the message box once answered
          }
        });
        this.scroll.follow();
        break;
      }
      case "tool_result":
        reply.toolResult(event.call_id, event.name, event.content, event.is_error);
        this.scroll.follow();
        break;
    }
  }

  stop(): void {
    const turn = this.active;
    if (!turn || turn.stopped) return;
    turn.stopped = true;
    turn.reply.end(true); // synchronous flush: what had arrived stays, nothing more comes
    turn.reply.markStopped();
    this.active = null;
    this.updateControls();
    this.scroll.follow();
    if (turn.handle) turn.handle.cancel().catch(() => {}); // exactly one cancel_chat
    this.frame.input.focus();
  }

  private onResult(turn: Turn, result: ChatResult): void {
    const stopped = turn.stopped || result.done_reason === "cancelled";
    if (stopped) {
      this.finishStopped(turn, result.messages, result.usage);
      return;
    }
    const reply = turn.reply;
    reply.end(false);
    reply.markDoneReason(result.done_reason);
    const stats = formatStats(result.usage);
    if (stats) reply.setStats(stats);
    this.announce(reply);
    if (turn.spec) {
      this.endTurn(turn);
      return;
    }
    this.store.addReply(result.messages, {
      doneReason: result.done_reason !== "stop" ? result.done_reason : undefined,
      stats: stats ?? undefined,
      thoughtSeconds: reply.thoughtSeconds.length ? [...reply.thoughtSeconds] : undefined,
      toolErrors: reply.toolErrors.length ? [...reply.toolErrors] : undefined,
    });
    this.store.save();
    this.endTurn(turn);
  }

  private finishStopped(turn: Turn, messages: Message[] | null, usage: Usage | null): void {
    const reply = turn.reply;
    reply.end(true);
    reply.markStopped();
    const shown = reply.roundText;
    const kept = messages?.length
      ? reconcileStopped(messages, shown)
      : [{ role: "assistant", content: shown }];
    const stats = formatStats(usage);
    if (stats) reply.setStats(stats);
    this.announce(reply, " (stopped)");
    if (turn.spec) {
      this.endTurn(turn);
      return;
    }
    this.store.addReply(kept, {
      stopped: true,
      doneReason: "cancelled",
      stats: stats ?? undefined,
      thoughtSeconds: reply.thoughtSeconds.length ? [...reply.thoughtSeconds] : undefined,
      toolErrors: reply.toolErrors.length ? [...reply.toolErrors] : undefined,
    });
    this.store.save();
    this.endTurn(turn);
  }

  private onError(turn: Turn, err: unknown): void {
    const reply = turn.reply;
    if (turn.stopped) {
      // Stopped, then the chat failed anyway (or the connection went): keep what was shown.
      const partial = err instanceof RpcError ? err.data.messages ?? null : null;
      this.finishStopped(turn, partial, null);
      return;
    }
    reply.end(false);
    if (err instanceof RpcError && err.kind === "invalid_params" && turn.noModel) {
      if (this.modelsError instanceof RpcError) err = this.modelsError;
    }
    let message: string;
    let hint: string | undefined;
    let kind: string;
    if (err instanceof RpcError) {
      message = err.message;
      hint = err.hint;
      kind = err.kind;
    } else if (err instanceof ClosedError) {
      message = "The connection to the sidecar closed before the reply ended.";
      hint = "The sidecar or the dev shell stopped. Retry reconnects and sends the conversation again.";
      kind = "closed";
    } else {
      message = describe(err);
      kind = "client";
    }
    const partial = err instanceof RpcError ? err.data.messages ?? [] : [];
    const entry = turn.spec ? null : this.store.addReply(partial, { error: message });
    if (!turn.spec) this.store.save();
    if (reply.isEmpty) reply.turn.classList.add("failed-empty");
    const element = errorAlert(message, hint, kind, () => this.retry());
    reply.turn.after(element);
    this.alert = { element, reply, entry };
    this.endTurn(turn);
  }

  private endTurn(turn: Turn): void {
    if (this.active === turn) this.active = null;
    this.updateControls();
    this.scroll.follow();
    if (turn.spec) void this.threads?.finished();
  }

  /** Resends the conversation that failed; the failed reply and its alert are replaced. */
  retry(): void {
    const failed = this.alert;
    if (!failed || this.active) return;
    this.alert = null;
    failed.element.remove();
    if (this.threads) {
      void this.threads.retryLast();
      return;
    }
    failed.reply.turn.remove();
    if (failed.entry) this.store.remove(failed.entry);
    this.store.save();
    this.lastTurn = null;
    this.scroll.jumpToLatest();
    this.startTurn();
  }

  private retireAlert(): void {
    if (!this.alert) return;
    retireAlert(this.alert.element);
    this.alert = null;
  }

  newChat(): void {
    if (this.active) return;
    if (this.threads) {
      this.threads.newChat(); // the old conversation stays in the sidebar
      this.scroll.jumpToLatest();
      this.frame.input.focus();
      return;
    }
    this.alert = null;
    this.lastTurn = null;
    this.store.clear();
    this.chatSettings.show({}); // settings belong to a conversation: a new one starts from defaults
    this.frame.announcer.textContent = "";
    this.frame.thread.querySelectorAll(".turn, .alert").forEach((el) => el.remove());
    this.updateEmpty();
    this.scroll.jumpToLatest();
    this.frame.input.focus();
  }
}

/** Wraps a transport so the window also hears about its close (some transports take one listener). */
function observeClose(transport: Transport, onClose: (reason: string) => void): Transport {
  const listeners: Array<(reason: string) => void> = [];
  let closed: string | null = null;
  transport.onClose((reason) => {
    if (closed !== null) return;
    closed = reason;
    onClose(reason);
    for (const listener of listeners) listener(reason);
  });
  return {
    send: (line) => transport.send(line),
    onLine: (listener) => transport.onLine(listener),
    onClose: (listener) => {
      listeners.push(listener);
      if (closed !== null) listener(closed);
    },
    close: () => transport.close(),
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export function mountChat(root: HTMLElement, options: AppOptions): ChatApp {
  return new ChatApp(root, options);
}
