// Fixtures for the end-to-end tests: a dev shell per spec file (worker scope, configured with
// `test.use({ shellOptions })`), a page watched for long tasks, and helpers that drive the window
// by its accessible names. The shell runs with --log-lines, so `shell.lines` holds every line
// relayed between the browser and its sidecars: `> ...` went to a sidecar, `< ...` came from it.
import { test as base, expect, type Locator, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const UI_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const SCREENSHOTS = process.env.SCREENSHOTS_DIR ?? resolve(UI_DIR, "..", "docs", "screenshots");

export interface ShellOptions {
  /** Start the scripted Ollama (default true); false: use `ollamaUrl` and never fall back. */
  scripted?: boolean;
  ollamaUrl?: string;
  /** Seconds between the scripted Ollama's lines (the shell's default is 0.03). */
  pace?: number;
  /** Give every sidecar `--root <a fresh temporary folder>` (for tool tests). */
  root?: boolean;
  /** More `--sidecar-arg` values. */
  sidecarArgs?: string[];
  /** The shell's `--mcp-config FILE` (passed on to every sidecar). */
  mcpConfig?: string;
}

export interface Shell {
  url: string;
  /** The sidecars' --data-dir (conversations.sqlite3). */
  dataDir: string;
  root: string | null;
  /** Every stderr line of the shell so far (relayed protocol lines and logs). */
  lines: string[];
  /** Relayed lines sent to a sidecar since `mark`, parsed. */
  sent(mark?: number): Array<{ id?: unknown; method?: string; params?: any }>;
  /** Relayed lines received from a sidecar since `mark`, parsed. */
  received(mark?: number): Array<{ id?: unknown; method?: string; params?: any; result?: any; error?: any }>;
}

async function startShell(options: ShellOptions): Promise<{ shell: Shell; stop: () => Promise<void> }> {
  const args = ["shell/server.mjs", "--port", "0", "--log-lines"];
  if (options.scripted === false) args.push("--no-fallback", "--ollama-url", options.ollamaUrl ?? "http://127.0.0.1:9");
  else args.push("--scripted");
  if (options.pace !== undefined) args.push("--pace", String(options.pace));
  if (options.mcpConfig !== undefined) args.push("--mcp-config", options.mcpConfig);
  const root = options.root ? mkdtempSync(join(tmpdir(), "ui-e2e-root-")) : null;
  // Conversations go to a temporary folder, never the user's; a tab's sidecar waits 10 s for a reload.
  const dataDir = mkdtempSync(join(tmpdir(), "ui-e2e-data-"));
  args.push("--data-dir", dataDir, "--keep-alive", "10");
  for (const arg of [...(root ? ["--root", root] : []), ...(options.sidecarArgs ?? [])]) {
    args.push("--sidecar-arg", arg);
  }
  const child: ChildProcess = spawn(process.execPath, args, { cwd: UI_DIR, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let partial = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop()!;
    lines.push(...parts);
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no URL from the shell in 20 s:\n${lines.join("\n")}`)), 20_000);
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      out += chunk;
      const match = /^ui: (\S+)$/m.exec(out);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the shell exited (${code}) before printing its URL:\n${lines.join("\n")}`));
    });
  });
  const parsed = (prefix: string, mark: number) =>
    lines.slice(mark).flatMap((line) => {
      const m = /^\[\d+\] ([<>]) (.*)$/.exec(line);
      return m && m[1] === prefix ? [JSON.parse(m[2])] : [];
    });
  const shell: Shell = {
    url,
    dataDir,
    root,
    lines,
    sent: (mark = 0) => parsed(">", mark),
    received: (mark = 0) => parsed("<", mark),
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await exited;
    }
    if (root) rmSync(root, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { shell, stop };
}

/**
 * Polls `probe` until it returns something other than undefined/false (the shell's log reaches
 * the test through a pipe, so it can trail what the page already shows by a few ms).
 */
export async function until<T>(probe: () => T | undefined | false, what = "the shell's log", timeout = 10_000): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Resolves after the page has painted twice: whatever was queued to render by now is shown.
 * The event to wait on before asserting that something did *not* appear (no time window). */
export async function painted(page: Page): Promise<void> {
  await page.evaluate(
    () => new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve()))),
  );
}

/** Installed before any page script: records long tasks in `window.__longTasks`. */
function watchLongTasks() {
  const w = window as unknown as { __longTasks: Array<{ start: number; duration: number }> };
  w.__longTasks = [];
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) w.__longTasks.push({ start: entry.startTime, duration: entry.duration });
    }).observe({ type: "longtask", buffered: true });
  } catch {
    // no longtask support: the list stays empty; e2e/burst.spec.ts checks support first
  }
}

/** The window, driven by its accessible names. */
export class Chat {
  constructor(readonly page: Page, readonly shell: Shell) {}

  get message(): Locator { return this.page.getByRole("textbox", { name: "Message", exact: true }); }
  get send(): Locator { return this.page.getByRole("button", { name: "Send", exact: true }); }
  get stop(): Locator { return this.page.getByRole("button", { name: "Stop", exact: true }); }
  get model(): Locator { return this.page.getByRole("combobox", { name: "Model", exact: true }); }
  get alert(): Locator { return this.page.getByRole("alert"); }
  get assistants(): Locator { return this.page.locator('[data-role="assistant"]'); }
  get users(): Locator { return this.page.locator('[data-role="user"]'); }
  get lastAssistant(): Locator { return this.assistants.last(); }

  /** Opens the window and waits until the model list has arrived. */
  async open(options: { models?: boolean } = {}): Promise<void> {
    await this.page.goto(this.shell.url);
    await expect(this.message).toBeVisible();
    if (options.models !== false) await expect(this.model.locator("option")).not.toHaveCount(0);
  }

  /** Selects `name` in the Model picker, first adding it as an option when it is not listed. */
  async pickModel(name: string): Promise<void> {
    await this.model.evaluate((select: HTMLSelectElement, value: string) => {
      if (![...select.options].some((o) => o.value === value)) select.add(new Option(value, value));
    }, name);
    await this.model.selectOption(name);
  }

  /** Types `text` and sends it with Enter; returns the line mark taken just before. */
  async say(text: string): Promise<number> {
    const mark = this.shell.lines.length;
    await this.message.fill(text);
    await this.message.press("Enter");
    return mark;
  }

  /** Waits for the last reply to stop streaming. */
  async settled(timeout = 20_000): Promise<void> {
    await expect(this.lastAssistant).not.toHaveAttribute("data-streaming", "true", { timeout });
  }

  /** Chats sent to a sidecar since `mark`. */
  chatsSince(mark: number) {
    return this.shell.sent(mark).filter((m) => m.method === "chat");
  }

  /** Saves a 1100x800 PNG under docs/screenshots/. */
  async screenshot(name: string): Promise<void> {
    await this.page.setViewportSize({ width: 1100, height: 800 });
    await this.page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
  }
}

export const test = base.extend<{ chat: Chat }, { shellOptions: ShellOptions; shell: Shell }>({
  shellOptions: [{}, { scope: "worker", option: true }],
  shell: [
    async ({ shellOptions }, use) => {
      const { shell, stop } = await startShell(shellOptions);
      try {
        await use(shell);
      } finally {
        await stop();
      }
    },
    { scope: "worker", timeout: 30_000 },
  ],
  page: async ({ page }, use) => {
    await page.addInitScript(watchLongTasks);
    await use(page);
  },
  chat: async ({ page, shell }, use, testInfo) => {
    const mark = shell.lines.length;
    await use(new Chat(page, shell));
    if (testInfo.status !== testInfo.expectedStatus) {
      await testInfo.attach("shell.log", { body: shell.lines.slice(mark).join("\n"), contentType: "text/plain" });
    }
  },
});

export { expect };
