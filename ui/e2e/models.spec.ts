// The model lifecycle in the window, against the scripted Ollama: the picker shows what each
// model can do and whether it is loaded, picking a model warms it (load_model) with a visible
// state, the Tools toggle is disabled with its reason for a model without tools, "Get a model"
// downloads with a progress bar and Cancel, Delete asks first, and a vision model takes images.
import { expect, test, until } from "./fixtures";

// A shell of this file's own (its options differ from the other files'): these tests pull and
// delete models, and the scripted Ollama keeps that state for as long as it runs.
test.use({ shellOptions: { pace: 0.025 } });

// 1x1 transparent PNG.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64",
);

test("the picker shows capabilities, and picking a model loads it with a visible state", async ({ chat, shell }) => {
  await chat.open();
  const options = chat.model.locator("option");
  await expect(options.filter({ hasText: /^vision:latest · vision/ })).toHaveCount(1);
  await expect(options.filter({ hasText: /^thinking:latest · tools · thinking/ })).toHaveCount(1);
  const mark = shell.lines.length;
  await chat.model.selectOption("thinking:latest");
  const caps = chat.page.getByLabel("Model capabilities");
  await expect(caps).toHaveText(/tools\s*thinking/);
  const state = chat.page.getByRole("status", { name: "Model state" });
  await expect(state).toHaveText("Loaded");
  await until(() => shell.sent(mark).find((m) => m.method === "load_model"));
  expect(shell.sent(mark).filter((m) => m.method === "load_model").map((m) => m.params)).toEqual([{ model: "thinking:latest" }]);
  await expect(options.filter({ hasText: /^thinking:latest · tools · thinking · loaded$/ })).toHaveCount(1);
});

test("a model without tools disables the Tools toggle and says why", async ({ chat }) => {
  await chat.open();
  const tools = chat.page.getByRole("checkbox", { name: "Tools" });
  await chat.model.selectOption("plain:latest");
  await expect(tools).toBeDisabled();
  await expect(chat.page.locator("#tools-reason")).toHaveText("plain:latest does not support tools");
  await expect(tools).toHaveAccessibleDescription("plain:latest does not support tools");
  await chat.model.selectOption("tools:latest");
  await expect(tools).toBeEnabled();
});

test("Get a model downloads with a progress bar, and the new model appears in the picker", async ({ chat, shell }) => {
  await chat.open();
  await chat.page.getByRole("button", { name: "Get a model" }).click();
  const panel = chat.page.getByRole("region", { name: "Get a model" });
  await panel.getByRole("textbox", { name: "Model name" }).fill("fresh-model");
  const mark = shell.lines.length;
  await panel.getByRole("button", { name: "Download" }).click();
  const bar = panel.getByRole("progressbar", { name: "Download progress" });
  await expect(bar).toBeVisible();
  await expect(panel.locator(".pull-progress")).toHaveText(/\d+% · [\d.]+ [KM]?B \/ [\d.]+ MB/);
  await expect(panel.getByRole("status")).toHaveText("Downloaded fresh-model.");
  await expect(panel.locator(".pull-progress")).toHaveText("100% · 6.5 MB / 6.5 MB");
  await expect(chat.model).toHaveValue("fresh-model:latest");
  await expect(chat.page.getByRole("status", { name: "Model state" })).toHaveText("Loaded");
  await chat.screenshot("get-a-model");
  const progress = shell.received(mark).filter((m) => m.method === "model:pull_progress");
  expect(progress.length).toBeGreaterThan(3);
});

test("Cancel stops a download: the pull answers cancelled and nothing is installed", async ({ chat, shell }) => {
  await chat.open();
  await chat.page.getByRole("button", { name: "Get a model" }).click();
  const panel = chat.page.getByRole("region", { name: "Get a model" });
  await panel.getByRole("textbox", { name: "Model name" }).fill("pull-stalls");
  const mark = shell.lines.length;
  await panel.getByRole("button", { name: "Download" }).click();
  await expect(panel.locator(".pull-progress")).toHaveText(/^[1-9]\d*% /);
  await panel.getByRole("button", { name: "Cancel" }).click();
  await expect(panel.getByRole("status")).toHaveText(/^Cancelled: [\d.]+ MB of [\d.]+ MB downloaded/);
  await expect(panel.getByRole("button", { name: "Cancel" })).toBeHidden();
  const pull = shell.sent(mark).find((m) => m.method === "pull_model")!;
  const answer = shell.received(mark).find((m) => m.id === pull.id)!;
  expect(answer.result.status).toBe("cancelled");
  expect(shell.sent(mark).filter((m) => m.method === "cancel_request").map((m) => m.params)).toEqual([{ id: pull.id }]);
  await expect(chat.model.locator('option[value="pull-stalls:latest"]')).toHaveCount(0);
});

test("Delete asks for confirmation, Keep keeps the model, Delete model removes it", async ({ chat, shell }) => {
  await chat.open();
  await chat.model.selectOption("echo:latest");
  await chat.page.getByRole("button", { name: "Delete", exact: true }).click();
  const dialog = chat.page.getByRole("dialog", { name: "Delete model" });
  await expect(dialog).toContainText("Delete echo:latest?");
  await dialog.getByRole("button", { name: "Keep" }).click();
  await expect(dialog).toBeHidden();
  expect(shell.sent().filter((m) => m.method === "delete_model")).toEqual([]);
  await chat.page.getByRole("button", { name: "Delete", exact: true }).click();
  await dialog.getByRole("button", { name: "Delete model" }).click();
  await expect(dialog).toBeHidden();
  await expect(chat.model.locator('option[value="echo:latest"]')).toHaveCount(0);
  expect(shell.sent().filter((m) => m.method === "delete_model").map((m) => m.params)).toEqual([{ model: "echo:latest" }]);
});

test("a vision model takes images: thumbnails in the composer and the conversation, sent as images", async ({ chat }) => {
  await chat.open();
  const attach = chat.page.getByRole("button", { name: "Attach images" });
  await chat.model.selectOption("text:latest");
  await expect(attach).toBeHidden();
  await chat.model.selectOption("vision:latest");
  await expect(attach).toBeVisible();
  await chat.page.getByLabel("Image files").setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: PNG });
  await expect(chat.page.getByLabel("Attached images").getByRole("img", { name: "dot.png" })).toBeVisible();
  const mark = await chat.say("What is in this picture?");
  await chat.settled();
  await expect(chat.lastAssistant).toContainText("I see 1 image(s).");
  await expect(chat.users.last().getByRole("img", { name: "Image 1" })).toBeVisible();
  await expect(chat.page.getByLabel("Attached images")).toBeHidden();
  const sent = chat.chatsSince(mark)[0].params.messages.at(-1);
  expect(sent).toEqual({ role: "user", content: "What is in this picture?", images: [PNG.toString("base64")] });
});

test("a model that is slow to load shows Loading… until it is in memory", async ({ chat }) => {
  await chat.open();
  const state = chat.page.getByRole("status", { name: "Model state" });
  await chat.model.selectOption("slow-first-token:latest");
  await expect(state).toHaveText("Loading…");
  await expect(state).toHaveAttribute("data-state", "loading");
  await expect(state).toHaveText("Loaded", { timeout: 15_000 });
});
