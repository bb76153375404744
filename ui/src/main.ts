// Entry point of the window. The transport: `?ws=URL`, else the dev shell's WebSocket at
// ws://<host>/ws?session=TOKEN (TOKEN lives in sessionStorage: a reload gets the same sidecar). `/config.json` (served by the dev shell, absent elsewhere) says whether the
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
  return `${scheme}://${location.host}/ws?session=${encodeURIComponent(sessionToken())}`;
}

/** This tab's token: the dev shell keeps the tab's sidecar for it across a reload (30 s). */
function sessionToken(): string {
  const key = "ollama-sidecar-ui:session";
  try {
    let token = sessionStorage.getItem(key);
    if (!token) {
      token = randomToken();
      sessionStorage.setItem(key, token);
    }
    return token;
  } catch {
    return randomToken(); // no sessionStorage: a sidecar per page load
  }
}

function randomToken(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
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
