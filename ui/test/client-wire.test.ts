// The client's edges against a scripted transport, each as a host would notice it: the exact
// lines it sends, what its promises and events carry, and that no odd line from the sidecar
// throws. Written from the surviving mutants of `scripts/mutate --ui` (docs/testing.md).

import { afterEach, describe, expect, it, vi } from "vitest";

import { ClosedError, RpcError, SidecarClient, type ChatEvent } from "../src/client";
import { FakeTransport, collect } from "./support";

afterEach(() => {
  vi.restoreAllMocks();
});

function setup(firstId?: number): { t: FakeTransport; client: SidecarClient } {
  const t = new FakeTransport();
  return { t, client: new SidecarClient(t, firstId === undefined ? {} : { firstId }) };
}

describe("errors as a host sees them", () => {
  it("names its errors, and takes the kind from the code when the sidecar sends no data", async () => {
    const { t, client } = setup();
    const a = client.status();
    const b = client.status();
    const c = client.status();
    t.fail(1, { code: -32004, message: "a chat is running" });
    t.fail(2, { code: -31999, message: "odd" });
    t.fail(3, { code: -32000, message: "down", data: { kind: "ollama_unreachable", hint: "start it" } });
    const ea = await a.catch((e) => e);
    expect(ea).toBeInstanceOf(RpcError);
    expect(String(ea)).toBe("RpcError: a chat is running");
    expect([ea.kind, ea.data]).toEqual(["busy", { kind: "busy" }]);
    const eb = await b.catch((e) => e);
    expect([eb.kind, eb.hint]).toEqual(["unknown", undefined]);
    const ec = await c.catch((e) => e);
    expect([ec.kind, ec.hint]).toEqual(["ollama_unreachable", "start it"]);
    const closed = client.status();
    t.hangUp("exit 1");
    expect(String(await closed.catch((e) => e))).toBe("ClosedError: sidecar connection closed: exit 1");
  });

  it("a send that throws rejects that request with the transport's error", async () => {
    const { t, client } = setup();
    t.send = () => {
      throw new Error("pipe closed");
    };
    await expect(client.status()).rejects.toThrow("pipe closed");
  });
});

describe("closing", () => {
  it("close() closes the transport once, with its default reason", async () => {
    const { t, client } = setup();
    let closes = 0;
    t.close = () => void closes++;
    const pending = client.status();
    client.close();
    client.close();
    expect(closes).toBe(1);
    await expect(pending).rejects.toThrow("sidecar connection closed: closed by the client");
  });

  it("after the sidecar went away, later requests give the first reason, even after close()", async () => {
    const { t, client } = setup();
    t.hangUp("sidecar exited (code 1)");
    client.close();
    await expect(client.status()).rejects.toThrow("sidecar connection closed: sidecar exited (code 1)");
  });
});

describe("the lines it sends", () => {
  it("sends the documented params, ids counting up past a pull", async () => {
    const { t, client } = setup();
    client.pullModel("m", { insecure: true });
    void client.status();
    void client.threads.export("t1");
    expect(t.sent).toEqual([
      { jsonrpc: "2.0", id: 1, method: "pull_model", params: { model: "m", insecure: true } },
      { jsonrpc: "2.0", id: 2, method: "status" },
      { jsonrpc: "2.0", id: 3, method: "export_thread", params: { thread_id: "t1", format: "json" } },
    ]);
  });
});

describe("chat events", () => {
  it("carry exactly the fields on the wire: logprobs when sent, server and tool for MCP tools only, annotations on approval requests only", () => {
    const { t, client } = setup();
    const events: ChatEvent[] = [];
    client.chat({ model: "m", messages: [] }, (e) => events.push(e));
    const lp = [{ token: "a", logprob: -0.1 }];
    t.note("chat:token", { chat_id: 1, content: "a", logprobs: lp });
    t.note("chat:tool_call", { chat_id: 1, call_id: "c1", name: "read_file", arguments: { path: "x" }, annotations: { readOnlyHint: true } });
    t.note("chat:tool_result", { chat_id: 1, call_id: "c1", name: "read_file", content: "x", is_error: false });
    t.note("chat:approval_request", { chat_id: 1, call_id: "c2", name: "exec_shell", arguments: { command: "ls" } });
    expect(events).toStrictEqual([
      { type: "token", content: "a", logprobs: lp },
      { type: "tool_call", call_id: "c1", name: "read_file", arguments: { path: "x" } },
      { type: "tool_result", call_id: "c1", name: "read_file", content: "x", is_error: false },
      { type: "approval_request", call_id: "c2", name: "exec_shell", arguments: { command: "ls" } },
    ]);
  });

  it("a chat without onEvent routes its events without an error", async () => {
    const { t, client } = setup();
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const chat = client.chat({ model: "m", messages: [] });
    t.note("chat:token", { chat_id: 1, content: "a" });
    t.reply(1, { message: { role: "assistant", content: "a" } });
    expect(await collect(chat.events)).toEqual([{ type: "token", content: "a" }]);
    expect(error).not.toHaveBeenCalled();
  });

  it("a throwing onEvent is reported on the console by name", () => {
    const { t, client } = setup();
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    client.chat({ model: "m", messages: [] }, () => {
      throw new Error("boom");
    });
    t.note("chat:token", { chat_id: 1, content: "a" });
    expect(error).toHaveBeenCalledWith("sidecar client: onEvent threw", expect.any(Error));
  });
});

describe("attach and resume", () => {
  it("attach moves later ids past a numeric chat id it follows, and only forward", () => {
    const a = setup();
    a.client.attach(1);
    a.client.attach("7"); // a string id never moves the counter
    void a.client.status();
    expect(a.t.sent[0].id).toBe(2);

    const b = setup(10);
    b.client.attach(2);
    b.client.attach("7");
    void b.client.status();
    expect(b.t.sent[0].id).toBe(10);
  });

  it("an attached chat has events and a cancel like a sent one", async () => {
    const { t, client } = setup(50);
    const chat = client.attach(7);
    t.note("chat:token", { chat_id: 7, content: "x" });
    const cancelled = chat.cancel();
    expect(t.sent).toEqual([{ jsonrpc: "2.0", id: 50, method: "cancel_chat", params: { chat_id: 7 } }]);
    t.reply(50, { cancelled: [7] });
    await expect(cancelled).resolves.toEqual([7]);
    t.reply(7, { done_reason: "cancelled" });
    expect(await collect(chat.events)).toEqual([{ type: "token", content: "x" }]);
  });

  it("attach after the sidecar went away rejects at once", async () => {
    const { t, client } = setup();
    t.hangUp("exit 0");
    const chat = client.attach(3);
    await expect(chat.result).rejects.toThrow("sidecar connection closed: exit 0");
    expect(await collect(chat.events)).toEqual([]);
  });

  it("resume follows the reply in flight from the answer's line on", async () => {
    const { t, client } = setup();
    const events: ChatEvent[] = [];
    const resumed = client.resume("t1", (e) => events.push(e), "m9");
    expect(t.sent).toEqual([{ jsonrpc: "2.0", id: 1, method: "get_thread", params: { thread_id: "t1", leaf: "m9" } }]);
    const thread = { thread: { id: "t1" }, messages: [], streaming: { chat_id: 40, content: "Hel" } };
    t.reply(1, thread);
    t.note("chat:token", { chat_id: 40, content: "lo" }); // before the caller's await resumes
    const { thread: got, chat } = await resumed;
    expect(got).toEqual(thread);
    expect(chat!.id).toBe(40);
    expect(events).toEqual([{ type: "token", content: "lo" }]);
    t.reply(40, { done_reason: "stop" });
    await expect(chat!.result).resolves.toEqual({ done_reason: "stop" });
  });

  it("resume without a reply in flight gives no chat", async () => {
    const { t, client } = setup();
    const a = client.resume("t1", () => {});
    const b = client.resume("t2", () => {});
    expect(t.sent.map((m) => m.params)).toEqual([{ thread_id: "t1" }, { thread_id: "t2" }]);
    t.reply(1, { thread: { id: "t1" }, messages: [], streaming: null });
    t.reply(2, { thread: { id: "t2" }, messages: [], streaming: { chat_id: null, content: "" } });
    expect((await a).chat).toBeNull();
    expect((await b).chat).toBeNull();
  });

  it("an answer the hook cannot read is logged, and the answer still arrives", async () => {
    const { t, client } = setup();
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const resumed = client.resume("t1", () => {});
    t.reply(1, null);
    await expect(resumed).resolves.toEqual({ thread: null, chat: null });
    expect(error).toHaveBeenCalledWith("sidecar client: an answer hook threw", expect.any(TypeError));
  });
});

describe("notification listeners", () => {
  it("an unsubscribed listener hears nothing more, and unsubscribing twice removes no other", () => {
    const { t, client } = setup();
    const a: string[] = [];
    const b: string[] = [];
    const offA = client.onNotification((m) => a.push(m));
    client.onNotification((m) => b.push(m));
    t.note("x:one", {});
    offA();
    offA();
    t.note("x:two", {});
    expect(a).toEqual(["x:one"]);
    expect(b).toEqual(["x:one", "x:two"]);
  });

  it("a throwing listener is logged and the others still hear", () => {
    const { t, client } = setup();
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const heard: string[] = [];
    client.onNotification(() => {
      throw new Error("boom");
    });
    client.onNotification((m) => heard.push(m));
    t.note("x:one", {});
    expect(heard).toEqual(["x:one"]);
    expect(error).toHaveBeenCalledWith("sidecar client: onNotification listener threw", expect.any(Error));
  });

  it("onMcpServerStatus hears mcp:server_status only", () => {
    const { t, client } = setup();
    const heard: unknown[] = [];
    client.onMcpServerStatus((s) => heard.push(s));
    t.note("chat:token", { chat_id: 9, content: "a" });
    t.note("mcp:server_status", { server: "fs", status: "ready" });
    expect(heard).toEqual([{ server: "fs", status: "ready" }]);
  });
});

describe("odd lines from the sidecar", () => {
  it("never throw: notifications without params, a request, a response to null", () => {
    const { t, client } = setup();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const events: ChatEvent[] = [];
    client.chat({ model: "m", messages: [] }, (e) => events.push(e));
    client.pullModel("m");
    expect(() => {
      t.line({ jsonrpc: "2.0", method: "sidecar:ready" });
      t.line({ jsonrpc: "2.0", method: "model:pull_progress" });
      t.line({ jsonrpc: "2.0", method: "chat:token" });
      t.line({ jsonrpc: "2.0", id: 1, method: "chat:token", params: { chat_id: 1, content: "no" } });
    }).not.toThrow();
    expect(events).toEqual([]);
    expect(warn).not.toHaveBeenCalled();
  });

  it("warns with what was wrong and at most 200 characters of the line", () => {
    const { t } = setup();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const long = "x".repeat(300);
    t.line(long);
    t.line(`"${long}"`);
    t.line(JSON.stringify({ jsonrpc: "2.0", id: 99, result: long }));
    expect(warn.mock.calls.map(([text]) => text)).toEqual([
      "sidecar client: ignoring a line that is not JSON:",
      "sidecar client: ignoring a line that is not a JSON object:",
      "sidecar client: ignoring a response to no pending request:",
    ]);
    for (const [, line] of warn.mock.calls) expect((line as string).length).toBe(200);
  });
});

describe("pulls", () => {
  it("a pull answered with an error ends its progress", async () => {
    const { t, client } = setup();
    const pull = client.pullModel("m");
    t.note("model:pull_progress", { request_id: 1, model: "m", status: "pulling", total: 2, completed: 1 });
    t.fail(1, { code: -32001, message: "no such model", data: { kind: "model_not_found" } });
    await expect(pull.result).rejects.toBeInstanceOf(RpcError);
    expect((await collect(pull.progress)).length).toBe(1);
  });

  it("ClosedError is what a pull sent after the close gives", async () => {
    const { t, client } = setup();
    t.hangUp("gone");
    const pull = client.pullModel("m");
    await expect(pull.result).rejects.toBeInstanceOf(ClosedError);
    expect(await collect(pull.progress)).toEqual([]);
  });
});
