// With --provider openai the server has no model lifecycle: the window reads `methods` from
// sidecar:ready and hides what it cannot do (Get a model, Delete, the loading state), picking a
// model sends no load_model, and chatting works as before.
import { expect, test } from "./fixtures";

test.use({ shellOptions: { sidecarArgs: ["--provider", "openai"] } });

test("an OpenAI-compatible server: no Get a model, no Delete, no load_model, chat works", async ({ chat, shell }) => {
  await chat.open();
  await expect(chat.page.getByRole("button", { name: "Get a model" })).toBeHidden();
  await expect(chat.page.getByRole("button", { name: "Delete", exact: true })).toBeHidden();
  await chat.model.selectOption("text:latest");
  const mark = await chat.say("hi");
  await chat.settled();
  await expect(chat.lastAssistant).toContainText("The sky looks blue");
  const methods = shell.sent().map((m) => m.method);
  expect(methods).not.toContain("load_model");
  expect(methods).not.toContain("running_models");
  expect(chat.chatsSince(mark)).toHaveLength(1);
});
