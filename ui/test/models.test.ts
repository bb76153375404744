// The model lifecycle in the typed client (src/client.ts): pullModel() with progress events,
// cancelRequest(), showModel(), runningModels(), deleteModel(), loadModel(), unloadModel(),
// against a fake Transport, then against the real sidecar and the scripted Ollama over pipes.

import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { RpcError, SidecarClient, type PullProgress } from "../src/client";
import { FakeTransport, PYTHON, REPO, childTransport, collect, startScriptedOllama, stopChildren } from "./support";

const progress = (request_id: number, completed: number, status = "pulling abc"): PullProgress => ({
  request_id, model: "m", status, total: 100, completed,
});

describe("the model lifecycle over a fake transport", () => {
  it("routes a pull's progress by request_id, to onProgress and to progress, and ends it with the result", async () => {
    const t = new FakeTransport();
    const client = new SidecarClient(t);
    const seen: number[] = [];
    const pull = client.pullModel("m", { onProgress: (p) => seen.push(p.completed) });
    expect(t.sent[0]).toEqual({ jsonrpc: "2.0", id: pull.id, method: "pull_model", params: { model: "m" } });
    t.line({ jsonrpc: "2.0", method: "model:pull_progress", params: progress(Number(pull.id), 10) });
    t.line({ jsonrpc: "2.0", method: "model:pull_progress", params: progress(999, 50) }); // another pull
    t.line({ jsonrpc: "2.0", method: "model:pull_progress", params: progress(Number(pull.id), 100, "success") });
    t.line({ jsonrpc: "2.0", id: pull.id, result: { model: "m", status: "success" } });
    expect(await pull.result).toEqual({ model: "m", status: "success" });
    expect(seen).toEqual([10, 100]);
    expect((await collect(pull.progress)).map((p) => p.status)).toEqual(["pulling abc", "success"]);
  });

  it("cancels a pull with cancel_request; the pull answers cancelled first", async () => {
    const t = new FakeTransport();
    const client = new SidecarClient(t);
    const pull = client.pullModel("m");
    const cancelled = pull.cancel();
    const cancel = t.sent[1];
    expect(cancel).toMatchObject({ method: "cancel_request", params: { id: pull.id } });
    t.line({ jsonrpc: "2.0", id: pull.id, result: { model: "m", status: "cancelled", total: 100, completed: 40 } });
    t.line({ jsonrpc: "2.0", id: cancel.id, result: { cancelled: [pull.id] } });
    expect(await cancelled).toEqual([pull.id]);
    expect(await pull.result).toEqual({ model: "m", status: "cancelled", total: 100, completed: 40 });
  });

  it("sends each lifecycle method with its params and unwraps its result", async () => {
    const t = new FakeTransport();
    const client = new SidecarClient(t);
    const shown = client.showModel("vision");
    const running = client.runningModels();
    const loaded = client.loadModel("text", "10m");
    const unloaded = client.unloadModel("text");
    const deleted = client.deleteModel("old");
    expect(t.sent.map((m) => [m.method, m.params])).toEqual([
      ["show_model", { model: "vision" }],
      ["running_models", undefined],
      ["load_model", { model: "text", keep_alive: "10m" }],
      ["unload_model", { model: "text" }],
      ["delete_model", { model: "old" }],
    ]);
    const show = { name: "vision", capabilities: ["completion", "vision"], context_length: 131072, family: "f", parameter_size: "1B", quantization: "Q4", modified_at: "t" };
    t.line({ jsonrpc: "2.0", id: t.sent[0].id, result: show });
    t.line({ jsonrpc: "2.0", id: t.sent[1].id, result: { models: [] } });
    t.line({ jsonrpc: "2.0", id: t.sent[2].id, result: { model: "text", load_ms: 5 } });
    t.line({ jsonrpc: "2.0", id: t.sent[3].id, result: {} });
    t.line({ jsonrpc: "2.0", id: t.sent[4].id, error: { code: -32001, message: "gone", data: { kind: "model_not_found" } } });
    expect(await shown).toEqual(show);
    expect(await running).toEqual([]);
    expect(await loaded).toEqual({ model: "text", load_ms: 5 });
    await expect(unloaded).resolves.toBeUndefined();
    await expect(deleted).rejects.toMatchObject({ kind: "model_not_found", code: -32001 });
  });
});

// --- The real sidecar against the scripted Ollama, over pipes --------------------------------

describe("the model lifecycle against the real sidecar", () => {
  const children: ChildProcess[] = [];
  let client: SidecarClient;

  beforeAll(async () => {
    const url = await startScriptedOllama(children, "--pace", "0.01");
    const sidecar = spawn(PYTHON, ["-m", "sidecar", "--ollama-url", url, "--no-store", "--parent-pid", String(process.pid)], {
      cwd: REPO, stdio: ["pipe", "pipe", "inherit"],
    });
    children.push(sidecar);
    client = new SidecarClient(childTransport(sidecar));
    await client.ready;
  }, 30_000);

  afterAll(async () => {
    client?.close();
    await stopChildren(children);
  });

  it("pulls with progress events, then the model is listed and can be shown, loaded and deleted", async () => {
    const pull = client.pullModel("new-model");
    const events = await collect(pull.progress);
    expect(await pull.result).toEqual({ model: "new-model", status: "success" });
    expect(events[0].status).toBe("pulling manifest");
    expect(events.at(-1)).toMatchObject({ status: "success", request_id: pull.id });
    expect(events.at(-1)!.completed).toBe(events.at(-1)!.total);
    expect((await client.listModels()).map((m) => m.name)).toContain("new-model:latest");
    expect((await client.showModel("new-model")).capabilities).toEqual(["completion", "tools"]);
    expect((await client.loadModel("new-model")).model).toBe("new-model");
    expect((await client.runningModels()).map((m) => m.name)).toEqual(["new-model:latest"]);
    await client.unloadModel("new-model");
    expect(await client.runningModels()).toEqual([]);
    await client.deleteModel("new-model");
    await expect(client.showModel("new-model")).rejects.toBeInstanceOf(RpcError);
  }, 20_000);

  it("cancelRequest stops a stalled pull, which answers cancelled with the bytes so far", async () => {
    let first!: () => void;
    const started = new Promise<void>((resolve) => (first = resolve));
    const pull = client.pullModel("pull-stalls", { onProgress: (p) => p.completed > 0 && first() });
    await started;
    expect(await client.cancelRequest(pull.id)).toEqual([pull.id]);
    const result = await pull.result;
    expect(result.status).toBe("cancelled");
    expect(result.completed).toBeGreaterThan(0);
    expect(await client.cancelRequest(pull.id)).toEqual([]);
  }, 20_000);

  it("a missing model is model_not_found", async () => {
    await expect(client.pullModel("does-not-exist").result).rejects.toMatchObject({ kind: "model_not_found" });
  }, 20_000);
});
