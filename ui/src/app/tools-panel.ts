// The Tools panel: the MCP servers of the sidecar's --mcp-config, each with its status, its tool
// count and, for a failed one, its error. Filled from `list_mcp_servers` when a sidecar connects,
// then kept current by `mcp:server_status`. Hidden while the sidecar has no MCP servers.

import type { SidecarClient } from "../client";
import type { McpServerInfo, McpServerStatusParams } from "../protocol";
import { h } from "./view";


const STATUS_TEXT: Record<McpServerInfo["status"], string> = {
  starting: "Starting…",
  ready: "Ready",
  failed: "Failed",
  stopped: "Stopped",
};

export class ToolsPanel {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly servers = new Map<string, McpServerInfo>();
  private unsubscribe: (() => void) | null = null;

  constructor() {
    this.list = h("ul", { class: "tools-panel-list" });
    this.element = h(
      "section",
      { class: "tools-panel", "aria-label": "Tools panel", hidden: true },
      h("h2", { class: "tools-panel-title", text: "Tools" }),
      this.list,
    );
  }

  /** Follows a newly connected sidecar (a reconnect starts over). */
  async attach(client: SidecarClient): Promise<void> {
    this.unsubscribe?.();
    this.servers.clear();
    this.unsubscribe = client.onMcpServerStatus((status) => this.update(status));
    try {
      for (const server of await client.listMcpServers()) {
        // A status that came while the list was on its way is newer: keep it.
        if (!this.servers.has(server.name)) this.servers.set(server.name, server);
      }
    } catch {
      // A sidecar without list_mcp_servers (older): no panel.
    }
    this.render();
  }

  update(status: McpServerStatusParams): void {
    const known = this.servers.get(status.server);
    this.servers.set(status.server, {
      name: status.server,
      transport: known?.transport ?? "stdio",
      status: status.status,
      tools: status.tools,
      error: status.error ?? null,
    });
    this.render();
  }

  private render(): void {
    const rows = [...this.servers.values()].map((server) => {
      const count = server.tools.length;
      const row = h(
        "li",
        { class: "tools-panel-server", "data-server": server.name, "data-status": server.status },
        h("span", { class: "tools-panel-name", text: server.name }),
        h("span", { class: "tools-panel-status", text: STATUS_TEXT[server.status] ?? server.status }),
        h("span", { class: "tools-panel-count", text: `${count} tool${count === 1 ? "" : "s"}` }),
      );
      if (server.status === "failed" && server.error) {
        row.append(h("div", { class: "tools-panel-error", role: "note", text: server.error }));
      }
      return row;
    });
    this.list.replaceChildren(...rows);
    this.element.hidden = rows.length === 0;
  }
}
