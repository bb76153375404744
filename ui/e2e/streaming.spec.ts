// Streaming as a person sees it: the idle window, text that grows frame by frame, the waiting
// state before the first token, stats after the reply, thinking folded away, the composer's keys,
// and a conversation that survives a reload and is sent back to the model.
import { expect, test, until } from "./fixtures";

/** Runs in the page: the last reply's text length at every animation frame until it has ended. */
function sampleGrowth(): Promise<Array<{ length: number; streaming: boolean }>> {
  return new Promise((resolve) => {
    const samples: Array<{ length: number; streaming: boolean }> = [];
    const before = document.querySelectorAll('[data-role="assistant"]').length;
    const started = performance.now();
    const tick = () => {
      const replies = document.querySelectorAll<HTMLElement>('[data-role="assistant"]');
      const reply = replies.length > before ? replies[replies.length - 1] : undefined;
      if (reply) {
        const streaming = reply.dataset.streaming === "true";
        samples.push({ length: (reply.textContent ?? "").length, streaming });
        if (!streaming && samples.some((s) => s.streaming)) return resolve(samples);
      }
      if (performance.now() - started > 20_000) return resolve(samples);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

test("idle window: names, scripted badge, first model selected, empty input cannot be sent", async ({ chat, page }) => {
  await chat.open();
  await expect(page.getByText("scripted model", { exact: true })).toBeVisible();
  await expect(chat.model).not.toHaveValue("");
  await page.getByRole("button", { name: "Settings" }).click();
  await expect(page.getByRole("textbox", { name: "System prompt" })).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(page.getByRole("textbox", { name: "System prompt" })).toBeHidden();
  await expect(chat.send).toBeDisabled();
  await chat.message.press("Enter");
  await expect(chat.users).toHaveCount(0);
  await chat.screenshot("idle");
});

test("text appears at the first token and grows across several frames before the reply ends", async ({ chat, page }) => {
  await chat.open();
  await chat.pickModel("text:latest");
  const sampling = page.evaluate(sampleGrowth);
  await chat.say("Why is the sky blue?");
  const samples = await sampling;
  const whileStreaming = samples.filter((s) => s.streaming && s.length > 0).map((s) => s.length);
  const final = samples[samples.length - 1];
  expect(final.streaming).toBe(false);
  expect(new Set(whileStreaming).size, `lengths per frame: ${samples.map((s) => s.length)}`).toBeGreaterThanOrEqual(3);
  expect(Math.min(...whileStreaming)).toBeLessThan(final.length);
  for (let i = 1; i < whileStreaming.length; i++) expect(whileStreaming[i]).toBeGreaterThanOrEqual(whileStreaming[i - 1]);
  await expect(chat.lastAssistant).toContainText("The sky looks blue because air scatters blue & violet light more.");
  await expect(page.locator("[data-stats]").last()).toHaveText(/[\d.]+ tok\/s.*first token \d+ ms/);
});

test("a streaming reply, caught mid-way (screenshot)", async ({ chat, page }) => {
  await chat.open();
  await chat.pickModel("long:latest");
  await chat.say("Count to a thousand, please.");
  await expect(chat.lastAssistant).toHaveAttribute("data-streaming", "true");
  await expect(chat.lastAssistant).toContainText("tok40 ");
  await expect(chat.stop).toBeVisible();
  await chat.screenshot("streaming");
  await chat.stop.click();
  await chat.settled();
});

test("between Send and the first token a waiting state counts the seconds", async ({ chat, page }) => {
  await chat.open();
  await chat.pickModel("slow-first-token:latest");
  // Every text the waiting state shows is recorded as it changes (the event itself), so the
  // "1 s" label is caught however busy the machine, not only inside a one-second window.
  await page.evaluate(() => {
    const w = window as unknown as { __waitingTexts: string[] };
    w.__waitingTexts = [];
    const record = () => {
      const text = document.querySelector('[data-waiting="true"]')?.textContent;
      if (text && w.__waitingTexts.at(-1) !== text) w.__waitingTexts.push(text);
    };
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await chat.say("Take your time.");
  const waiting = page.locator('[data-waiting="true"]');
  await expect(chat.lastAssistant).toContainText("The sky looks blue", { timeout: 10_000 });
  await expect(waiting).toHaveCount(0);
  const texts = await page.evaluate(() => (window as unknown as { __waitingTexts: string[] }).__waitingTexts);
  expect(texts.slice(0, 2)).toEqual(["Waiting for the model… 0 s", "Waiting for the model… 1 s"]);
  await chat.settled();
});

test("thinking is folded into a collapsed 'Thought for N s' section", async ({ chat, page }) => {
  await chat.open();
  await chat.pickModel("thinking:latest");
  await chat.say("Hi");
  await chat.settled();
  await expect(chat.lastAssistant).toContainText("Hello! How can I help you today?");
  const details = chat.lastAssistant.locator("details");
  await expect(details).toHaveCount(1);
  await expect(details.locator("summary")).toHaveText(/^Thought for \d+ s$/);
  expect(await details.evaluate((d: HTMLDetailsElement) => d.open)).toBe(false);
  await expect(details.getByText("the user says hi")).toBeHidden();
  await details.locator("summary").click();
  await expect(details.getByText("the user says hi")).toBeVisible();
});

test("Enter sends, Shift+Enter adds a line; the conversation survives a reload and is sent back", async ({ chat, page, shell }) => {
  await chat.open();
  await chat.pickModel("echo:latest");
  await page.getByRole("button", { name: "Settings" }).click();
  await page.getByRole("textbox", { name: "System prompt" }).fill("Answer like a parrot.");
  await page.keyboard.press("Escape");
  await chat.message.fill("first line");
  await chat.message.press("Shift+Enter");
  await chat.message.pressSequentially("second line");
  await expect(chat.message).toHaveValue("first line\nsecond line");
  await expect(chat.users).toHaveCount(0);
  const mark = shell.lines.length;
  await chat.message.press("Enter");
  await expect(chat.message).toHaveValue("");
  await expect(chat.users).toHaveCount(1);
  await chat.settled();
  await expect(chat.lastAssistant).toContainText("second line");
  const first = (await until(() => chat.chatsSince(mark)[0])).params;
  expect(first.model).toBe("echo:latest");
  // A new thread with the system prompt, then only the new message (the sidecar sends the path).
  const created = shell.sent(mark).find((m) => m.method === "create_thread")!;
  expect(created.params).toEqual({ model: "echo:latest", system: "Answer like a parrot." });
  expect(first.messages).toEqual([{ role: "user", content: "first line\nsecond line" }]);

  await page.reload();
  await expect(chat.users).toHaveCount(1);
  await expect(chat.assistants).toHaveCount(1);
  await expect(chat.lastAssistant).toContainText("second line");
  await expect(chat.model).toHaveValue("echo:latest");
  const again = await chat.say("third");
  await chat.settled();
  await expect(chat.assistants).toHaveCount(2);
  const third = (await until(() => chat.chatsSince(again)[0])).params;
  expect(third.thread_id).toBe(first.thread_id);
  expect(third.messages).toEqual([{ role: "user", content: "third" }]);
  const firstAnswer = shell.received(mark).find((m) => m.result?.thread_id === first.thread_id)!;
  expect(third.after).toBe(firstAnswer.result.message_ids.at(-1));
  await page.getByRole("button", { name: "Settings" }).click();
  await expect(page.getByRole("textbox", { name: "System prompt" })).toHaveValue("Answer like a parrot.");
});
