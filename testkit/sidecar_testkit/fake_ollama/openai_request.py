"""What a chat request says, whichever dialect it came in: `/v1` -> Ollama shape -> neutral shape.

Why two steps: scenarios are functions of an `/api/chat` request (`scenarios.py`), so a
`/v1/chat/completions` body is first translated the way Ollama's own OpenAI layer does it
(`openai/openai.go` `FromChatRequest`): arguments strings parsed to objects, a tool message's
`tool_name` taken from its `name` or from the call its `tool_call_id` answers, `max_tokens` as
`options.num_predict`. Tests, on the other hand, want to assert what a client sent upstream
without caring which dialect carried it, so `neutral_request` reduces either request to the
parts both dialects can express: per message `role`, `content`, `tool_calls` as
`{"id", "name", "arguments": object}`, and for tool messages `tool_name` and `tool_call_id`;
plus `model`, `tools` and `options`. Wire details one dialect has and the other lacks
(`function.index`, `type`, `thinking`) are left out on purpose.

`request_problem` refuses what the real servers refuse, so a client that sends a history one of
them would reject fails here too: llama-server parses messages strictly (llama.cpp
`common/chat.cpp` `common_chat_msgs_parse_oaicompat`, every problem a 500 "Failed to parse
messages: ..."), Ollama's Go decoder is lenient but wants `arguments` as a JSON string.

Pure code: no I/O.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

_OPTION_KEYS: Final = (
    "temperature", "top_p", "seed", "stop", "frequency_penalty", "presence_penalty",
)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _content_text(content: Any) -> str:
    """A message's content as text: a string, or the `text` parts of a content list joined."""
    if isinstance(content, str):
        return content
    parts = [p.get("text") for p in _dicts(content) if p.get("type") == "text"]
    return "".join(p for p in parts if isinstance(p, str))


def _arguments(value: Any) -> Any:
    """Tool-call arguments as an object: a JSON string is parsed, anything else kept as is."""
    if isinstance(value, str):
        try:
            return msgspec.json.decode(value)
        except msgspec.DecodeError:
            return value
    return value


def _call_names(messages: list[dict[str, Any]]) -> dict[str, str]:
    """tool_call_id -> function name, over every assistant tool call in `messages`."""
    names: dict[str, str] = {}
    for message in messages:
        for call in _dicts(message.get("tool_calls")):
            function = call.get("function")
            if isinstance(call.get("id"), str) and isinstance(function, dict):
                name = function.get("name")
                if isinstance(name, str):
                    names[call["id"]] = name
    return names


def ollama_request(body: Any) -> dict[str, Any]:
    """A `/v1/chat/completions` body as the `/api/chat` request Ollama's OpenAI layer makes of it."""
    if not isinstance(body, dict):
        return {}
    v1_messages = _dicts(body.get("messages"))
    names = _call_names(v1_messages)
    messages = []
    for message in v1_messages:
        out: dict[str, Any] = {"role": message.get("role"),
                               "content": _content_text(message.get("content"))}
        thinking = message.get("reasoning", message.get("reasoning_content"))
        if isinstance(thinking, str) and thinking:
            out["thinking"] = thinking
        calls = []
        for index, call in enumerate(_dicts(message.get("tool_calls"))):
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            converted: dict[str, Any] = {"function": {
                "index": index, "name": function.get("name"),
                "arguments": _arguments(function.get("arguments", "{}")),
            }}
            if isinstance(call.get("id"), str):
                converted = {"id": call["id"], **converted}
            calls.append(converted)
        if calls:
            out["tool_calls"] = calls
        if message.get("role") == "tool":
            call_id = message.get("tool_call_id")
            name = message.get("name") or (names.get(call_id) if isinstance(call_id, str) else None)
            if name:
                out["tool_name"] = name
            if isinstance(call_id, str):
                out["tool_call_id"] = call_id
        messages.append(out)
    request: dict[str, Any] = {"model": body.get("model"), "messages": messages,
                               "stream": body.get("stream", False) is True}
    options = {key: body[key] for key in _OPTION_KEYS if key in body and body[key] is not None}
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        options["num_predict"] = limit
    if options:
        request["options"] = options
    if body.get("tools") is not None:
        request["tools"] = body["tools"]
    reasoning = body.get("reasoning")
    effort = body.get("reasoning_effort") or (
        reasoning.get("effort") if isinstance(reasoning, dict) else None
    )
    if effort is not None:
        request["think"] = effort
    return request


def _dump(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _llama_message_problem(message: Any) -> str | None:
    """What llama-server's message parser throws for `message` (None if it takes it)."""
    if not isinstance(message, dict):
        return f"Expected 'message' to be an object, got {_dump(message)}"
    if "role" not in message:
        return f"Missing 'role' in message: {_dump(message)}"
    content = message.get("content")
    if "content" in message and not isinstance(content, str | list) and content is not None:
        return (
            f"Invalid 'content' type: expected string or array, got {_dump(content)} "
            "(ref: https://github.com/ggml-org/llama.cpp/issues/8367)"
        )
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, dict) or "type" not in call:
            return f"Missing tool call type: {_dump(call)}"
        if call["type"] != "function":
            return f"Unsupported tool call type: {_dump(call)}"
        function = call.get("function")
        if not isinstance(function, dict):
            return f"Missing tool call function: {_dump(call)}"
        if "name" not in function:
            return f"Missing tool call name: {_dump(call)}"
        if "arguments" not in function:
            return "[json.exception.out_of_range.403] key 'arguments' not found"
    if "content" not in message and "tool_calls" not in message:
        return (
            "Expected 'content' or 'tool_calls' (ref: https://github.com/ggml-org/llama.cpp/"
            "issues/8367 & https://github.com/ggml-org/llama.cpp/issues/12279)"
        )
    return None


def _ollama_message_problem(message: Any) -> str | None:
    """What Ollama's /v1 layer answers with 400 for `message` (None if it takes it)."""
    if not isinstance(message, dict):
        return "json: cannot unmarshal message into Go value of type openai.Message"
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        if not isinstance(arguments, str):
            return (
                "json: cannot unmarshal object into Go struct field "
                ".messages.tool_calls.function.arguments of type string"
            )
        try:
            msgspec.json.decode(arguments)
        except msgspec.DecodeError:
            return "invalid tool call arguments"
    content = message.get("content")
    if not isinstance(content, str | list) and not calls:
        return "invalid message content type: <nil>"
    return None


def request_problem(flavour: str, body: Any) -> tuple[int, str] | None:
    """(status, message) with which a server of `flavour` refuses `body`, or None.

    Only the message history and the tools are checked: the parts where a client's own
    conversions can go wrong (a tool call sent back without `type`, arguments as an object).
    """
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    if flavour == "ollama":
        for message in messages:
            if problem := _ollama_message_problem(message):
                return 400, problem
        return None
    for message in messages:
        if problem := _llama_message_problem(message):
            return 500, f"Failed to parse messages: {problem}"
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(
            tool.get("function"), dict
        ):
            return 500, f"Failed to parse tools: Unsupported tool type: {_dump(tool)}"
    return None


def neutral_message(message: Any) -> dict[str, Any]:
    """One Ollama-shaped message reduced to what both dialects carry (see the module docstring)."""
    if not isinstance(message, dict):
        return {"role": None, "content": ""}
    content = message.get("content")
    out: dict[str, Any] = {
        "role": message.get("role"),
        "content": content if isinstance(content, str) else _content_text(content),
    }
    calls = []
    for call in _dicts(message.get("tool_calls")):
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        calls.append({
            "id": call.get("id", ""), "name": function.get("name"),
            "arguments": _arguments(function.get("arguments", {})),
        })
    if calls:
        out["tool_calls"] = calls
    if message.get("role") == "tool":
        for key in ("tool_name", "tool_call_id"):
            if key in message:
                out[key] = message[key]
    return out


def neutral_messages(messages: Any) -> list[dict[str, Any]]:
    """`neutral_message` of each; also takes the sidecar's result messages, for comparisons."""
    return [neutral_message(m) for m in messages] if isinstance(messages, list) else []


def neutral_request(request: Any) -> dict[str, Any]:
    """An `/api/chat` request (or `ollama_request` of a `/v1` one) in the neutral shape.

    `{"model", "messages", "tools", "options"}`: `tools` and `options` are None when not sent.
    """
    if not isinstance(request, dict):
        return {"model": None, "messages": [], "tools": None, "options": None}
    return {
        "model": request.get("model"),
        "messages": neutral_messages(request.get("messages")),
        "tools": request.get("tools"),
        "options": request.get("options"),
    }
