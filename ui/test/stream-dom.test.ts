// @vitest-environment jsdom
// The streaming renderer appends to the open block instead of re-parsing it; whatever the split of
// the text into deltas and frames, the finished DOM must be the DOM of a fresh render.
import { describe, expect, it } from "vitest";
import { markdownStats } from "../src/app/markdown";
import { FrameBatcher, StreamingMarkdown, renderStatic, type FrameScheduler } from "../src/app/renderer";

class ManualFrames implements FrameScheduler {
  private callbacks = new Map<number, () => void>();
  private next = 1;
  request(callback: () => void): number {
    const id = this.next++;
    this.callbacks.set(id, callback);
    return id;
  }
  cancel(handle: number): void {
    this.callbacks.delete(handle);
  }
  tick(): void {
    const callbacks = [...this.callbacks.values()];
    this.callbacks.clear();
    for (const cb of callbacks) cb();
  }
}

/** A small deterministic PRNG (mulberry32) so a failure names its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function words(n: number, seed: number, extras: string[] = []): string {
  const r = rng(seed);
  const base = ["the", "sky", "is", "blue", "because", "of", "Rayleigh", "scattering", "snake_case_name", "a * b", "x_1"];
  const pool = [...base, ...extras];
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(pool[Math.floor(r() * pool.length)]);
  return out.join(" ");
}

function streamed(text: string, seed: number): HTMLElement {
  const frames = new ManualFrames();
  const batcher = new FrameBatcher({ scheduler: frames, stats: { flushes: 0, tokens: 0, thinking: 0 } });
  const el = document.createElement("div");
  const md = new StreamingMarkdown(el, batcher);
  const r = rng(seed);
  let i = 0;
  while (i < text.length) {
    const n = 1 + Math.floor(r() * 12);
    md.append(text.slice(i, i + n));
    i += n;
    if (r() < 0.3) frames.tick();
  }
  md.finish();
  return el;
}

function fresh(text: string): HTMLElement {
  const el = document.createElement("div");
  renderStatic(el, text);
  return el;
}

const SAMPLES: Record<string, string> = {
  "a long one-line paragraph": words(900, 1),
  "a long paragraph with inline markup": words(300, 2, ["**bold words**", "`code span`", "[a link](https://example.com)", "*em*", "~~gone~~", "https://example.org/x_y", "<b>raw</b>", "&amp;", "**open", "close**", "_under_"]),
  "a paragraph whose emphasis spans the cut": `Intro ${words(200, 3)} **bold ${words(300, 4)} still bold** and ${words(200, 5)}`,
  "a paragraph ending in spaces and a newline": `${words(300, 6)}  \n`,
  "an open code block": "Here it is:\n\n```python\n" + Array.from({ length: 300 }, (_, i) => `x_${i} = ${i} * 2  # item ${i}`).join("\n"),
  "a code block right after a paragraph line, then more": "Look:\n```js\nconst a = 1;\n\n\nconst b = 2;\n```\nAfter the code.\n\nNext paragraph.",
  "an open code block ending in blank lines": "```\nplain\n\n\n",
  "blocks of every kind": [
    "# Title",
    words(80, 7),
    "- one\n- two\n  continued\n- three",
    "- [x] done\n- [ ] todo",
    "1. first\n2. second",
    "> quoted\nlazy line",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "Setext\n======",
    "    indented code",
    "<div>\nhtml block\n```\nnot a fence\n</div>",
    "---",
    words(120, 8) + "\nsecond line of the paragraph",
    "- item\n\n  ```sh\n  echo hi\n  ```\n- next",
    "Final words.",
  ].join("\n\n"),
};

describe("the finished streaming DOM is a fresh render's", () => {
  for (const [name, text] of Object.entries(SAMPLES)) {
    it(name, { timeout: 30_000 }, () => {
      const expected = fresh(text);
      for (const seed of [11, 22, 33, 44]) {
        const el = streamed(text, seed);
        expect(el.innerHTML, `seed ${seed}`).toBe(expected.innerHTML);
        expect(el.isEqualNode(expected), `seed ${seed}: same nodes`).toBe(true);
      }
    });
  }
});

describe("a frame's work is bounded by the new text", () => {
  it("a long paragraph is not re-rendered whole: each frame renders only a short live end", () => {
    const frames = new ManualFrames();
    const batcher = new FrameBatcher({ scheduler: frames, stats: { flushes: 0, tokens: 0, thinking: 0 } });
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el, batcher);
    const text = words(6000, 9);
    const p = () => el.querySelector("p")!;
    md.append(text.slice(0, 50));
    const first = p();
    let biggest = 0;
    for (let i = 50; i < text.length; i += 40) {
      md.append(text.slice(i, i + 40));
      const before = markdownStats.chars;
      frames.tick();
      biggest = Math.max(biggest, markdownStats.chars - before); // characters parsed this frame
    }
    expect(text.length).toBeGreaterThan(30_000);
    expect(p()).toBe(first); // one paragraph element all along
    expect(biggest).toBeLessThan(2000);
    md.finish();
    expect(el.innerHTML).toBe(fresh(text).innerHTML);
  });

  it("an open code block grows one text node: no markdown parse per frame", () => {
    const frames = new ManualFrames();
    const batcher = new FrameBatcher({ scheduler: frames, stats: { flushes: 0, tokens: 0, thinking: 0 } });
    const el = document.createElement("div");
    const md = new StreamingMarkdown(el, batcher);
    md.append("```ts\n");
    md.append("let a = 1;\n");
    frames.tick();
    const node = el.querySelector("code")!.firstChild;
    const renders = markdownStats.renders;
    for (let i = 0; i < 200; i++) {
      md.append(`let v${i} = ${i};\n`);
      frames.tick();
    }
    expect(markdownStats.renders).toBe(renders);
    expect(el.querySelector("code")!.firstChild).toBe(node); // the first block of lines stays
    expect(el.querySelector("code")!.textContent).toContain("let v199 = 199;");
  });
});

