// The window of the Tauri example: ui/'s chat over one of two transports.
//
// - Default: ui/'s Tauri transport. The window spawns the bundled sidecar itself with
//   `Command.sidecar("binaries/ollama-sidecar", ["--parent-pid", PID])` from
//   @tauri-apps/plugin-shell (allowed by src-tauri/capabilities/default.json), reads its stdout
//   line events and writes requests to its stdin. PID is the app's own process id, asked of the
//   Rust core (`app_pid`), so the sidecar exits if the app dies. When the user keeps MCP servers
//   in the app's config folder (`mcp.json`, asked of the core: `mcp_config`), the window adds
//   `--mcp-config FILE`; the capability allows exactly these two shapes of arguments.
// - `?via=rust`: the Rust variant (channel-transport.ts): the Rust core spawns the sidecar and
//   streams its lines through a tauri::ipc::Channel. It also stops the sidecar when the page
//   reloads (a new start replaces it) and when the app exits.

import "highlight.js/styles/github.css";
import "../../../ui/src/style.css";
import { invoke } from "@tauri-apps/api/core";
import * as shell from "@tauri-apps/plugin-shell";
import { mountChat } from "../../../ui/src/app/controller";
import type { Transport } from "../../../ui/src/transport";
import { tauriTransport } from "../../../ui/src/transports/tauri";
import { channelTransport } from "./channel-transport";
import type { ShellApi } from "./shell-api";

/** The name in tauri.conf.json > bundle > externalBin, and in the capability's spawn scope. */
export const SIDECAR = "binaries/ollama-sidecar";

// The plugin as ui/'s transport uses it; this assignment is where tsc checks the two agree.
const shellApi: ShellApi = shell;

async function pluginTransport(): Promise<Transport> {
  const pid = await invoke<number>("app_pid");
  // The app's MCP servers file (<app config folder>/mcp.json, see src-tauri/src/lib.rs), if any.
  const mcpConfig = await invoke<string | null>("mcp_config");
  const mcpArgs = mcpConfig ? ["--mcp-config", mcpConfig] : [];
  return tauriTransport(SIDECAR, ["--parent-pid", String(pid), ...mcpArgs], shellApi);
}

const root = document.getElementById("app");
if (!root) throw new Error("index.html has no #app");
const viaRust = new URLSearchParams(location.search).get("via") === "rust";
mountChat(root, { connect: viaRust ? channelTransport : pluginTransport });
