// Conversations kept by the sidecar, in the window: a reload mid-reply keeps every token and the
// reply goes on streaming (the dev shell keeps the tab's sidecar); New chat keeps the old
// conversation in the sidebar; regenerate and edit add versions to switch between; search finds
// a word of an old reply. The spec's tests share one shell, so one data folder: each test looks
// only at the conversations it made.
import { expect, test, until, type Chat } from "./fixtures";

test.use({ shellOptions: { pace: 0.01 } });

const normalize = (text: string) => text.replace(/\s+/g, " ").trim();
const LONG_TEXT = Array.from({ length: 1000 }, (_, i) => `tok${i + 1}`).join(" ");

function sidebar(chat: Chat) {
  return chat.page.getByRole("navigation", { name: "Conversations" });
}

async function converse(chat: Chat, model: string, text: string): Promise<void> {
  await chat.pickModel(model);
  await chat.say(text);
  await chat.settled();
}

test("a reload mid-reply keeps every token and the reply streams on", async ({ chat, page, shell }) => {
  await chat.open();
  await chat.pickModel("long:latest");
  const mark = await chat.say("Count for me");
  await expect(chat.lastAssistant).toContainText("tok20 ");
  const request = await until(() => chat.chatsSince(mark)[0]);
  await page.reload();
  await expect(chat.users).toHaveCount(1);
  await expect(chat.lastAssistant).toHaveAttribute("data-streaming", "true");
  await expect(chat.stop).toBeVisible();
  await chat.settled(30_000);
  expect(normalize((await chat.lastAssistant.locator("[data-content]").textContent()) ?? "")).toBe(LONG_TEXT);
  // The same sidecar answered: the chat sent before the reload ended in the one response.
  expect(shell.lines.some((line) => line.includes("socket back for sidecar"))).toBe(true);
  const answer = await until(() => shell.received(mark).find((m) => m.id === request.id));
  expect(answer.result.done_reason).toBe("stop");
  // And after another reload it is all there, stored.
  await page.reload();
  await expect(chat.lastAssistant).not.toHaveAttribute("data-streaming", "true");
  expect(normalize((await chat.lastAssistant.locator("[data-content]").textContent()) ?? "")).toBe(LONG_TEXT);
});

test("after a reload, Stop still stops the reply in flight", async ({ chat, page, shell }) => {
  await chat.open();
  await chat.pickModel("long:latest");
  const mark = await chat.say("Count again");
  await expect(chat.lastAssistant).toContainText("tok10 ");
  const request = await until(() => chat.chatsSince(mark)[0]);
  await page.reload();
  await expect(chat.stop).toBeVisible();
  await chat.stop.click();
  await expect(page.getByText("Stopped", { exact: true })).toBeVisible();
  const cancel = await until(() => shell.sent(mark).find((m) => m.method === "cancel_chat"));
  expect(cancel.params).toEqual({ chat_id: request.id });
  const answer = await until(() => shell.received(mark).find((m) => m.id === request.id));
  expect(answer.result.done_reason).toBe("cancelled");
});

test("New chat keeps the first conversation; the sidebar opens it again", async ({ chat }) => {
  await chat.open();
  await converse(chat, "echo:latest", "apples are red");
  await chat.page.getByRole("button", { name: "New chat", exact: true }).click();
  await expect(chat.users).toHaveCount(0);
  await converse(chat, "echo:latest", "pears are green");
  const items = sidebar(chat).getByRole("listitem"); // (earlier tests' conversations below)
  await expect(items.nth(0)).toContainText("pears are green"); // newest first
  await expect(items.nth(1)).toContainText("apples are red");
  await items.nth(1).getByRole("button", { name: "apples are red" }).click();
  await expect(chat.users).toHaveCount(1);
  await expect(chat.users.first()).toHaveText("apples are red");
  await expect(chat.lastAssistant).toContainText("apples are red");
});

test("regenerate adds a version of the reply; < 1/2 > switches; edit adds a version of the message", async ({ chat, shell }) => {
  await chat.open();
  await converse(chat, "echo:latest", "one version");
  const reply = chat.page.locator(".turn-assistant").last();
  await expect(reply.getByRole("button", { name: "Regenerate" })).toBeVisible();
  const firstId = await reply.getAttribute("data-message-id");
  const mark = shell.lines.length;
  await reply.getByRole("button", { name: "Regenerate" }).click();
  await chat.settled();
  const regenerated = (await until(() => chat.chatsSince(mark)[0])).params;
  expect(regenerated.messages ?? []).toEqual([]);
  const latest = chat.page.locator(".turn-assistant").last();
  await expect(latest.getByText("2/2")).toBeVisible();
  const secondId = await latest.getAttribute("data-message-id");
  expect(secondId).not.toBe(firstId);
  await latest.getByRole("button", { name: "Previous version" }).click();
  await expect(chat.page.locator(".turn-assistant").last().getByText("1/2")).toBeVisible();
  await expect(chat.page.locator(".turn-assistant").last()).toHaveAttribute("data-message-id", firstId!);
  await chat.page.locator(".turn-assistant").last().getByRole("button", { name: "Next version" }).click();
  await expect(chat.page.locator(".turn-assistant").last()).toHaveAttribute("data-message-id", secondId!);

  const user = chat.page.locator(".turn-user").last();
  await user.getByRole("button", { name: "Edit" }).click();
  await chat.page.getByRole("textbox", { name: "Edit message" }).fill("another version");
  await chat.page.getByRole("button", { name: "Save and send" }).click();
  await chat.settled();
  await expect(chat.users).toHaveCount(1);
  await expect(chat.users.first()).toHaveText("another version");
  await expect(chat.lastAssistant).toContainText("another version");
  await expect(chat.page.locator(".turn-user").last().getByText("2/2")).toBeVisible();
  await chat.page.locator(".turn-user").last().getByRole("button", { name: "Previous version" }).click();
  await expect(chat.users.first()).toHaveText("one version");
});

test("search finds a word of an old reply", async ({ chat }) => {
  await chat.open();
  await converse(chat, "text:latest", "why is the sky blue");
  await chat.page.getByRole("button", { name: "New chat", exact: true }).click();
  await converse(chat, "echo:latest", "something else entirely");
  const items = sidebar(chat).getByRole("listitem");
  await expect(items.nth(1)).toContainText("why is the sky blue");
  await sidebar(chat).getByRole("searchbox", { name: "Search conversations" }).fill("scatters");
  await expect(items).toHaveCount(1);
  await expect(items.first()).toContainText("why is the sky blue");
  await items.first().getByRole("button", { name: "why is the sky blue" }).click();
  await expect(chat.lastAssistant).toContainText("air scatters blue");
});

test("rename and delete (after a confirmation) from the sidebar", async ({ chat, page }) => {
  await chat.open();
  await converse(chat, "echo:latest", "a conversation to rename");
  const item = sidebar(chat).getByRole("listitem").first();
  await item.getByRole("button", { name: "Rename", exact: true }).click();
  await page.getByRole("textbox", { name: "Conversation title" }).fill("Renamed one");
  await page.getByRole("textbox", { name: "Conversation title" }).press("Enter");
  await expect(sidebar(chat).getByRole("listitem").first()).toContainText("Renamed one");
  await sidebar(chat).getByRole("listitem").first().getByRole("button", { name: "Delete", exact: true }).click();
  await expect(sidebar(chat).getByRole("listitem").first()).toContainText("Delete this conversation?");
  await sidebar(chat).getByRole("button", { name: "Confirm delete" }).click();
  await expect(sidebar(chat).getByText("Renamed one")).toHaveCount(0);
  await expect(chat.users).toHaveCount(0); // it was the open one
  await page.reload();
  await expect(chat.message).toBeVisible();
  await expect(sidebar(chat).getByText("Renamed one")).toHaveCount(0);
});

test("the conversation the window kept in localStorage is imported once", async ({ chat, page }) => {
  const legacy = {
    version: 1,
    entries: [
      { kind: "user", message: { role: "user", content: "an imported question" } },
      { kind: "reply", messages: [{ role: "assistant", content: "an imported answer" }], meta: {} },
    ],
  };
  await page.addInitScript((value) => {
    if (sessionStorage.getItem("legacy-set")) return; // once, not again on reload
    sessionStorage.setItem("legacy-set", "1");
    localStorage.setItem("ollama-sidecar-ui:conversation", value);
  }, JSON.stringify(legacy));
  await chat.open();
  await expect(chat.users).toHaveCount(1);
  await expect(chat.users.first()).toHaveText("an imported question");
  await expect(chat.lastAssistant).toContainText("an imported answer");
  await expect(sidebar(chat).getByText("an imported question")).toHaveCount(1);
  await page.reload();
  await expect(chat.lastAssistant).toContainText("an imported answer");
  await expect(sidebar(chat).getByText("an imported question")).toHaveCount(1);
  expect(await page.evaluate(() => localStorage.getItem("ollama-sidecar-ui:conversation"))).toBeNull();
});

test("after the sidecar was killed mid-reply, a reload shows the partial reply Stopped, with Continue and Retry", async ({ chat, page, shell }) => {
  await chat.open();
  await chat.pickModel("long:latest");
  await chat.say("Count until killed");
  await expect(chat.lastAssistant).toContainText("tok20 ");
  const started = shell.lines.map((line) => /sidecar pid (\d+) started/.exec(line)).filter(Boolean).at(-1)!;
  const pid = Number(started[1]);
  // The flush of the reply reaches the file within a second; wait for more text first.
  await expect(chat.lastAssistant).toContainText("tok150 ");
  process.kill(pid, "SIGKILL");
  await until(() => shell.lines.some((line) => line.includes(`sidecar exited (SIGKILL)`)), "the sidecar's exit");
  await page.reload();
  const reply = page.locator(".turn-assistant").last();
  await expect(reply).toContainText("tok20 ");
  await expect(reply).not.toHaveAttribute("data-streaming", "true");
  await expect(reply.getByText("Stopped", { exact: true })).toBeVisible();
  await expect(reply.getByRole("button", { name: "Continue", exact: true })).toBeVisible();
  await chat.pickModel("echo:latest");
  await reply.getByRole("button", { name: "Retry", exact: true }).click();
  await chat.settled();
  await expect(chat.lastAssistant).toContainText("Count until killed");
  await expect(page.locator(".turn-assistant").last().getByText("2/2")).toBeVisible();
});
