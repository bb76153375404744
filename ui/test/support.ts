// What the client's tests share: a scripted transport, the pipes of a real sidecar process (as
// an Electron main process or the dev shell wires them), and the scripted Ollama to run it against.

import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import type { Transport } from "../src/transport";
import { splitLines } from "../src/transports/electron";

/** A transport the test plays the sidecar on: what the client sent, and lines to feed it. */
export class FakeTransport implements Transport {
  sent: any[] = [];
  closed = false;
  private lineListeners: Array<(line: string) => void> = [];
  private closeListeners: Array<(reason: string) => void> = [];

  send(line: string): void {
    this.sent.push(JSON.parse(line));
  }
  onLine(listener: (line: string) => void): void {
    this.lineListeners.push(listener);
  }
  onClose(listener: (reason: string) => void): void {
    this.closeListeners.push(listener);
  }
  close(): void {
    this.closed = true;
  }
  /** The sidecar writes a line (an object is JSON-encoded). */
  line(value: unknown): void {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    for (const listener of this.lineListeners) listener(text);
  }
  note(method: string, params: unknown): void {
    this.line({ jsonrpc: "2.0", method, params });
  }
  reply(id: unknown, result: unknown): void {
    this.line({ jsonrpc: "2.0", id, result });
  }
  fail(id: unknown, error: unknown): void {
    this.line({ jsonrpc: "2.0", id, error });
  }
  hangUp(reason: string): void {
    for (const listener of this.closeListeners) listener(reason);
  }
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** The repository root: the first folder up from here with pyproject.toml (two up, or more from
 * the copy of ui/ that Stryker tests its mutants in: ui/.stryker-tmp/sandbox-N/test). */
export const REPO = findRepo(fileURLToPath(new URL("./", import.meta.url)));

function findRepo(dir: string): string {
  for (let d = dir; d !== dirname(d); d = dirname(d)) if (existsSync(join(d, "pyproject.toml"))) return d + sep;
  throw new Error(`no pyproject.toml above ${dir}`);
}
export const PYTHON = `${REPO}.venv/bin/python`;

/** What an Electron main process or the dev shell does: pipes + splitLines. */
export function childTransport(child: ChildProcess): Transport {
  const lineListeners: Array<(line: string) => void> = [];
  const closeListeners: Array<(reason: string) => void> = [];
  const split = splitLines();
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    for (const line of split(chunk)) for (const listener of lineListeners) listener(line);
  });
  child.on("exit", (code, signal) => {
    for (const listener of closeListeners) listener(`sidecar exited (code ${code}, signal ${signal})`);
  });
  return {
    send: (line) => void child.stdin!.write(line + "\n"),
    onLine: (listener) => void lineListeners.push(listener),
    onClose: (listener) => void closeListeners.push(listener),
    close: () => void child.stdin!.end(),
  };
}

/** Starts the scripted Ollama on a free port (added to `children`); resolves to its URL. */
export async function startScriptedOllama(children: ChildProcess[], ...args: string[]): Promise<string> {
  const ollama = spawn(PYTHON, ["-m", "sidecar_testkit.fake_ollama", "--port", "0", ...args], {
    cwd: REPO, stdio: ["ignore", "pipe", "ignore"],
  });
  children.push(ollama);
  const [first] = (await once(createInterface({ input: ollama.stdout! }), "line")) as [string];
  return (JSON.parse(first) as { url: string }).url;
}

/** SIGTERM to every child still running, newest first, each awaited. */
export async function stopChildren(children: ChildProcess[]): Promise<void> {
  for (const child of children.reverse()) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    }
  }
}
