// `client.threads.*` and `client.attach()`: the requests they send (against a fake Transport),
// and a run against a real sidecar on a temporary data folder with the scripted Ollama.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { RpcError, SidecarClient, type ChatEvent } from "../src/client";
import { FakeTransport, PYTHON, REPO, childTransport, startScriptedOllama, stopChildren } from "./support";

const THREAD = {
  id: "thr_1", title: "", model: "m", system: null,
  created_at: "2026-12-07T12:00:00.000000Z", updated_at: "2026-12-07T12:00:00.000000Z",
};

describe("client.threads against a fake transport", () => {
  it("sends each method with its params and unwraps its result", async () => {
    const t = new FakeTransport();
    const client = new SidecarClient(t);
    const created = client.threads.create({ model: "m" });
    const listed = client.threads.list({ query: "sky", limit: 5 });
    const got = client.threads.get("thr_1", "msg_2");
    const renamed = client.threads.rename("thr_1", "New");
    const deleted = client.threads.delete("thr_1");
    const exported = client.threads.export("thr_1", "markdown");
    expect(t.sent.map((m) => [m.method, m.params])).toEqual([
      ["create_thread", { model: "m" }],
      ["list_threads", { query: "sky", limit: 5 }],
      ["get_thread", { thread_id: "thr_1", leaf: "msg_2" }],
      ["rename_thread", { thread_id: "thr_1", title: "New" }],
      ["delete_thread", { thread_id: "thr_1" }],
      ["export_thread", { thread_id: "thr_1", format: "markdown" }],
    ]);
    const results = [
      { thread: THREAD }, { threads: [] }, { thread: THREAD, messages: [], streaming: null }, {}, {}, { content: "# x\n" },
    ];
    t.sent.forEach((m, i) => t.line({ jsonrpc: "2.0", id: m.id, result: results[i] }));
    expect(await created).toEqual(THREAD);
    expect(await listed).toEqual([]);
    expect((await got).streaming).toBeNull();
    expect(await renamed).toBeUndefined();
    expect(await deleted).toBeUndefined();
    expect(await exported).toBe("# x\n");
  });

  it("rejects with the thread error kinds", async () => {
    const t = new FakeTransport();
    const client = new SidecarClient(t);
    const got = client.threads.get("nope");
    t.line({ jsonrpc: "2.0", id: t.sent[0].id, error: { code: -32007, message: "Thread not found", data: { kind: "thread_not_found" } } });
    await expect(got).rejects.toMatchObject({ code: -32007, kind: "thread_not_found" });
  });

  it("attach follows a chat an earlier page sent: its events, its result, and later ids skip it", async () => {
    const t = new FakeTransport();
    const client = new SidecarClient(t);
    const seen: ChatEvent[] = [];
    const chat = client.attach(7, (e) => seen.push(e));
    t.line({ jsonrpc: "2.0", method: "chat:token", params: { chat_id: 7, content: "more" } });
    t.line({ jsonrpc: "2.0", id: 7, result: { done_reason: "stop", messages: [], usage: {} } });
    expect(seen).toEqual([{ type: "token", content: "more" }]);
    expect((await chat.result).done_reason).toBe("stop");
    void client.status();
    expect(t.sent.at(-1).id).toBe(8);
  });

  it("starts its ids at firstId", () => {
    const t = new FakeTransport();
    const client = new SidecarClient(t, { firstId: 1000 });
    void client.status();
    expect(t.sent[0].id).toBe(1000);
  });
});

// --- A real sidecar on a temporary data folder ----------------------------------------------------

describe("client.threads against a real sidecar", () => {
  const children: ChildProcess[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), "sidecar-threads-"));
  let client: SidecarClient;

  beforeAll(async () => {
    const url = await startScriptedOllama(children);
    const sidecar = spawn(
      PYTHON,
      ["-m", "sidecar", "--ollama-url", url, "--data-dir", dataDir, "--parent-pid", String(process.pid)],
      { cwd: REPO, stdio: ["pipe", "pipe", "inherit"] },
    );
    children.push(sidecar);
    client = new SidecarClient(childTransport(sidecar));
    await client.ready;
  }, 30_000);

  afterAll(async () => {
    client?.close();
    await stopChildren(children);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("creates, chats in, finds, renames, exports and deletes a thread", async () => {
    const thread = await client.threads.create({ model: "echo" });
    const result = await client.chat({ thread_id: thread.id, messages: [{ role: "user", content: "hello sidecar world" }] }).result;
    expect(result.thread_id).toBe(thread.id);
    const got = await client.threads.get(thread.id);
    expect(got.messages.map((m) => [m.role, m.content, m.status])).toEqual([
      ["user", "hello sidecar world", "complete"],
      ["assistant", "hello sidecar world", "complete"],
    ]);
    expect(got.messages.map((m) => m.id)).toEqual(result.message_ids);
    expect((await client.threads.list({ query: "sidecar" })).map((t) => t.id)).toEqual([thread.id]);
    await client.threads.rename(thread.id, "Greeting");
    expect((await client.threads.list())[0].title).toBe("Greeting");
    expect(await client.threads.export(thread.id, "markdown")).toContain("# Greeting\n");
    await client.threads.delete(thread.id);
    const error = await client.threads.get(thread.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RpcError);
    expect((error as RpcError).kind).toBe("thread_not_found");
  }, 20_000);
});
