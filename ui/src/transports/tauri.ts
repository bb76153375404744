// The Tauri transport: the sidecar runs as a Tauri "sidecar" binary (tauri.conf.json >
// bundle > externalBin, plus a shell:allow-spawn / shell:allow-stdin-write capability), spawned
// with `Command.sidecar` from `@tauri-apps/plugin-shell`.
//
// Two Tauri details this handles:
// - `child.write()` writes exactly the bytes given, so every line gets its "\n" here.
// - stdout `data` events are already whole lines (the plugin splits on newlines), possibly still
//   carrying their "\n" or "\r\n", which is stripped.
//
// Finding the plugin without making it a build-time dependency (this project does not install
// it, and Vite 7 fails the build on an unresolvable import("...") literal even with @vite-ignore):
// 1. `shell`, when given: a Tauri app passes `await import("@tauri-apps/plugin-shell")`, which its
//    own Vite build bundles;
// 2. else `window.__TAURI__.shell`, present when tauri.conf.json sets `app.withGlobalTauri: true`;
// 3. else a runtime import of the bare name (works only where something resolves it, e.g. an
//    import map), kept out of the build by a non-literal specifier.

import type { Transport } from "../transport";
import { LineChannel } from "./channel";

const PLUGIN = "@tauri-apps/plugin-shell";
const SHUTDOWN = '{"jsonrpc":"2.0","method":"shutdown"}\n';
export const SHUTDOWN_GRACE_MS = 2000;

export async function tauriTransport(
  program = "binaries/ollama-sidecar",
  args: string[] = [],
  shell?: any,
): Promise<Transport> {
  shell ??= (globalThis as any).__TAURI__?.shell ?? (await import(/* @vite-ignore */ PLUGIN));
  const command = shell.Command.sidecar(program, args);

  const channel = new LineChannel();


  // Listeners go on before spawn, so the ready line cannot slip past.
  command.stdout.on("data", (data: string | Uint8Array) => {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    const line = text.replace(/\r?\n$/, "");
    if (line) channel.emitLine(line);
  });
  command.stderr.on("data", (data: unknown) => console.debug("[sidecar]", data));
  command.on("close", (payload: { code: number | null; signal: number | null }) =>
    channel.emitClose(`sidecar exited (code ${payload?.code ?? "?"}, signal ${payload?.signal ?? "none"})`),
  );
  command.on("error", (error: unknown) => channel.emitClose(`sidecar error: ${String(error)}`));

  const child = await command.spawn();

  return {
    send(line) {
      if (channel.closed) return;
      Promise.resolve(child.write(line + "\n")).catch((error: unknown) =>
        channel.emitClose(`writing to the sidecar failed: ${String(error)}`),
      );
    },
    onLine: (listener) => channel.onLine(listener),
    onClose: (listener) => channel.onClose(listener),
    close() {
      const exited = channel.closed;
      channel.emitClose("closed by the client");
      const kill = () => void Promise.resolve(child.kill()).catch(() => {});
      if (exited) return kill();
      // `shutdown` first: child.kill() is a SIGKILL, which leaves the sidecar no chance to stop
      // an exec_shell command it is running. The kill follows only if it has not gone by then.
      Promise.resolve(child.write(SHUTDOWN)).catch(() => {});
      setTimeout(kill, SHUTDOWN_GRACE_MS);
    },
  };
}
