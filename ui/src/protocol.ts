// Wire types of protocol 1. The types are generated from the protocol's JSON Schema
// (`ollama-sidecar --print-schema`, docs/protocol.schema.json) into protocol.gen.ts by
// ui/scripts/protocol-types.py; this module re-exports them under the names the rest of ui/ uses.
// tests/test_ui_types.py checks that protocol.gen.ts is in step with the schema.

import type { ChatResponse } from "./protocol.gen";

export * from "./protocol.gen";
export type { StatusResult as Status } from "./protocol.gen";

/** A request id: an integer or a string (1 and "1" are different ids). */
export type RequestId = ChatResponse["id"];

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
  overloaded: -32005,
  thread_busy: -32006,
  thread_not_found: -32007,
  not_supported: -32008,
  cancelled: -32010,
} as const;
