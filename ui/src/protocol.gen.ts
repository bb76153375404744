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

/** A call of write_file, exec_shell or an MCP tool (unless its server's autoApprove names it) waits for approve_tool. */
export interface ChatApprovalRequestNotification {
  jsonrpc: "2.0";
  method: "chat:approval_request";
  params: ToolCallParams;
}

export interface ChatParams {
  messages: Message[];
  model?: string;
  options?: Record<string, unknown>;
  think?: boolean | "high" | "low" | "max" | "medium";
  format?: "json" | Record<string, unknown>;
  keep_alive?: number | string;
  tools?: boolean | (string | Record<string, unknown>)[];
  approval?: "ask" | "auto";
  tool_choice?: "auto" | "none" | "required" | ToolChoiceFunction;
}

/** Streams a reply: chat:* notifications with params.chat_id = this id, then one response. Without an id it is a notification: it runs and is never answered. */
export interface ChatRequest {
  jsonrpc?: "2.0";
  id?: number | string;
  method: "chat";
  params: ChatParams;
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

/** The result of approve_tool, tool_result and shutdown: `{}`. */
export interface EmptyResult {
}

/**
 * `error.data`: `kind` always; `hint` when the user can act; `status` for upstream_error;
 * `messages` (the partial reply) on every error of a chat that had started.
 */
export interface ErrorData {
  kind: string;
  hint?: string;
  status?: number;
  messages?: Message[];
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
 */
export interface Message {
  role: string;
  content: string;
  thinking?: string;
  images?: string[];
  tool_calls?: ToolCall[];
  tool_name?: string;
  tool_call_id?: string;
}

export interface ModelInfo {
  name: string;
  size: number;
  modified_at: string;
  family: string;
  parameter_size: string;
  quantization: string;
}

/** Methods without parameters accept `{}` (or no params at all); extra keys are ignored. */
export interface NoParams {
}

export type Notification = SidecarReadyNotification | ChatTokenNotification | ChatThinkingNotification | ChatToolCallNotification | ChatApprovalRequestNotification | ChatToolResultNotification | McpServerStatusNotification;

export interface OllamaStatus {
  reachable: boolean;
  version: string | null;
  error: string | null;
}

export interface ReadyParams {
  name: string;
  version: string;
  protocol: number;
  ollama_url: string;
  pid: number;
  provider: "ollama" | "openai";
}

export type Request = ChatRequest | CancelChatRequest | ApproveToolRequest | ToolResultRequest | ListModelsRequest | StatusRequest | ListToolsRequest | ListMcpServersRequest | ShutdownRequest;

/** A response: the result of one of the methods, or an error. */
export type Response = ChatResponse | CancelChatResponse | ApproveToolResponse | ToolResultResponse | ListModelsResponse | StatusResponse | ListToolsResponse | ListMcpServersResponse | ShutdownResponse | ErrorResponse;

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
}

export interface TokenParams {
  chat_id: number | string | null;
  content: string;
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

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  duration_ms: number;
  tokens_per_second: number;
  first_token_ms: number | null;
}

/** Notification method -> params. */
export interface Notifications {
  "sidecar:ready": ReadyParams;
  "chat:token": TokenParams;
  "chat:thinking": TokenParams;
  "chat:tool_call": ToolCallParams;
  "chat:approval_request": ToolCallParams;
  "chat:tool_result": ToolResultNote;
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
}
