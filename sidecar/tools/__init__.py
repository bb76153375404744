"""Built-in tools for a chat: read, list, search and write files, run a shell; all inside one root.

`Workspace` is the whole interface the chat loop needs. The modules split by concern: `paths`
(the root is a wall), `files` and `search` (blocking file work, run in worker threads), `shell`
(process groups), `specs` (what the model is told) and `result` (failures as data).
"""

from __future__ import annotations

from .result import ToolResult
from .workspace import BUILTIN_NAMES, NEEDS_APPROVAL, Workspace

__all__ = ["BUILTIN_NAMES", "NEEDS_APPROVAL", "ToolResult", "Workspace"]
