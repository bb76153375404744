// Scroll lock: while pinned to the bottom the view follows the text; a user's scroll up unpins it
// and it stays put while text keeps arriving, with a "Jump to latest" button; the button (or
// scrolling back to the bottom) pins it again; the end of a reply does not move an unpinned view.
import type { Page } from "@playwright/test";
import { expect, painted, test } from "./fixtures";

test.use({ shellOptions: { root: true } }); // the approval test's write_file needs a project folder

/** The conversation's scroll position (its scrolling ancestor, or the page). */
function scrollState(page: Page) {
  return page.evaluate(() => {
    const replies = document.querySelectorAll('[data-role="assistant"], [data-role="user"]');
    let el = replies[replies.length - 1]?.parentElement ?? null;
    while (el && !(el.scrollHeight > el.clientHeight && /auto|scroll/.test(getComputedStyle(el).overflowY))) {
      el = el.parentElement;
    }
    const s = el ?? document.scrollingElement!;
    return { top: s.scrollTop, distance: s.scrollHeight - s.clientHeight - s.scrollTop, height: s.scrollHeight };
  });
}

test("scroll lock holds while text arrives; Jump to latest and scrolling down re-pin", async ({ chat, page }) => {
  await chat.open();
  // A tall conversation first, so there is somewhere to scroll to.
  await chat.pickModel("echo:latest");
  await chat.say(Array.from({ length: 40 }, (_, i) => `Paragraph-${i + 1}`).join("\n\n"));
  await chat.settled();
  await expect(chat.lastAssistant).toContainText("Paragraph-40");

  await chat.pickModel("long:latest");
  await chat.say("Count to a thousand, please.");
  await expect(chat.lastAssistant).toContainText("tok5 ");
  await expect.poll(async () => (await scrollState(page)).distance).toBeLessThanOrEqual(8);
  const jump = page.getByRole("button", { name: "Jump to latest" });
  await expect(jump).toBeHidden();

  // The user scrolls up with the wheel: the view unpins and stays put while text arrives.
  const box = (await chat.lastAssistant.boundingBox())!;
  const wheel = async (dy: number) => {
    await page.mouse.move(box.x + box.width / 2, 300); // over the conversation, not the button
    await page.mouse.wheel(0, dy);
  };
  await wheel(-600);
  await expect(jump).toBeVisible();
  const held = await scrollState(page);
  const textBefore = (await chat.lastAssistant.textContent()) ?? "";
  await expect.poll(async () => (await scrollState(page)).height, { timeout: 10_000 }).toBeGreaterThan(held.height + 20);
  const later = await scrollState(page);
  expect(((await chat.lastAssistant.textContent()) ?? "").length).toBeGreaterThan(textBefore.length);
  expect(Math.abs(later.top - held.top)).toBeLessThanOrEqual(1);
  expect(later.distance).toBeGreaterThan(held.distance);
  await expect(chat.lastAssistant).toHaveAttribute("data-streaming", "true");

  // "Jump to latest" pins it again, and it follows the text from there.
  await jump.click();
  await expect(jump).toBeHidden();
  await expect.poll(async () => (await scrollState(page)).distance).toBeLessThanOrEqual(8);
  const pinnedHeight = (await scrollState(page)).height;
  await expect.poll(async () => (await scrollState(page)).height, { timeout: 10_000 }).toBeGreaterThan(pinnedHeight + 20);
  expect((await scrollState(page)).distance).toBeLessThanOrEqual(8);

  // Scrolling back down to the bottom by hand pins it too.
  await wheel(-400);
  await expect(jump).toBeVisible();
  await wheel(5000);
  await expect(jump).toBeHidden();
  const repinned = (await scrollState(page)).height;
  await expect.poll(async () => (await scrollState(page)).height, { timeout: 10_000 }).toBeGreaterThan(repinned + 20);
  expect((await scrollState(page)).distance).toBeLessThanOrEqual(8);

  // Unpinned again, the end of the reply does not move the view.
  await wheel(-400);
  await expect(jump).toBeVisible();
  const beforeEnd = await scrollState(page);
  await chat.stop.click();
  await chat.settled();
  await painted(page);
  expect(Math.abs((await scrollState(page)).top - beforeEnd.top)).toBeLessThanOrEqual(1);
});

test("an approval card that appears while the view is scrolled up takes focus without moving the view", async ({ chat, page }) => {
  test.setTimeout(60_000);
  await chat.open();
  await chat.pickModel("echo:latest");
  await chat.say(Array.from({ length: 40 }, (_, i) => `Paragraph-${i + 1}`).join("\n\n"));
  await chat.settled();

  // The model writes for a while, then asks to write a file.
  await chat.pickModel("tools:latest");
  await page.getByRole("checkbox", { name: "Tools" }).check();
  // 400 words: about 12 s at the shell's pace, room for the scroll below on a busy machine.
  const text = Array.from({ length: 400 }, (_, i) => `w${i + 1}`).join(" ");
  await chat.say(JSON.stringify({ text, calls: [{ name: "write_file", arguments: { path: "n.txt", content: "x" } }] }));
  await expect(chat.lastAssistant).toContainText("w5 ");
  const box = (await chat.lastAssistant.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, 300);
  await page.mouse.wheel(0, -600);
  await expect(page.getByRole("button", { name: "Jump to latest" })).toBeVisible();
  await expect(page.locator("[data-tool-call]")).toHaveCount(0); // the card is still to come
  const held = await scrollState(page);

  const allow = page.getByRole("button", { name: "Allow once" });
  await expect(allow).toBeFocused({ timeout: 30_000 }); // a keyboard user can answer at once...
  await painted(page);
  // ...and a reader scrolled up is not thrown down to the card.
  expect(Math.abs((await scrollState(page)).top - held.top)).toBeLessThanOrEqual(1);
  await page.getByRole("button", { name: "Deny" }).click();
  await chat.settled();
});
