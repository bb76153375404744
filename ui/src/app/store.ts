// The conversation and the window's settings, kept in localStorage so a reload loses nothing.
// The conversation is stored as the wire messages it is sent back as: each user message, then
// the `messages` of that chat's result (assistant, tool calls and tool results), plus a little
// display metadata (stopped, stats, thinking time) per reply.

import type { Message } from "../protocol";

export interface ReplyMeta {
  /** The user stopped it (done_reason "cancelled"): shown with a "Stopped" mark. */
  stopped?: boolean;
  doneReason?: string;
  /** The stats line ("42.1 tok/s · first token 180 ms"). */
  stats?: string;
  /** Seconds of each thinking section, in order. */
  thoughtSeconds?: number[];
  /** call_ids whose tool result was an error. */
  toolErrors?: string[];
  /** The reply failed with this message (its partial text is kept, but not sent back). */
  error?: string;
}

export type Entry =
  | { kind: "user"; message: Message }
  | { kind: "reply"; messages: Message[]; meta: ReplyMeta };

const PREFIX = "ollama-sidecar-ui:";
const CONVERSATION_KEY = `${PREFIX}conversation`;
const VERSION = 1;

function safeStorage(storage?: Storage | null): Storage | null {
  if (storage !== undefined) return storage;
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

export class Settings {
  private readonly storage: Storage | null;

  constructor(storage?: Storage | null) {
    this.storage = safeStorage(storage);
  }

  get(name: string): string | null {
    try {
      return this.storage?.getItem(PREFIX + name) ?? null;
    } catch {
      return null;
    }
  }

  set(name: string, value: string | null): void {
    try {
      if (value === null) this.storage?.removeItem(PREFIX + name);
      else this.storage?.setItem(PREFIX + name, value);
    } catch {
      // storage full or disabled: the setting lives for this page only
    }
  }
}

export class ConversationStore {
  entries: Entry[] = [];
  /** The conversation's settings (chat-settings.ts cleans them); saved with its entries. */
  settings: unknown = {};
  private readonly storage: Storage | null;

  constructor(storage?: Storage | null) {
    this.storage = safeStorage(storage);
  }

  load(): Entry[] {
    this.entries = [];
    this.settings = {};
    try {
      const raw = this.storage?.getItem(CONVERSATION_KEY);
      if (!raw) return this.entries;
      const data = JSON.parse(raw) as { version?: number; entries?: unknown; settings?: unknown };
      if (data.version !== VERSION || !Array.isArray(data.entries)) return this.entries;
      this.entries = data.entries.filter(isEntry);
      this.settings = data.settings ?? {};
    } catch {
      this.entries = [];
    }
    return this.entries;
  }

  save(): void {
    try {
      this.storage?.setItem(
        CONVERSATION_KEY,
        JSON.stringify({ version: VERSION, entries: this.entries, settings: this.settings }),
      );
    } catch {
      // storage full or disabled: the conversation still lives in the page
    }
  }

  addUser(content: string, images: string[] = []): Entry {
    const message: Message = images.length ? { role: "user", content, images } : { role: "user", content };
    const entry: Entry = { kind: "user", message };
    this.entries.push(entry);
    return entry;
  }

  addReply(messages: Message[], meta: ReplyMeta): Entry {
    const entry: Entry = { kind: "reply", messages, meta };
    this.entries.push(entry);
    return entry;
  }

  remove(entry: Entry): void {
    const i = this.entries.indexOf(entry);
    if (i >= 0) this.entries.splice(i, 1);
  }

  clear(): void {
    this.entries = [];
    this.settings = {};
    try {
      this.storage?.removeItem(CONVERSATION_KEY);
    } catch {
      // nothing to clear
    }
  }

  /** The conversation as `chat` params' `messages` (without the system prompt). */
  wireMessages(): Message[] {
    const out: Message[] = [];
    for (const entry of this.entries) {
      if (entry.kind === "user") {
        out.push(entry.message);
      } else if (!entry.meta.error) {
        for (const m of entry.messages) {
          const empty =
            m.role === "assistant" && !m.content && !m.tool_calls?.length && !m.thinking;
          if (!empty) out.push(m);
        }
      }
    }
    return out;
  }
}

function isEntry(value: unknown): value is Entry {
  if (!value || typeof value !== "object") return false;
  const e = value as Record<string, unknown>;
  if (e.kind === "user") return isMessage(e.message);
  if (e.kind === "reply") {
    return (
      Array.isArray(e.messages) &&
      e.messages.every(isMessage) &&
      !!e.meta &&
      typeof e.meta === "object"
    );
  }
  return false;
}

function isMessage(value: unknown): value is Message {
  if (!value || typeof value !== "object") return false;
  const m = value as Record<string, unknown>;
  return typeof m.role === "string" && typeof (m.content ?? "") === "string";
}
