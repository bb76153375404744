// Model output is untrusted: markdown is sanitized, so a reply containing <script>, an onerror=
// handler or a javascript: link runs nothing. The echo scenario makes the model say exactly what
// the user wrote.
import { expect, painted, test } from "./fixtures";

const PAYLOAD = [
  "Here comes <script>window.__pwned = 'script'; alert('script')</script> a script.",
  "",
  '<img src="/nonexistent.png" onerror="window.__pwned = \'onerror\'; alert(\'onerror\')">',
  "",
  '<a href="javascript:window.__pwned=\'link\'">a link</a> and [another](javascript:window.__pwned=\'md\')',
  "",
  '<svg onload="window.__pwned = \'svg\'"></svg> <iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>',
  "",
  "```html",
  "<script>alert('in a code block is fine')</script>",
  "```",
].join("\n");

test("<script>, onerror= and javascript: in model output are inert", async ({ chat, page }) => {
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await chat.open();
  await chat.pickModel("echo:latest");
  await chat.say(PAYLOAD);
  await chat.settled();
  const reply = chat.lastAssistant;
  await expect(reply).toContainText("a script.");
  await expect(reply).toContainText("alert('in a code block is fine')"); // shown as code, as text
  // Every image in the reply has loaded or failed (an onerror= would have run by then), and the
  // page has painted since: the events a payload would fire on, not a time window.
  await page.evaluate(() =>
    Promise.all(
      [...document.querySelectorAll<HTMLImageElement>('[data-role="assistant"] img')].map((img) =>
        img.complete
          ? null
          : new Promise((resolve) => {
              img.addEventListener("load", resolve, { once: true });
              img.addEventListener("error", resolve, { once: true });
            }),
      ),
    ),
  );
  await painted(page);
  expect(dialogs).toEqual([]);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned)).toBeUndefined();
  const unsafe = await page.evaluate(() => {
    const found: string[] = [];
    for (const el of document.querySelectorAll('[data-role="assistant"] *, [data-role="user"] *')) {
      if (["SCRIPT", "IFRAME", "OBJECT", "EMBED"].includes(el.tagName)) found.push(el.tagName);
      for (const attr of el.attributes) {
        if (attr.name.startsWith("on")) found.push(`${el.tagName} ${attr.name}`);
        if (/^\s*javascript:/i.test(attr.value)) found.push(`${el.tagName} ${attr.name}=${attr.value}`);
      }
    }
    return found;
  });
  expect(unsafe).toEqual([]);
});
