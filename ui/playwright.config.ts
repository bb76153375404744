// End-to-end tests of the chat window in Debian's headless Chromium (never a downloaded browser),
// against the dev shell (ui/shell/server.mjs), real sidecars and the scripted Ollama. Each spec
// file starts its own shell through the `shell` fixture in e2e/fixtures.ts. Run by scripts/ui-test.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "e2e",
  testMatch: "*.spec.ts",
  workers: 1, // 2 cores: a browser, a shell, a sidecar and a scripted Ollama per test already
  fullyParallel: false,
  retries: 0,
  timeout: 45_000,
  expect: { timeout: 10_000 },
  reporter: process.env.CI ? [["list"], ["html", { open: "never" }]] : [["list"]],
  outputDir: "test-results",
  use: {
    browserName: "chromium",
    headless: true,
    viewport: { width: 1100, height: 800 },
    actionTimeout: 10_000,
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
});
