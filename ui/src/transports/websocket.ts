// The dev transport: the dev shell (ui/shell/server.mjs) relays the sidecar's stdio over one
// WebSocket, one text message per protocol line, both ways.
//
// Lines sent before the socket opens are queued and flushed on open. Lines that arrive before the
// client registers its listener are kept until it does, so `sidecar:ready` is never lost.

import type { Transport } from "../transport";
import { LineChannel } from "./channel";

export function websocketTransport(url: string, WebSocketImpl: typeof WebSocket = WebSocket): Transport {
  const ws = new WebSocketImpl(url);
  const outbox: string[] = [];
  const channel = new LineChannel();


  ws.onopen = () => {
    for (const line of outbox) ws.send(line);
    outbox.length = 0;
  };
  ws.onmessage = (event: MessageEvent) => {
    if (typeof event.data !== "string") return; // the shell sends text frames only
    // One message is one line; splitting anyway costs nothing (JSON never holds a raw "\n").
    for (const line of event.data.split("\n")) if (line) channel.emitLine(line);
  };
  ws.onclose = (event: CloseEvent) => {
    channel.emitClose(event.reason || `websocket closed (code ${event.code})`);
  };
  // An error is always followed by close, which carries the news.

  return {
    send(line) {
      if (ws.readyState === WebSocketImpl.CONNECTING) outbox.push(line);
      else if (ws.readyState === WebSocketImpl.OPEN) ws.send(line);
      // closing or closed: dropped; the close listeners have told (or will tell) the client
    },
    onLine: (listener) => channel.onLine(listener),
    onClose: (listener) => channel.onClose(listener),
    close() {
      ws.close();
      channel.emitClose("closed by the client");
    },
  };
}
