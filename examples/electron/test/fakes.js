// Stand-ins for the Electron objects the example touches (ipcMain, ipcRenderer, contextBridge,
// webContents, app), wired to each other the way Electron wires them: messages cross "processes"
// asynchronously and in order. The preload script is run as written, with a fake `require` that
// only knows "electron" (as in a sandboxed renderer). The sidecar and the scripted Ollama are real.

"use strict";

const { spawn } = require("node:child_process");
const { EventEmitter, once } = require("node:events");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

// The real sidecars these tests start keep conversations in a temporary folder, never the
// user's data folder (scripts/examples-test sets one too).
if (!process.env.XDG_DATA_HOME) {
  process.env.XDG_DATA_HOME = fs.mkdtempSync(path.join(os.tmpdir(), "sidecar-examples-data-"));
  process.on("exit", () => fs.rmSync(process.env.XDG_DATA_HOME, { recursive: true, force: true }));
}

const EXAMPLE = path.resolve(__dirname, "..");
const REPO = path.resolve(EXAMPLE, "..", "..");
const PYTHON = process.env.OLLAMA_SIDECAR_PYTHON || path.join(REPO, ".venv", "bin", "python");

/** The scripted Ollama on 127.0.0.1, on a free port. */
async function startScriptedOllama() {
  const child = spawn(PYTHON, ["-m", "sidecar_testkit.fake_ollama", "--port", "0", "--pace", "0.005"], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let buffered = "";
  const url = await new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`scripted Ollama exited (${code}) before its url`)));
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      const end = buffered.indexOf("\n");
      if (end !== -1) resolve(JSON.parse(buffered.slice(0, end)).url);
    });
  });
  return {
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Texts the scripted Ollama streams, read from the package itself. */
function scriptedTexts() {
  const { execFileSync } = require("node:child_process");
  const out = execFileSync(PYTHON, ["-c",
    "import json; from sidecar_testkit.fake_ollama import SEPARATORS_TEXT, MULTIBYTE_TEXT;" +
    "print(json.dumps({'separators': SEPARATORS_TEXT, 'multibyte': MULTIBYTE_TEXT}))"], { cwd: REPO });
  return JSON.parse(out.toString("utf8"));
}

class FakeIpcMain extends EventEmitter {}

class FakeApp extends EventEmitter {
  constructor() {
    super();
    this.quitCalls = 0;
    this.userData = null; // a test's own folder (app.getPath("userData")), never the real one
  }

  getPath(name) {
    if (name !== "userData" || !this.userData) throw new Error(`FakeApp.getPath(${name}) is not set up`);
    return this.userData;
  }

  quit() {
    this.quitCalls++;
    const event = { defaultPrevented: false, preventDefault() { this.defaultPrevented = true; } };
    this.emit("will-quit", event);
    if (!event.defaultPrevented) this.emit("quit");
  }
}

let nextId = 1;

/** A window's webContents and its renderer side (ipcRenderer + the preload's bridge). */
class FakeWindow {
  constructor(ipcMain) {
    const window = this;
    this.sent = []; // every [channel, ...args] the main process sent to this window
    this.webContents = Object.assign(new EventEmitter(), {
      id: nextId++,
      destroyed: false,
      isDestroyed() {
        return this.destroyed;
      },
      send(channel, ...args) {
        if (this.destroyed) throw new Error("Object has been destroyed");
        window.sent.push([channel, ...args]);
        setImmediate(() => window.ipcRenderer.emit(channel, { sender: null }, ...args));
      },
    });
    this.ipcRenderer = Object.assign(new EventEmitter(), {
      send: (channel, ...args) =>
        setImmediate(() => ipcMain.emit(channel, { sender: this.webContents }, ...args)),
    });
  }

  /** Runs preload.js as a sandboxed renderer would; returns what it exposed as `window.sidecar`. */
  loadPreload() {
    const source = fs.readFileSync(path.join(EXAMPLE, "preload.js"), "utf8");
    const exposed = {};
    const electron = {
      contextBridge: { exposeInMainWorld: (key, api) => { exposed[key] = api; } },
      ipcRenderer: this.ipcRenderer,
    };
    const sandboxedRequire = (name) => {
      if (name === "electron") return electron;
      throw new Error(`a sandboxed preload cannot require ${name}`);
    };
    new Function("require", "module", "exports", source)(sandboxedRequire, { exports: {} }, {});
    return exposed.sidecar;
  }

  destroy() {
    this.webContents.destroyed = true;
    this.webContents.emit("destroyed");
  }
}

/**
 * The page's side of a connection: a minimal JSON-RPC client over the bridge, as
 * ui/src/client.ts does it (ids, responses matched by id, notifications collected).
 */
class Page {
  constructor(bridge) {
    this.bridge = bridge;
    this.lines = [];
    this.notifications = [];
    this.pending = new Map();
    this.nextId = 1;
    this.closed = null;
    this.events = new EventEmitter();
    bridge.onLine((line) => {
      this.lines.push(line);
      const message = JSON.parse(line);
      if (message.method) {
        this.notifications.push(message);
        this.events.emit("notification", message);
      } else {
        const settle = this.pending.get(message.id);
        this.pending.delete(message.id);
        settle?.(message);
      }
    });
    bridge.onClose((reason) => {
      this.closed = reason;
      this.events.emit("close", reason);
    });
    this.ready = this.waitFor((n) => n.method === "sidecar:ready").then((n) => n.params);
  }

  /** Sends a request; resolves with the whole response (result or error). */
  request(method, params) {
    const id = this.nextId++;
    const response = new Promise((resolve) => this.pending.set(id, resolve));
    this.bridge.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    return { id, response };
  }

  waitFor(predicate) {
    const seen = this.notifications.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const check = (n) => {
        if (!predicate(n)) return;
        this.events.off("notification", check);
        resolve(n);
      };
      this.events.on("notification", check);
    });
  }

  whenClosed() {
    return this.closed !== null ? Promise.resolve(this.closed) : once(this.events, "close").then(([r]) => r);
  }

  tokens(chatId) {
    return this.notifications
      .filter((n) => n.method === "chat:token" && n.params.chat_id === chatId)
      .map((n) => n.params.content);
  }
}

/** True once no process has this pid (or only its zombie is left). */
function gone(pid) {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (error.code === "ESRCH") return true;
    throw error;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] === "Z";
  } catch {
    return true;
  }
}

/**
 * ui/'s real client and Electron transport (ui/src/client.ts, transports/electron.ts and what
 * they import), transpiled to CommonJS with ui's TypeScript into a temporary folder.
 */
function loadUi() {
  const ts = require(path.join(REPO, "ui", "node_modules", "typescript"));
  const src = path.join(REPO, "ui", "src");
  const out = fs.mkdtempSync(path.join(require("node:os").tmpdir(), "ui-cjs-"));
  const files = ["client.ts", "protocol.ts", "protocol.gen.ts", "transport.ts", "transports/channel.ts", "transports/electron.ts"];
  for (const file of files) {
    const source = path.join(src, file);
    if (!fs.existsSync(source)) continue; // protocol.gen.ts: only where protocol.ts imports it
    const { outputText } = ts.transpileModule(fs.readFileSync(source, "utf8"), {
      fileName: source,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    });
    const target = path.join(out, file.replace(/\.ts$/, ".js"));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, outputText);
  }
  return {
    ...require(path.join(out, "client.js")),
    ...require(path.join(out, "transports", "electron.js")),
    cleanup: () => fs.rmSync(out, { recursive: true, force: true }),
  };
}

module.exports = { EXAMPLE, REPO, PYTHON, FakeApp, loadUi, FakeIpcMain, FakeWindow, Page, gone, scriptedTexts, startScriptedOllama };
