"""The ollama-sidecar benchmark (issue 3): `scripts/bench`, or `python -m benchmark` with
`scripts/` on PYTHONPATH. See docs/benchmarks.md."""
