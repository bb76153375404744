// @vitest-environment jsdom
import { beforeEach, describe, expect, it } from "vitest";
import { markdownStats } from "../src/app/markdown";
import {
  BlockSplitter,
  FrameBatcher,
  StreamingMarkdown,
  type FrameScheduler,
  type UiStats,
} from "../src/app/renderer";
import { AssistantReply } from "../src/app/view";

/** A hand-driven requestAnimationFrame. */
class FakeFrames implements FrameScheduler {
  private callbacks = new Map<number, () => void>();
  private next = 1;
  requests = 0;

  request(callback: () => void): number {
    this.requests += 1;
    const id = this.next++;
    this.callbacks.set(id, callback);
    return id;
  }

  cancel(handle: number): void {
    this.callbacks.delete(handle);
  }

  get scheduled(): number {
    return this.callbacks.size;
  }

  /** Runs one animation frame. */
  tick(): void {
    const callbacks = [...this.callbacks.values()];
    this.callbacks.clear();
    for (const cb of callbacks) cb();
  }
}

let frames: FakeFrames;
let stats: UiStats;
let batcher: FrameBatcher;
let el: HTMLElement;

beforeEach(() => {
  frames = new FakeFrames();
  stats = { flushes: 0, tokens: 0, thinking: 0 };
  batcher = new FrameBatcher({ scheduler: frames, stats });
  el = document.createElement("div");
  document.body.replaceChildren(el);
});

describe("frame-throttled rendering", () => {
  it("shows the first token synchronously", () => {
    const md = new StreamingMarkdown(el, batcher);
    md.append("Hello");
    expect(el.textContent).toBe("Hello");
    expect(stats.flushes).toBe(1);
    expect(frames.scheduled).toBe(0);
  });

  it("batches many tokens into one flush per frame", () => {
    const md = new StreamingMarkdown(el, batcher);
    for (let i = 0; i < 1000; i++) md.append(`tok${i} `);
    expect(stats.tokens).toBe(1000);
    expect(stats.flushes).toBe(1); // the first token only
    expect(frames.scheduled).toBe(1); // one frame requested for 999 tokens
    expect(el.textContent).toBe("tok0 ");
    frames.tick();
    expect(stats.flushes).toBe(2);
    expect(el.textContent!.trim().endsWith("tok999")).toBe(true);
    expect(frames.scheduled).toBe(0); // nothing pending, nothing scheduled
  });

  it("throttles rather than debounces: a steady stream updates every frame", () => {
    const md = new StreamingMarkdown(el, batcher);
    md.append("start ");
    const seen: string[] = [];
    for (let frame = 0; frame < 20; frame++) {
      for (let i = 0; i < 7; i++) md.append(`f${frame}t${i} `);
      frames.tick();
      seen.push(el.textContent!);
    }
    expect(stats.flushes).toBe(21);
    expect(frames.requests).toBe(20);
    // Each frame shows that frame's tokens: the stream was never held back while tokens kept coming.
    seen.forEach((text, frame) => expect(text).toContain(`f${frame}t6`));
  });

  it("flushes synchronously on finish (done / error / stop) and cancels the pending frame", () => {
    const md = new StreamingMarkdown(el, batcher);
    md.append("a");
    md.append("b");
    md.append("c");
    expect(el.textContent).toBe("a");
    md.finish();
    expect(el.textContent).toBe("abc");
    expect(frames.scheduled).toBe(0);
    md.append("late");
    frames.tick();
    expect(el.textContent).toBe("abc");
  });

  it("one frame flushes every streaming part at once", () => {
    const a = new StreamingMarkdown(el.appendChild(document.createElement("div")), batcher);
    const b = new StreamingMarkdown(el.appendChild(document.createElement("div")), batcher);
    a.append("a1");
    b.append("b1");
    a.append("a2");
    b.append("b2");
    const before = stats.flushes;
    frames.tick();
    expect(stats.flushes).toBe(before + 1);
    expect(el.textContent).toBe("a1a2b1b2");
  });
});

describe("only the last block is re-rendered", () => {
  it("keeps finished block nodes identical while the tail grows", () => {
    const md = new StreamingMarkdown(el, batcher);
    md.append("First paragraph.");
    md.append("\n\nSecond ");
    frames.tick();
    const first = el.querySelector("p")!;
    expect(first.textContent).toBe("First paragraph.");
    const html = first.outerHTML;

    for (let i = 0; i < 50; i++) {
      md.append(`word${i} `);
      if (i % 5 === 0) frames.tick();
    }
    md.append("\n\n- item one\n- item two\n\nThird");
    frames.tick();
    const list = el.querySelector("ul")!;
    md.append(" paragraph grows");
    frames.tick();
    md.finish();

    expect(el.querySelector("p")).toBe(first); // same object, never replaced
    expect(first.isConnected).toBe(true);
    expect(first.outerHTML).toBe(html);
    expect(el.querySelector("ul")).toBe(list);
    const paragraphs = [...el.querySelectorAll("p")].map((p) => p.textContent);
    expect(paragraphs[0]).toBe("First paragraph.");
    expect(paragraphs[1]).toContain("word49");
    expect(paragraphs[2]).toBe("Third paragraph grows");
  });

  it("never cuts inside a code fence, even at blank lines", () => {
    const md = new StreamingMarkdown(el, batcher);
    md.append("Intro.\n\n```python\ndef f():\n\n\n    return 1\n");
    frames.tick();
    expect(el.querySelectorAll("pre")).toHaveLength(1);
    expect(el.querySelector("pre")!.textContent).toContain("return 1");
    md.append("```\n\nAfter.");
    frames.tick();
    md.finish();
    expect(el.querySelectorAll("pre")).toHaveLength(1);
    expect(el.querySelector("pre code")!.textContent).toBe("def f():\n\n\n    return 1");
    expect(el.lastElementChild!.textContent).toContain("After.");
  });

  it("the splitter cuts at the last blank line outside fences, before an unindented line", () => {
    const s = new BlockSplitter();
    let text = "a\n\nb";
    expect(s.advance(text)).toBe(3);
    text += "\n\n```\nx\n\ny\n";
    expect(s.advance(text)).toBe(6); // the fence opens at 6; its inner blank line is no cut
    expect(s.inFence).toBe(true);
    text += "```\n\n  indented continuation\n\nz";
    const cut = s.advance(text);
    expect(text.slice(cut)).toBe("z");
    expect(s.inFence).toBe(false);
  });
});

describe("highlighting waits for the closing fence", () => {
  it("highlights a code block in the streaming tail only after its fence closes", () => {
    const md = new StreamingMarkdown(el, batcher);
    const before = markdownStats.highlights;
    md.append("```js\n");
    md.append("const answer = 42;\n");
    frames.tick();
    md.append("function f() { return answer; }\n");
    frames.tick();
    expect(el.querySelector("code.hljs")).toBeNull();
    expect(el.querySelector(".hljs-keyword")).toBeNull();
    expect(markdownStats.highlights).toBe(before);
    md.append("```\n");
    frames.tick();
    expect(el.querySelector("code.hljs.language-js")).not.toBeNull();
    expect(el.querySelector(".hljs-keyword")).not.toBeNull();
  });
});

describe("an assistant reply", () => {
  it("stop flushes synchronously and shows nothing afterwards", () => {
    const reply = new AssistantReply(batcher);
    el.append(reply.turn);
    reply.token("Hello");
    reply.token(" there");
    reply.token(" friend");
    expect(reply.article.textContent).toBe("Hello");
    reply.end(true);
    reply.markStopped();
    expect(reply.article.textContent).toBe("Hello there friend");
    expect(reply.turn.querySelector("[data-stopped]")!.textContent).toBe("Stopped");
    reply.token(" late");
    frames.tick();
    expect(reply.article.textContent).toBe("Hello there friend");
    expect(reply.article.hasAttribute("data-streaming")).toBe(false);
  });

  it("puts thinking in a collapsed section that reports its duration", () => {
    const reply = new AssistantReply(batcher);
    el.append(reply.turn);
    reply.setStreaming(true);
    reply.thinkingDelta("Let me think");
    const details = reply.article.querySelector("details")!;
    expect(details.open).toBe(false);
    expect(details.querySelector("summary")!.textContent).toBe("Thinking…");
    reply.thinkingDelta(" hard.");
    reply.token("Answer.");
    expect(details.querySelector("summary")!.textContent).toMatch(/^Thought for \d+ s$/);
    expect(details.querySelector(".thinking-body")!.textContent).toBe("Let me think hard.");
    reply.end(false);
    expect(reply.article.querySelector(".md")!.textContent).toBe("Answer.");
  });

  it("shows tool calls as cards that move from running to done or error", () => {
    const reply = new AssistantReply(batcher);
    el.append(reply.turn);
    reply.token("Let me check.");
    reply.toolCall({ call_id: "c1", name: "read_file", arguments: { path: "README.md" } });
    reply.toolCall({ call_id: "c2", name: "write_file", arguments: { path: "x", content: "y" } });
    const c1 = el.querySelector<HTMLElement>('[data-tool-call="c1"]')!;
    const c2 = el.querySelector<HTMLElement>('[data-tool-call="c2"]')!;
    expect(c1.dataset.state).toBe("running");
    expect(c1.textContent).toContain("read_file");
    // Arguments as the tool receives them: each by name, a string as its own text.
    expect(c1.querySelector('[data-arg="path"] pre')!.textContent).toBe("README.md");
    expect(c2.querySelector('[data-arg="content"] pre')!.textContent).toBe("y");
    reply.toolResult("c1", "read_file", "# demo\n", false);
    expect(c1.dataset.state).toBe("done");
    expect(c1.textContent).toContain("# demo");
    reply.toolResult("c2", "write_file", "x".repeat(2000), true);
    expect(c2.dataset.state).toBe("error");
    expect(c2.querySelector("details.tool-result")).not.toBeNull(); // a long result is collapsed
    reply.token("Done.");
    reply.end(false);
    const blocks = [...reply.article.querySelector(".msg-body")!.children].map((c) => c.className);
    expect(blocks).toEqual(["md", "tool-card", "tool-card", "md"]);
  });

  it("offers the four approval choices and hands the scope to the answer", async () => {
    const reply = new AssistantReply(batcher);
    el.append(reply.turn);
    const card = reply.toolCall({ call_id: "c3", name: "write_file", arguments: { path: "a", content: "l1\nl2" } });
    const answers: Array<[boolean, string]> = [];
    card.askApproval(async (approved, scope) => {
      answers.push([approved, scope]);
    });
    const buttons = [...card.element.querySelectorAll("button")];
    expect(buttons.map((b) => b.textContent)).toEqual(["Allow once", "Allow for this chat", "Always allow", "Deny"]);
    buttons[2].click();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(answers).toEqual([[true, "always"]]);
    expect(card.element.querySelector('[data-arg="content"] pre')!.textContent).toBe("l1\nl2");
    const { showServer } = await import("../src/app/approval");
    showServer(card, "fs");
    expect(card.element.querySelector(".tool-server")!.textContent).toBe("fs");
  });
});

describe("the stats line and a stopped reply's messages", () => {
  it("formats tokens per second and time to first token", async () => {
    const { formatStats, reconcileStopped } = await import("../src/app/controller");
    const usage = { prompt_tokens: 1, completion_tokens: 12, duration_ms: 1288, tokens_per_second: 42.08, first_token_ms: 180, context_length: 4096 };
    expect(formatStats(usage)).toBe("42.1 tok/s · first token 180 ms");
    expect(formatStats({ ...usage, first_token_ms: null })).toBe("42.1 tok/s · first token – ms");
    // Tokens that arrived after Stop was pressed were never shown, so they are not kept either.
    const kept = reconcileStopped([{ role: "assistant", content: "Thinking hard and more" }], "Thinking hard");
    expect(kept).toEqual([{ role: "assistant", content: "Thinking hard" }]);
  });
});
