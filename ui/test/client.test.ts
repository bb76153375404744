// The typed client (src/client.ts) and the transports, against a fake Transport, plus one run
// against the real sidecar and the scripted Ollama over child-process pipes.

import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { ClosedError, RpcError, SidecarClient, type ChatEvent } from "../src/client";
import { electronTransport, splitLines, type SidecarBridge } from "../src/transports/electron";
import { SHUTDOWN_GRACE_MS, tauriTransport } from "../src/transports/tauri";
import { websocketTransport } from "../src/transports/websocket";
import { FakeTransport as SharedFakeTransport, PYTHON, REPO, childTransport, collect, startScriptedOllama, stopChildren } from "./support";

/** Every line the client sends is one line: no newline inside. */
class FakeTransport extends SharedFakeTransport {
  send(line: string): void {
    expect(line).not.toContain("\n");
    super.send(line);
  }
}

function setup(): { t: FakeTransport; client: SidecarClient } {
  const t = new FakeTransport();
  return { t, client: new SidecarClient(t) };
}

const USAGE = { prompt_tokens: 3, completion_tokens: 2, duration_ms: 5, tokens_per_second: 1.5, first_token_ms: 1 };
const MESSAGES = [{ role: "user", content: "hi" }];

afterEach(() => {
  vi.restoreAllMocks();
});

describe("SidecarClient", () => {
  it("resolves ready on sidecar:ready", async () => {
    const { t, client } = setup();
    const ready = { name: "ollama-sidecar", version: "0.1.0", protocol: 1, ollama_url: "http://x", pid: 7 };
    t.note("sidecar:ready", ready);
    await expect(client.ready).resolves.toEqual(ready);
  });

  it("refuses a sidecar that speaks another protocol number, and closes the transport", async () => {
    const { t, client } = setup();
    const models = client.listModels();
    t.note("sidecar:ready", { name: "ollama-sidecar", version: "9.0.0", protocol: 2, ollama_url: "http://x", pid: 7 });
    await expect(client.ready).rejects.toBeInstanceOf(ClosedError);
    await expect(client.ready).rejects.toThrow("the sidecar speaks protocol 2, this client protocol 1");
    await expect(models).rejects.toBeInstanceOf(ClosedError);
    expect(t.closed).toBe(true);
  });

  it("correlates responses by id, whatever their order", async () => {
    const { t, client } = setup();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const a = client.request("status");
    const b = client.request("list_models", {});
    expect(t.sent).toEqual([
      { jsonrpc: "2.0", id: 1, method: "status" },
      { jsonrpc: "2.0", id: 2, method: "list_models", params: {} },
    ]);
    t.reply("2", "a string id is not ours"); // 2 and "2" are different ids
    t.reply(2, "second");
    t.reply(1, "first");
    await expect(a).resolves.toBe("first");
    await expect(b).resolves.toBe("second");
    client.request("status");
    expect(t.sent[2].id).toBe(3); // increasing integers
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it("routes notifications to the right one of two concurrent chats, in order, synchronously", async () => {
    const { t, client } = setup();
    const seenA: ChatEvent[] = [];
    const seenB: ChatEvent[] = [];
    const a = client.chat({ model: "m", messages: MESSAGES }, (e) => seenA.push(e));
    const b = client.chat({ model: "m", messages: MESSAGES }, (e) => seenB.push(e));
    expect([a.id, b.id]).toEqual([1, 2]);
    expect(t.sent[0]).toEqual({ jsonrpc: "2.0", id: 1, method: "chat", params: { model: "m", messages: MESSAGES } });

    t.note("chat:thinking", { chat_id: 1, content: "hmm" });
    expect(seenA).toEqual([{ type: "thinking", content: "hmm" }]); // called synchronously
    t.note("chat:token", { chat_id: 2, content: "B1" });
    t.note("chat:token", { chat_id: 1, content: "A1" });
    t.note("chat:tool_call", { chat_id: 1, call_id: "c1", name: "read_file", arguments: { path: "x" } });
    t.note("chat:approval_request", { chat_id: 2, call_id: "c2", name: "write_file", arguments: { path: "y" } });
    t.note("chat:tool_result", { chat_id: 1, call_id: "c1", name: "read_file", content: "text", is_error: false });
    t.note("chat:token", { chat_id: 2, content: "B2" });
    t.note("chat:token", { chat_id: 1, content: "A2" });
    const resultA = { done_reason: "stop", messages: [{ role: "assistant", content: "A1A2" }], usage: USAGE };
    t.reply(1, resultA);
    t.note("chat:token", { chat_id: 1, content: "after the end" }); // never happens; ignored if it did

    const expectedA: ChatEvent[] = [
      { type: "thinking", content: "hmm" },
      { type: "token", content: "A1" },
      { type: "tool_call", call_id: "c1", name: "read_file", arguments: { path: "x" } },
      { type: "tool_result", call_id: "c1", name: "read_file", content: "text", is_error: false },
      { type: "token", content: "A2" },
    ];
    expect(seenA).toEqual(expectedA);
    expect(await collect(a.events)).toEqual(expectedA); // a late consumer sees every event
    await expect(a.result).resolves.toEqual(resultA);

    expect(seenB).toEqual([
      { type: "token", content: "B1" },
      { type: "approval_request", call_id: "c2", name: "write_file", arguments: { path: "y" } },
      { type: "token", content: "B2" },
    ]);
    const eventsB = collect(b.events); // a consumer waiting while the chat runs
    t.note("chat:token", { chat_id: 2, content: "B3" });
    t.reply(2, { done_reason: "stop", messages: [], usage: USAGE });
    expect((await eventsB).map((e) => (e as { content?: string }).content)).toEqual(["B1", undefined, "B2", "B3"]);
  });

  it("rejects a failed chat with RpcError carrying code, kind, hint and the partial messages", async () => {
    const { t, client } = setup();
    const chat = client.chat({ model: "gone", messages: MESSAGES });
    t.note("chat:token", { chat_id: 1, content: "par" });
    const partial = [{ role: "assistant", content: "par" }];
    t.fail(1, {
      code: -32003,
      message: "Stream interrupted: connection dropped",
      data: { kind: "stream_interrupted", hint: "Is Ollama still running?", messages: partial },
    });
    const error = await chat.result.catch((e) => e);
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toBe("Stream interrupted: connection dropped");
    expect(error.code).toBe(-32003);
    expect(error.kind).toBe("stream_interrupted");
    expect(error.hint).toBe("Is Ollama still running?");
    expect(error.data.messages).toEqual(partial);
    expect(await collect(chat.events)).toEqual([{ type: "token", content: "par" }]); // ends, no throw

    const plain = client.request("status");
    t.fail(2, { code: -32601, message: "Method not found", data: { kind: "method_not_found" } });
    await expect(plain).rejects.toMatchObject({ code: -32601, kind: "method_not_found", hint: undefined });
  });

  it("rejects everything pending with ClosedError when the transport closes", async () => {
    const { t, client } = setup();
    const chat = client.chat({ model: "m", messages: MESSAGES });
    const models = client.listModels();
    t.note("chat:token", { chat_id: 1, content: "x" });
    t.hangUp("sidecar exited (code 1)");
    await expect(chat.result).rejects.toBeInstanceOf(ClosedError);
    await expect(chat.result).rejects.toThrow("sidecar exited (code 1)");
    await expect(models).rejects.toBeInstanceOf(ClosedError);
    await expect(client.ready).rejects.toBeInstanceOf(ClosedError);
    expect(await collect(chat.events)).toEqual([{ type: "token", content: "x" }]);
    await expect(client.status()).rejects.toBeInstanceOf(ClosedError); // later requests fail at once
    expect(t.sent).toHaveLength(2);
  });

  it("close() closes the transport and rejects what is pending", async () => {
    const { t, client } = setup();
    const status = client.status();
    client.close();
    expect(t.closed).toBe(true);
    await expect(status).rejects.toBeInstanceOf(ClosedError);
  });

  it("cancel sends cancel_chat with the chat id, or {} for all", async () => {
    const { t, client } = setup();
    const chat = client.chat({ model: "m", messages: MESSAGES });
    const cancelled = chat.cancel();
    expect(t.sent[1]).toEqual({ jsonrpc: "2.0", id: 2, method: "cancel_chat", params: { chat_id: 1 } });
    t.reply(1, { done_reason: "cancelled", messages: [{ role: "assistant", content: "" }], usage: USAGE });
    t.reply(2, { cancelled: [1] });
    await expect(cancelled).resolves.toEqual([1]);
    expect((await chat.result).done_reason).toBe("cancelled");

    const all = client.cancel();
    expect(t.sent[2]).toEqual({ jsonrpc: "2.0", id: 3, method: "cancel_chat", params: {} });
    t.reply(3, { cancelled: [] });
    await expect(all).resolves.toEqual([]);
  });

  it("sends exact params for approve and toolResult", async () => {
    const { t, client } = setup();
    const calls = [
      client.approve(4, "call_1", true),
      client.approve(4, "call_2", false, "not now"),
      client.toolResult(5, "call_3", "print('hi')"),
      client.toolResult(5, "call_4", "boom", true),
    ];
    expect(t.sent.map((m) => [m.method, m.params])).toEqual([
      ["approve_tool", { chat_id: 4, call_id: "call_1", approved: true }],
      ["approve_tool", { chat_id: 4, call_id: "call_2", approved: false, reason: "not now" }],
      ["tool_result", { chat_id: 5, call_id: "call_3", content: "print('hi')" }],
      ["tool_result", { chat_id: 5, call_id: "call_4", content: "boom", is_error: true }],
    ]);
    for (const m of t.sent) t.reply(m.id, {});
    expect(await Promise.all(calls)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it("sends the approval scope, unwraps list_tools and list_mcp_servers, and reports server status", async () => {
    const { t, client } = setup();
    const approvals = [client.approve(4, "call_1", true, undefined, "chat"), client.approve(4, "call_2", true, undefined, "always")];
    expect(t.sent.map((m) => m.params)).toEqual([
      { chat_id: 4, call_id: "call_1", approved: true, scope: "chat" },
      { chat_id: 4, call_id: "call_2", approved: true, scope: "always" },
    ]);
    for (const m of t.sent) t.reply(m.id, {});
    await Promise.all(approvals);
    const tool = { name: "fs__read_file", description: "d", input_schema: { type: "object" }, source: "mcp", server: "fs", needs_approval: true };
    const server = { name: "fs", transport: "stdio", status: "ready", tools: ["fs__read_file"], error: null };
    const tools = client.listTools();
    const servers = client.listMcpServers();
    expect(t.sent.slice(2).map((m) => [m.method, m.params])).toEqual([["list_tools", undefined], ["list_mcp_servers", undefined]]);
    t.reply(3, { tools: [tool] });
    t.reply(4, { servers: [server] });
    await expect(tools).resolves.toEqual([tool]);
    await expect(servers).resolves.toEqual([server]);
    const seen: unknown[] = [];
    client.onMcpServerStatus((status) => seen.push(status));
    t.note("mcp:server_status", { server: "fs", status: "failed", tools: [], error: "exited" });
    expect(seen).toEqual([{ server: "fs", status: "failed", tools: [], error: "exited" }]);
  });

  it("keeps an MCP tool's server, tool, annotations and mcp_content in chat events", async () => {
    const { t, client } = setup();
    const events: ChatEvent[] = [];
    const chat = client.chat({ messages: MESSAGES }, (e) => events.push(e));
    const mcp = { chat_id: chat.id, call_id: "c1", name: "fs__read_file", server: "fs", tool: "read_file" };
    t.note("chat:tool_call", { ...mcp, arguments: { path: "a" } });
    t.note("chat:approval_request", { ...mcp, arguments: { path: "a" }, annotations: { readOnlyHint: true } });
    t.note("chat:tool_result", { ...mcp, content: "A", is_error: false, mcp_content: [{ type: "text", text: "A" }] });
    t.reply(chat.id, { done_reason: "stop", messages: [], usage: USAGE });
    await chat.result;
    expect(events).toEqual([
      { type: "tool_call", call_id: "c1", name: "fs__read_file", arguments: { path: "a" }, server: "fs", tool: "read_file" },
      {
        type: "approval_request", call_id: "c1", name: "fs__read_file", arguments: { path: "a" },
        server: "fs", tool: "read_file", annotations: { readOnlyHint: true },
      },
      {
        type: "tool_result", call_id: "c1", name: "fs__read_file", content: "A", is_error: false,
        server: "fs", tool: "read_file", mcp_content: [{ type: "text", text: "A" }],
      },
    ]);
  });

  it("unwraps list_models and returns status", async () => {
    const { t, client } = setup();
    const model = { name: "text:latest", size: 1, modified_at: "", family: "f", parameter_size: "1B", quantization: "Q4" };
    const models = client.listModels();
    const status = client.status();
    expect(t.sent.map((m) => m.method)).toEqual(["list_models", "status"]);
    const statusResult = {
      version: "0.1.0", protocol: 1, ollama_url: "http://x", chats: [],
      ollama: { reachable: true, version: "0.12.0", error: null },
    };
    t.reply(2, statusResult);
    t.reply(1, { models: [model] });
    await expect(models).resolves.toEqual([model]);
    await expect(status).resolves.toEqual(statusResult);
  });

  it("ignores unknown notifications but passes every notification to onNotification", async () => {
    const { t, client } = setup();
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const seen: Array<[string, unknown]> = [];
    client.onNotification((method, params) => seen.push([method, params]));
    const events: ChatEvent[] = [];
    const chat = client.chat({ model: "m", messages: MESSAGES }, (e) => events.push(e));
    t.note("chat:future_thing", { chat_id: 1, content: "?" });
    t.note("sidecar:something", { chat_id: 1 });
    t.note("constructor", { chat_id: 1 });
    t.note("chat:token", { chat_id: 99, content: "other chat" });
    t.note("chat:token", { chat_id: null, content: "notification chat" });
    t.note("chat:token", { chat_id: "1", content: "string id" });
    t.note("chat:token", { chat_id: 1, content: "mine" });
    t.line({ jsonrpc: "2.0", id: 77, result: {} }); // a response to nobody
    t.reply(1, { done_reason: "stop", messages: [], usage: USAGE });
    await chat.result;
    expect(events).toEqual([{ type: "token", content: "mine" }]);
    expect(seen.map(([m]) => m)).toEqual([
      "chat:future_thing", "sidecar:something", "constructor",
      "chat:token", "chat:token", "chat:token", "chat:token",
    ]);
  });

  it("ignores lines that are not JSON objects, with a console.warn", async () => {
    const { t, client } = setup();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const status = client.status();
    t.line("{not json");
    t.line("[1,2]");
    t.line("null");
    t.line('"text"');
    t.reply(1, { ok: true });
    await expect(status).resolves.toEqual({ ok: true });
    expect(warn.mock.calls.length).toBeGreaterThanOrEqual(4);
    expect(String(warn.mock.calls[0][0])).toMatch(/not JSON/);
  });

  it("a throwing onEvent does not stop routing", async () => {
    const { t, client } = setup();
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const chat = client.chat({ model: "m", messages: MESSAGES }, () => {
      throw new Error("window bug");
    });
    t.note("chat:token", { chat_id: 1, content: "a" });
    t.note("chat:token", { chat_id: 1, content: "b" });
    t.reply(1, { done_reason: "stop", messages: [], usage: USAGE });
    expect((await collect(chat.events)).length).toBe(2);
    expect(error).toHaveBeenCalledTimes(2);
  });
});

describe("splitLines", () => {
  it("joins lines split across chunks and splits several lines in one chunk", () => {
    const split = splitLines();
    expect(split('{"a":')).toEqual([]);
    expect(split('1}\n{"b"')).toEqual(['{"a":1}']);
    expect(split(':2}\n{"c":3}\n{"d"')).toEqual(['{"b":2}', '{"c":3}']);
    expect(split(":4}\n")).toEqual(['{"d":4}']);
    expect(split("")).toEqual([]);
  });

  it("splits on \\n only: CRLF loses its \\r, a lone \\r, U+2028, U+2029 and U+0085 stay", () => {
    const split = splitLines();
    expect(split("a\r\nb\r")).toEqual(["a"]);
    expect(split("\nc\rd\n")).toEqual(["b", "c\rd"]);
    expect(split("x\u2028y\u2029z\u0085w\n")).toEqual(["x\u2028y\u2029z\u0085w"]);
    expect(split("\n\n")).toEqual([]); // blank lines carry nothing
  });

  it("keeps multibyte text whole, even split inside a surrogate pair", () => {
    const split = splitLines();
    const text = '{"content":"héllo 日本 🙂 done"}';
    const cut = text.indexOf("🙂") + 1; // between the two UTF-16 halves of the emoji
    expect(split(text.slice(0, 14))).toEqual([]);
    expect(split(text.slice(14, cut))).toEqual([]);
    expect(split(text.slice(cut) + "\n")).toEqual([text]);
    expect(JSON.parse(text).content).toBe("héllo 日本 🙂 done");
  });

  it("is linear for a long line read in many pieces: each piece is scanned once", () => {
    // The work, not only the result: every scan a splitter could make (indexOf, includes, a
    // regex, split...) is counted, in characters, on the strings as long as a piece or longer.
    // Rescanning the held part on every read (quadratic) scans ~64x the input here.
    const piece = "x".repeat(64 * 1024);
    const pieces = 128;
    let scanned = 0;
    const scans = ["indexOf", "lastIndexOf", "includes", "search", "match", "matchAll", "split", "replace", "replaceAll"] as const;
    const spies = scans.map((name) => {
      const original = String.prototype[name] as (...args: unknown[]) => unknown;
      return vi.spyOn(String.prototype, name).mockImplementation(function (this: string, ...args: unknown[]) {
        const text = String(this);
        if (text.length >= piece.length) {
          const from = name === "indexOf" && typeof args[1] === "number" ? args[1] : 0;
          scanned += text.length - from;
        }
        return original.apply(this, args);
      } as never);
    });
    try {
      const split = splitLines();
      for (let i = 0; i < pieces; i++) expect(split(piece)).toEqual([]);
      const [line] = split("\n");
      expect(line.length).toBe(pieces * piece.length);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(scanned).toBeGreaterThanOrEqual(pieces * piece.length); // the spies saw the scans
    expect(scanned).toBeLessThanOrEqual(2 * pieces * piece.length);
  });
});

describe("transports", () => {
  it("electronTransport relays through the bridge and keeps early lines for the client", async () => {
    let lineCb: (line: string) => void = () => {};
    let closeCb: (reason: string) => void = () => {};
    const sent: string[] = [];
    let closed = false;
    const bridge: SidecarBridge = {
      send: (line) => sent.push(line),
      onLine: (cb) => (lineCb = cb),
      onClose: (cb) => (closeCb = cb),
      close: () => (closed = true),
    };
    const transport = electronTransport(bridge);
    lineCb('{"jsonrpc":"2.0","method":"sidecar:ready","params":{"protocol":1}}'); // before the client
    const client = new SidecarClient(transport);
    await expect(client.ready).resolves.toEqual({ protocol: 1 });
    const status = client.status();
    expect(sent).toEqual(['{"jsonrpc":"2.0","id":1,"method":"status"}']);
    closeCb("exit 0");
    await expect(status).rejects.toBeInstanceOf(ClosedError);
    client.close();
    expect(closed).toBe(true);
  });

  it("tauriTransport writes lines with \\n and strips line endings from stdout events", async () => {
    type Handler = (value: any) => void;
    const handlers: Record<string, Handler> = {};
    const written: string[] = [];
    let killed = false;
    const shell = {
      Command: {
        sidecar(program: string, args: string[]) {
          expect([program, args]).toEqual(["binaries/ollama-sidecar", ["--model", "m"]]);
          return {
            stdout: { on: (_: string, h: Handler) => (handlers.stdout = h) },
            stderr: { on: (_: string, h: Handler) => (handlers.stderr = h) },
            on: (event: string, h: Handler) => (handlers[event] = h),
            spawn: async () => {
              handlers.stdout('{"jsonrpc":"2.0","method":"sidecar:ready","params":{"pid":1}}\r\n');
              return { write: async (s: string) => void written.push(s), kill: async () => void (killed = true) };
            },
          };
        },
      },
    };
    const client = new SidecarClient(await tauriTransport(undefined, ["--model", "m"], shell));
    await expect(client.ready).resolves.toEqual({ pid: 1 });
    const status = client.status();
    expect(written).toEqual(['{"jsonrpc":"2.0","id":1,"method":"status"}\n']);
    handlers.stdout('{"jsonrpc":"2.0","id":1,"result":{"version":"x"}}\n');
    await expect(status).resolves.toEqual({ version: "x" });
    const pending = client.status();
    handlers.close({ code: 0, signal: null });
    await expect(pending).rejects.toThrow(/code 0/);
    client.close();
    expect(killed).toBe(true);
  });

  it("tauriTransport asks a running sidecar to shut down before it kills it", async () => {
    vi.useFakeTimers();
    try {
      const written: string[] = [];
      let killed = false;
      const shell = {
        Command: {
          sidecar: () => ({
            stdout: { on: () => {} },
            stderr: { on: () => {} },
            on: () => {},
            spawn: async () => ({
              write: async (s: string) => void written.push(s),
              kill: async () => void (killed = true),
            }),
          }),
        },
      };
      const transport = await tauriTransport(undefined, [], shell);
      transport.close();
      expect(written).toEqual(['{"jsonrpc":"2.0","method":"shutdown"}\n']);
      expect(killed).toBe(false);
      await vi.advanceTimersByTimeAsync(SHUTDOWN_GRACE_MS);
      expect(killed).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it("websocketTransport sends one message per line, queued until open", async () => {
    // `ws` ships no types (and @types/ws is not installed); its client mirrors the browser API.
    const { WebSocketServer, WebSocket: NodeWebSocket } = (await import("ws" as string)) as any;
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await once(server, "listening");
    const received: string[] = [];
    server.on("connection", (socket: any) => {
      socket.send('{"jsonrpc":"2.0","method":"sidecar:ready","params":{"pid":2}}');
      socket.on("message", (data: unknown) => {
        const text = String(data);
        received.push(text);
        socket.send(JSON.stringify({ jsonrpc: "2.0", id: JSON.parse(text).id, result: { echo: true } }));
      });
    });
    const { port } = server.address() as { port: number };
    const impl = NodeWebSocket as unknown as typeof WebSocket;
    const client = new SidecarClient(websocketTransport(`ws://127.0.0.1:${port}/ws`, impl));
    await expect(client.status()).resolves.toEqual({ echo: true }); // sent before the socket opened
    await expect(client.ready).resolves.toEqual({ pid: 2 });
    expect(received).toEqual(['{"jsonrpc":"2.0","id":1,"method":"status"}']);
    const pending = client.status();
    for (const socket of server.clients) socket.terminate();
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
    server.close();
  });
});

// --- The real sidecar against the scripted Ollama, over pipes --------------------------------

describe("against the real sidecar", () => {
  const children: ChildProcess[] = [];
  let client: SidecarClient;

  beforeAll(async () => {
    const url = await startScriptedOllama(children);

    // --no-store: these tests are about the wire, and must not write the user's data folder.
    const sidecar = spawn(PYTHON, ["-m", "sidecar", "--ollama-url", url, "--no-store", "--parent-pid", String(process.pid)], {
      cwd: REPO, stdio: ["pipe", "pipe", "inherit"],
    });
    children.push(sidecar);
    client = new SidecarClient(childTransport(sidecar));
  }, 30_000);

  afterAll(async () => {
    client?.close();
    await stopChildren(children);
  });

  it("is ready with protocol 1", async () => {
    const ready = await client.ready;
    expect(ready.name).toBe("ollama-sidecar");
    expect(ready.protocol).toBe(1);
  }, 15_000);

  it("streams tokens whose concatenation is the result's content", async () => {
    const seen: string[] = [];
    const chat = client.chat({ model: "text", messages: MESSAGES }, (e) => {
      if (e.type === "token") seen.push(e.content);
    });
    const events = await collect(chat.events);
    const result = await chat.result;
    const content = result.messages.at(-1)!.content;
    expect(content).toBe("The sky looks blue because air scatters blue & violet light more.");
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.join("")).toBe(content);
    expect(events.map((e) => (e.type === "token" ? e.content : "")).join("")).toBe(content);
    expect(result.done_reason).toBe("stop");
  }, 15_000);

  it("cancels a hanging chat: the result says cancelled and keeps the partial text", async () => {
    let firstToken!: () => void;
    const started = new Promise<void>((resolve) => (firstToken = resolve));
    const tokens: string[] = [];
    const chat = client.chat({ model: "hang", messages: MESSAGES }, (e) => {
      if (e.type === "token") {
        tokens.push(e.content);
        firstToken();
      }
    });
    await started;
    const cancelled = await chat.cancel();
    expect(cancelled).toEqual([chat.id]);
    const result = await chat.result;
    expect(result.done_reason).toBe("cancelled");
    expect(result.messages.at(-1)!.content).toBe(tokens.join(""));
  }, 15_000);
});
