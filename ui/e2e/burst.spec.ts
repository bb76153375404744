// A 5,000-token burst (the scripted Ollama with no pacing echoes 5,000 words, one per line of its
// stream): the window must write to the DOM at most once per animation frame, so its flushes are
// bounded by the frames that passed, not by the tokens, and no task may block the page for more
// than 200 ms.
import { expect, test } from "./fixtures";

test.use({ shellOptions: { pace: 0 } });

const WORDS = 5000;

test("a 5,000-token burst: flushes bounded by frames, no long task over 200 ms", async ({ chat, page }) => {
  await chat.open();
  await chat.pickModel("echo:latest");
  const text = Array.from({ length: WORDS }, (_, i) => `w${i + 1}`).join(" ");
  await chat.message.fill(text);
  // Count frames from just before Send to the end of the reply, and the flushes in between.
  const counting = page.evaluate(() => {
    const w = window as unknown as { __uiStats?: { flushes: number; tokens: number } };
    return new Promise<{ frames: number; flushes: number; tokens: number; ms: number; from: number }>((resolve) => {
      const start = { flushes: w.__uiStats?.flushes ?? 0, tokens: w.__uiStats?.tokens ?? 0, at: performance.now() };
      let frames = 0;
      let seen = false;
      const tick = () => {
        frames++;
        const replies = document.querySelectorAll<HTMLElement>('[data-role="assistant"]');
        const reply = replies[replies.length - 1];
        if (reply?.dataset.streaming === "true") seen = true;
        else if (seen || performance.now() - start.at > 60_000) {
          return resolve({
            frames,
            flushes: (w.__uiStats?.flushes ?? 0) - start.flushes,
            tokens: (w.__uiStats?.tokens ?? 0) - start.tokens,
            ms: performance.now() - start.at,
            from: start.at,
          });
        }
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
  });
  await chat.message.press("Enter");
  const stats = await counting;
  await expect(chat.lastAssistant).toContainText(`w${WORDS}`);
  const shown = ((await chat.lastAssistant.textContent()) ?? "").trim().split(/\s+/);
  expect(shown).toHaveLength(WORDS);
  await page.waitForTimeout(100); // let the observer report the last tasks
  const longTasks = await page.evaluate(
    (from) =>
      (window as unknown as { __longTasks: Array<{ start: number; duration: number }> }).__longTasks
        .filter((task) => task.start + task.duration >= from)
        .map((task) => task.duration),
    stats.from,
  );
  test.info().annotations.push({
    type: "burst",
    description: `${stats.tokens} token notifications, ${stats.flushes} flushes, ${stats.frames} frames, ${Math.round(stats.ms)} ms; long tasks: ${longTasks.map(Math.round).join(", ") || "none"}`,
  });
  console.log(test.info().annotations.at(-1)!.description);
  expect(stats.tokens).toBeGreaterThan(0);
  expect(stats.flushes).toBeLessThanOrEqual(stats.frames + 3); // + the synchronous first/last flushes
  expect(stats.flushes).toBeLessThan(WORDS / 10);
  expect(Math.max(0, ...longTasks), `long tasks (ms): ${longTasks.map(Math.round)}`).toBeLessThan(200);
});
