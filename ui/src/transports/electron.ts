// The Electron transport: the main process spawns the sidecar with child_process.spawn and a
// preload script exposes a small bridge to the window with contextBridge, for example:
//
//   // main: const child = spawn(sidecarPath, ["--parent-pid", String(process.pid)]);
//   //       child.stdout.setEncoding("utf8"); const split = splitLines();
//   //       child.stdout.on("data", (chunk) => split(chunk).forEach((l) => win.webContents.send("sidecar:line", l)));
//   //       child.on("exit", (code) => win.webContents.send("sidecar:close", `exit ${code}`));
//   //       ipcMain.on("sidecar:send", (_e, line) => child.stdin.write(line + "\n"));
//   //       ipcMain.on("sidecar:close", () => child.kill());
//   // preload: contextBridge.exposeInMainWorld("sidecar", {
//   //   send: (line) => ipcRenderer.send("sidecar:send", line),
//   //   onLine: (cb) => ipcRenderer.on("sidecar:line", (_e, line) => cb(line)),
//   //   onClose: (cb) => ipcRenderer.on("sidecar:close", (_e, reason) => cb(reason)),
//   //   close: () => ipcRenderer.send("sidecar:close") });
//
// `splitLines` is the stdout splitter for such a main process (and for the dev shell): stdout
// reads return parts of lines or several lines, and only "\n" ends a line (never "\r" alone,
// U+2028 or U+2029; see docs/protocol.md §2). Give it strings decoded by a stream with
// setEncoding("utf8"), so a multibyte character split across reads arrives whole.

import type { Transport } from "../transport";
import { LineChannel } from "./channel";

/** What the preload script exposes (as `window.sidecar` by default). `send` gets a line without "\n". */
export interface SidecarBridge {
  send(line: string): void;
  onLine(listener: (line: string) => void): void;
  onClose(listener: (reason: string) => void): void;
  close(): void;
}

export function electronTransport(bridge: SidecarBridge = (window as any).sidecar): Transport {
  if (!bridge) throw new Error("electronTransport: no preload bridge (window.sidecar is missing)");
  const channel = new LineChannel();

  bridge.onLine((line) => channel.emitLine(line));
  bridge.onClose((reason) => channel.emitClose(reason));

  return {
    send(line) {
      if (!channel.closed) bridge.send(line);
    },
    onLine: (listener) => channel.onLine(listener),
    onClose: (listener) => channel.onClose(listener),
    close() {
      channel.emitClose("closed by the client");
      bridge.close();
    },
  };
}

/**
 * Returns a splitter: feed it each decoded stdout chunk, get back the complete lines it finished
 * (without "\n"; a "\r" right before the "\n" is dropped too; blank lines are skipped). A partial
 * line is kept until its "\n" arrives.
 */
export function splitLines(): (chunk: string) => string[] {
  let partial = "";
  return (chunk) => {
    const lines: string[] = [];
    let start = 0;
    let end: number;
    // Only the new chunk is scanned, so a long line read in many pieces costs linear time.
    while ((end = chunk.indexOf("\n", start)) !== -1) {
      let line = partial + chunk.slice(start, end);
      partial = "";
      start = end + 1;
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line) lines.push(line);
    }
    partial += chunk.slice(start);
    return lines;
  };
}
