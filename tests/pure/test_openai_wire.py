"""The /chat/completions body built from the neutral chat request (Ollama-shaped messages)."""

from __future__ import annotations

from typing import Any

import msgspec

from sidecar.methods import METHODS
from sidecar.protocol import Message, ToolChoiceFunction, ToolChoiceName
from sidecar.providers import ChatRequest
from sidecar.providers.openai.wire import chat_body, data_url


def body(messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    request = ChatRequest(model="m", messages=msgspec.convert(messages, list[Message]), **fields)
    return msgspec.json.decode(chat_body(request))


def test_a_plain_chat_streams_with_usage() -> None:
    assert body([{"role": "user", "content": "hi"}]) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_a_tool_round_trip_is_in_openai_form() -> None:
    messages = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "thinking": "hm",
         "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Tokyo"},
                                      "index": 0}, "id": "call_1"}]},
        {"role": "tool", "content": "sunny", "tool_name": "get_weather", "tool_call_id": "call_1"},
    ]
    assert body(messages)["messages"] == [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "reasoning_content": "hm", "tool_calls": [
            {"function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'},
             "type": "function", "id": "call_1"},
        ]},
        {"role": "tool", "content": "sunny", "tool_call_id": "call_1", "name": "get_weather"},
    ]


def test_thinking_goes_back_only_with_tool_calls() -> None:
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "thinking": "greet back"},
        {"role": "user", "content": "Bye"},
    ]
    assert body(messages)["messages"][1] == {"role": "assistant", "content": "Hello"}


def test_images_become_content_parts_with_data_urls() -> None:
    png, jpeg = "iVBORw0KGgoAAAANSUhEUg==", "/9j/4AAQSkZJRg=="
    [message] = body([{"role": "user", "content": "What is this?", "images": [png, jpeg]}])["messages"]
    assert message == {"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{jpeg}"}},
    ]}
    assert data_url("data:image/gif;base64,R0lGOD") == "data:image/gif;base64,R0lGOD"


def test_options_format_think_and_tools_are_mapped() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    out = body(
        [{"role": "user", "content": "x"}],
        options={"temperature": 0.2, "top_p": 0.9, "num_predict": 64, "stop": ["\n\n"], "seed": 7,
                 "top_k": 40, "num_ctx": 8192},
        format={"type": "object", "properties": {"a": {"type": "string"}}},
        think="high",
        keep_alive="5m",
        tools=tools,
        tool_choice=ToolChoiceFunction(type="function", function=ToolChoiceName(name="f")),
    )
    del out["messages"], out["model"], out["stream"], out["stream_options"]
    assert out == {
        "tools": tools,
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "temperature": 0.2, "top_p": 0.9, "max_tokens": 64, "stop": ["\n\n"], "seed": 7,
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "response", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}},
        "reasoning_effort": "high",
    }


def test_json_format_is_a_json_object_response_and_unlimited_predict_is_left_out() -> None:
    out = body([{"role": "user", "content": "x"}], format="json", options={"num_predict": -1},
               think=True, tool_choice="required")
    assert out["response_format"] == {"type": "json_object"}
    assert out["tool_choice"] == "required"
    assert "max_tokens" not in out and "reasoning_effort" not in out


def test_tool_choice_is_a_typed_chat_param() -> None:
    decode = METHODS["chat"].decoder.decode
    messages = b'"messages":[{"role":"user","content":"x"}]'
    assert decode(b"{" + messages + b',"tool_choice":"none"}').tool_choice == "none"
    named = decode(b"{" + messages + b',"tool_choice":{"type":"function","function":{"name":"f"}}}')
    assert named.tool_choice == ToolChoiceFunction("function", ToolChoiceName("f"))
    for bad in (b'"any"', b'{"type":"function"}', b'{"type":"tool","function":{"name":"f"}}'):
        try:
            decode(b"{" + messages + b',"tool_choice":' + bad + b"}")
        except msgspec.ValidationError as exc:
            assert "$.tool_choice" in str(exc)
        else:
            raise AssertionError(f"tool_choice {bad!r} was accepted")
