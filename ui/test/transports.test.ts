// The transports' edges, each as the client on top would notice it: what reaches the sidecar,
// which lines reach the client, and the reason a close gives (shown in the window's alert).
// Written from the surviving mutants of `scripts/mutate --ui` (docs/testing.md).

import { afterEach, describe, expect, it, vi } from "vitest";

import { LineChannel } from "../src/transports/channel";
import { electronTransport, splitLines, type SidecarBridge } from "../src/transports/electron";
import { tauriTransport } from "../src/transports/tauri";
import { websocketTransport } from "../src/transports/websocket";

afterEach(() => {
  vi.restoreAllMocks();
  delete (globalThis as any).window;
  delete (globalThis as any).__TAURI__;
});

/** Collects what a transport hands its client. */
function listen(t: { onLine(l: (line: string) => void): void; onClose(l: (reason: string) => void): void }) {
  const lines: string[] = [];
  const closes: string[] = [];
  t.onLine((line) => lines.push(line));
  t.onClose((reason) => closes.push(reason));
  return { lines, closes };
}

describe("LineChannel", () => {
  it("hands a late line listener nothing that never came, and every listener each later line", () => {
    const channel = new LineChannel();
    const a: string[] = [];
    const b: string[] = [];
    channel.onLine((line) => a.push(line));
    channel.onLine((line) => b.push(line));
    channel.emitLine("one");
    expect(a).toEqual(["one"]);
    expect(b).toEqual(["one"]);
  });

  it("tells each close listener once, the first reason, even a listener added after the close", () => {
    const channel = new LineChannel();
    const early: string[] = [];
    channel.onClose((reason) => early.push(reason));
    channel.emitClose("exit 1");
    channel.emitClose("closed by the client");
    const late: string[] = [];
    channel.onClose((reason) => late.push(reason));
    expect(early).toEqual(["exit 1"]);
    expect(late).toEqual(["exit 1"]);
  });
});

describe("electronTransport", () => {
  function bridge() {
    const state = { sent: [] as string[], closed: 0, line: (_: string) => {}, close: (_: string) => {} };
    const b: SidecarBridge = {
      send: (line) => void state.sent.push(line),
      onLine: (cb) => void (state.line = cb),
      onClose: (cb) => void (state.close = cb),
      close: () => void state.closed++,
    };
    return { b, state };
  }

  it("says what is missing when the preload bridge is not there", () => {
    (globalThis as any).window = {};
    expect(() => electronTransport()).toThrow("electronTransport: no preload bridge (window.sidecar is missing)");
  });

  it("uses window.sidecar by default", () => {
    const { b, state } = bridge();
    (globalThis as any).window = { sidecar: b };
    electronTransport().send("x");
    expect(state.sent).toEqual(["x"]);
  });

  it("sends nothing once the sidecar has gone, and a close by the client says so", () => {
    const { b, state } = bridge();
    const t = electronTransport(b);
    const { closes } = listen(t);
    state.close("exit 0");
    t.send("late");
    expect(state.sent).toEqual([]);
    expect(closes).toEqual(["exit 0"]);

    const other = bridge();
    const t2 = electronTransport(other.b);
    const heard = listen(t2);
    t2.close();
    expect(heard.closes).toEqual(["closed by the client"]);
    expect(other.state.closed).toBe(1);
  });

  it("splitLines drops exactly the \\r of a CRLF", () => {
    expect(splitLines()('{"a":1}\r\n{"b":2}\n')).toEqual(['{"a":1}', '{"b":2}']);
  });
});

describe("tauriTransport", () => {
  type Handler = (value: any) => void;

  function fakeShell(write: (s: string) => Promise<void> = async () => {}) {
    const handlers: Record<string, Handler> = {};
    const calls: unknown[][] = [];
    const written: string[] = [];
    const shell = {
      Command: {
        sidecar(...args: unknown[]) {
          calls.push(args);
          return {
            stdout: { on: (event: string, h: Handler) => void (handlers[`stdout:${event}`] = h) },
            stderr: { on: (event: string, h: Handler) => void (handlers[`stderr:${event}`] = h) },
            on: (event: string, h: Handler) => void (handlers[event] = h),
            spawn: async () => ({
              write: (s: string) => {
                written.push(s);
                return write(s);
              },
              kill: async () => {},
            }),
          };
        },
      },
    };
    return { shell, handlers, calls, written };
  }

  it("spawns binaries/ollama-sidecar with no arguments by default, through window.__TAURI__.shell", async () => {
    const fake = fakeShell();
    (globalThis as any).__TAURI__ = { shell: fake.shell };
    await tauriTransport();
    expect(fake.calls).toEqual([["binaries/ollama-sidecar", []]]);
  });

  it("without a shell plugin anywhere, fails naming the plugin it looked for", async () => {
    await expect(tauriTransport()).rejects.toThrow("@tauri-apps/plugin-shell");
  });

  it("hands the client stdout lines without their ending, decoded bytes too, and no blank line", async () => {
    const fake = fakeShell();
    const t = await tauriTransport("p", [], fake.shell);
    const { lines } = listen(t);
    fake.handlers["stdout:data"]('{"a":1}\n');
    fake.handlers["stdout:data"](new TextEncoder().encode('{"é":2}\r\n'));
    fake.handlers["stdout:data"]("\n");
    expect(lines).toEqual(['{"a":1}', '{"é":2}']);
  });

  it("passes the sidecar's stderr to console.debug", async () => {
    const debug = vi.spyOn(console, "debug").mockImplementation(() => {});
    const fake = fakeShell();
    await tauriTransport("p", [], fake.shell);
    fake.handlers["stderr:data"]("starting");
    expect(debug).toHaveBeenCalledWith("[sidecar]", "starting");
  });

  it("gives the close reason: exit code and signal, an error, a failed write, or the client", async () => {
    const a = fakeShell();
    const ta = await tauriTransport("p", [], a.shell);
    const ca = listen(ta);
    a.handlers.close({ code: 3, signal: 9 });
    expect(ca.closes).toEqual(["sidecar exited (code 3, signal 9)"]);

    const b = fakeShell();
    const cb = listen(await tauriTransport("p", [], b.shell));
    b.handlers.close(null);
    expect(cb.closes).toEqual(["sidecar exited (code ?, signal none)"]);

    const c = fakeShell();
    const cc = listen(await tauriTransport("p", [], c.shell));
    c.handlers.error("spawn failed");
    expect(cc.closes).toEqual(["sidecar error: spawn failed"]);

    const d = fakeShell(async () => {
      throw new Error("broken pipe");
    });
    const td = await tauriTransport("p", [], d.shell);
    const cd = listen(td);
    td.send("{}");
    await vi.waitFor(() => expect(cd.closes).toEqual(["writing to the sidecar failed: Error: broken pipe"]));

    const e = fakeShell();
    const te = await tauriTransport("p", [], e.shell);
    const ce = listen(te);
    vi.useFakeTimers();
    try {
      te.close();
    } finally {
      vi.useRealTimers();
    }
    expect(ce.closes).toEqual(["closed by the client"]);
  });

  it("writes nothing after the sidecar has gone", async () => {
    const fake = fakeShell();
    const t = await tauriTransport("p", [], fake.shell);
    fake.handlers.close({ code: 0, signal: null });
    t.send("{}");
    expect(fake.written).toEqual([]);
  });
});

describe("websocketTransport", () => {
  /** A WebSocket the test drives: readyState, sent messages, and the events. */
  class FakeSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    static last: FakeSocket;
    readyState = FakeSocket.CONNECTING;
    sent: string[] = [];
    closeCalls = 0;
    onopen: (() => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: { reason: string; code: number }) => void) | null = null;
    constructor(readonly url: string) {
      FakeSocket.last = this;
    }
    send(data: string): void {
      this.sent.push(data);
    }
    close(): void {
      this.closeCalls++;
    }
  }
  const impl = FakeSocket as unknown as typeof WebSocket;

  it("sends while open, drops a line once closed, and skips binary frames and empty lines", () => {
    const t = websocketTransport("ws://x", impl);
    const ws = FakeSocket.last;
    const { lines } = listen(t);
    ws.readyState = FakeSocket.OPEN;
    ws.onopen!();
    t.send("a");
    expect(ws.sent).toEqual(["a"]);
    ws.onmessage!({ data: new Uint8Array([123, 125]) });
    ws.onmessage!({ data: "one\n\ntwo\n" });
    expect(lines).toEqual(["one", "two"]);
    ws.readyState = FakeSocket.CLOSED;
    t.send("b");
    expect(ws.sent).toEqual(["a"]);
  });

  it("gives the socket's close reason, or its code when it has none", () => {
    const t1 = websocketTransport("ws://x", impl);
    const c1 = listen(t1);
    FakeSocket.last.onclose!({ reason: "sidecar exited (code 0)", code: 1000 });
    expect(c1.closes).toEqual(["sidecar exited (code 0)"]);
    const t2 = websocketTransport("ws://x", impl);
    const c2 = listen(t2);
    FakeSocket.last.onclose!({ reason: "", code: 1006 });
    expect(c2.closes).toEqual(["websocket closed (code 1006)"]);
  });

  it("close() closes the socket and tells the client", () => {
    const t = websocketTransport("ws://x", impl);
    const ws = FakeSocket.last;
    const { closes } = listen(t);
    t.close();
    expect(ws.closeCalls).toBe(1);
    expect(closes).toEqual(["closed by the client"]);
  });
});
