// ollama-sidecar protocol 1: TypeScript types generated from its JSON Schema (urn:ollama-sidecar:protocol:1).
// Do not edit. Regenerate after changing sidecar/protocol.py:
//   .venv/bin/python -m sidecar --print-schema > docs/protocol.schema.json
//   python3 ui/scripts/protocol-types.py

export const PROTOCOL = 1;

export interface ApproveToolParams {
  chat_id: number | string;
  call_id: string;
  approved: boolean;
  reason?: string;
  scope?: "always" | "chat" | "once";
}

/** Answers a chat:approval_request; scope once (default), chat or always. Without an id it is a notification: it runs and is never answered. */
export interface ApproveToolRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "approve_tool";
  params: ApproveToolParams;
}

/** The success response to approve_tool; `id` is the request's. */
export interface ApproveToolResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: EmptyResult;
}

export interface CancelChatParams {
  chat_id?: number | string;
}

/** Cancels one chat (chat_id) or every running chat (no chat_id). Without an id it is a notification: it runs and is never answered. */
export interface CancelChatRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "cancel_chat";
  params?: CancelChatParams;
}

/** The success response to cancel_chat; `id` is the request's. */
export interface CancelChatResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: CancelChatResult;
}

export interface CancelChatResult {
  cancelled: (number | string)[];
}

export interface CancelRequestParams {
  id: number | string;
}

/** Cancels any request in flight (a pull, a chat, ...) once it has answered. Without an id it is a notification: it runs and is never answered. */
export interface CancelRequestRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "cancel_request";
  params: CancelRequestParams;
}

/** The success response to cancel_request; `id` is the request's. */
export interface CancelRequestResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: CancelRequestResult;
}

export interface CancelRequestResult {
  cancelled: (number | string)[];
}

/** A call of write_file, exec_shell or an MCP tool (unless its server's autoApprove names it) waits for approve_tool. */
export interface ChatApprovalRequestNotification {
  jsonrpc: "2.0";
  method: "chat:approval_request";
  params: ToolCallParams;
}

export interface ChatParams {
  messages?: Message[];
  model?: string;
  options?: Record<string, unknown>;
  think?: boolean | "high" | "low" | "max" | "medium";
  format?: "json" | Record<string, unknown>;
  keep_alive?: number | string;
  tools?: boolean | (string | Record<string, unknown>)[];
  approval?: "ask" | "auto";
  tool_choice?: "auto" | "none" | "required" | ToolChoiceFunction;
  thread_id?: string;
  after?: string | null;
  logprobs?: boolean;
  top_logprobs?: number;
  truncate?: boolean;
  shift?: boolean;
}

/** Streams a reply: chat:* notifications with params.chat_id = this id, then one response. Without an id it is a notification: it runs and is never answered. */
export interface ChatRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "chat";
  params?: ChatParams;
}

/** The success response to chat; `id` is the request's. */
export interface ChatResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: ChatResult;
}

export interface ChatResult {
  done_reason: string;
  messages: Message[];
  usage: Usage;
  thread_id?: string;
  message_ids?: string[];
}

/** A delta of the assistant's thinking. */
export interface ChatThinkingNotification {
  jsonrpc: "2.0";
  method: "chat:thinking";
  params: TokenParams;
}

/** A delta of the assistant's text. */
export interface ChatTokenNotification {
  jsonrpc: "2.0";
  method: "chat:token";
  params: TokenParams;
}

/** A tool call of the model. */
export interface ChatToolCallNotification {
  jsonrpc: "2.0";
  method: "chat:tool_call";
  params: ToolCallParams;
}

/** A tool call has run, or was answered. */
export interface ChatToolResultNotification {
  jsonrpc: "2.0";
  method: "chat:tool_result";
  params: ToolResultNote;
}

export interface CreateThreadParams {
  title?: string;
  model?: string;
  system?: string;
  messages?: Message[];
}

/** Starts a stored conversation (a thread); chat with its thread_id to talk in it. Without an id it is a notification: it runs and is never answered. */
export interface CreateThreadRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "create_thread";
  params?: CreateThreadParams;
}

/** The success response to create_thread; `id` is the request's. */
export interface CreateThreadResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: ThreadResult;
}

/** Deletes an installed model. Without an id it is a notification: it runs and is never answered. */
export interface DeleteModelRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "delete_model";
  params: ModelParams;
}

/** The success response to delete_model; `id` is the request's. */
export interface DeleteModelResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: EmptyResult;
}

/** Deletes a thread and all its messages. Without an id it is a notification: it runs and is never answered. */
export interface DeleteThreadRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "delete_thread";
  params: ThreadIdParams;
}

/** The success response to delete_thread; `id` is the request's. */
export interface DeleteThreadResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: EmptyResult;
}

/** The result of approve_tool, tool_result and shutdown: `{}`. */
export interface EmptyResult {
}

/**
 * `error.data`: `kind` always; `hint` when the user can act; `status` for upstream_error;
 * `messages` (the partial reply) on every error of a chat that had started; `signin_url`
 * when Ollama asks to sign in (401 of a cloud model); `progress` (the last
 * `model:pull_progress`) when a pull fails after it started.
 */
export interface ErrorData {
  kind: string;
  hint?: string;
  status?: number;
  messages?: Message[];
  signin_url?: string;
  progress?: PullProgressParams;
}

export interface ErrorObject {
  code: number;
  message: string;
  data: ErrorData;
}

/** The answer to a request that failed; `id` is null when the line's id could not be read. */
export interface ErrorResponse {
  jsonrpc: "2.0";
  id: number | string | null;
  error: ErrorObject;
}

export interface ExportThreadParams {
  thread_id: string;
  format?: "json" | "markdown";
}

/** A thread as one JSON or Markdown document. Without an id it is a notification: it runs and is never answered. */
export interface ExportThreadRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "export_thread";
  params: ExportThreadParams;
}

/** The success response to export_thread; `id` is the request's. */
export interface ExportThreadResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: ExportThreadResult;
}

export interface ExportThreadResult {
  content: string;
}

export interface GetThreadParams {
  thread_id: string;
  leaf?: string;
}

/** A thread's messages from the root to a leaf, and the reply in flight on it. Without an id it is a notification: it runs and is never answered. */
export interface GetThreadRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "get_thread";
  params: GetThreadParams;
}

/** The success response to get_thread; `id` is the request's. */
export interface GetThreadResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: GetThreadResult;
}

export interface GetThreadResult {
  thread: ThreadInfo;
  messages: StoredMessage[];
  streaming: StreamingReply | null;
}

/** The MCP servers of --mcp-config: transport, status, exposed tool names, error. Without an id it is a notification: it runs and is never answered. */
export interface ListMcpServersRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "list_mcp_servers";
  params?: NoParams;
}

/** The success response to list_mcp_servers; `id` is the request's. */
export interface ListMcpServersResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: ListMcpServersResult;
}

export interface ListMcpServersResult {
  servers: McpServerInfo[];
}

/** The models installed upstream. Without an id it is a notification: it runs and is never answered. */
export interface ListModelsRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "list_models";
  params?: NoParams;
}

/** The success response to list_models; `id` is the request's. */
export interface ListModelsResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: ListModelsResult;
}

export interface ListModelsResult {
  models: ModelInfo[];
}

export interface ListThreadsParams {
  limit?: number;
  before?: string;
  query?: string;
}

/** The stored threads, newest first; query searches their messages' text. Without an id it is a notification: it runs and is never answered. */
export interface ListThreadsRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "list_threads";
  params?: ListThreadsParams;
}

/** The success response to list_threads; `id` is the request's. */
export interface ListThreadsResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: ListThreadsResult;
}

export interface ListThreadsResult {
  threads: ThreadSummary[];
}

/** The tools a chat with "tools": true would offer right now: built-ins and the ready MCP servers' tools. Without an id it is a notification: it runs and is never answered. */
export interface ListToolsRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "list_tools";
  params?: NoParams;
}

/** The success response to list_tools; `id` is the request's. */
export interface ListToolsResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: ListToolsResult;
}

export interface ListToolsResult {
  tools: ToolInfo[];
}

export interface LoadModelParams {
  model: string;
  keep_alive?: number | string;
}

/** Loads a model into memory; answers once it is there. Without an id it is a notification: it runs and is never answered. */
export interface LoadModelRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "load_model";
  params: LoadModelParams;
}

/** The success response to load_model; `id` is the request's. */
export interface LoadModelResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: LoadModelResult;
}

export interface LoadModelResult {
  model: string;
  load_ms: number;
}

/** One generated token's log probability, as Ollama sends it (`logprobs: true`). */
export interface Logprob {
  token: string;
  logprob: number;
  bytes?: number[];
  top_logprobs?: TopLogprob[];
}

export interface McpServerInfo {
  name: string;
  transport: "http" | "stdio";
  status: "failed" | "ready" | "starting" | "stopped";
  tools: string[];
  error: string | null;
}

/** An MCP server's state changed (starting, ready, failed, stopped). */
export interface McpServerStatusNotification {
  jsonrpc: "2.0";
  method: "mcp:server_status";
  params: McpServerStatusParams;
}

/** `mcp:server_status`: a server's state changed; `tools` are the exposed names. */
export interface McpServerStatusParams {
  server: string;
  status: "failed" | "ready" | "starting" | "stopped";
  tools: string[];
  error?: string;
}

/**
 * An Ollama chat message; every field Ollama knows passes through unchanged.
 *
 * `content` is always written (even `""`, as Ollama does); the other fields only when set.
 * `logprobs` is only written (on a reply of a chat that asked for them), never sent upstream.
 */
export interface Message {
  role: string;
  content: string;
  thinking?: string;
  images?: string[];
  tool_calls?: ToolCall[];
  tool_name?: string;
  tool_call_id?: string;
  logprobs?: Logprob[];
}

export interface ModelInfo {
  name: string;
  size: number;
  modified_at: string;
  family: string;
  parameter_size: string;
  quantization: string;
  capabilities: string[];
}

/** The params of show_model, delete_model and unload_model. */
export interface ModelParams {
  model: string;
}

/** Progress of a pull_model (request_id = its id), bytes over all layers. */
export interface ModelPullProgressNotification {
  jsonrpc: "2.0";
  method: "model:pull_progress";
  params: PullProgressParams;
}

/** Methods without parameters accept `{}` (or no params at all); extra keys are ignored. */
export interface NoParams {
}

export type Notification = SidecarReadyNotification | ChatTokenNotification | ChatThinkingNotification | ChatToolCallNotification | ChatApprovalRequestNotification | ChatToolResultNotification | ModelPullProgressNotification | McpServerStatusNotification;

export interface OllamaStatus {
  reachable: boolean;
  version: string | null;
  error: string | null;
}

export interface PullModelParams {
  model: string;
  insecure?: boolean;
}

/** Downloads a model: model:pull_progress notifications, then one response. Without an id it is a notification: it runs and is never answered. */
export interface PullModelRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "pull_model";
  params: PullModelParams;
}

/** The success response to pull_model; `id` is the request's. */
export interface PullModelResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: PullModelResult;
}

/** `status` "success", or "cancelled" with the bytes done so far. */
export interface PullModelResult {
  model: string;
  status: string;
  total?: number;
  completed?: number;
}

/** `model:pull_progress`: bytes summed over every layer seen so far. */
export interface PullProgressParams {
  request_id: number | string | null;
  model: string;
  status: string;
  digest?: string;
  total: number;
  completed: number;
}

export interface ReadyParams {
  name: string;
  version: string;
  protocol: number;
  ollama_url: string;
  pid: number;
  provider: "ollama" | "openai";
  methods: string[];
}

export interface RenameThreadParams {
  thread_id: string;
  title: string;
}

/** Gives a thread a title. Without an id it is a notification: it runs and is never answered. */
export interface RenameThreadRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "rename_thread";
  params: RenameThreadParams;
}

/** The success response to rename_thread; `id` is the request's. */
export interface RenameThreadResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: EmptyResult;
}

export type Request = ChatRequest | CancelChatRequest | ApproveToolRequest | ToolResultRequest | ListModelsRequest | StatusRequest | ListToolsRequest | ListMcpServersRequest | ShutdownRequest | CreateThreadRequest | ListThreadsRequest | GetThreadRequest | RenameThreadRequest | DeleteThreadRequest | ExportThreadRequest | CancelRequestRequest | ShowModelRequest | RunningModelsRequest | PullModelRequest | DeleteModelRequest | LoadModelRequest | UnloadModelRequest;

/** A response: the result of one of the methods, or an error. */
export type Response = ChatResponse | CancelChatResponse | ApproveToolResponse | ToolResultResponse | ListModelsResponse | StatusResponse | ListToolsResponse | ListMcpServersResponse | ShutdownResponse | CreateThreadResponse | ListThreadsResponse | GetThreadResponse | RenameThreadResponse | DeleteThreadResponse | ExportThreadResponse | CancelRequestResponse | ShowModelResponse | RunningModelsResponse | PullModelResponse | DeleteModelResponse | LoadModelResponse | UnloadModelResponse | ErrorResponse;

export interface RunningModel {
  name: string;
  size: number;
  size_vram: number;
  expires_at: string;
  context_length: number | null;
}

/** The models loaded in memory upstream. Without an id it is a notification: it runs and is never answered. */
export interface RunningModelsRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "running_models";
  params?: NoParams;
}

/** The success response to running_models; `id` is the request's. */
export interface RunningModelsResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: RunningModelsResult;
}

export interface RunningModelsResult {
  models: RunningModel[];
}

/** A model's capabilities, trained context and details. Without an id it is a notification: it runs and is never answered. */
export interface ShowModelRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "show_model";
  params: ModelParams;
}

/** The success response to show_model; `id` is the request's. */
export interface ShowModelResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: ShowModelResult;
}

export interface ShowModelResult {
  name: string;
  capabilities: string[];
  context_length: number | null;
  family: string;
  parameter_size: string;
  quantization: string;
  modified_at: string;
}

/** Cancels every chat, answers {} once each has answered, exits 0. Without an id it is a notification: it runs and is never answered. */
export interface ShutdownRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "shutdown";
  params?: NoParams;
}

/** The success response to shutdown; `id` is the request's. */
export interface ShutdownResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: EmptyResult;
}

/** Always the first line the sidecar writes. */
export interface SidecarReadyNotification {
  jsonrpc: "2.0";
  method: "sidecar:ready";
  params: ReadyParams;
}

/** The sidecar's state and whether upstream answers. Without an id it is a notification: it runs and is never answered. */
export interface StatusRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "status";
  params?: NoParams;
}

/** The success response to status; `id` is the request's. */
export interface StatusResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: StatusResult;
}

export interface StatusResult {
  version: string;
  protocol: number;
  ollama_url: string;
  chats: (number | string | null)[];
  ollama: OllamaStatus;
  provider: "ollama" | "openai";
  methods: string[];
}

/** Why a stored reply is `failed`: the error's kind and message, as the chat answered. */
export interface StoredError {
  kind: string;
  message: string;
}

/** One message of a thread. Empty fields are left out, as in chat results. */
export interface StoredMessage {
  id: string;
  parent_id: string | null;
  role: string;
  content: string;
  thinking?: string;
  tool_calls?: ToolCall[];
  images?: string[];
  tool_name?: string;
  tool_call_id?: string;
  status: "complete" | "failed" | "interrupted" | "streaming";
  error?: StoredError;
  created_at: string;
  usage?: Usage;
  versions: string[];
}

/** The reply in flight on a thread (in this sidecar): its text so far. */
export interface StreamingReply {
  chat_id: number | string | null;
  content: string;
  thinking: string;
}

export interface ThreadIdParams {
  thread_id: string;
}

export interface ThreadInfo {
  id: string;
  title: string;
  model: string | null;
  system: string | null;
  created_at: string;
  updated_at: string;
}

export interface ThreadResult {
  thread: ThreadInfo;
}

export interface ThreadSummary {
  id: string;
  title: string;
  updated_at: string;
  model: string | null;
  message_count: number;
  preview: string;
}

export interface TokenParams {
  chat_id: number | string | null;
  content: string;
  logprobs?: Logprob[];
}

export interface ToolCall {
  function: ToolCallFunction;
  id?: string;
}

export interface ToolCallFunction {
  name: string;
  arguments: Record<string, unknown>;
  index?: number;
}

/**
 * `chat:tool_call` and `chat:approval_request`. An MCP tool's also carry `server` and `tool`
 * (the server's own name for it); its approval request carries the tool's `annotations` as the
 * server sent them (hints, never trusted to skip approval).
 */
export interface ToolCallParams {
  chat_id: number | string | null;
  call_id: string;
  name: string;
  arguments: Record<string, unknown>;
  server?: string;
  tool?: string;
  annotations?: Record<string, unknown>;
}

/** `tool_choice` naming one function: `{"type":"function","function":{"name":...}}`. */
export interface ToolChoiceFunction {
  type: "function";
  function: ToolChoiceName;
}

export interface ToolChoiceName {
  name: string;
}

export interface ToolInfo {
  name: string;
  description: string;
  input_schema: Record<string, unknown>;
  source: "builtin" | "mcp";
  needs_approval: boolean;
  server?: string;
}

/**
 * `chat:tool_result`: `content` is the text the model sees; an MCP tool's also carries
 * `server`, `tool` and `mcp_content` (the MCP `content` array as the server sent it).
 */
export interface ToolResultNote {
  chat_id: number | string | null;
  call_id: string;
  name: string;
  content: string;
  is_error: boolean;
  server?: string;
  tool?: string;
  mcp_content?: Record<string, unknown>[];
}

export interface ToolResultParams {
  chat_id: number | string;
  call_id: string;
  content: string;
  is_error?: boolean;
}

/** Answers a client tool's chat:tool_call. Without an id it is a notification: it runs and is never answered. */
export interface ToolResultRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "tool_result";
  params: ToolResultParams;
}

/** The success response to tool_result; `id` is the request's. */
export interface ToolResultResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: EmptyResult;
}

export interface TopLogprob {
  token: string;
  logprob: number;
  bytes?: number[];
}

/** Unloads a model from memory. Without an id it is a notification: it runs and is never answered. */
export interface UnloadModelRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "unload_model";
  params: ModelParams;
}

/** The success response to unload_model; `id` is the request's. */
export interface UnloadModelResponse {
  jsonrpc: "2.0";
  id: number | string;
  result: EmptyResult;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  duration_ms: number;
  tokens_per_second: number;
  first_token_ms: number | null;
  context_length: number | null;
}

/** Notification method -> params. */
export interface Notifications {
  "sidecar:ready": ReadyParams;
  "chat:token": TokenParams;
  "chat:thinking": TokenParams;
  "chat:tool_call": ToolCallParams;
  "chat:approval_request": ToolCallParams;
  "chat:tool_result": ToolResultNote;
  "model:pull_progress": PullProgressParams;
  "mcp:server_status": McpServerStatusParams;
}

/** Method -> its params and the result of a success response. */
export interface Methods {
  chat: { params: ChatParams; result: ChatResult };
  cancel_chat: { params: CancelChatParams; result: CancelChatResult };
  approve_tool: { params: ApproveToolParams; result: EmptyResult };
  tool_result: { params: ToolResultParams; result: EmptyResult };
  list_models: { params: NoParams; result: ListModelsResult };
  status: { params: NoParams; result: StatusResult };
  list_tools: { params: NoParams; result: ListToolsResult };
  list_mcp_servers: { params: NoParams; result: ListMcpServersResult };
  shutdown: { params: NoParams; result: EmptyResult };
  create_thread: { params: CreateThreadParams; result: ThreadResult };
  list_threads: { params: ListThreadsParams; result: ListThreadsResult };
  get_thread: { params: GetThreadParams; result: GetThreadResult };
  rename_thread: { params: RenameThreadParams; result: EmptyResult };
  delete_thread: { params: ThreadIdParams; result: EmptyResult };
  export_thread: { params: ExportThreadParams; result: ExportThreadResult };
  cancel_request: { params: CancelRequestParams; result: CancelRequestResult };
  show_model: { params: ModelParams; result: ShowModelResult };
  running_models: { params: NoParams; result: RunningModelsResult };
  pull_model: { params: PullModelParams; result: PullModelResult };
  delete_model: { params: ModelParams; result: EmptyResult };
  load_model: { params: LoadModelParams; result: LoadModelResult };
  unload_model: { params: ModelParams; result: EmptyResult };
}
