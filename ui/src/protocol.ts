// Wire types of protocol 1, kept in step with sidecar/protocol.py (tests/test_ui_types.py checks
// that every interface here has exactly the fields of its msgspec Struct).

export type RequestId = number | string;

export interface ReadyParams {
  name: string;
  version: string;
  protocol: number;
  ollama_url: string;
  pid: number;
}

export interface ToolCallFunction {
  name: string;
  arguments: Record<string, unknown>;
  index?: number;
}

export interface ToolCall {
  function: ToolCallFunction;
  id?: string;
}

export interface Message {
  role: string;
  content: string;
  thinking?: string;
  images?: string[];
  tool_calls?: ToolCall[];
  tool_name?: string;
  tool_call_id?: string;
}

export interface ChatParams {
  messages: Message[];
  model?: string;
  options?: Record<string, unknown>;
  think?: boolean | "low" | "medium" | "high" | "max";
  format?: "json" | Record<string, unknown>;
  keep_alive?: number | string;
  tools?: boolean | Array<string | Record<string, unknown>>;
  approval?: "ask" | "auto";
}

export interface TokenParams {
  chat_id: RequestId | null;
  content: string;
}

export interface ToolCallParams {
  chat_id: RequestId | null;
  call_id: string;
  name: string;
  arguments: Record<string, unknown>;
}

export interface ToolResultNote {
  chat_id: RequestId | null;
  call_id: string;
  name: string;
  content: string;
  is_error: boolean;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  duration_ms: number;
  tokens_per_second: number;
  first_token_ms: number | null;
}

export interface ChatResult {
  done_reason: string;
  messages: Message[];
  usage: Usage;
}

export interface ModelInfo {
  name: string;
  size: number;
  modified_at: string;
  family: string;
  parameter_size: string;
  quantization: string;
}

export interface OllamaStatus {
  reachable: boolean;
  version: string | null;
  error: string | null;
}

export interface Status {
  version: string;
  protocol: number;
  ollama_url: string;
  chats: Array<RequestId | null>;
  ollama: OllamaStatus;
}

export interface ErrorData {
  kind: string;
  hint?: string;
  messages?: Message[];
  status?: number;
  [key: string]: unknown;
}

export interface ErrorObject {
  code: number;
  message: string;
  data: ErrorData;
}

/** Notification method -> params. */
export interface Notifications {
  "sidecar:ready": ReadyParams;
  "chat:token": TokenParams;
  "chat:thinking": TokenParams;
  "chat:tool_call": ToolCallParams;
  "chat:approval_request": ToolCallParams;
  "chat:tool_result": ToolResultNote;
}

export const ERROR_CODES = {
  parse_error: -32700,
  invalid_request: -32600,
  method_not_found: -32601,
  invalid_params: -32602,
  internal_error: -32603,
  ollama_unreachable: -32000,
  model_not_found: -32001,
  upstream_error: -32002,
  stream_interrupted: -32003,
  busy: -32004,
} as const;
