// The preload script: exposes `window.sidecar`, the bridge ui/src/transports/electron.ts expects
// (send / onLine / onClose / close; see SidecarBridge there), over the channels of
// sidecar-host.js. It runs sandboxed (contextIsolation + sandbox), where only "electron" can be
// required, so it is self-contained.
//
// A connection starts with the transport's first onLine/onClose: it sends "sidecar:attach" with
// a new connection number, and the main process spawns a sidecar for it. close() ends it, as does
// the sidecar's exit; the next transport (the window reconnecting) gets a new sidecar. Messages
// tagged with another connection's number (an old sidecar's last lines) are dropped. Lines that
// arrive before a line listener is registered are kept for it, so `sidecar:ready` is never lost.

"use strict";

const { contextBridge, ipcRenderer } = require("electron");

let nextGen = 1;
/** @type {null | {gen: number, lineListeners: Function[], closeListeners: Function[], backlog: string[]}} */
let current = null;

function connection() {
  if (!current) {
    current = { gen: nextGen++, lineListeners: [], closeListeners: [], backlog: [] };
    ipcRenderer.send("sidecar:attach", current.gen);
  }
  return current;
}

ipcRenderer.on("sidecar:line", (_event, line, gen) => {
  const c = current;
  if (!c || gen !== c.gen || typeof line !== "string") return;
  if (c.lineListeners.length === 0) c.backlog.push(line);
  else for (const listener of c.lineListeners) listener(line);
});

ipcRenderer.on("sidecar:exit", (_event, reason, gen) => {
  const c = current;
  if (!c || gen !== c.gen) return;
  current = null;
  for (const listener of c.closeListeners) listener(String(reason));
});

contextBridge.exposeInMainWorld("sidecar", {
  /** One protocol line, without "\n". */
  send(line) {
    if (current && typeof line === "string") ipcRenderer.send("sidecar:send", line, current.gen);
  },
  onLine(listener) {
    const c = connection();
    c.lineListeners.push(listener);
    for (const line of c.backlog.splice(0)) listener(line);
  },
  onClose(listener) {
    connection().closeListeners.push(listener);
  },
  close() {
    if (!current) return;
    ipcRenderer.send("sidecar:close", current.gen);
    current = null;
  },
});
