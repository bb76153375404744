"""OpenAI-compatible servers (`/chat/completions` as SSE, `/models`): llama.cpp's
llama-server, LM Studio, vLLM, Ollama's own `/v1`, hosted APIs.

    client.py  `OpenAIClient`, the `Provider` for `--provider openai`
    wire.py    the `/chat/completions` body built from a `ChatRequest`, the chunk Structs (pure)
    sse.py     server-sent events framing (pure)
    turn.py    `OpenAITurn`: SSE deltas -> notifications and result (pure)
    errors.py  how the server's failures read, and which 404 means a missing model
"""
