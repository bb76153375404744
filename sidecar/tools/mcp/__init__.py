"""MCP servers as a tool source: `--mcp-config` (config.py), the supervisor of the servers and
their tools (hub.py), the one module that speaks through the `mcp` SDK (connection.py), results
as the model reads them (results.py), and the guard that ends every server's process tree with
the sidecar (guard.py).

Nothing here imports the SDK at import time: connection.py is imported by the hub once a
configured server starts, after `sidecar:ready`.
"""
