# Sourced by scripts/*: makes .venv at the repo root and installs the project into it when the
# project's dependencies changed (or on first use): the sidecar with its test tools, and the
# testing kit (testkit/: the scripted Ollama, the harness, the demo), both editable. Needs
# Python >= 3.11 on PATH.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO_ROOT"

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "error: ollama-sidecar needs Python >= 3.11 on PATH (or set PYTHON=/path/to/python)" >&2
  return 1
}

ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    local python
    python="$(find_python)"
    echo "creating .venv with $python" >&2
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-$(cat pyproject.toml testkit/pyproject.toml | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "installing ollama-sidecar, its testing kit and its test tools into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' -e ./testkit >&2
    rm -f .venv/.installed-*
    touch "$stamp"
  fi
}
