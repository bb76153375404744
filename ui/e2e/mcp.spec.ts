// MCP servers in the window: the dev shell runs with --mcp-config (as `scripts/ui --mcp-config
// FILE` does), each sidecar starts the servers. The Tools panel lists them with status, tool
// count and a failed one's error; a tool card names its server; the approval card offers exactly
// Allow once / Allow for this chat / Always allow / Deny and sends the chosen scope; arguments
// show as the tool receives them (a `content` string as text).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test, until, type Chat } from "./fixtures";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SERVERS = join(REPO, "tests", "mcp-servers");
const folder = mkdtempSync(join(tmpdir(), "ui-e2e-mcp-"));
const config = join(folder, "mcp.json");
writeFileSync(
  config,
  JSON.stringify({
    mcpServers: {
      everything: {
        command: "node",
        args: [join(SERVERS, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")],
      },
      stuck: {
        command: join(REPO, ".venv", "bin", "python"),
        args: [join(SERVERS, "fault_server.py"), "never-init", join(folder, "marks")],
        timeout: 1,
      },
    },
  }),
);

test.use({ shellOptions: { root: true, mcpConfig: config } });

async function callTool(chat: Chat, name: string, args: Record<string, unknown>, server?: string) {
  await chat.open();
  // `tools: true` offers the servers that are ready at that moment: wait for this page's sidecar.
  if (server) await expect(chat.page.locator(`[data-server="${server}"]`)).toHaveAttribute("data-status", "ready");
  await chat.pickModel("tools:latest");
  await chat.page.getByRole("checkbox", { name: "Tools" }).check();
  const mark = await chat.say(JSON.stringify({ calls: [{ name, arguments: args }] }));
  const card = chat.page.locator("[data-tool-call]").last();
  await expect(card).toHaveAttribute("data-state", "waiting");
  return { mark, card };
}

test("the Tools panel lists the MCP servers with status, tool count and a failed one's error", async ({ chat }) => {
  await chat.open();
  const panel = chat.page.getByRole("region", { name: "Tools panel" });
  const everything = panel.locator('[data-server="everything"]');
  const stuck = panel.locator('[data-server="stuck"]');
  await expect(everything).toHaveAttribute("data-status", "ready");
  await expect(everything).toContainText(/\d+ tools/);
  await expect(stuck).toHaveAttribute("data-status", "failed", { timeout: 25_000 }); // 10 s start limit
  await expect(stuck).toContainText("Failed");
  await expect(stuck).toContainText("did not finish initializing within 10 s");
  await chat.screenshot("tools-panel");
});

test("an MCP tool's card names its server; Allow for this chat sends scope chat", async ({ chat, shell }) => {
  const { mark, card } = await callTool(chat, "everything__echo", { message: "hello\nworld" }, "everything");
  await expect(card.locator(".tool-server")).toHaveText("everything");
  const buttons = card.getByRole("button");
  await expect(buttons).toHaveText(["Allow once", "Allow for this chat", "Always allow", "Deny"]);
  // The argument as the tool receives it: two lines of text, not "hello\\nworld".
  expect(await card.locator('[data-arg="message"] pre').textContent()).toBe("hello\nworld");
  await chat.screenshot("mcp-approval");
  await card.getByRole("button", { name: "Allow for this chat" }).click();
  await expect(card).toHaveAttribute("data-state", "done");
  await expect(card).toContainText("Echo: hello");
  await chat.settled();
  const approvals = await until(() => {
    const sent = shell.sent(mark).filter((m) => m.method === "approve_tool");
    return sent.length ? sent : undefined;
  });
  expect(approvals[0].params).toMatchObject({ approved: true, scope: "chat" });
});

test("a write_file content argument shows as text in the approval card", async ({ chat }) => {
  const { card } = await callTool(chat, "write_file", { path: "poem.txt", content: 'one "two"\nthree' });
  expect(await card.locator('[data-arg="content"] pre').textContent()).toBe('one "two"\nthree');
  await card.getByRole("button", { name: "Deny" }).click();
  await expect(card).toHaveAttribute("data-state", "error");
});
