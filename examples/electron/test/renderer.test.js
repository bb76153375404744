// The window side of the Electron example: renderer.ts type-checks against ui/'s sources, and
// the window builds (Vite, base "./" for file://) into a page that loads its script relatively.

"use strict";

const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { it } = require("node:test");

const { EXAMPLE, REPO } = require("./fakes");

const bin = (name) => path.join(REPO, "ui", "node_modules", ".bin", name);

it("renderer.ts type-checks with ui's TypeScript", () => {
  execFileSync(bin("tsc"), ["-p", path.join(EXAMPLE, "tsconfig.json")], { cwd: EXAMPLE, stdio: "inherit" });
});

it("the window builds for file:// loading, with ui's chat over the preload bridge", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "electron-window-"));
  try {
    execFileSync(bin("vite"), ["build", "--config", path.join(EXAMPLE, "vite.config.mjs"), "--outDir", out, "--emptyOutDir", "--logLevel", "warn"], {
      cwd: EXAMPLE,
      stdio: "inherit",
    });
    const html = fs.readFileSync(path.join(out, "index.html"), "utf8");
    const script = html.match(/<script type="module" crossorigin src="(\.\/assets\/[^"]+\.js)"/);
    assert.ok(script, html);
    const bundle = fs.readFileSync(path.join(out, script[1]), "utf8");
    assert.match(bundle, /window\.sidecar is missing/); // ui's electronTransport is in it
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
