// Conversations kept by the sidecar, in the window: which thread is open, its messages on
// screen as rows (a user message, or a reply: an assistant message with its tool rounds), the
// per-message actions (Copy, Edit, Regenerate, Continue, `< 2/3 >` versions), the sidebar, and
// the one-time import of the conversation the window used to keep in localStorage.
//
// Why it is built this way: the sidecar is the keeper, so the window holds no copy of a
// conversation beyond what is on screen. A chat on a thread sends only the new message (or none,
// to regenerate) with `after` = the last message shown, so what the user sees is what the model
// gets, whichever versions are shown. A live reply is drawn by the controller as before; once it
// ends, get_thread tells the ids and versions of what is on screen and the action bars are
// rebuilt. Opening a thread (a click, a reload) draws it from get_thread; a reply still in
// flight there is followed from exactly where get_thread's `streaming.content` ends
// (`client.resume`), and Stop still cancels it.

import type { ChatEvent, ChatHandle, SidecarClient } from "../client";
import { RpcError } from "../client";
import type { ChatParams, Message, StoredMessage, StreamingReply, ThreadSummary, Usage } from "../protocol";
import { COPIED_MS, writeClipboard } from "./markdown";
import type { FrameBatcher } from "./renderer";
import { Sidebar, mountSidebar } from "./sidebar";
import type { ConversationStore, Settings } from "./store";
import { AssistantReply, h, userMessage, type Frame } from "./view";

export type TurnSpec =
  | { kind: "send"; text: string; images?: string[] }
  | { kind: "regenerate"; after: string | null }
  | { kind: "edit"; after: string | null; text: string };

/** What the controller (controller.ts) gives the threads: its frame and a few of its moves. */
export interface ThreadHost {
  readonly frame: Frame;
  readonly batcher: FrameBatcher;
  readonly settings: Settings;
  readonly store: ConversationStore;
  busy(): boolean;
  connectClient(): Promise<SidecarClient>;
  /** Clears the conversation on screen (turns and alerts). */
  clearView(): void;
  /** Shows a user message and starts a live reply for `spec` (the controller's turn). */
  startThreadTurn(spec: TurnSpec, userText: string | null): void;
  /** Shows a reply already in flight and routes its later events; returns the route. */
  adopt(client: SidecarClient, handle: ChatHandle, streaming: StreamingReply): (event: ChatEvent) => void;
  formatStats(usage: Usage | undefined | null): string | null;
  focusInput(): void;
  /** The Settings popover's system prompt (a new thread's `system`). */
  chatSystem(): string | undefined;
  /** Shows a thread's settings (kept per thread in this browser) with the thread's system. */
  showThreadSettings(threadId: string | null, system: string | null): void;
}

interface Row {
  kind: "user" | "reply";
  element: HTMLElement;
  messages: StoredMessage[]; // empty until the ids are known
}

const THREAD_SETTING = "thread";
const IMPORTED_SETTING = "imported";
const START_TIMEOUT_MS = 15_000;

/** The path as rows: each user message alone, every run of other messages as one reply. */
export function groupRows(messages: StoredMessage[]): Array<{ kind: "user" | "reply"; messages: StoredMessage[] }> {
  const out: Array<{ kind: "user" | "reply"; messages: StoredMessage[] }> = [];
  for (const m of messages) {
    if (m.role === "system") continue;
    const kind = m.role === "user" ? "user" : "reply";
    const last = out.at(-1);
    if (kind === "reply" && last?.kind === "reply") last.messages.push(m);
    else out.push({ kind, messages: [m] });
  }
  return out;
}

export class ThreadsMode {
  threadId: string | null = null;
  private path: StoredMessage[] = [];
  private rows: Row[] = [];
  readonly sidebar: Sidebar;
  private syncing: Promise<void> = Promise.resolve();

  private constructor(private readonly host: ThreadHost, private client: SidecarClient) {
    this.sidebar = mountSidebar(host.frame.root, {
      open: (id) => void this.open(id),
      search: () => void this.refreshList(),
      rename: (id, title) => void this.rename(id, title),
      remove: (id) => void this.remove(id),
    });
  }

  /** Thread mode, when the sidecar keeps conversations (null for a `--no-store` sidecar). */
  static async start(host: ThreadHost, client: SidecarClient): Promise<ThreadsMode | null> {
    let threads: ThreadSummary[];
    try {
      // A sidecar that never answers must not keep the window from chatting.
      const silence = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("list_threads got no answer")), START_TIMEOUT_MS),
      );
      threads = await Promise.race([client.threads.list(), silence]);
    } catch (err) {
      if (err instanceof RpcError) return null;
      throw err;
    }
    const mode = new ThreadsMode(host, client);
    mode.sidebar.render(threads);
    await mode.importLegacy();
    const saved = host.settings.get(THREAD_SETTING);
    if (saved && !host.busy()) await mode.open(saved);
    else if (!host.busy()) host.clearView();
    return mode;
  }

  /** The client of a new sidecar (the window reconnected). */
  setClient(client: SidecarClient): void {
    this.client = client;
  }

  /** The conversation the window kept in localStorage before threads: imported once. */
  private async importLegacy(): Promise<void> {
    const { settings, store } = this.host;
    if (settings.get(IMPORTED_SETTING) === "true") return;
    const entries = store.load();
    const messages = store.wireMessages();
    if (entries.length && messages.length) {
      const model = settings.get("model") ?? undefined;
      const system = this.host.chatSystem();
      const thread = await this.client.threads.create({ messages, ...(model ? { model } : {}), ...(system ? { system } : {}) });
      settings.set(THREAD_SETTING, thread.id);
      await this.refreshList();
    }
    settings.set(IMPORTED_SETTING, "true");
    store.clear();
  }

  async refreshList(): Promise<void> {
    const query = this.sidebar.query;
    try {
      const threads = await this.client.threads.list(query ? { query } : {});
      if (query === this.sidebar.query) this.sidebar.render(threads);
    } catch (err) {
      console.warn("list_threads failed", err);
    }
  }

  // --- opening and drawing -----------------------------------------------------------------------

  async open(threadId: string, leaf?: string): Promise<void> {
    if (this.host.busy()) return;
    let route: (event: ChatEvent) => void;
    const early: ChatEvent[] = [];
    route = (event) => early.push(event); // events in the same read as the answer, if any
    let answer;
    try {
      answer = await this.client.resume(threadId, (event) => route(event), leaf);
    } catch (err) {
      if (err instanceof RpcError && err.kind === "thread_not_found") {
        this.newChat();
        await this.refreshList();
        return;
      }
      throw err;
    }
    const { thread, chat } = answer;
    this.host.clearView();
    this.threadId = threadId;
    this.host.settings.set(THREAD_SETTING, threadId);
    this.host.showThreadSettings(threadId, thread.thread.system);
    this.sidebar.setActive(threadId);
    const streamingId = thread.streaming ? thread.messages.find((m) => m.status === "streaming")?.id : undefined;
    const shown = thread.messages.filter((m) => m.id !== streamingId);
    this.path = shown;
    this.draw(shown);
    if (chat && thread.streaming) {
      const live = this.host.adopt(this.client, chat, thread.streaming);
      for (const event of early) live(event);
      route = live;
      this.rows.push({ kind: "reply", element: this.host.frame.thread.lastElementChild as HTMLElement, messages: [] });
    }
  }

  private draw(messages: StoredMessage[]): void {
    this.rows = [];
    const thread = this.host.frame.thread;
    for (const group of groupRows(messages)) {
      let element: HTMLElement;
      if (group.kind === "user") {
        element = userMessage(group.messages[0].content, group.messages[0].images ?? []);
      } else {
        const last = group.messages.at(-1)!;
        const reply = AssistantReply.fromHistory(this.host.batcher, group.messages as Message[], {
          stopped: last.status === "interrupted",
          error: last.status === "failed" ? last.error?.message ?? "the reply failed" : undefined,
          stats: this.host.formatStats(group.messages.find((m) => m.usage)?.usage) ?? undefined,
        });
        element = reply.turn;
      }
      thread.append(element);
      this.rows.push({ kind: group.kind, element, messages: group.messages });
    }
    this.rows.forEach((_, i) => this.decorateRow(i));
    this.host.frame.empty.hidden = this.rows.length > 0;
  }

  /** The controller shows a user message or a live reply of this thread. */
  addLiveRow(kind: "user" | "reply", element: HTMLElement): void {
    this.rows.push({ kind, element, messages: [] });
  }

  /** After a chat ended (any way): ids and versions of what is on screen, from get_thread. */
  finished(): Promise<void> {
    const run = async () => {
      if (!this.threadId) return;
      const threadId = this.threadId;
      const { thread } = await this.client.resume(threadId, () => {});
      if (this.threadId !== threadId) return;
      const leafRows = this.rows.length;
      const groups = groupRows(thread.messages);
      this.path = thread.messages;
      if (groups.length !== leafRows || groups.some((g, i) => g.kind !== this.rows[i].kind)) {
        if (!this.host.busy()) {
          // (A chat refused before it stored anything: its alert stays under the redrawn path.)
          const alerts = [...this.host.frame.thread.querySelectorAll<HTMLElement>(".alert")];
          this.host.clearView();
          this.draw(thread.messages);
          this.host.frame.thread.append(...alerts);
        }
      } else {
        groups.forEach((g, i) => (this.rows[i].messages = g.messages));
        this.rows.forEach((_, i) => this.decorateRow(i));
      }
      await this.refreshList();
    };
    this.syncing = this.syncing.then(run, run).catch((err) => console.warn("get_thread failed", err));
    return this.syncing;
  }

  // --- sending -----------------------------------------------------------------------------------

  /** The params of a chat on this thread (the thread is created on the first send). */
  async params(spec: TurnSpec, base: ChatParams): Promise<ChatParams> {
    await this.syncing;
    if (!this.threadId) {
      const system = this.host.chatSystem()?.trim() ? this.host.chatSystem() : undefined;
      const thread = await this.client.threads.create({
        ...(base.model ? { model: base.model } : {}),
        ...(system ? { system } : {}),
      });
      this.threadId = thread.id;
      this.path = [];
      this.host.settings.set(THREAD_SETTING, thread.id);
      this.host.showThreadSettings(thread.id, thread.system); // keeps the other settings
      this.sidebar.setActive(thread.id);
      void this.refreshList();
    }
    const params: ChatParams = { ...base, thread_id: this.threadId };
    delete (params as { messages?: Message[] }).messages;
    if (spec.kind === "send") {
      params.messages = [{ role: "user", content: spec.text, ...(spec.images?.length ? { images: spec.images } : {}) }];
      const last = this.path.at(-1);
      if (last) params.after = last.id;
    } else if (spec.kind === "regenerate") {
      params.after = spec.after;
    } else {
      params.after = spec.after;
      params.messages = [{ role: "user", content: spec.text }];
    }
    return params;
  }

  newChat(): void {
    this.threadId = null;
    this.path = [];
    this.rows = [];
    this.host.settings.set(THREAD_SETTING, null);
    this.sidebar.setActive(null);
    this.host.clearView();
    this.host.showThreadSettings(null, null);
  }

  /** Retry after a failed reply: a new version of the last reply. */
  async retryLast(): Promise<void> {
    await this.syncing;
    const i = this.rows.length - 1;
    if (i >= 0 && this.rows[i].kind === "reply" && this.rows[i].messages.length) this.regenerate(i);
    else if (i >= 0 && this.rows[i].kind === "user" && this.rows[i].messages.length) {
      this.cutFrom(i + 1);
      this.host.startThreadTurn({ kind: "regenerate", after: this.rows[i].messages[0].id }, null);
    }
  }

  private cutFrom(index: number): void {
    for (const row of this.rows.slice(index)) row.element.remove();
    this.host.frame.thread.querySelectorAll(".alert").forEach((el) => el.remove());
    this.rows = this.rows.slice(0, index);
    const kept = this.rows.flatMap((r) => r.messages);
    this.path = kept;
  }

  private regenerate(index: number): void {
    const head = this.rows[index]?.messages[0];
    if (!head || this.host.busy()) return;
    this.cutFrom(index);
    this.host.startThreadTurn({ kind: "regenerate", after: head.parent_id }, null);
  }

  private edit(index: number, text: string): void {
    const head = this.rows[index]?.messages[0];
    if (!head || this.host.busy()) return;
    this.cutFrom(index);
    this.host.startThreadTurn({ kind: "edit", after: head.parent_id, text }, text);
  }

  private switchVersion(index: number, step: number): void {
    const head = this.rows[index]?.messages[0];
    if (!head || !this.threadId || this.host.busy()) return;
    const at = head.versions.indexOf(head.id) + step;
    if (at < 0 || at >= head.versions.length) return;
    void this.open(this.threadId, head.versions[at]);
  }

  // --- the per-message actions ---------------------------------------------------------------------

  private decorateRow(index: number): void {
    const row = this.rows[index];
    row.element.querySelector(":scope > .msg-actions")?.remove();
    if (!row.messages.length) return;
    const head = row.messages[0];
    const bar = h("div", { class: "msg-actions", role: "group", "aria-label": "Message actions" });
    const button = (text: string, onClick: () => void, label?: string) => {
      const b = h("button", { type: "button", class: "msg-action", text });
      if (label) b.setAttribute("aria-label", label);
      b.addEventListener("click", onClick);
      bar.append(b);
      return b;
    };
    const text = row.messages.map((m) => (m.role === "assistant" ? m.content : "")).filter(Boolean).join("\n\n");
    const copy = button("Copy", () => {
      writeClipboard(row.kind === "user" ? head.content : text).then(
        () => {
          copy.textContent = "Copied";
          setTimeout(() => (copy.textContent = "Copy"), COPIED_MS);
        },
        () => (copy.textContent = "Copy failed"),
      );
    });
    if (row.kind === "user") button("Edit", () => this.startEdit(index));
    else button("Regenerate", () => this.regenerate(index));
    const last = row.messages.at(-1)!;
    if (row.kind === "reply" && index === this.rows.length - 1 && last.status === "interrupted") {
      // Cut off (Stop, or its sidecar was gone): go on from the partial text, or answer again.
      button("Continue", () => {
        if (!this.host.busy()) this.host.startThreadTurn({ kind: "send", text: "Continue" }, "Continue");
      });
      button("Retry", () => this.regenerate(index));
    }
    if (head.versions.length > 1) {
      const at = head.versions.indexOf(head.id);
      const previous = button("‹", () => this.switchVersion(index, -1), "Previous version");
      bar.append(h("span", { class: "versions", "data-versions": "true", text: `${at + 1}/${head.versions.length}` }));
      const next = h("button", { type: "button", class: "msg-action", text: "›", "aria-label": "Next version" });
      next.addEventListener("click", () => this.switchVersion(index, 1));
      bar.append(next);
      previous.disabled = at <= 0;
      next.disabled = at >= head.versions.length - 1;
    }
    row.element.dataset.messageId = head.id;
    roveGroup(bar);
    row.element.append(bar);
  }

  private startEdit(index: number): void {
    const row = this.rows[index];
    if (!row || this.host.busy()) return;
    const original = row.messages[0].content;
    const area = h("textarea", { "aria-label": "Edit message" });
    area.value = original;
    const save = h("button", { type: "button", class: "primary small", text: "Save and send" });
    const cancel = h("button", { type: "button", class: "ghost small", text: "Cancel" });
    const editor = h("div", { class: "msg-edit" }, area, h("div", { class: "msg-actions" }, cancel, save));
    const children = [...row.element.childNodes];
    row.element.replaceChildren(editor);
    area.focus();
    cancel.addEventListener("click", () => row.element.replaceChildren(...children));
    save.addEventListener("click", () => {
      const value = area.value;
      if (!value.trim()) return;
      this.edit(index, value);
    });
  }

  // --- the sidebar's moves ----------------------------------------------------------------------

  private async rename(threadId: string, title: string): Promise<void> {
    await this.client.threads.rename(threadId, title);
    await this.refreshList();
  }

  private async remove(threadId: string): Promise<void> {
    try {
      await this.client.threads.delete(threadId);
    } catch (err) {
      console.warn("delete_thread failed", err);
    }
    if (threadId === this.threadId && !this.host.busy()) this.newChat();
    await this.refreshList();
    this.host.focusInput();
  }
}

/** One Tab stop per action bar: Left and Right move between its buttons. */
function roveGroup(bar: HTMLElement): void {
  const buttons = () => [...bar.querySelectorAll<HTMLButtonElement>("button:not(:disabled)")];
  buttons().forEach((b, i) => (b.tabIndex = i === 0 ? 0 : -1));
  bar.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const list = buttons();
    const to = list[list.indexOf(e.target as HTMLButtonElement) + (e.key === "ArrowRight" ? 1 : -1)];
    if (!to) return;
    e.preventDefault();
    for (const b of list) b.tabIndex = b === to ? 0 : -1;
    to.focus();
  });
}
