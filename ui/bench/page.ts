// The ui benchmark's page (built by bench/render.mjs): the whole window (mountChat) over an
// in-page transport that plays a scripted sidecar. `window.__bench.run(kind, tokens, rate)`
// sends a message, streams `tokens` chat:token lines at `rate` per second as separate tasks (as a
// WebSocket delivers them), and reports the long tasks and each frame's script time (the batcher's
// flush: markdown, sanitizing, DOM writes), plus the final render when the reply ends.
import "../src/style.css";
import { mountChat } from "../src/app/controller";
import type { Transport } from "../src/transport";

type Kind = "paragraph" | "code";

const WORDS = ["light", "scatters", "more", "at", "short", "wavelengths,", "so", "the", "sky", "looks", "blue", "and", "sunsets", "red."];

function token(kind: Kind, i: number): string {
  if (kind === "paragraph") return `${WORDS[i % WORDS.length]} `;
  if (i === 0) return "```python\n";
  // about 4 characters per token, a line every 5 tokens
  const pieces = [`x_${i % 97}`, " = ", `${i % 1000}`, " * 2", "\n"];
  return pieces[i % 5];
}

let emit: (line: string) => void = () => {};
let chatId: number | string | null = null;
const transport: Transport = {
  send(line) {
    const msg = JSON.parse(line) as { id?: number | string; method: string };
    if (msg.method === "list_models") {
      queueMicrotask(() => emit(JSON.stringify({ jsonrpc: "2.0", id: msg.id, result: { models: [{ name: "bench:latest", size: 1, modified_at: "", family: "", parameter_size: "", quantization: "" }] } })));
    } else if (msg.method === "chat") {
      chatId = msg.id ?? null;
      pendingChat?.();
    } else if (msg.id !== undefined) {
      // A sidecar that keeps no conversations (list_threads & co.): the window's plain mode.
      const error = { code: -32601, message: `Method not found: ${msg.method}`, data: { kind: "method_not_found" } };
      queueMicrotask(() => emit(JSON.stringify({ jsonrpc: "2.0", id: msg.id, error })));
    }
  },
  onLine(listener) {
    emit = listener;
    queueMicrotask(() => emit(JSON.stringify({ jsonrpc: "2.0", method: "sidecar:ready", params: { name: "ollama-sidecar", version: "bench", protocol: 1, ollama_url: "http://bench", pid: 1, provider: "ollama" } })));
  },
  onClose() {},
  close() {},
};
let pendingChat: (() => void) | null = null;

const app = mountChat(document.getElementById("app")!, { connect: () => transport, storage: null });

interface Result {
  tokens: number;
  seconds: number;
  /** Long tasks while the reply streams (ms). */
  longTasks: number[];
  /** Long tasks from the result on (the final render of the whole block). */
  finalTasks: number[];
  frames: number[];
  layouts: number[];
  finishMs: number;
}

async function run(kind: Kind, tokens: number, rate: number): Promise<Result> {
  app.newChat();
  const tasks: Array<{ start: number; duration: number }> = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) tasks.push({ start: entry.startTime, duration: entry.duration });
  });
  observer.observe({ type: "longtask" });
  const frames: number[] = [];
  const layouts: number[] = [];
  const batcher = app.batcher as unknown as { flushAll: () => void };
  const original = batcher.flushAll.bind(batcher);
  batcher.flushAll = () => {
    const t0 = performance.now();
    original();
    const t1 = performance.now();
    frames.push(t1 - t0);
    // The layout this frame needs anyway, taken here to be timed (the measurement's only forced one).
    void document.documentElement.offsetHeight;
    layouts.push(performance.now() - t1);
  };
  const started = new Promise<void>((resolve) => (pendingChat = resolve));
  app.frame.input.value = "go";
  app.send();
  await started;
  const t0 = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(tokens, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
      for (; sent < due; sent++) {
        // one task per line, as a WebSocket message event would be
        const line = JSON.stringify({ jsonrpc: "2.0", method: "chat:token", params: { chat_id: chatId, content: token(kind, sent) } });
        setTimeout(() => emit(line), 0);
      }
      if (sent >= tokens) setTimeout(resolve, 50);
      else setTimeout(tick, 4);
    };
    tick();
  });
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const f0 = performance.now();
  const text = Array.from({ length: tokens }, (_, i) => token(kind, i)).join("");
  emit(JSON.stringify({ jsonrpc: "2.0", id: chatId, result: { done_reason: "stop", messages: [{ role: "assistant", content: text }], usage: { prompt_tokens: 1, completion_tokens: tokens, duration_ms: seconds * 1000, tokens_per_second: rate, first_token_ms: 1 } } }));
  await new Promise((r) => setTimeout(r, 0)); // the result's promise callbacks have run
  const finishMs = performance.now() - f0;
  await new Promise((r) => setTimeout(r, 200));
  observer.disconnect();
  batcher.flushAll = original;
  // The result is handled inside the task that started before f0: a task that ends after f0 is the
  // final render's, not a frame of the stream.
  const final = (t: { start: number; duration: number }) => t.start + t.duration >= f0;
  const longTasks = tasks.filter((t) => !final(t)).map((t) => t.duration);
  const finalTasks = tasks.filter(final).map((t) => t.duration);
  return { tokens, seconds, longTasks, finalTasks, frames, layouts, finishMs };
}

(window as unknown as { __bench: unknown }).__bench = { run, ready: app.frame.modelSelect };
