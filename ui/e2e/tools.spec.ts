// Tool calls as cards: the scripted model asks for write_file (which needs approval) in a project
// folder of the test's own (the sidecars run with --root <tmp>). Allow once writes the file and the
// card ends "done"; Deny writes nothing and the card ends "error". Either way the model answers.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test, until, type Chat } from "./fixtures";

test.use({ shellOptions: { root: true } });

async function askToWrite(chat: Chat, path: string, content: string) {
  await chat.open();
  await chat.pickModel("tools:latest");
  await chat.page.getByRole("checkbox", { name: "Tools" }).check();
  const mark = await chat.say(JSON.stringify({ calls: [{ name: "write_file", arguments: { path, content } }] }));
  const card = chat.page.locator("[data-tool-call]").last();
  await expect(card).toHaveAttribute("data-state", "waiting");
  await expect(card).toContainText("write_file");
  await expect(card).toContainText(path);
  await until(() => chat.shell.received(mark).some((m) => m.method === "chat:approval_request"));
  expect(chat.shell.received(mark).filter((m) => m.method === "chat:approval_request")).toHaveLength(1);
  expect(chat.chatsSince(mark)[0].params.tools).toBe(true);
  return { mark, card };
}

test("approving a write_file call runs it and shows its result", async ({ chat, shell }) => {
  const { mark, card } = await askToWrite(chat, "a.txt", "x");
  await expect(card.getByRole("button", { name: "Deny" })).toBeVisible();
  await chat.screenshot("tool-card");
  await card.getByRole("button", { name: "Allow once" }).click();
  await expect(card).toHaveAttribute("data-state", "done");
  await expect(card).toContainText("wrote 1 byte to a.txt");
  await expect(card.getByRole("button", { name: "Allow once" })).toHaveCount(0);
  expect(readFileSync(join(shell.root!, "a.txt"), "utf8")).toBe("x");
  await expect(chat.lastAssistant).toContainText("Tool results: [write_file] wrote 1 byte to a.txt");
  await chat.settled();
  const request = chat.chatsSince(mark)[0];
  await until(() => shell.received(mark).some((m) => m.id === request.id));
  const approvals = shell.sent(mark).filter((m) => m.method === "approve_tool");
  expect(approvals).toHaveLength(1);
  expect(approvals[0].params).toMatchObject({ chat_id: request.id, approved: true });
});

test("denying a write_file call writes nothing and the card ends in error", async ({ chat, shell }) => {
  const { mark, card } = await askToWrite(chat, "b.txt", "nope");
  await card.getByRole("button", { name: "Deny" }).click();
  await expect(card).toHaveAttribute("data-state", "error");
  await expect(card).toContainText("declined");
  expect(existsSync(join(shell.root!, "b.txt"))).toBe(false);
  await expect(chat.lastAssistant).toContainText("Tool results: [write_file] The user declined to run write_file");
  await chat.settled();
  const request = chat.chatsSince(mark)[0];
  await until(() => shell.received(mark).some((m) => m.id === request.id));
  const approvals = shell.sent(mark).filter((m) => m.method === "approve_tool");
  expect(approvals).toHaveLength(1);
  expect(approvals[0].params).toMatchObject({ chat_id: request.id, approved: false });
});
