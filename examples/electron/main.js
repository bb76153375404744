// The Electron main process: one window showing the chat (ui/ built with the Electron transport,
// see renderer.ts), and the sidecar host of sidecar-host.js wired to Electron's ipcMain and app.
// Everything about the sidecar process lives in sidecar-host.js, which plain Node tests.
//
// Which sidecar runs: OLLAMA_SIDECAR_BIN (an executable), else in a packaged app the one-folder
// build under process.resourcesPath (package.json > build > extraResources), else in development
// `python -m sidecar` from OLLAMA_SIDECAR_PYTHON or the repo's .venv. Extra sidecar flags (e.g.
// `--model llama3.2`) can be given in OLLAMA_SIDECAR_ARGS, split on spaces.
//
// MCP servers (docs/protocol.md, "MCP servers"): the app keeps the user's `mcpServers` file,
// the one Claude Desktop and Cursor write, in its own data folder, app.getPath("userData") +
// "/mcp.json" (~/.config/<App>/ on Linux, ~/Library/Application Support/<App>/ on macOS,
// %APPDATA%\<App>\ on Windows), and passes it to each sidecar with --mcp-config when it exists.

"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const { app, BrowserWindow, ipcMain } = require("electron");
const { createSidecarHost, sidecarCommand } = require("./sidecar-host");

// Each window's sidecar is a child_process.spawn'ed process with pipes (stdin, stdout; stderr
// inherited), started with --parent-pid <this pid>; sidecar-host.js splits its stdout on "\n",
// forwards every line to the window (sidecar:line) and stops it when the window goes or the app
// quits.
function mcpConfigArgs() {
  const file = path.join(app.getPath("userData"), "mcp.json");
  return fs.existsSync(file) ? ["--mcp-config", file] : [];
}

const host = createSidecarHost({
  ipcMain,
  spawn,
  sidecar: sidecarCommand({ isPackaged: app.isPackaged, resourcesPath: process.resourcesPath }),
  args: [...mcpConfigArgs(), ...(process.env.OLLAMA_SIDECAR_ARGS || "").split(" ").filter(Boolean)],
});
host.installQuitHandlers(app);

function createWindow() {
  const win = new BrowserWindow({
    width: 900,
    height: 760,
    webPreferences: {
      preload: path.join(__dirname, "preload.js"),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
    },
  });
  host.manage(win.webContents); // its sidecar goes with the page (close, reload, crash)
  win.loadFile(path.join(__dirname, "dist", "index.html"));
}

app.whenReady().then(() => {
  createWindow();
  app.on("activate", () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
});

app.on("window-all-closed", () => {
  if (process.platform !== "darwin") app.quit();
});
