"""What a chat (chat.py) sends upstream and answers, exactly, through the in-process sidecar:
the params passed through to the model, `usage.context_length` from `options.num_ctx`, and the
timing of a reply whose last line had no newline."""

from __future__ import annotations

from .rig import CHAT, ScriptStream, ndjson, open_rig, streaming


async def test_the_chats_own_params_reach_the_model_and_num_ctx_is_the_context_length() -> None:
    extra = {"logprobs": True, "top_logprobs": 3, "truncate": False, "shift": False,
             "options": {"num_ctx": 2048, "temperature": 0.5}, "keep_alive": "1m", "think": False,
             "format": "json"}
    async with open_rig(streaming(ndjson("{}"))) as rig:
        answer = await rig.call("chat", {**CHAT, **extra})
    [body] = rig.chat_bodies()
    assert {k: body.get(k) for k in extra} == extra
    assert answer["result"]["usage"]["context_length"] == 2048


async def test_a_reply_whose_last_line_has_no_newline_still_has_its_first_token_time() -> None:
    last = (b'{"model":"m","message":{"role":"assistant","content":"hi"},"done":true,'
            b'"done_reason":"stop","prompt_eval_count":3,"eval_count":1}')  # no "\n"
    async with open_rig(streaming(ScriptStream([last]))) as rig:
        answer = await rig.call("chat", CHAT)
    result = answer["result"]
    assert result["messages"] == [{"role": "assistant", "content": "hi"}]
    assert isinstance(result["usage"]["first_token_ms"], int)


async def test_num_ctx_counts_only_as_a_positive_integer() -> None:
    cases = [({"num_ctx": 1}, 1), ({"num_ctx": 0}, None), ({"num_ctx": True}, None),
             ({"num_ctx": "4096"}, None)]
    async with open_rig(streaming(*[ndjson("x") for _ in cases])) as rig:
        answers = [await rig.call("chat", {**CHAT, "options": options}) for options, _ in cases]
    # Not a positive integer: what the server runs the model with (/api/ps; here it says nothing).
    assert [a["result"]["usage"]["context_length"] for a in answers] == [c for _, c in cases]
