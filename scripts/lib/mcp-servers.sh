# Sourced by scripts/test after scripts/lib/venv.sh (which cd's to the repo root): installs the
# real MCP servers the tests run against (tests/mcp-servers/: @modelcontextprotocol/server-filesystem
# and server-everything) with `npm ci` from the committed lockfile, when node_modules is missing or
# older than package.json / package-lock.json. The tests then run them with node, offline.
ensure_mcp_servers() {
  command -v npm >/dev/null 2>&1 || { echo "error: the MCP tests need Node.js 20+ and npm on PATH" >&2; return 1; }
  local dir=tests/mcp-servers record=tests/mcp-servers/node_modules/.package-lock.json
  if [ -f "$record" ] && [ "$record" -nt "$dir/package.json" ] && [ "$record" -nt "$dir/package-lock.json" ]; then
    return 0
  fi
  echo "installing the test MCP servers (tests/mcp-servers)" >&2
  (cd "$dir" && npm ci --no-audit --no-fund >&2)
}
