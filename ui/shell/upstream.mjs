// Which Ollama the dev shell's sidecars talk to: a real one when it answers, else the project's
// scripted Ollama (`python -m sidecar_testkit.fake_ollama`), started here as a child process.
//
// The address is parsed by the sidecar's own `parse_ollama_host`, so `OLLAMA_HOST=:11500` or
// `0.0.0.0` mean here exactly what they mean to the sidecar. The scripted Ollama prints one line,
// `{"url": ...}`, on stdout once it listens; we read that and nothing else from it. A small Python
// wrapper makes it exit when this Node process disappears, even on SIGKILL (it polls getppid()).

import { spawn } from "node:child_process";

const PROBE_TIMEOUT_MS = 1500;

// Runs the scripted Ollama and stops it (SIGTERM -> its clean exit) when its parent is gone.
const WATCHED_FAKE_OLLAMA = `# sidecar_testkit.fake_ollama for the ui dev shell; exits with its parent
import os, runpy, signal, sys, threading, time
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
threading.Thread(target=watch, daemon=True).start()
sys.argv = ["python -m sidecar_testkit.fake_ollama", *sys.argv[1:]]
runpy.run_module("sidecar_testkit.fake_ollama", run_name="__main__")
`;

/** The base URL the sidecar would use for `value` (a flag or OLLAMA_HOST; "" = the default). */
export function resolveOllamaUrl(python, value) {
  return new Promise((resolve, reject) => {
    const code = "import sys; from sidecar.config import parse_ollama_host; print(parse_ollama_host(sys.argv[1]))";
    const child = spawn(python, ["-c", code, value ?? ""], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.on("error", reject);
    child.on("close", (status) =>
      status === 0 ? resolve(out.trim()) : reject(new Error(`cannot parse Ollama address ${JSON.stringify(value)}`)));
  });
}

/** Whether an Ollama answers `GET /api/version` at `url` within 1.5 s. */
export async function ollamaAnswers(url) {
  try {
    const response = await fetch(new URL("/api/version", url + "/"), { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * Starts the scripted Ollama; resolves `{ url, child }` once it listens. Its stderr (one line per
 * request) goes to ours when `log` is set; otherwise it is kept only to explain a failed start.
 */
export function startScriptedOllama(python, { pace = 0.03, log = false, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const args = ["-c", WATCHED_FAKE_OLLAMA, "--port", "0", "--pace", String(pace)];
    const child = spawn(python, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let started = false;
    child.stderr.on("data", (chunk) => {
      if (log) process.stderr.write(chunk);
      else if (!started) stderr = (stderr + chunk).slice(-4000);
    });
    child.stdout.on("data", (chunk) => {
      if (started) return;
      stdout += chunk;
      const end = stdout.indexOf("\n");
      if (end < 0) return;
      started = true;
      try {
        resolve({ url: JSON.parse(stdout.slice(0, end)).url, child });
      } catch (error) {
        child.kill();
        reject(new Error(`scripted Ollama printed ${JSON.stringify(stdout.slice(0, end))}: ${error}`));
      }
    });
    child.on("error", reject);
    child.on("exit", (status, signal) => {
      if (!started) reject(new Error(`scripted Ollama exited (${signal ?? status}) before listening:\n${stderr}`));
    });
  });
}
