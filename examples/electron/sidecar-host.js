// The main-process half of the Electron example, with no `require("electron")`: it takes the
// electron objects it needs (ipcMain, app, webContents) as arguments, so plain Node can test it
// against a real sidecar (test/host.test.js) and main.js only wires it to Electron.
//
// One sidecar per connection: when the window's transport starts, the preload script sends
// "sidecar:attach" with a connection number; the host spawns a sidecar for that window (replacing
// any earlier one: a reload, a reconnect) and relays whole protocol lines both ways, each message
// tagged with the connection number so nothing of an old sidecar reaches a new connection.
// Channels, renderer -> main: sidecar:attach (gen), sidecar:send (line without "\n", gen),
// sidecar:close (gen); main -> renderer: sidecar:line (line, gen), sidecar:exit (reason, gen).
//
// What it takes care of (docs/protocol.md §2, §3, §9):
// - stdout is split on "\n" only, over bytes, and each whole line is decoded as UTF-8 (never
//   `readline`, which also splits on U+2028/U+2029; never a per-chunk decode, which breaks a
//   character that straddles two reads);
// - nothing is written to stdin before `sidecar:ready` (lines from the window wait in a queue);
// - `--parent-pid <this pid>`, so the sidecar exits if this process dies without cleaning up;
// - no orphan: the sidecar of a window goes when its page reloads, its webContents is destroyed
//   or its renderer crashes; on app quit every sidecar is stopped (SIGTERM, then SIGKILL after a
//   grace period) before the app exits; a last `process.on("exit")` hook SIGKILLs any left.

"use strict";

const { spawn: nodeSpawn } = require("node:child_process");
const { EventEmitter } = require("node:events");
const fs = require("node:fs");
const path = require("node:path");

const CHANNELS = Object.freeze({
  attach: "sidecar:attach",
  send: "sidecar:send",
  close: "sidecar:close",
  line: "sidecar:line",
  exit: "sidecar:exit",
});

const PROTOCOL = 1;
const STOP_GRACE_MS = 3000;

/** The Rust target triple of this platform, the suffix of `scripts/build-sidecar`'s output name. */
function targetTriple(platform = process.platform, arch = process.arch) {
  const cpu = { x64: "x86_64", arm64: "aarch64", ia32: "i686" }[arch] ?? arch;
  if (platform === "darwin") return `${cpu}-apple-darwin`;
  if (platform === "win32") return `${cpu}-pc-windows-msvc`;
  return `${cpu}-unknown-linux-gnu`;
}

/**
 * Which program to run. In order:
 * 1. `OLLAMA_SIDECAR_BIN`: an executable path (a frozen build, or `ollama-sidecar` on PATH);
 * 2. a packaged app: the one-folder build that package.json > build > extraResources ships as
 *    `<resources>/ollama-sidecar/`: its `ollama-sidecar-<triple>[.exe]` (the name
 *    `scripts/build-sidecar` gives it), or else the one executable named `ollama-sidecar-*` there;
 * 3. development: `python -m sidecar` with `OLLAMA_SIDECAR_PYTHON`, else the repo's .venv.
 */
function sidecarCommand({
  isPackaged = false,
  resourcesPath = process.resourcesPath,
  env = process.env,
  platform = process.platform,
  arch = process.arch,
  repoRoot = path.resolve(__dirname, "..", ".."),
} = {}) {
  if (env.OLLAMA_SIDECAR_BIN) return { command: env.OLLAMA_SIDECAR_BIN, args: [] };
  const exe = platform === "win32" ? ".exe" : "";
  if (isPackaged) {
    const folder = path.join(resourcesPath, "ollama-sidecar");
    const expected = `ollama-sidecar-${targetTriple(platform, arch)}${exe}`;
    return { command: path.join(folder, findExecutable(folder, expected, exe)), args: [] };
  }
  let python = env.OLLAMA_SIDECAR_PYTHON;
  if (!python) {
    const venv = platform === "win32"
      ? path.join(repoRoot, ".venv", "Scripts", "python.exe")
      : path.join(repoRoot, ".venv", "bin", "python");
    python = fs.existsSync(venv) ? venv : platform === "win32" ? "python" : "python3";
  }
  return { command: python, args: ["-m", "sidecar"] };
}

/** `expected` when that file is in `folder`, else the one `ollama-sidecar-*` file there (the triple differed). */
function findExecutable(folder, expected, exe) {
  let names = [];
  try {
    names = fs.readdirSync(folder, { withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.startsWith("ollama-sidecar-") && entry.name.endsWith(exe))
      .map((entry) => entry.name);
  } catch {
    // no folder: spawning `expected` fails with ENOENT, which the window is told
  }
  return names.includes(expected) || names.length !== 1 ? expected : names[0];
}

/**
 * Splits a byte stream into lines on "\n" (0x0A) only. Feed it each stdout chunk (a Buffer); it
 * returns the lines that chunk completed, decoded as UTF-8, without "\n" (and without a "\r"
 * right before it); blank lines are skipped. A partial line is kept, as bytes, until its "\n".
 */
class LineSplitter {
  constructor() {
    this.pending = [];
  }

  push(chunk) {
    const lines = [];
    let start = 0;
    let end;
    while ((end = chunk.indexOf(0x0a, start)) !== -1) {
      let bytes = chunk.subarray(start, end);
      if (this.pending.length) {
        this.pending.push(bytes);
        bytes = Buffer.concat(this.pending);
        this.pending = [];
      }
      start = end + 1;
      let line = bytes.toString("utf8");
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line.trim()) lines.push(line);
    }
    if (start < chunk.length) this.pending.push(chunk.subarray(start));
    return lines;
  }
}

/**
 * One sidecar process. Events: "line" (every stdout line, in order, the ready line included),
 * "ready" (its params), "exit" (a reason string; once, after stdout has closed).
 */
class SidecarProcess extends EventEmitter {
  constructor({ command, args = [], cwd, env, spawn = nodeSpawn, stopGraceMs = STOP_GRACE_MS }) {
    super();
    this.command = command;
    this.args = args;
    this.cwd = cwd;
    this.env = env;
    this.spawnImpl = spawn;
    this.stopGraceMs = stopGraceMs;
    this.child = null;
    this.ready = false;
    this.exited = false;
    this.queue = [];
    this.stopping = false;
    this.exitedPromise = new Promise((resolve) => this.once("exit", resolve));
  }

  get pid() {
    return this.child?.pid;
  }

  start() {
    let child;
    try {
      child = this.spawnImpl(this.command, this.args, {
        cwd: this.cwd,
        env: this.env,
        stdio: ["pipe", "pipe", "inherit"], // stderr carries only logs
        windowsHide: true,
      });
    } catch (error) {
      this.finish(`cannot start the sidecar: ${error.message}`);
      return this;
    }
    this.child = child;
    const splitter = new LineSplitter();
    child.stdout.on("data", (chunk) => {
      for (const line of splitter.push(chunk)) this.onLine(line);
    });
    child.stdin.on("error", () => {}); // EPIPE once the sidecar has exited; "exit" tells the window
    child.on("error", (error) => this.finish(`cannot start the sidecar: ${error.message}`));
    // "close" comes after the process exited AND its stdout ended, so no line is lost.
    child.on("close", (code, signal) => this.finish(`sidecar exited (code ${code ?? "none"}, signal ${signal ?? "none"})`));
    return this;
  }

  onLine(line) {
    if (!this.ready) {
      let message = null;
      try {
        message = JSON.parse(line);
      } catch {
        // not expected before ready; passed on as it is
      }
      if (message?.method === "sidecar:ready") {
        if (message.params?.protocol !== PROTOCOL) {
          this.emit("line", line);
          this.failReason = `the sidecar speaks protocol ${message.params?.protocol}, this app protocol ${PROTOCOL}`;
          void this.stop();
          return;
        }
        this.ready = true;
        this.emit("line", line);
        this.emit("ready", message.params);
        for (const queued of this.queue.splice(0)) this.write(queued);
        return;
      }
    }
    this.emit("line", line);
  }

  /** Sends one protocol line (without "\n"); lines sent before `sidecar:ready` wait for it. */
  send(line) {
    if (this.exited || this.failReason) return;
    if (this.ready) this.write(line);
    else this.queue.push(line);
  }

  write(line) {
    if (this.child?.stdin.writable) this.child.stdin.write(line + "\n");
  }

  /** SIGTERM (the sidecar cancels its chats and exits), then SIGKILL after the grace period. Once. */
  stop() {
    if (this.exited || !this.child || this.child.pid === undefined) return this.exitedPromise;
    if (this.stopping) return this.exitedPromise; // one SIGTERM: a second one is not a politer stop
    this.stopping = true;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      const force = setTimeout(() => this.killNow(), this.stopGraceMs);
      force.unref?.();
      this.exitedPromise.then(() => clearTimeout(force));
    }
    return this.exitedPromise;
  }

  /** Synchronous last resort (process "exit" hook). */
  killNow() {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }

  finish(reason) {
    if (this.exited) return;
    this.exited = true;
    this.queue.length = 0;
    this.emit("exit", this.failReason ?? reason);
  }
}

/**
 * The main-process host. `ipcMain` needs `on(channel, listener(event, ...args))`; a webContents
 * needs `id`, `send(channel, ...args)`, `isDestroyed()` and `on/once(event)` ("destroyed",
 * "render-process-gone"). Only webContents passed to `manage()` are served.
 *
 * options.sidecar: { command, args } (default: sidecarCommand()); options.args: extra sidecar
 * flags; options.spawn: child_process.spawn or a wrapper; options.stopGraceMs.
 */
function createSidecarHost({ ipcMain, sidecar = sidecarCommand(), args = [], spawn, stopGraceMs, env, cwd } = {}) {
  const managed = new Map(); // webContents.id -> webContents
  const sessions = new Map(); // webContents.id -> its current SidecarProcess
  const live = new Set(); // every SidecarProcess that has not exited yet, current or stopping

  function forward(webContents, channel, payload, gen) {
    if (!webContents.isDestroyed()) webContents.send(channel, payload, gen);
  }

  function attach(webContents, gen) {
    const id = webContents.id;
    void detach(id); // a reload: the old page's sidecar goes, the new page gets a fresh one
    const proc = new SidecarProcess({
      command: sidecar.command,
      args: [...sidecar.args, "--parent-pid", String(process.pid), ...args],
      spawn,
      stopGraceMs,
      env,
      cwd,
    });
    proc.gen = gen;
    sessions.set(id, proc);
    live.add(proc);
    proc.on("line", (line) => {
      if (sessions.get(id) === proc) forward(webContents, CHANNELS.line, line, gen);
    });
    proc.on("exit", (reason) => {
      live.delete(proc);
      if (sessions.get(id) !== proc) return; // replaced or closed on purpose: nobody to tell
      sessions.delete(id);
      forward(webContents, CHANNELS.exit, reason, gen);
    });
    proc.start();
    return proc;
  }

  function detach(id) {
    const proc = sessions.get(id);
    if (!proc) return Promise.resolve();
    sessions.delete(id);
    return proc.stop();
  }

  /** The sending webContents when it is one of ours (a window passed to manage()), else null. */
  function served(event) {
    const sender = event?.sender;
    return sender && managed.has(sender.id) ? sender : null;
  }

  /** The current sidecar of the sending window, when the message is for that connection. */
  function current(event, gen) {
    const webContents = served(event);
    const proc = webContents && sessions.get(webContents.id);
    return proc && proc.gen === gen ? proc : null;
  }

  ipcMain.on(CHANNELS.attach, (event, gen) => {
    const webContents = served(event);
    if (webContents && Number.isSafeInteger(gen)) attach(webContents, gen);
  });
  ipcMain.on(CHANNELS.send, (event, line, gen) => {
    if (typeof line === "string" && !line.includes("\n")) current(event, gen)?.send(line);
  });
  ipcMain.on(CHANNELS.close, (event, gen) => {
    if (current(event, gen)) void detach(event.sender.id);
  });

  /** Stops every sidecar; resolves once all have exited. */
  function stopAll() {
    for (const id of [...sessions.keys()]) void detach(id);
    return Promise.all([...live].map((proc) => proc.stop())).then(() => {});
  }

  /** SIGKILLs every sidecar still running, synchronously. */
  function killAllNow() {
    for (const proc of live) proc.killNow();
  }

  return {
    /** Serves this window's webContents; its sidecar stops when it is destroyed or crashes. */
    manage(webContents) {
      const id = webContents.id;
      managed.set(id, webContents);
      webContents.once("destroyed", () => {
        managed.delete(id);
        void detach(id);
      });
      webContents.on("render-process-gone", () => void detach(id));
    },
    /** The running sidecar of a webContents (tests and diagnostics). */
    sidecarOf(webContents) {
      return sessions.get(webContents.id);
    },
    stopAll,
    killAllNow,
    /**
     * App quit: holds "will-quit" until every sidecar has exited, then quits again; and a
     * process "exit" hook for the paths that skip will-quit (process.exit, an uncaught error).
     */
    installQuitHandlers(app, proc = process) {
      let released = false;
      app.on("will-quit", (event) => {
        if (released || live.size === 0) return;
        event.preventDefault();
        released = true;
        stopAll().finally(() => app.quit());
      });
      proc.on("exit", killAllNow);
    },
  };
}

module.exports = { CHANNELS, LineSplitter, SidecarProcess, createSidecarHost, sidecarCommand, targetTriple };
