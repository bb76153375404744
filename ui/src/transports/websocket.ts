// The dev transport: the dev shell (ui/shell/server.mjs) relays the sidecar's stdio over one
// WebSocket, one text message per protocol line, both ways.
//
// Lines sent before the socket opens are queued and flushed on open. Lines that arrive before the
// client registers its listener are kept until it does, so `sidecar:ready` is never lost.

import type { Transport } from "../transport";

export function websocketTransport(url: string, WebSocketImpl: typeof WebSocket = WebSocket): Transport {
  const ws = new WebSocketImpl(url);
  const outbox: string[] = [];
  const lineListeners: Array<(line: string) => void> = [];
  const closeListeners: Array<(reason: string) => void> = [];
  let backlog: string[] | null = [];
  let closedReason: string | null = null;

  const emitLine = (line: string) => {
    if (backlog) backlog.push(line);
    else for (const listener of lineListeners) listener(line);
  };
  const emitClose = (reason: string) => {
    if (closedReason !== null) return;
    closedReason = reason;
    for (const listener of closeListeners) listener(reason);
  };

  ws.onopen = () => {
    for (const line of outbox) ws.send(line);
    outbox.length = 0;
  };
  ws.onmessage = (event: MessageEvent) => {
    if (typeof event.data !== "string") return; // the shell sends text frames only
    // One message is one line; splitting anyway costs nothing (JSON never holds a raw "\n").
    for (const line of event.data.split("\n")) if (line) emitLine(line);
  };
  ws.onclose = (event: CloseEvent) => {
    emitClose(event.reason || `websocket closed (code ${event.code})`);
  };
  // An error is always followed by close, which carries the news.

  return {
    send(line) {
      if (ws.readyState === WebSocketImpl.CONNECTING) outbox.push(line);
      else if (ws.readyState === WebSocketImpl.OPEN) ws.send(line);
      // closing or closed: dropped; the close listeners have told (or will tell) the client
    },
    onLine(listener) {
      lineListeners.push(listener);
      if (backlog) {
        const lines = backlog;
        backlog = null;
        for (const line of lines) listener(line);
      }
    },
    onClose(listener) {
      closeListeners.push(listener);
      if (closedReason !== null) listener(closedReason);
    },
    close() {
      ws.close();
      emitClose("closed by the client");
    },
  };
}
