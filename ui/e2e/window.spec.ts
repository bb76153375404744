// The window people expect (issue 18), in Chromium against real sidecars and the scripted Ollama:
// dark mode with a remembered override, copy buttons and task lists, streaming that assistive
// technology can follow, focus and keyboard, the Settings popover's values on the wire, the compact
// phone header, the wheel over "Jump to latest", and the scripted model's default and note.
import type { Locator, Page } from "@playwright/test";
import { expect, painted, test, until } from "./fixtures";

test.use({ shellOptions: { root: true } });

const background = (page: Page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
const keywordColour = (page: Page) =>
  page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue("--hl-keyword").trim());
const isDark = (rgb: string) => {
  const [r, g, b] = rgb.match(/\d+/g)!.map(Number);
  return r + g + b < 150;
};

test("dark mode follows the system; a manual choice survives a reload; one highlight theme per mode", async ({ chat, page }) => {
  await page.emulateMedia({ colorScheme: "dark" });
  await chat.open();
  const html = page.locator("html");
  await expect(html).toHaveAttribute("data-theme", "dark");
  expect(await page.evaluate(() => getComputedStyle(document.documentElement).colorScheme)).toBe("dark");
  expect(isDark(await background(page))).toBe(true);
  expect(await keywordColour(page)).toBe("#ff7b72"); // GitHub dark's highlighting

  await page.emulateMedia({ colorScheme: "light" });
  await expect(html).toHaveAttribute("data-theme", "light");
  expect(isDark(await background(page))).toBe(false);
  expect(await keywordColour(page)).toBe("#b3261e"); // GitHub light's, darkened to AA

  const theme = page.getByRole("combobox", { name: "Theme" });
  await theme.selectOption("dark");
  await expect(html).toHaveAttribute("data-theme", "dark");
  await page.reload();
  await expect(chat.message).toBeVisible();
  await expect(html).toHaveAttribute("data-theme", "dark"); // the system says light; the choice holds
  await expect(theme).toHaveValue("dark");
  expect(await keywordColour(page)).toBe("#ff7b72");
  await theme.selectOption("system");
  await expect(html).toHaveAttribute("data-theme", "light");
  await page.reload();
  await expect(html).toHaveAttribute("data-theme", "light");
});

test("every code block has a Copy button that copies the code exactly and says Copied; task lists are disabled checkboxes", async ({ chat, page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await chat.open();
  await chat.pickModel("echo:latest");
  const code = 'def f(x):\n    return "<b>" + x  # tabs\tand  spaces';
  await chat.say(`Two blocks:\n\n\`\`\`python\n${code}\n\`\`\`\n\n    indented block\n\n- [x] done\n- [ ] todo`);
  await chat.settled();
  const reply = chat.lastAssistant;
  const copies = reply.getByRole("button", { name: "Copy" });
  await expect(copies).toHaveCount(2);
  await copies.first().click();
  await expect(reply.locator("pre").first().locator(".copy-code")).toHaveText("Copied");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(code);
  await reply.locator("pre").nth(1).getByRole("button").click();
  await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe("indented block");

  const boxes = reply.getByRole("checkbox");
  await expect(boxes).toHaveCount(2);
  await expect(boxes.first()).toBeChecked();
  await expect(boxes.nth(1)).not.toBeChecked();
  for (const box of await boxes.all()) await expect(box).toBeDisabled();
});

test("the streaming reply is aria-busy, the finished reply is announced once, messages are named by author", async ({ chat, page }) => {
  await chat.open();
  await page.evaluate(() => {
    const region = document.querySelector("[data-announcer]")!;
    (window as unknown as { __announced: string[] }).__announced = [];
    new MutationObserver(() => {
      const text = region.textContent ?? "";
      if (text) (window as unknown as { __announced: string[] }).__announced.push(text);
    }).observe(region, { childList: true, characterData: true, subtree: true });
  });
  await expect(page.locator('[role="log"], [aria-live]:not([data-announcer])')).toHaveCount(0);
  await chat.pickModel("long:latest");
  await chat.say("Count to a thousand, please.");
  const reply = page.getByRole("article", { name: "Assistant" }).last();
  await expect(reply).toContainText("tok5 ");
  await expect(reply).toHaveAttribute("aria-busy", "true");
  await expect(page.getByRole("article", { name: "You" })).toHaveText("Count to a thousand, please.");
  await chat.stop.click();
  await chat.settled();
  await expect(reply).not.toHaveAttribute("aria-busy");

  await chat.pickModel("demo:latest");
  await chat.say("Hello?");
  await chat.settled();
  const last = page.getByRole("article", { name: "Assistant" }).last();
  await expect(last).not.toHaveAttribute("aria-busy");
  const region = page.locator("[data-announcer]");
  await expect(region).toHaveAttribute("aria-live", "polite");
  const text = ((await last.textContent()) ?? "").trim();
  await expect(region).toHaveText(`Assistant: ${text}`);
  await painted(page); // anything announced after the end would be in the region by now
  const announced = await page.evaluate(() => (window as unknown as { __announced: string[] }).__announced);
  expect(announced).toEqual([expect.stringMatching(/^Assistant: tok1 tok2 .*\(stopped\)$/), `Assistant: ${text}`]);
});

test("focus: the message box on load, the approval card's first button when asked, the message box after", async ({ chat, page, shell }) => {
  await chat.open();
  await expect(chat.message).toBeFocused();
  await chat.pickModel("tools:latest");
  await page.getByRole("checkbox", { name: "Tools" }).check();
  await chat.message.focus();
  const mark = await chat.say(JSON.stringify({ calls: [{ name: "write_file", arguments: { path: "k.txt", content: "k" } }] }));
  const approve = page.getByRole("button", { name: "Allow once" });
  await expect(approve).toBeFocused();
  await page.keyboard.press("Enter"); // answered from the keyboard
  await until(() => shell.sent(mark).some((m) => m.method === "approve_tool"));
  await expect(chat.message).toBeFocused();
  await chat.settled();
  expect(shell.sent(mark).find((m) => m.method === "approve_tool")!.params.approved).toBe(true);
});

test("keyboard: Tab reaches every control with a visible focus ring; Settings opens and closes from the keyboard", async ({ chat, page }) => {
  await chat.open();
  await chat.pickModel("echo:latest");
  await chat.say("```\ncode\n```");
  await chat.settled();
  const names: string[] = [];
  for (let i = 0; i < 16; i++) {
    await page.keyboard.press("Tab");
    const info = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      if (el === document.body) return null; // past the last control: the next Tab starts over
      // The message box's ring is drawn around the whole composer.
      const style = getComputedStyle(el.id === "message-input" ? el.closest("form")! : el);
      const ring = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
      return { name: el.getAttribute("aria-label") || el.textContent?.trim() || el.id, ring };
    });
    if (!info) continue;
    names.push(info.name);
    expect(info.ring, `focus ring on ${info.name}`).toBe(true);
  }
  for (const name of ["Tools", "Model", "Settings", "Theme", "New chat", "Conversation", "Copy", "Message"]) {
    expect(names, `Tab reaches ${name}`).toContain(name);
  }
  const settings = page.getByRole("button", { name: "Settings" });
  await settings.focus();
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name: "Chat settings" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole("spinbutton", { name: "Temperature" })).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await expect(settings).toBeFocused();
});

test("the Settings popover: temperature, context length, thinking and system prompt go out as options / think / system and stay with the conversation", async ({ chat, page }) => {
  await chat.open();
  // A model whose capabilities name "thinking": the Thinking switch shows for those only.
  await chat.pickModel("thinking:latest");
  await page.getByRole("button", { name: "Settings" }).click();
  const dialog = page.getByRole("dialog", { name: "Chat settings" });
  await dialog.getByRole("spinbutton", { name: "Temperature" }).fill("0.4");
  await dialog.getByRole("spinbutton", { name: "Context length" }).fill("8192");
  await dialog.getByRole("checkbox", { name: "Thinking" }).uncheck();
  await dialog.getByRole("textbox", { name: "System prompt" }).fill("Answer like a parrot.");
  await page.keyboard.press("Escape");
  const mark = await chat.say("hello");
  await chat.settled();
  const params = chat.chatsSince(mark)[0].params;
  expect(params.options).toEqual({ temperature: 0.4, num_ctx: 8192 });
  expect(params.think).toBe(false);
  // The conversation is a thread: its system prompt went once, with create_thread.
  expect(params.messages).toEqual([{ role: "user", content: "hello" }]);
  const created = chat.shell.sent(mark).find((m) => m.method === "create_thread")!;
  expect(created.params.system).toBe("Answer like a parrot.");

  await page.reload();
  await expect(chat.model.locator("option")).not.toHaveCount(0);
  await page.getByRole("button", { name: "Settings" }).click();
  await expect(dialog.getByRole("spinbutton", { name: "Temperature" })).toHaveValue("0.4");
  await expect(dialog.getByRole("spinbutton", { name: "Context length" })).toHaveValue("8192");
  await expect(dialog.getByRole("checkbox", { name: "Thinking" })).not.toBeChecked();
  const systemBox = dialog.getByRole("textbox", { name: "System prompt" });
  await expect(systemBox).toHaveValue("Answer like a parrot.");
  // A started conversation's system prompt is its own (the sidecar sends it): read-only, saying why.
  await expect(systemBox).not.toBeEditable();
  await expect(systemBox).toHaveAccessibleDescription(/New chat/);
  await page.keyboard.press("Escape");

  // A new conversation starts from the defaults: nothing extra is sent.
  await page.getByRole("button", { name: "New chat" }).click();
  await page.getByRole("button", { name: "Settings" }).click();
  await expect(systemBox).toBeEditable();
  await expect(systemBox).toHaveValue("");
  await page.keyboard.press("Escape");
  await chat.pickModel("echo:latest");
  const next = await chat.say("again");
  await chat.settled();
  const fresh = chat.chatsSince(next)[0].params;
  expect(fresh.options).toBeUndefined();
  expect(fresh.think).toBeUndefined();
  expect(fresh.messages).toEqual([{ role: "user", content: "again" }]);
});

async function box(locator: Locator) {
  return (await locator.boundingBox())!;
}

test("a phone-width screen: one header row, model and settings in a menu, placeholders whole, 44 px touch targets", async ({ chat, page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(chat.shell.url);
  await expect(chat.message).toBeFocused();
  const header = await box(page.locator("header"));
  expect(header.height).toBeLessThanOrEqual(64);
  await expect(chat.model).toBeHidden();
  const menu = page.getByRole("button", { name: "Menu" });
  await expect(menu).toHaveAttribute("aria-expanded", "false");
  for (const target of [menu, page.getByRole("button", { name: "New chat" }), chat.send]) {
    const b = await box(target);
    expect(b.height).toBeGreaterThanOrEqual(44);
    expect(b.width).toBeGreaterThanOrEqual(44);
  }
  // The message box shows its whole placeholder.
  const clipped = await chat.message.evaluate((el: HTMLTextAreaElement) => el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight + 1);
  expect(clipped).toBe(false);

  await menu.click();
  await expect(menu).toHaveAttribute("aria-expanded", "true");
  await expect(chat.model).toBeVisible();
  await expect(chat.model).toHaveValue("demo:latest");
  for (const target of [chat.model, page.getByRole("button", { name: "Settings" }), page.getByRole("combobox", { name: "Theme" })]) {
    expect((await box(target)).height).toBeGreaterThanOrEqual(44);
  }
  await page.getByRole("button", { name: "Settings" }).click();
  const dialog = page.getByRole("dialog", { name: "Chat settings" });
  await expect(dialog).toBeVisible();
  const system = dialog.getByRole("textbox", { name: "System prompt" });
  const systemClipped = await system.evaluate((el: HTMLTextAreaElement) => el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight + 1);
  expect(systemClipped).toBe(false);
  const d = await box(dialog);
  expect(d.x).toBeGreaterThanOrEqual(0);
  expect(d.x + d.width).toBeLessThanOrEqual(390);
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await expect(menu).toBeFocused();
});

test("the mouse wheel over Jump to latest scrolls the conversation", async ({ chat, page }) => {
  await chat.open();
  await chat.pickModel("echo:latest");
  await chat.say(Array.from({ length: 40 }, (_, i) => `Paragraph-${i + 1}`).join("\n\n"));
  await chat.settled();
  const scroller = page.locator("main");
  await scroller.evaluate((el) => el.scrollBy(0, -600));
  const jump = page.getByRole("button", { name: "Jump to latest" });
  await expect(jump).toBeVisible();
  const before = await scroller.evaluate((el) => el.scrollTop);
  const b = await box(jump);
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
  await page.mouse.wheel(0, -300);
  await expect.poll(() => scroller.evaluate((el) => el.scrollTop)).toBeLessThan(before - 100);
  const up = await scroller.evaluate((el) => el.scrollTop);
  await page.mouse.wheel(0, 200);
  await expect.poll(() => scroller.evaluate((el) => el.scrollTop)).toBeGreaterThan(up + 100);
});

test("with the scripted Ollama the picker defaults to the demo scenario and a note says model names choose scenarios", async ({ chat, page }) => {
  await chat.open();
  await expect(chat.model).toHaveValue("demo:latest");
  const note = page.locator("[data-scripted-note]");
  await expect(note).toBeVisible();
  await expect(note).toContainText("model name picks a scripted scenario");
  const mark = await chat.say("Hi there");
  await chat.settled();
  expect(chat.chatsSince(mark)[0].params.model).toBe("demo:latest");
  await expect(chat.lastAssistant).toContainText("Hi there");
});
