// main.js itself, loaded by plain Node with a stand-in for the `electron` module (Electron cannot
// be installed here): on app ready it opens a window with preload.js, spawns a real sidecar for
// it with child_process.spawn when the page attaches, forwards the streamed chat to the window,
// and on quit holds the app until the sidecar has exited.

"use strict";

const assert = require("node:assert/strict");
const childProcess = require("node:child_process");
const fs = require("node:fs");
const Module = require("node:module");
const os = require("node:os");
const path = require("node:path");
const { after, before, describe, it } = require("node:test");

const { FakeApp, FakeIpcMain, FakeWindow, PYTHON, Page, gone, startScriptedOllama } = require("./fakes");

const MAIN = path.resolve(__dirname, "..", "main.js");

/** Loads main.js with `electron` answered by fakes; returns them and the windows it opened. */
function loadMain(env, userData) {
  const ipcMain = new FakeIpcMain();
  const app = new FakeApp();
  app.isPackaged = false;
  app.userData = userData;
  let ready;
  const whenReady = new Promise((resolve) => (ready = resolve));
  app.whenReady = () => whenReady;
  const windows = [];
  class BrowserWindow extends FakeWindow {
    constructor(options) {
      super(ipcMain);
      this.options = options;
      windows.push(this);
    }
    loadFile(file) {
      this.file = file;
    }
    static getAllWindows() {
      return windows;
    }
  }
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, ...rest) {
    return request === "electron" ? "electron" : resolve.call(this, request, ...rest);
  };
  require.cache.electron = { id: "electron", filename: "electron", loaded: true, exports: { app, BrowserWindow, ipcMain } };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    delete require.cache[MAIN];
    require(MAIN);
  } finally {
    process.env = saved;
    Module._resolveFilename = resolve;
    delete require.cache.electron;
  }
  ready();
  return { app, ipcMain, windows };
}

describe("main.js with a real sidecar", () => {
  let ollama;
  const spawned = [];
  const realSpawn = childProcess.spawn;

  before(async () => {
    ollama = await startScriptedOllama();
    // main.js takes child_process.spawn when it loads: watch what it starts.
    childProcess.spawn = (...args) => {
      const child = realSpawn(...args);
      spawned.push({ args: args[1], child });
      return child;
    };
  });

  after(async () => {
    childProcess.spawn = realSpawn;
    for (const { child } of spawned) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await ollama.stop();
  });

  it("spawns the sidecar for its window, streams a chat into it, and stops the sidecar on quit", async () => {
    // The app keeps its MCP servers in <userData>/mcp.json and passes the file to each sidecar.
    const userData = fs.mkdtempSync(path.join(os.tmpdir(), "electron-user-data-"));
    const mcpConfig = path.join(userData, "mcp.json");
    fs.writeFileSync(mcpConfig, JSON.stringify({ mcpServers: { fs: { command: "npx", args: ["-y", "x"], disabled: true } } }));
    const { app, windows } = loadMain(
      { OLLAMA_SIDECAR_PYTHON: PYTHON, OLLAMA_SIDECAR_ARGS: `--ollama-url ${ollama.url}` },
      userData,
    );
    await new Promise((r) => setImmediate(r));
    assert.equal(windows.length, 1, "main.js opened no window when the app was ready");
    const [window] = windows;
    assert.equal(window.options.webPreferences.preload, path.resolve(__dirname, "..", "preload.js"));
    assert.equal(window.options.webPreferences.contextIsolation, true);

    const page = new Page(window.loadPreload());
    const ready = await page.ready;
    assert.equal(spawned.length, 1, "the sidecar was not started with child_process.spawn");
    const { args, child } = spawned[0];
    assert.equal(ready.pid, child.pid);
    assert.equal(args[args.indexOf("--parent-pid") + 1], String(process.pid));
    assert.equal(args[args.indexOf("--mcp-config") + 1], mcpConfig);

    const chat = page.request("chat", { model: "demo", messages: [{ role: "user", content: "Hi" }] });
    const response = await chat.response;
    assert.equal(response.result.done_reason, "stop");
    const tokens = page.tokens(chat.id);
    assert.ok(tokens.length > 1, "the reply was not streamed");
    assert.equal(tokens.join(""), response.result.messages.at(-1).content);

    const exited = new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })));
    let quit = false;
    app.on("quit", () => (quit = true));
    app.quit();
    assert.equal(quit, false, "the app quit before its sidecar was stopped");
    const { code, signal } = await exited;
    assert.equal(code, 0, `the sidecar did not exit cleanly on quit (signal ${signal})`);
    await new Promise((r) => setImmediate(r));
    assert.equal(quit, true, "the app did not quit after its sidecar exited");
    assert.ok(gone(child.pid));
  });
});
