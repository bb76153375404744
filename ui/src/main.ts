// Entry point of the window. The transport: `?ws=URL`, else the dev shell's WebSocket at
// ws://<host>/ws. `/config.json` (served by the dev shell, absent elsewhere) says whether the
// replies come from the scripted Ollama. `?model=NAME` preselects a model.
//
// Inside Tauri or Electron, import `mountChat` from "./app/controller" and pass
// `connect: () => tauriTransport()` or `connect: () => electronTransport()` instead.

import "./style.css";
import { mountChat, type AppConfig } from "./app/controller";
import { websocketTransport } from "./transports/websocket";

function socketUrl(params: URLSearchParams): string {
  const explicit = params.get("ws");
  if (explicit) return explicit;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws`;
}

async function loadConfig(): Promise<AppConfig> {
  if (location.protocol !== "http:" && location.protocol !== "https:") return {};
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (!response.ok) return {};
    const data: unknown = await response.json();
    return data && typeof data === "object" ? (data as AppConfig) : {};
  } catch {
    return {};
  }
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const root = document.getElementById("app");
  if (!root) throw new Error("index.html has no #app");
  const url = socketUrl(params);
  // The config first (a local fetch): with the scripted Ollama the picker defaults to its demo.
  const config = await loadConfig();
  mountChat(root, {
    connect: () => websocketTransport(url),
    model: params.get("model"),
    config,
  });
}

void main();
