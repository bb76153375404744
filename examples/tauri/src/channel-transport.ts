// The Rust variant's transport: src-tauri/src/lib.rs spawns the sidecar (tauri_plugin_shell's
// ShellExt) and streams its stdout to this window through a tauri::ipc::Channel, which delivers
// messages in order and is what Tauri advises for streams (rather than one `emit` per token).
// Each message carries the whole lines of one stdout read. Requests go back with `invoke`,
// chained so they reach the sidecar in the order they were sent.

import { Channel, invoke } from "@tauri-apps/api/core";
import type { Transport } from "../../../ui/src/transport";
import { LineChannel } from "../../../ui/src/transports/channel";

/** What lib.rs sends on the channel (`SidecarEvent`, serde tag "event", content "data"). */
export type SidecarEvent =
  | { event: "lines"; data: { lines: string[] } }
  | { event: "exit"; data: { reason: string } };

/** Starts a sidecar in the Rust core (replacing any earlier one of this app) and connects to it. */
export async function channelTransport(): Promise<Transport> {
  const lines = new LineChannel();
  const onEvent = new Channel<SidecarEvent>((message) => {
    if (message.event === "lines") for (const line of message.data.lines) lines.emitLine(line);
    else lines.emitClose(message.data.reason);
  });
  const connection = await invoke<number>("sidecar_start", { onEvent });

  let sending: Promise<unknown> = Promise.resolve();
  return {
    send(line) {
      if (lines.closed) return;
      sending = sending
        .then(() => invoke("sidecar_send", { connection, line }))
        .catch((error: unknown) => lines.emitClose(`writing to the sidecar failed: ${String(error)}`));
    },
    onLine: (listener) => lines.onLine(listener),
    onClose: (listener) => lines.onClose(listener),
    close() {
      lines.emitClose("closed by the client");
      invoke("sidecar_stop", { connection }).catch(() => {});
    },
  };
}
