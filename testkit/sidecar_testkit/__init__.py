"""ollama-sidecar's testing kit: what tests, demos and shells use to drive a real sidecar
without a GPU. The product (the `sidecar` package) never imports it.

    fake_ollama/  the scripted Ollama: a real HTTP/1.1 server on loopback that answers like
                  Ollama (and like OpenAI-compatible servers on /v1); `python -m
                  sidecar_testkit.fake_ollama`
    harness.py    spawn a real sidecar and talk to it over its pipes; `python -m
                  sidecar_testkit.harness "prompt"`
    demo.py       `scripts/demo`: one chat through a real sidecar, from a real or the scripted
                  Ollama; `python -m sidecar_testkit.demo`
"""
