// The Electron example's main process (sidecar-host.js) and preload bridge (preload.js), run by
// plain Node against real sidecar processes (`python -m sidecar`) and the scripted Ollama. Only
// Electron itself is faked (test/fakes.js): ipcMain, ipcRenderer, contextBridge, webContents, app.

"use strict";

const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const { EventEmitter, once } = require("node:events");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { after, before, describe, it } = require("node:test");

const { LineSplitter, createSidecarHost, sidecarCommand } = require("../sidecar-host");
const { FakeApp, FakeIpcMain, FakeWindow, Page, PYTHON, REPO, gone, loadUi, scriptedTexts, startScriptedOllama } = require("./fakes");

let ollama;
let texts;
const hosts = [];

before(async () => {
  ollama = await startScriptedOllama();
  texts = scriptedTexts();
});

after(async () => {
  for (const host of hosts) await host.stopAll();
  await ollama.stop();
});

/** A host wired to fakes, running `python -m sidecar --ollama-url <scripted>`; options go to createSidecarHost. */
function setUp(options = {}) {
  const ipcMain = new FakeIpcMain();
  const host = createSidecarHost({
    ipcMain,
    sidecar: sidecarCommand({ env: { OLLAMA_SIDECAR_PYTHON: PYTHON } }),
    args: ["--ollama-url", ollama.url],
    cwd: REPO,
    ...options,
  });
  hosts.push(host);
  const open = () => {
    const window = new FakeWindow(ipcMain);
    host.manage(window.webContents);
    return window;
  };
  return { ipcMain, host, open };
}

/** spawn, with every stdout chunk cut into single bytes before the host sees it. */
function spawnByteByByte(command, args, options) {
  const child = spawn(command, args, options);
  const { PassThrough } = require("node:stream");
  const tiny = new PassThrough();
  child.stdout.on("data", (chunk) => {
    for (let i = 0; i < chunk.length; i++) tiny.write(chunk.subarray(i, i + 1));
  });
  child.stdout.on("end", () => tiny.end());
  child.stdout = tiny;
  return child;
}

describe("LineSplitter", () => {
  it("splits on \\n only: U+2028, U+2029, U+0085 and a lone \\r stay inside the line", () => {
    const splitter = new LineSplitter();
    const raw = '{"content":"a\u2028b\u2029c\u0085d"} x\ry'; // raw separators, as another producer might write them
    assert.deepEqual(splitter.push(Buffer.from(raw)), []);
    assert.deepEqual(splitter.push(Buffer.from("\n")), [raw]);
  });

  it("keeps a character whose bytes straddle two reads, and a line spread over many reads", () => {
    const splitter = new LineSplitter();
    const bytes = Buffer.from('{"t":"Café 日本語 🙂 \u2028"}\n{"t":"two"}\n\n{"t":"three"}\r\n');
    const lines = [];
    for (let i = 0; i < bytes.length; i++) lines.push(...splitter.push(bytes.subarray(i, i + 1)));
    assert.deepEqual(lines.map((l) => JSON.parse(l).t), ["Café 日本語 🙂 \u2028", "two", "three"]);
  });
});

describe("the Electron host with a real sidecar", () => {
  it("starts the sidecar with --parent-pid and hands the window sidecar:ready; nothing is written before it", async () => {
    const writes = [];
    const { host, open } = setUp({
      spawn: (command, args, options) => {
        const child = spawn(command, args, options);
        const write = child.stdin.write.bind(child.stdin);
        child.stdin.write = (...a) => {
          writes.push({ readySeen: host.sidecarOf(window.webContents).ready });
          return write(...a);
        };
        return child;
      },
    });
    const window = open();
    const page = new Page(window.loadPreload());
    const early = page.request("status"); // sent at once: the sidecar cannot have said ready yet
    const ready = await page.ready;
    const proc = host.sidecarOf(window.webContents);

    assert.equal(ready.name, "ollama-sidecar");
    assert.equal(ready.protocol, 1);
    assert.equal(ready.pid, proc.pid);
    assert.equal(ready.ollama_url, ollama.url);
    assert.equal(JSON.parse(page.lines[0]).method, "sidecar:ready");
    const flag = proc.args.indexOf("--parent-pid");
    assert.equal(proc.args[flag + 1], String(process.pid));

    const status = await early.response;
    assert.ok(status.result, JSON.stringify(status));
    assert.ok(writes.length >= 1);
    assert.ok(writes.every((w) => w.readySeen), "a line was written to stdin before sidecar:ready");
    window.destroy();
  });

  it("forwards a streamed chat to the window as notifications, then its response", async () => {
    const { open } = setUp();
    const window = open();
    const page = new Page(window.loadPreload());
    await page.ready;
    const chat = page.request("chat", { model: "demo", messages: [{ role: "user", content: "Hi there" }] });
    const response = await chat.response;

    assert.equal(response.result.done_reason, "stop");
    const tokens = page.tokens(chat.id);
    assert.ok(tokens.length > 1, "the reply came in one piece, not streamed");
    const reply = response.result.messages.at(-1);
    assert.equal(tokens.join(""), reply.content);
    // Each token went through webContents.send, one line per message, before the response.
    const sentLines = window.sent.filter(([channel]) => channel === "sidecar:line").map(([, line]) => JSON.parse(line));
    const firstToken = sentLines.findIndex((m) => m.method === "chat:token");
    const answer = sentLines.findIndex((m) => m.id === chat.id);
    assert.ok(firstToken > 0 && firstToken < answer);
    window.destroy();
  });

  it("serves ui's own SidecarClient over ui's electronTransport over the preload bridge", async () => {
    const ui = loadUi();
    try {
      const { host, open } = setUp();
      const window = open();
      const client = new ui.SidecarClient(ui.electronTransport(window.loadPreload()));
      const ready = await client.ready;
      assert.equal(ready.protocol, 1);
      assert.ok((await client.listModels()).length > 0);

      const events = [];
      const chat = client.chat({ model: "demo", messages: [{ role: "user", content: "Hello" }] }, (e) => events.push(e));
      const result = await chat.result;
      assert.equal(result.done_reason, "stop");
      const text = events.filter((e) => e.type === "token").map((e) => e.content).join("");
      assert.equal(text, result.messages.at(-1).content);

      const stopped = client.chat({ model: "hang", messages: [{ role: "user", content: "go" }] });
      for await (const event of stopped.events) if (event.type === "token") break;
      assert.deepEqual(await stopped.cancel(), [stopped.id]);
      assert.equal((await stopped.result).done_reason, "cancelled");

      const sidecar = host.sidecarOf(window.webContents);
      client.close(); // the bridge's close(): the main process stops this connection's sidecar
      await sidecar.exitedPromise;
      assert.ok(gone(ready.pid));
      assert.equal(host.sidecarOf(window.webContents), undefined);
      window.destroy();
    } finally {
      ui.cleanup();
    }
  });

  it("answers a request sent through the ipc handler (round trip)", async () => {
    const { open } = setUp();
    const window = open();
    const page = new Page(window.loadPreload());
    await page.ready;
    const { response } = page.request("list_models");
    const { result } = await response;
    assert.ok(Array.isArray(result.models) && result.models.length > 0, JSON.stringify(result));
    const unknown = await page.request("no_such_method").response;
    assert.equal(unknown.error.code, -32601);
    window.destroy();
  });

  it("cancels a running chat: the chat answers 'cancelled' with its partial reply", async () => {
    const { open } = setUp();
    const window = open();
    const page = new Page(window.loadPreload());
    await page.ready;
    const chat = page.request("chat", { model: "hang", messages: [{ role: "user", content: "go" }] });
    await page.waitFor((n) => n.method === "chat:token" && n.params.chat_id === chat.id);
    const cancel = page.request("cancel_chat", { chat_id: chat.id });

    const chatResponse = await chat.response;
    assert.equal(chatResponse.result.done_reason, "cancelled");
    assert.equal(chatResponse.result.messages.at(-1).content, page.tokens(chat.id).join(""));
    assert.deepEqual((await cancel.response).result.cancelled, [chat.id]);
    window.destroy();
  });

  it("reassembles lines cut into single bytes: multibyte text and U+2028/U+2029/U+0085 arrive intact", async () => {
    const { open } = setUp({ spawn: spawnByteByByte });
    const window = open();
    const page = new Page(window.loadPreload());
    await page.ready;
    for (const [model, expected] of [["separators", texts.separators], ["multibyte", texts.multibyte]]) {
      const chat = page.request("chat", { model, messages: [{ role: "user", content: "go" }] });
      const { result } = await chat.response;
      assert.equal(page.tokens(chat.id).join(""), expected);
      assert.equal(result.messages.at(-1).content, expected);
    }
    assert.ok(texts.separators.includes("\u2028") && texts.separators.includes("\u2029"));
    window.destroy();
  });

  it("quitting the app stops every sidecar before the app exits", async () => {
    const { host, open } = setUp();
    const app = new FakeApp();
    const fakeProcess = new EventEmitter(); // stands in for `process` (its "exit" hook)
    host.installQuitHandlers(app, fakeProcess);
    const windows = [open(), open()];
    const pages = windows.map((w) => new Page(w.loadPreload()));
    const pids = (await Promise.all(pages.map((p) => p.ready))).map((r) => r.pid);
    assert.ok(pids.every((pid) => !gone(pid)));

    const quit = once(app, "quit");
    app.quit();
    await quit;
    assert.ok(app.quitCalls >= 2, "will-quit was not held while the sidecars stopped");
    for (const pid of pids) assert.ok(gone(pid), `sidecar ${pid} outlived the app`);
  });

  it("closing the window, or a reload, stops that window's sidecar; the reloaded page gets a new one", async () => {
    const { host, open } = setUp();
    const window = open();
    const first = new Page(window.loadPreload());
    const firstPid = (await first.ready).pid;
    const firstProc = host.sidecarOf(window.webContents);

    const reloaded = new Page(window.loadPreload()); // a reload runs the preload again
    const secondPid = (await reloaded.ready).pid;
    assert.notEqual(secondPid, firstPid);
    await firstProc.exitedPromise;
    assert.ok(gone(firstPid));
    const { result } = await reloaded.request("status").response;
    assert.ok(result);

    const secondProc = host.sidecarOf(window.webContents);
    window.destroy();
    await secondProc.exitedPromise;
    assert.ok(gone(secondPid));
  });

  it("tells the window when its sidecar exits, and a new connection gets a new sidecar", async () => {
    const { open } = setUp();
    const window = open();
    const bridge = window.loadPreload();
    const page = new Page(bridge);
    await page.ready;
    await page.request("shutdown").response;
    assert.match(await page.whenClosed(), /sidecar exited \(code 0/);

    const again = new Page(bridge); // what electronTransport does when the window reconnects
    const { result } = await again.request("status").response;
    assert.ok(result);
    window.destroy();
  });

  it("SIGKILLs a sidecar that ignores SIGTERM, after the grace period", async () => {
    const stubborn = [
      "-c",
      "import json, os, signal, sys, time\n" +
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" +
        "sys.stdout.write(json.dumps({'jsonrpc': '2.0', 'method': 'sidecar:ready', 'params': {'protocol': 1, 'pid': os.getpid()}}) + '\\n')\n" +
        "sys.stdout.flush()\n" +
        "time.sleep(600)\n",
    ];
    const { host, open } = setUp({ sidecar: { command: PYTHON, args: stubborn }, args: [], stopGraceMs: 300 });
    const window = open();
    const page = new Page(window.loadPreload());
    const pid = (await page.ready).pid;
    await host.stopAll();
    assert.ok(gone(pid));
    window.destroy();
  });

  it("refuses a sidecar that speaks another protocol, and says why", async () => {
    const future = [
      "-c",
      "import json, sys, time\n" +
        "sys.stdout.write(json.dumps({'jsonrpc': '2.0', 'method': 'sidecar:ready', 'params': {'protocol': 2}}) + '\\n')\n" +
        "sys.stdout.flush()\n" +
        "time.sleep(600)\n",
    ];
    const { open } = setUp({ sidecar: { command: PYTHON, args: future }, args: [] });
    const window = open();
    const page = new Page(window.loadPreload());
    assert.match(await page.whenClosed(), /protocol 2/);
    window.destroy();
  });

  it("in a packaged app, runs the one-folder build shipped under resources/ollama-sidecar/", async () => {
    // The layout electron-builder's extraResources makes of scripts/build-sidecar's output; the
    // "binary" is a stand-in that runs the real sidecar, named for another triple to exercise
    // the fallback to the one ollama-sidecar-* executable in the folder.
    const resources = fs.mkdtempSync(path.join(os.tmpdir(), "electron-resources-"));
    const folder = path.join(resources, "ollama-sidecar");
    fs.mkdirSync(path.join(folder, "ollama-sidecar-internal"), { recursive: true });
    const binary = path.join(folder, "ollama-sidecar-riscv64gc-unknown-linux-gnu");
    fs.writeFileSync(binary, `#!/bin/sh\nexec "${PYTHON}" -m sidecar "$@"\n`, { mode: 0o755 });
    try {
      const sidecar = sidecarCommand({ isPackaged: true, resourcesPath: resources, env: {} });
      assert.equal(sidecar.command, binary);
      const { open } = setUp({ sidecar });
      const window = open();
      const page = new Page(window.loadPreload());
      await page.ready;
      const chat = page.request("chat", { model: "text", messages: [{ role: "user", content: "Hi" }] });
      const { result } = await chat.response;
      assert.equal(page.tokens(chat.id).join(""), result.messages.at(-1).content);
      window.destroy();
    } finally {
      fs.rmSync(resources, { recursive: true, force: true });
    }
  });

  it("tells the window when the sidecar cannot be started", async () => {
    const { open } = setUp({ sidecar: sidecarCommand({ env: { OLLAMA_SIDECAR_BIN: path.join(REPO, "no-such-sidecar") } }) });
    const window = open();
    const page = new Page(window.loadPreload());
    assert.match(await page.whenClosed(), /cannot start the sidecar: .*ENOENT/);
    window.destroy();
  });

  it("serves only the windows it manages", async () => {
    let spawned = 0;
    const { ipcMain, host } = setUp({ spawn: (...a) => (spawned++, spawn(...a)) });
    const stranger = new FakeWindow(ipcMain); // e.g. a <webview>, or a window never passed to manage()
    const page = new Page(stranger.loadPreload());
    page.request("status");
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve)); // the messages cross
    assert.equal(host.sidecarOf(stranger.webContents), undefined);
    assert.equal(spawned, 0);
    assert.deepEqual(stranger.sent, []);
  });
});
