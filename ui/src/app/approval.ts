// What the window adds for tools from MCP servers, kept out of view.ts so the tool card stays
// small: the approval choices (docs/protocol.md, approve_tool `scope`), the arguments shown as the
// tool will receive them, and the server's name on a tool card.

import type { ApprovalScope } from "../client";

// view.ts uses this module: a local element helper keeps the import one-way.
function h(tag: string, attrs: Record<string, string>, ...children: Array<Node | string>): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value);
  }
  el.append(...children);
  return el;
}

/** The four answers of an approval card, in the order they are shown. */
export const APPROVAL_CHOICES: ReadonlyArray<{ label: string; approved: boolean; scope: ApprovalScope; primary?: boolean }> = [
  { label: "Allow once", approved: true, scope: "once", primary: true },
  { label: "Allow for this chat", approved: true, scope: "chat" },
  { label: "Always allow", approved: true, scope: "always" },
  { label: "Deny", approved: false, scope: "once" },
];

/**
 * The arguments as the tool will receive them: each string argument (a file's `content`, a
 * command) as its own text, line breaks and all, not as a JSON-escaped line; anything else as
 * JSON. Every value is text in the DOM, never markup.
 */
export function argumentsView(args: Record<string, unknown>): HTMLElement {
  const entries = Object.entries(args ?? {});
  if (entries.length === 0) return h("pre", { class: "tool-args" }, "{}");
  const rows = entries.map(([key, value]) => {
    const text = typeof value === "string" ? value : JSON.stringify(value, null, 2) ?? String(value);
    return h(
      "div",
      { class: "tool-arg", "data-arg": key },
      h("div", { class: "tool-arg-name", text: key }),
      h("pre", { class: typeof value === "string" ? "tool-arg-text" : "tool-arg-json" }, text),
    );
  });
  return h("div", { class: "tool-args" }, ...rows);
}

/** Puts the MCP server's name on a tool card (once), beside the tool's name. */
export function showServer(card: { element: HTMLElement }, server: string | undefined): void {
  if (!server || card.element.querySelector(".tool-server")) return;
  card.element.dataset.server = server;
  const badge = h("span", { class: "tool-server", title: `From the MCP server ${server}`, text: server });
  card.element.querySelector(".tool-name")?.after(badge);
}
