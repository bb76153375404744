// One small interface for every way a window can reach the sidecar: Tauri's shell plugin,
// an Electron preload bridge, or the dev shell's WebSocket. A transport moves whole protocol
// lines (no trailing newline) both ways.

export interface Transport {
  /** Sends one protocol line (the transport adds the "\n" where the channel needs it). */
  send(line: string): void;
  /** Called with every line the sidecar writes, in order, without its "\n". */
  onLine(listener: (line: string) => void): void;
  /** Called once when the sidecar or the channel goes away. */
  onClose(listener: (reason: string) => void): void;
  close(): void;
}
