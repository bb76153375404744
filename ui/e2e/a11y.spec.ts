// Accessibility in the real browser: axe-core (WCAG 2.x A and AA, contrast included) finds no
// serious or critical violation on any screen state, in the light theme and in the dark one:
// idle, streaming, a tool card asking for approval, an error, a stopped reply, the Settings
// popover open and, at phone width, the menu open. The same run saves the README's screenshots
// (light and dark, desktop and phone width) under SCREENSHOTS_DIR.
import AxeBuilder from "@axe-core/playwright";
import { join } from "node:path";
import type { Page } from "@playwright/test";
import { SCREENSHOTS, expect, test, type Chat } from "./fixtures";

test.use({ shellOptions: { root: true } });

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1100, height: 800 };

async function violations(page: Page, state: string): Promise<string[]> {
  const result = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
    .analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${state}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

async function openIn(chat: Chat, scheme: "light" | "dark") {
  await chat.page.emulateMedia({ colorScheme: scheme, reducedMotion: "reduce" });
  await chat.open();
  await expect(chat.page.locator("html")).toHaveAttribute("data-theme", scheme);
}

for (const scheme of ["light", "dark"] as const) {
  test(`${scheme}: no serious or critical axe violations on any screen state`, async ({ chat, page }) => {
    test.setTimeout(120_000);
    const found: string[] = [];
    await openIn(chat, scheme);
    found.push(...(await violations(page, "idle")));

    // A finished reply with code, a task list and a link, then a reply that streams.
    await chat.pickModel("echo:latest");
    await chat.say("Try `this`:\n\n```python\nprint('hi')\n```\n\n- [x] done\n- [ ] todo\n\nSee [the docs](https://example.com).");
    await chat.settled();
    await chat.pickModel("long:latest");
    await chat.say("Count to a thousand, please.");
    await expect(chat.lastAssistant).toContainText("tok5 ");
    found.push(...(await violations(page, "streaming")));
    await chat.stop.click();
    await chat.settled();
    await expect(page.getByText("Stopped", { exact: true })).toBeVisible();
    found.push(...(await violations(page, "stopped")));

    await page.getByRole("button", { name: "Settings" }).click();
    await expect(page.getByRole("dialog", { name: "Chat settings" })).toBeVisible();
    found.push(...(await violations(page, "settings open")));
    await page.keyboard.press("Escape");

    await chat.pickModel("tools:latest");
    await page.getByRole("checkbox", { name: "Tools" }).check();
    await chat.say(JSON.stringify({ calls: [{ name: "write_file", arguments: { path: "a.txt", content: "x" } }] }));
    await expect(page.getByRole("button", { name: "Allow once" })).toBeFocused();
    found.push(...(await violations(page, "tool card asking for approval")));
    await page.getByRole("button", { name: "Deny" }).click();
    await chat.settled();
    await page.getByRole("checkbox", { name: "Tools" }).uncheck();

    await chat.pickModel("midstream-error:latest");
    await chat.say("Hello there");
    await expect(chat.alert).toBeVisible();
    found.push(...(await violations(page, "error")));

    await page.setViewportSize(PHONE);
    await page.getByRole("button", { name: "Menu" }).click();
    await expect(chat.model).toBeVisible();
    found.push(...(await violations(page, "small-screen menu open")));
    expect(found).toEqual([]);
  });
}

/** A short conversation for the README: a reply with code, then the idle composer. */
async function conversation(chat: Chat) {
  await chat.pickModel("demo:latest");
  await chat.say("How do I read a file in Python?");
  await chat.settled();
  await chat.pickModel("echo:latest");
  await chat.say("Like this:\n\n```python\nwith open(\"notes.txt\") as f:\n    text = f.read()\n```\n\n- [x] open it with `with`\n- [ ] handle `FileNotFoundError`");
  await chat.settled();
  await chat.pickModel("demo:latest");
}

for (const scheme of ["light", "dark"] as const) {
  test(`screenshots: ${scheme}, desktop and phone width`, async ({ chat, page }) => {
    await openIn(chat, scheme);
    if (scheme === "light") await chat.screenshot("idle"); // the README's "idle"
    await conversation(chat);
    await page.setViewportSize(DESKTOP);
    await page.screenshot({ path: join(SCREENSHOTS, `${scheme}-desktop.png`) });
    await page.setViewportSize(PHONE);
    await chat.page.evaluate(() => document.querySelector("main")!.scrollTo(0, 1e6));
    await page.screenshot({ path: join(SCREENSHOTS, `${scheme}-phone.png`) });
    expect(await violations(page, `${scheme} phone`)).toEqual([]);
  });
}
