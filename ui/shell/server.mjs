#!/usr/bin/env node
// The dev shell: does in a browser tab what Tauri's or Electron's main process does for the window.
//
//   node ui/shell/server.mjs [--port N] [--host H] [--ollama-url URL] [--scripted] [--no-fallback]
//                            [--pace S] [--log-lines] [--data-dir DIR] [--keep-alive S]
//                            [--sidecar-arg ARG]...
//                            [--pace S] [--log-lines] [--mcp-config FILE] [--sidecar-arg ARG]...
//
// - Serves the built window (`ui/dist/`) over HTTP, plus `GET /config.json` ->
//   `{"scripted": bool, "ollama_url": string}` so the page can show its "scripted model" badge.
// - `/ws`: each WebSocket connection spawns ONE real sidecar (`.venv/bin/python -m sidecar
//   --ollama-url URL --parent-pid <this pid> [--mcp-config FILE] [--sidecar-arg values]`) and relays whole lines both
//   ways, one text message per line. The sidecar gets SIGTERM when its socket closes and when the
//   shell exits; `--parent-pid` covers a shell that dies without cleaning up.
// - `/ws?session=TOKEN` (the page keeps TOKEN in sessionStorage, so one tab keeps it across a
//   reload): the sidecar outlives its socket by `--keep-alive` seconds (default 30), as Tauri and
//   Electron keep theirs across a webview reload. A socket that comes back with the same token
//   within that time gets the same sidecar, and first its `sidecar:ready` line again; lines the
//   sidecar wrote while no socket was there are dropped (the page asks `get_thread`, whose answer
//   holds them). Then the sidecar gets SIGTERM.
// - `--data-dir DIR` is given to every sidecar (where conversations are kept); without it, the
//   sidecar's default (the user data folder).
// - Upstream: `--ollama-url`, else OLLAMA_HOST, else 127.0.0.1:11434, if it answers `/api/version`
//   within 1.5 s; otherwise (or with `--scripted`) the scripted Ollama, started as a child with
//   `--pace S` (default 0.03 s between lines). `--no-fallback` keeps a dead Ollama (for tests of
//   the "Ollama is not running" error).
// - `--mcp-config FILE` (made absolute here) is passed to each sidecar: its MCP servers become
//   tools of every chat the window runs (docs/protocol.md, MCP servers).
// - `--log-lines` writes every relayed line to stderr as `[conn] > line` (to the sidecar) and
//   `[conn] < line` (from it), and lets the scripted Ollama log its requests there too.
// - When ready it prints `ui: http://HOST:PORT/` on stdout (`--port 0` picks a free port); that
//   is its only stdout output. SIGINT / SIGTERM stop the sidecars and the scripted Ollama, exit 0.
//
// SIDECAR_PYTHON overrides the interpreter (default: <repo>/.venv/bin/python).
//
// Only pages served from this origin (a loopback host) may open `/ws`: a sidecar can write files
// under its `--root`, so no other web page in the browser may drive one.

import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import http from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket, WebSocketServer } from "ws";
import { ollamaAnswers, resolveOllamaUrl, startScriptedOllama } from "./upstream.mjs";

const REPO = resolve(fileURLToPath(import.meta.url), "../../..");
const DIST = join(REPO, "ui", "dist");
const PYTHON = process.env.SIDECAR_PYTHON || join(REPO, ".venv", "bin", "python");
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
const MAX_QUEUED_MESSAGES = 512; // relay backpressure: pause the sidecar's stdout past this
const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8", ".json": "application/json", ".map": "application/json",
  ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".woff2": "font/woff2",
};
const USAGE = `usage: node ui/shell/server.mjs [--port N] [--host H] [--ollama-url URL] [--scripted]
       [--no-fallback] [--pace S] [--log-lines] [--mcp-config FILE] [--data-dir DIR] [--keep-alive S]
       [--sidecar-arg ARG]...`;
const SESSION_TOKEN = /^[A-Za-z0-9_-]{8,128}$/;

function parseArgs(argv) {
  const opts = { port: 0, host: "127.0.0.1", ollamaUrl: undefined, scripted: false, noFallback: false,
                 pace: 0.03, logLines: false, mcpConfig: undefined, sidecarArgs: [], dataDir: undefined,
                 keepAlive: 30 };
  const value = (i) => {
    if (i + 1 >= argv.length) fail(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--port") opts.port = Number(value(i++));
    else if (arg === "--host") opts.host = value(i++);
    else if (arg === "--ollama-url") opts.ollamaUrl = value(i++);
    else if (arg === "--pace") opts.pace = Number(value(i++));
    else if (arg === "--sidecar-arg") opts.sidecarArgs.push(value(i++));
    else if (arg === "--data-dir") opts.dataDir = value(i++);
    else if (arg === "--keep-alive") opts.keepAlive = Number(value(i++));
    else if (arg === "--mcp-config") opts.mcpConfig = resolve(value(i++));
    else if (arg === "--scripted") opts.scripted = true;
    else if (arg === "--no-fallback") opts.noFallback = true;
    else if (arg === "--log-lines") opts.logLines = true;
    else if (arg === "-h" || arg === "--help") { process.stdout.write(USAGE + "\n"); process.exit(0); }
    else fail(`unknown argument ${arg}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) fail("--port must be 0-65535");
  if (!(opts.pace >= 0)) fail("--pace must be a number >= 0");
  if (!(opts.keepAlive >= 0)) fail("--keep-alive must be a number of seconds >= 0");
  if (opts.mcpConfig !== undefined && !existsSync(opts.mcpConfig)) fail(`--mcp-config ${opts.mcpConfig}: no such file`);
  return opts;
}

function fail(message) {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

const log = (message) => process.stderr.write(`shell: ${message}\n`);
const opts = parseArgs(process.argv.slice(2));
const sidecars = new Set();
let scriptedOllama = null; // { url, child } when we started one
let upstream; // { scripted, url }

async function chooseUpstream() {
  if (!opts.scripted) {
    const url = await resolveOllamaUrl(PYTHON, opts.ollamaUrl ?? process.env.OLLAMA_HOST ?? "");
    if (opts.noFallback || (await ollamaAnswers(url))) return { scripted: false, url };
    log(`no Ollama answered at ${url}; starting the scripted Ollama instead`);
  }
  scriptedOllama = await startScriptedOllama(PYTHON, { pace: opts.pace, log: opts.logLines, cwd: REPO });
  scriptedOllama.child.on("exit", (code, signal) => {
    if (!stopping) log(`the scripted Ollama exited (${signal ?? code})`);
  });
  return { scripted: true, url: scriptedOllama.url };
}

// --- HTTP: the built window and /config.json ---------------------------------------------------

async function handleRequest(req, res) {
  const send = (status, type, body) => {
    res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : body);
  };
  if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "method not allowed\n");
  let path;
  try {
    path = decodeURIComponent(new URL(req.url, "http://shell").pathname);
  } catch {
    return send(400, "text/plain", "bad path\n");
  }
  if (path === "/config.json") {
    return send(200, "application/json", JSON.stringify({ scripted: upstream.scripted, ollama_url: upstream.url }));
  }
  const file = normalize(join(DIST, path.endsWith("/") ? path + "index.html" : path));
  if (!file.startsWith(DIST + sep)) return send(404, "text/plain", "not found\n");
  try {
    send(200, TYPES[extname(file)] ?? "application/octet-stream", await readFile(file));
  } catch {
    if (!existsSync(join(DIST, "index.html"))) {
      return send(503, "text/plain", "ui/dist is missing: run `npm run build` in ui/ (scripts/ui does it)\n");
    }
    send(404, "text/plain", "not found\n");
  }
}

// --- /ws: one sidecar per connection -----------------------------------------------------------

function allowedOrigin(req) {
  try {
    const host = new URL(`http://${req.headers.host}`).hostname;
    if (!LOOPBACK.has(host) && host !== opts.host) return false; // DNS rebinding
    if (!req.headers.origin) return true; // not a browser (scripts, tests)
    return new URL(req.headers.origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** Whole lines from a stream of text; a partial last line waits for its "\n". */
function lineSplitter() {
  let rest = "";
  return (chunk) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop();
    return parts;
  };
}

let connections = 0;
const sessions = new Map(); // session token -> { child, n, ws, ready, timer }

function relay(ws, req) {
  const token = new URL(req.url, "http://shell").searchParams.get("session");
  const kept = token && SESSION_TOKEN.test(token) ? sessions.get(token) : undefined;
  if (kept && kept.ws === null && kept.child.exitCode === null && kept.child.signalCode === null) {
    clearTimeout(kept.timer);
    kept.ws = ws;
    if (opts.logLines) log(`[${kept.n}] socket back for sidecar pid ${kept.child.pid}`);
    if (kept.ready !== null) ws.send(kept.ready);
    attach(kept, ws, token);
    return;
  }
  if (kept) sessions.delete(token); // an old socket is still on it, or it died: start another
  const session = spawnSidecar(ws);
  if (token && SESSION_TOKEN.test(token)) sessions.set(token, session);
  attach(session, ws, token && SESSION_TOKEN.test(token) ? token : null);
}

/** Spawns a sidecar and relays its stdout to whatever socket the session has at the time. */
function spawnSidecar(ws) {
  const n = ++connections;
  const args = ["-m", "sidecar", "--ollama-url", upstream.url, "--parent-pid", String(process.pid),
                ...(opts.mcpConfig === undefined ? [] : ["--mcp-config", opts.mcpConfig])];
  if (opts.dataDir) args.push("--data-dir", opts.dataDir);
  args.push(...opts.sidecarArgs);
  const child = spawn(PYTHON, args, { cwd: process.cwd(), stdio: ["pipe", "pipe", "inherit"] });
  const session = { child, n, ws, ready: null, timer: null };
  sidecars.add(child);
  if (opts.logLines) log(`[${n}] sidecar pid ${child.pid} started`);
  const split = lineSplitter();
  let queued = 0;
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    for (const line of split(chunk)) {
      if (session.ready === null) session.ready = line;
      if (opts.logLines) process.stderr.write(`[${n}] < ${line}\n`);
      const socket = session.ws;
      if (socket === null || socket.readyState !== WebSocket.OPEN) continue;
      queued++;
      socket.send(line, () => {
        if (--queued < MAX_QUEUED_MESSAGES / 4 && child.stdout.isPaused()) child.stdout.resume();
      });
    }
    if (queued > MAX_QUEUED_MESSAGES) child.stdout.pause();
  });
  child.stdin.on("error", () => {}); // EPIPE after the sidecar exited; its exit closes the socket
  child.on("error", (error) => {
    sidecars.delete(child);
    log(`[${n}] cannot start the sidecar: ${error.message}`);
    session.ws?.close(1011, "cannot start the sidecar");
  });
  child.on("exit", (code, signal) => {
    sidecars.delete(child);
    clearTimeout(session.timer);
    for (const [token, s] of sessions) if (s === session) sessions.delete(token);
    if (opts.logLines) log(`[${n}] sidecar exited (${signal ?? code})`);
    if (session.ws?.readyState === WebSocket.OPEN) session.ws.close(1011, `sidecar exited (${signal ?? code})`);
  });
  return session;
}

/** The socket's lines go to the session's sidecar; its close stops the sidecar, at once or, for
 * a session with a token, after --keep-alive seconds unless the token comes back. */
function attach(session, ws, token) {
  const { child, n } = session;
  ws.on("message", (data) => {
    const line = data.toString();
    if (opts.logLines) process.stderr.write(`[${n}] > ${line}\n`);
    if (child.stdin.writable) child.stdin.write(line + "\n");
  });
  const gone = () => {
    if (session.ws !== ws) return;
    session.ws = null;
    if (child.stdout.isPaused()) child.stdout.resume(); // nobody reads: drop, never block it
    if (token === null || stopping) {
      stopChild(child);
      return;
    }
    if (opts.logLines) log(`[${n}] socket closed; keeping sidecar pid ${child.pid} for ${opts.keepAlive} s`);
    session.timer = setTimeout(() => {
      if (session.ws === null) {
        sessions.delete(token);
        stopChild(child);
      }
    }, opts.keepAlive * 1000);
    session.timer.unref();
  };
  ws.on("close", gone);
  ws.on("error", gone);
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  const force = setTimeout(() => child.kill("SIGKILL"), 3000);
  force.unref();
  return exited.then(() => clearTimeout(force));
}

// --- start and stop ----------------------------------------------------------------------------

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close();
  for (const ws of wss.clients) ws.terminate();
  const children = [...sidecars, scriptedOllama?.child].filter(Boolean);
  await Promise.all(children.map(stopChild));
  process.exit(0);
}

const wss = new WebSocketServer({ noServer: true });
const server = http.createServer((req, res) => {
  handleRequest(req, res).catch((error) => {
    log(`error serving ${req.url}: ${error.stack ?? error}`);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
server.on("upgrade", (req, socket, head) => {
  if (stopping || new URL(req.url, "http://shell").pathname !== "/ws" || !allowedOrigin(req)) {
    socket.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => relay(ws, req));
});
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
process.on("exit", () => {
  for (const child of [...sidecars, scriptedOllama?.child]) child?.kill("SIGKILL");
});

try {
  upstream = await chooseUpstream();
} catch (error) {
  log(error.code === "ENOENT" ? `cannot run ${PYTHON}: scripts/ui creates the venv (or set SIDECAR_PYTHON)` : error.message);
  process.exit(1);
}
if (stopping) process.exit(0);
log(upstream.scripted ? `using the scripted Ollama at ${upstream.url}` : `using Ollama at ${upstream.url}`);
server.on("error", (error) => {
  log(`cannot listen on ${opts.host}:${opts.port}: ${error.message}`);
  shutdown();
});
server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  process.stdout.write(`ui: http://${host}:${port}/\n`);
});
