// A typed client for protocol 1 (docs/protocol.md), over any Transport.
//
// Why it is built this way:
// - Responses can arrive in any order, so every request gets a fresh increasing integer id and a
//   pending entry keyed by it; the response settles exactly that entry (1 and "1" stay distinct).
// - `chat:*` notifications carry `params.chat_id` (the chat request's id), so they are routed
//   through a map of running chats. The sidecar writes nothing for a chat after its response, so
//   the response both settles `result` and ends `events`, synchronously, in the same handler.
// - The window must not miss or reorder a token, and must not pay a microtask per token: `onEvent`
//   runs synchronously for each event as its line is read. `events` (for scripts and tests) reads
//   from a per-chat buffer, so a late consumer still sees every event from the first.
// - The transport closing is the one failure every caller must survive: each pending request then
//   rejects with ClosedError, and running chats end their `events`.
// - Anything unexpected on the wire (a line that is not JSON, an unknown notification, a response
//   to an id we never sent) is ignored with at most a console.warn: one bad line must not take
//   the window down.
// - A pull is a long request like a chat: `model:pull_progress` carries `params.request_id`, so
//   progress is routed the same way (a per-pull buffer, `onProgress` synchronously, `progress` as
//   an async iterable that ends with the response). `cancelRequest` stops any request in flight.

import { ERROR_CODES, PROTOCOL } from "./protocol";
import type {
  ChatParams,
  ChatResult,
  CreateThreadParams,
  ErrorData,
  ErrorObject,
  GetThreadResult,
  ListThreadsParams,
  LoadModelResult,
  Logprob,
  McpServerInfo,
  McpServerStatusParams,
  ModelInfo,
  PullModelResult,
  PullProgressParams,
  ReadyParams,
  RequestId,
  RunningModel,
  ShowModelResult,
  Status,
  ThreadInfo,
  ThreadSummary,
  TokenParams,
  ToolCallParams,
  ToolInfo,
  ToolResultNote,
} from "./protocol";
import type { Transport } from "./transport";

/** An MCP tool's event also names its server and the server's own name for the tool. */
export interface McpFields {
  server?: string;
  tool?: string;
}

export type ChatEvent =
  | { type: "token"; content: string; logprobs?: Logprob[] }
  | { type: "thinking"; content: string; logprobs?: Logprob[] }
  | ({ type: "tool_call"; call_id: string; name: string; arguments: Record<string, unknown> } & McpFields)
  | ({
      type: "approval_request";
      call_id: string;
      name: string;
      arguments: Record<string, unknown>;
      /** The MCP tool's annotations as its server sent them: hints, never a reason to skip asking. */
      annotations?: Record<string, unknown>;
    } & McpFields)
  | ({
      type: "tool_result";
      call_id: string;
      name: string;
      content: string;
      is_error: boolean;
      /** The MCP `content` array as the server sent it (images, resources), for the window. */
      mcp_content?: Record<string, unknown>[];
    } & McpFields);

/** How long an approval holds: this call, the rest of this chat, or the rest of the sidecar's life. */
export type ApprovalScope = "once" | "chat" | "always";

/** A JSON-RPC error response. Branch on `code` or `kind`; show `hint`; `data.messages` is the partial reply. */
export class RpcError extends Error {
  code: number;
  kind: string;
  hint?: string;
  data: ErrorData;

  constructor(error: ErrorObject) {
    super(error.message);
    this.name = "RpcError";
    this.code = error.code;
    const byCode = Object.entries(ERROR_CODES).find(([, code]) => code === error.code)?.[0];
    this.data = { ...error.data, kind: error.data?.kind ?? byCode ?? "unknown" };
    this.kind = this.data.kind;
    this.hint = this.data.hint;
  }
}

/** The transport closed (or the client was closed) before the answer came. */
export class ClosedError extends Error {
  constructor(reason: string) {
    super(`sidecar connection closed: ${reason}`);
    this.name = "ClosedError";
  }
}

export interface ChatHandle {
  id: RequestId;
  /** Every event of this chat, in order; ends when the chat's response arrives, whatever it is. */
  events: AsyncIterable<ChatEvent>;
  /** The chat's result; rejects with RpcError (data.messages = partial reply) or ClosedError. */
  result: Promise<ChatResult>;
  /** Sends cancel_chat {chat_id: id}; resolves with the ids it cancelled (`result` says "cancelled" first). */
  cancel(): Promise<RequestId[]>;
}

/** Progress of a pull: the params of `model:pull_progress` (bytes summed over the layers seen). */
export type PullProgress = PullProgressParams;

export interface PullHandle {
  id: RequestId;
  /** Every progress notification of this pull, in order; ends when the pull answers. */
  progress: AsyncIterable<PullProgress>;
  /** `{model, status: "success"}`, or `{model, status: "cancelled", total, completed}` after a
   * cancel; rejects with RpcError (`model_not_found`; `upstream_error` / `stream_interrupted`
   * with `data.progress`) or ClosedError. */
  result: Promise<PullModelResult>;
  /** Sends cancel_request {id}; resolves with the ids it cancelled (`result` answers first). */
  cancel(): Promise<RequestId[]>;
}

type Pending = { resolve(value: unknown): void; reject(error: Error): void };

/** The conversation methods (docs/protocol.md, Conversations): `client.threads.*`. */
export interface ThreadsApi {
  /** create_thread: a new, empty thread. */
  create(params?: CreateThreadParams): Promise<ThreadInfo>;
  /** list_threads: newest first; `query` searches the messages' text. */
  list(params?: ListThreadsParams): Promise<ThreadSummary[]>;
  /** get_thread: the path to `leaf` (default: the newest message) and the reply in flight. */
  get(threadId: string, leaf?: string): Promise<GetThreadResult>;
  rename(threadId: string, title: string): Promise<void>;
  delete(threadId: string): Promise<void>;
  /** export_thread: the thread as one document. */
  export(threadId: string, format?: "json" | "markdown"): Promise<string>;
}

export interface ClientOptions {
  /** The first request id (default 1). A page that reattaches to a sidecar still running an
   * earlier page's chat starts past that page's ids (e.g. Date.now()), so no id collides. */
  firstId?: number;
}

/** One running chat or pull: its event buffer, the iterators waiting on it, and a callback. */
class EventStream<E> {
  readonly buffer: E[] = [];
  ended = false;
  private wake: Array<() => void> = [];

  constructor(private readonly onEvent?: (event: E) => void) {}

  push(event: E): void {
    this.buffer.push(event);
    if (this.onEvent) {
      try {
        this.onEvent(event);
      } catch (err) {
        console.error("sidecar client: onEvent threw", err);
      }
    }
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = [];
    for (const w of wake) w();
  }

  async *iterate(): AsyncGenerator<E> {
    let i = 0;
    for (;;) {
      if (i < this.buffer.length) yield this.buffer[i++];
      else if (this.ended) return;
      else await new Promise<void>((resolve) => this.wake.push(resolve));
    }
  }
}

const CHAT_EVENTS = new Map<string, ChatEvent["type"]>([
  ["chat:token", "token"],
  ["chat:thinking", "thinking"],
  ["chat:tool_call", "tool_call"],
  ["chat:approval_request", "approval_request"],
  ["chat:tool_result", "tool_result"],
]);

/** Notification params -> ChatEvent (drops chat_id, keeps only the documented fields). */
function toEvent(type: ChatEvent["type"], params: unknown): ChatEvent {
  switch (type) {
    case "token":
    case "thinking": {
      const p = params as TokenParams;
      return p.logprobs ? { type, content: p.content, logprobs: p.logprobs } : { type, content: p.content };
    }
    case "tool_call":
    case "approval_request": {
      const p = params as ToolCallParams;
      const event: ChatEvent = { type, call_id: p.call_id, name: p.name, arguments: p.arguments ?? {} };
      if (p.server !== undefined) Object.assign(event, { server: p.server, tool: p.tool });
      if (type === "approval_request" && p.annotations !== undefined) Object.assign(event, { annotations: p.annotations });
      return event;
    }
    case "tool_result": {
      const p = params as ToolResultNote;
      const event: ChatEvent = { type, call_id: p.call_id, name: p.name, content: p.content, is_error: p.is_error };
      if (p.server !== undefined) Object.assign(event, { server: p.server, tool: p.tool });
      if (p.mcp_content !== undefined) Object.assign(event, { mcp_content: p.mcp_content });
      return event;
    }
  }
}

export class SidecarClient {
  /** Resolves with the sidecar:ready params; rejects with ClosedError if the transport closes first. */
  readonly ready: Promise<ReadyParams>;

  private nextId: number;
  private readonly pending = new Map<RequestId, Pending>();
  private readonly chats = new Map<RequestId, EventStream<ChatEvent>>();
  private readonly pulls = new Map<RequestId, EventStream<PullProgress>>();
  private readonly listeners: Array<(method: string, params: unknown) => void> = [];
  private closedReason: string | null = null;
  private transportClosed = false;
  private readyResolve!: (params: ReadyParams) => void;
  private readyReject!: (error: Error) => void;

  /** The conversations the sidecar keeps. */
  readonly threads: ThreadsApi = {
    create: async (params = {}) => (await this.request<{ thread: ThreadInfo }>("create_thread", params)).thread,
    list: async (params = {}) => (await this.request<{ threads: ThreadSummary[] }>("list_threads", params)).threads,
    get: (threadId, leaf) =>
      this.request<GetThreadResult>("get_thread", leaf === undefined ? { thread_id: threadId } : { thread_id: threadId, leaf }),
    rename: async (threadId, title) => {
      await this.request("rename_thread", { thread_id: threadId, title });
    },
    delete: async (threadId) => {
      await this.request("delete_thread", { thread_id: threadId });
    },
    export: async (threadId, format = "json") =>
      (await this.request<{ content: string }>("export_thread", { thread_id: threadId, format })).content,
  };

  constructor(private readonly transport: Transport, options: ClientOptions = {}) {
    this.nextId = options.firstId ?? 1;
    this.ready = new Promise<ReadyParams>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => {}); // a caller that never awaits `ready` must not see an unhandled rejection
    transport.onLine((line) => this.handleLine(line));
    transport.onClose((reason) => this.shutdown(reason));
  }

  /** Sends any request; resolves with its `result`, rejects with RpcError or ClosedError. */
  request<T>(method: string, params?: unknown): Promise<T> {
    return this.send(this.nextId++, method, params) as Promise<T>;
  }

  chat(params: ChatParams, onEvent?: (event: ChatEvent) => void): ChatHandle {
    const id = this.nextId++;
    const stream = new EventStream<ChatEvent>(onEvent);
    this.chats.set(id, stream); // before sending: its first notification may come at once
    const result = this.send(id, "chat", params) as Promise<ChatResult>;
    result.catch(() => {}); // handled by whoever awaits `result`; events alone must not warn
    return {
      id,
      events: { [Symbol.asyncIterator]: () => stream.iterate() },
      result,
      cancel: () => this.cancel(id),
    };
  }

  /**
   * Follows a chat this client did not send: one an earlier page started on the same sidecar
   * (get_thread's `streaming.chat_id` after a reload). Its later events and its response come
   * here as if `chat()` had sent it.
   */
  attach(chatId: RequestId, onEvent?: (event: ChatEvent) => void): ChatHandle {
    const stream = new EventStream<ChatEvent>(onEvent);
    this.chats.set(chatId, stream);
    if (typeof chatId === "number" && chatId >= this.nextId) this.nextId = chatId + 1;
    const result = new Promise<ChatResult>((resolve, reject) => {
      if (this.closedReason !== null) {
        this.settle(chatId, () => reject(new ClosedError(this.closedReason ?? "closed")));
        return;
      }
      this.pending.set(chatId, { resolve: resolve as (value: unknown) => void, reject });
    });
    result.catch(() => {});
    return {
      id: chatId,
      events: { [Symbol.asyncIterator]: () => stream.iterate() },
      result,
      cancel: () => this.cancel(chatId),
    };
  }

  /**
   * get_thread, following the reply in flight: when the answer names one (`streaming`), the
   * chat is attached (see `attach`) while the answer's line is handled, before any later line,
   * so `streaming.content` plus the events that follow is the reply, byte for byte.
   */
  resume(
    threadId: string,
    onEvent: (event: ChatEvent) => void,
    leaf?: string,
  ): Promise<{ thread: GetThreadResult; chat: ChatHandle | null }> {
    let chat: ChatHandle | null = null;
    const params = leaf === undefined ? { thread_id: threadId } : { thread_id: threadId, leaf };
    const answer = this.send(this.nextId++, "get_thread", params, (result) => {
      const streaming = (result as GetThreadResult).streaming;
      if (streaming && streaming.chat_id !== null) chat = this.attach(streaming.chat_id, onEvent);
    });
    return answer.then((thread) => ({ thread: thread as GetThreadResult, chat }));
  }

  /** cancel_chat for one chat, or every running chat without an id; resolves with the cancelled ids. */
  async cancel(chatId?: RequestId): Promise<RequestId[]> {
    const params = chatId === undefined ? {} : { chat_id: chatId };
    const { cancelled } = await this.request<{ cancelled: RequestId[] }>("cancel_chat", params);
    return cancelled;
  }

  /** approve_tool; `scope` (default "once") says how long an approval holds for that tool. */
  async approve(
    chatId: RequestId,
    callId: string,
    approved: boolean,
    reason?: string,
    scope?: ApprovalScope,
  ): Promise<void> {
    const params: Record<string, unknown> = { chat_id: chatId, call_id: callId, approved };
    if (reason !== undefined) params.reason = reason;
    if (scope !== undefined) params.scope = scope;
    await this.request("approve_tool", params);
  }

  /** What a chat with `tools: true` would offer now: built-ins, then the ready MCP servers' tools. */
  async listTools(): Promise<ToolInfo[]> {
    return (await this.request<{ tools: ToolInfo[] }>("list_tools")).tools;
  }

  /** The MCP servers of --mcp-config with their status, exposed tool names and error. */
  async listMcpServers(): Promise<McpServerInfo[]> {
    return (await this.request<{ servers: McpServerInfo[] }>("list_mcp_servers")).servers;
  }

  /** Called with every `mcp:server_status` (a server started, became ready, failed or stopped). */
  onMcpServerStatus(listener: (status: McpServerStatusParams) => void): () => void {
    return this.onNotification((method, params) => {
      if (method === "mcp:server_status") listener(params as McpServerStatusParams);
    });
  }

  async toolResult(chatId: RequestId, callId: string, content: string, isError?: boolean): Promise<void> {
    const params: Record<string, unknown> = { chat_id: chatId, call_id: callId, content };
    if (isError !== undefined) params.is_error = isError;
    await this.request("tool_result", params);
  }

  async listModels(): Promise<ModelInfo[]> {
    return (await this.request<{ models: ModelInfo[] }>("list_models")).models;
  }

  status(): Promise<Status> {
    return this.request<Status>("status");
  }

  /** pull_model: downloads a model; `onProgress` runs synchronously for every progress line. */
  pullModel(model: string, options: { insecure?: boolean; onProgress?: (p: PullProgress) => void } = {}): PullHandle {
    const id = this.nextId++;
    const stream = new EventStream<PullProgress>(options.onProgress);
    this.pulls.set(id, stream); // before sending: progress may come at once
    const params: Record<string, unknown> = { model };
    if (options.insecure !== undefined) params.insecure = options.insecure;
    const result = this.send(id, "pull_model", params) as Promise<PullModelResult>;
    result.catch(() => {});
    return {
      id,
      progress: { [Symbol.asyncIterator]: () => stream.iterate() },
      result,
      cancel: () => this.cancelRequest(id),
    };
  }

  /** cancel_request: cancels any request in flight (a pull, a chat, a load); resolves with the
   * ids it cancelled (`[]` when that request had already answered). */
  async cancelRequest(id: RequestId): Promise<RequestId[]> {
    return (await this.request<{ cancelled: RequestId[] }>("cancel_request", { id })).cancelled;
  }

  /** show_model: capabilities, trained context and details of an installed model. */
  showModel(model: string): Promise<ShowModelResult> {
    return this.request<ShowModelResult>("show_model", { model });
  }

  /** running_models: the models loaded in memory upstream. */
  async runningModels(): Promise<RunningModel[]> {
    return (await this.request<{ models: RunningModel[] }>("running_models")).models;
  }

  async deleteModel(model: string): Promise<void> {
    await this.request("delete_model", { model });
  }

  /** load_model: resolves once the model is in memory (`load_ms` measured by the sidecar). */
  loadModel(model: string, keepAlive?: number | string): Promise<LoadModelResult> {
    const params: Record<string, unknown> = { model };
    if (keepAlive !== undefined) params.keep_alive = keepAlive;
    return this.request<LoadModelResult>("load_model", params);
  }

  async unloadModel(model: string): Promise<void> {
    await this.request("unload_model", { model });
  }

  /** Called with every notification (known or not), after the client has routed it. Returns an unsubscribe. */
  onNotification(listener: (method: string, params: unknown) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Closes the transport (also after it closed by itself); everything pending rejects with ClosedError. */
  close(reason = "closed by the client"): void {
    if (this.transportClosed) return;
    this.transportClosed = true;
    this.shutdown(reason);
    this.transport.close();
  }

  private send(id: number, method: string, params: unknown, onAnswer?: (result: unknown) => void): Promise<unknown> {
    return new Promise((resolveAnswer, reject) => {
      const resolve = (result: unknown) => {
        if (onAnswer) {
          try {
            onAnswer(result); // synchronously, as the line is handled
          } catch (err) {
            console.error("sidecar client: an answer hook threw", err);
          }
        }
        resolveAnswer(result);
      };
      if (this.closedReason !== null) {
        this.chats.get(id)?.end();
        this.chats.delete(id);
        this.pulls.get(id)?.end();
        this.pulls.delete(id);
        reject(new ClosedError(this.closedReason));
        return;
      }
      this.pending.set(id, { resolve, reject });
      const message = params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params };
      try {
        this.transport.send(JSON.stringify(message));
      } catch (err) {
        this.settle(id, () => reject(err instanceof Error ? err : new Error(String(err))));
      }
    });
  }

  /** Removes a request's bookkeeping, ends its chat stream, then runs `finish` (resolve/reject). */
  private settle(id: RequestId, finish: () => void): void {
    this.pending.delete(id);
    const stream = this.chats.get(id) ?? this.pulls.get(id);
    this.chats.delete(id);
    this.pulls.delete(id);
    finish();
    stream?.end();
  }

  private handleLine(line: string): void {
    let msg: any;
    try {
      msg = JSON.parse(line);
    } catch {
      console.warn("sidecar client: ignoring a line that is not JSON:", line.slice(0, 200));
      return;
    }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
      console.warn("sidecar client: ignoring a line that is not a JSON object:", line.slice(0, 200));
      return;
    }
    if (typeof msg.method === "string") {
      if (msg.id === undefined) this.handleNotification(msg.method, msg.params);
      return; // the sidecar sends no requests; anything else with a method is not for us
    }
    const entry = msg.id === null || msg.id === undefined ? undefined : this.pending.get(msg.id);
    if (!entry) {
      // id null: the sidecar could not read one of our lines (should not happen); else a stranger.
      console.warn("sidecar client: ignoring a response to no pending request:", line.slice(0, 200));
      return;
    }
    if (msg.error !== undefined) this.settle(msg.id, () => entry.reject(new RpcError(msg.error)));
    else this.settle(msg.id, () => entry.resolve(msg.result));
  }

  private handleNotification(method: string, params: any): void {
    if (method === "sidecar:ready") {
      const spoken = (params as Partial<ReadyParams> | undefined)?.protocol;
      if (typeof spoken === "number" && spoken !== PROTOCOL) {
        // docs/protocol.md §11: another number means an incompatible change; talk to it no further.
        this.close(`the sidecar speaks protocol ${spoken}, this client protocol ${PROTOCOL}: update the one that is older`);
        return;
      }
      this.readyResolve(params as ReadyParams);
    } else if (method === "model:pull_progress") {
      const pull = params?.request_id != null ? this.pulls.get(params.request_id) : undefined;
      pull?.push(params as PullProgress);
    } else {
      const type = CHAT_EVENTS.get(method);
      const stream = params?.chat_id != null ? this.chats.get(params.chat_id) : undefined;
      if (type && stream) stream.push(toEvent(type, params));
    }
    for (const listener of [...this.listeners]) {
      try {
        listener(method, params);
      } catch (err) {
        console.error("sidecar client: onNotification listener threw", err);
      }
    }
  }

  private shutdown(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.readyReject(new ClosedError(reason)); // no-op when already ready
    for (const [id, entry] of [...this.pending]) this.settle(id, () => entry.reject(new ClosedError(reason)));
  }
}
