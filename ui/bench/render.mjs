#!/usr/bin/env node
// The ui benchmark (issue 14): the window streaming a 20,000-token single paragraph and a
// 20,000-token open code block at 2,000 tokens/s in headless Chromium (Debian's, never a downloaded
// one). Builds bench/index.html with Vite into a temporary folder, serves it on loopback, and
// prints, next to each target: the longest task, the count of tasks over 50 ms, and a frame's
// script time (the batcher's flush) in the first and the last quarter of the stream.
//
//   node ui/bench/render.mjs [--tokens N] [--rate N] [--json PATH]      (run by scripts/bench)
import { chromium } from "@playwright/test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";

const UI = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const TOKENS = Number(opt("--tokens", 20000));
const RATE = Number(opt("--rate", 2000));
const JSON_PATH = opt("--json", null);
const LONG_TASK_MS = 50;
const FRAME_RATIO_MAX = 2;

const out = mkdtempSync(join(tmpdir(), "ui-bench-"));
try {
  await build({
    root: UI,
    base: "./",
    logLevel: "warn",
    build: { outDir: out, emptyOutDir: true, rollupOptions: { input: join(UI, "bench", "index.html") } },
  });
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://bench").pathname);
    const file = normalize(join(out, path === "/" ? "bench/index.html" : path));
    if (!file.startsWith(out + sep)) return res.writeHead(404).end();
    try {
      const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
      const body = readFileSync(file);
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/bench/index.html`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  const results = {};
  try {
    for (const kind of ["paragraph", "code"]) {
      const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
      await page.goto(url);
      await page.waitForFunction(() => window.__bench && window.__bench.ready.options.length > 0);
      const r = await page.evaluate(([k, n, rate]) => window.__bench.run(k, n, rate), [kind, TOKENS, RATE]);
      await page.close();
      const q = Math.max(1, Math.floor(r.frames.length / 4));
      const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
      const first = mean(r.frames.slice(0, q));
      const last = mean(r.frames.slice(-q));
      const longest = Math.max(0, ...r.longTasks);
      const over = r.longTasks.filter((d) => d > LONG_TASK_MS).length;
      const layoutFirst = mean(r.layouts.slice(0, q));
      const layoutLast = mean(r.layouts.slice(-q));
      results[kind] = { ...r, layouts: undefined, layoutFirst, layoutLast, frames: r.frames.length, longest, over, first, last, ratio: last / Math.max(first, 1e-3) };
      const name = kind === "paragraph" ? "single paragraph" : "open code block";
      const ok = (b) => (b ? "ok" : "MISSED");
      console.log(`ui ${TOKENS.toLocaleString("en")}-token ${name} at ${RATE.toLocaleString("en")} tok/s (${r.seconds.toFixed(1)} s, ${r.frames.length} frames):`);
      console.log(`  longest task            ${longest.toFixed(0).padStart(6)} ms   target <= ${LONG_TASK_MS} ms  ${ok(longest <= LONG_TASK_MS)}`);
      console.log(`  tasks over 50 ms        ${String(over).padStart(6)}      target 0        ${ok(over === 0)}`);
      console.log(`  frame script, 1st qtr   ${first.toFixed(2).padStart(6)} ms`);
      console.log(`  frame script, last qtr  ${last.toFixed(2).padStart(6)} ms   target <= ${FRAME_RATIO_MAX}x first (${(last / Math.max(first, 1e-3)).toFixed(2)}x)  ${ok(last <= FRAME_RATIO_MAX * first)}`);
      console.log(`  frame layout, 1st qtr   ${layoutFirst.toFixed(2).padStart(6)} ms   (style + layout of the frame, for information)`);
      console.log(`  frame layout, last qtr  ${layoutLast.toFixed(2).padStart(6)} ms`);
      console.log(`  final render at the end ${r.finishMs.toFixed(0).padStart(6)} ms   (after the stream: the block rendered once as final, highlighted; not a frame of the stream)`);
    }
  } finally {
    await browser.close();
    server.close();
  }
  if (JSON_PATH) writeFileSync(JSON_PATH, JSON.stringify(results, null, 2));
} finally {
  rmSync(out, { recursive: true, force: true });
}
