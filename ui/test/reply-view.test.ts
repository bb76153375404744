// @vitest-environment jsdom
// What the window shows for a reply, from the chat events and the stored messages: the tool
// cards (state, arguments, result, approval), the thinking sections, the marks and the stats,
// checked as the exact markup the stylesheet and the browser tests rely on. Written from the
// surviving mutants of `scripts/mutate --ui` (docs/testing.md).

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { argumentsView, showServer } from "../src/app/approval";
import { FrameBatcher } from "../src/app/renderer";
import { groupRows } from "../src/app/threads";
import { AssistantReply, ToolCard } from "../src/app/view";
import type { StoredMessage } from "../src/protocol";

let batcher: FrameBatcher;

beforeEach(() => {
  batcher = new FrameBatcher({ scheduler: { request: () => 1, cancel: () => {} }, stats: { flushes: 0, tokens: 0, thinking: 0 } });
  document.body.replaceChildren();
});

afterEach(() => {
  vi.useRealTimers();
});

const HEAD = (id: string, name: string, state: string, label: string) =>
  `<div class="tool-card" data-tool-call="${id}" data-state="${state}"><div class="tool-head"><span class="tool-icon" aria-hidden="true">⚙</span>` +
  `<span class="tool-name">${name}</span><span class="tool-state">${label}</span></div>`;
const NO_ARGS = `<div class="tool-section"><div class="tool-label">Arguments</div><pre class="tool-args">{}</pre></div>`;
const APPROVAL =
  `<div class="tool-approval"><span class="tool-approval-note">Run this tool?</span>` +
  `<button type="button" class="primary small">Allow once</button><button type="button" class="small">Allow for this chat</button>` +
  `<button type="button" class="small">Always allow</button><button type="button" class="small">Deny</button></div>`;
const sectionTag = (card: ToolCard) => card.element.querySelector(".tool-section")!.tagName.toLowerCase();

describe("a tool card", () => {
  it("shows its name, its state and each argument as the tool receives it", () => {
    const card = new ToolCard("c1", "read_file", { path: "README.md", n: 2 });
    expect(card.element.outerHTML).toBe(
      HEAD("c1", "read_file", "running", "Running…") +
        `<div class="tool-section"><div class="tool-label">Arguments</div><div class="tool-args">` +
        `<div class="tool-arg" data-arg="path"><div class="tool-arg-name">path</div><pre class="tool-arg-text">README.md</pre></div>` +
        `<div class="tool-arg" data-arg="n"><div class="tool-arg-name">n</div><pre class="tool-arg-json">2</pre></div></div></div></div>`,
    );
    expect(new ToolCard("c0", "list", {}).element.outerHTML).toBe(HEAD("c0", "list", "running", "Running…") + NO_ARGS + "</div>");
    expect(new ToolCard("c9", "list", undefined as never).element.outerHTML).toBe(HEAD("c9", "list", "running", "Running…") + NO_ARGS + "</div>");
    expect(argumentsView({ opts: { a: [1] } }).querySelector("pre")!.textContent).toBe('{\n  "a": [\n    1\n  ]\n}');
  });

  it("folds arguments longer than 400 characters or 16 lines under a summary", () => {
    // JSON.stringify({a: s}, null, 2) is 13 characters around s.
    expect(sectionTag(new ToolCard("a", "t", { a: "x".repeat(387) }))).toBe("div");
    const long = new ToolCard("b", "t", { a: "x".repeat(388) });
    expect(sectionTag(long)).toBe("details");
    expect(long.element.querySelector(".tool-section")!.outerHTML).toMatch(/^<details class="tool-section"><summary>Arguments<\/summary><div class="tool-args">/);
    const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    expect(sectionTag(new ToolCard("c", "t", keys(14)))).toBe("div"); // 16 lines
    expect(sectionTag(new ToolCard("d", "t", keys(15)))).toBe("details"); // 17 lines
  });

  it("shows a result, an error or (empty), and folds one longer than 400 characters or 8 lines", () => {
    const card = new ToolCard("c1", "t", {});
    card.setResult("# demo", false);
    expect(card.element.outerHTML).toBe(
      HEAD("c1", "t", "done", "Done") + NO_ARGS +
        `<div class="tool-section tool-result"><div class="tool-label">Result</div><pre class="tool-output"># demo</pre></div></div>`,
    );
    card.setResult("", true);
    expect(card.element.querySelectorAll(".tool-result").length).toBe(1);
    expect(card.element.querySelector(".tool-result")!.outerHTML).toBe(
      `<div class="tool-section tool-result"><div class="tool-label">Error</div><pre class="tool-output">(empty)</pre></div>`,
    );
    expect([card.element.dataset.state, card.element.querySelector(".tool-state")!.textContent]).toEqual(["error", "Error"]);
    const summary = (content: string, isError = false) => {
      const c = new ToolCard("x", "t", {});
      c.setResult(content, isError);
      return c.element.querySelector(".tool-result summary")?.textContent ?? null;
    };
    expect(summary("x".repeat(400))).toBeNull();
    expect(summary("x".repeat(401))).toBe("Result (1 line, 401 chars)");
    expect(summary("l\n".repeat(7) + "l")).toBeNull(); // 8 lines
    expect(summary("l\n".repeat(8) + "l", true)).toBe("Error (9 lines, 17 chars)");
  });

  it("settles when the reply ends without its result: Cancelled after a stop, else Not run", () => {
    const state = (card: ToolCard) => [card.element.dataset.state, card.element.querySelector(".tool-state")!.textContent];
    const running = new ToolCard("a", "t", {});
    running.settle(true);
    expect(state(running)).toEqual(["error", "Cancelled"]);
    const waiting = new ToolCard("b", "t", {});
    waiting.askApproval(async () => {});
    waiting.settle(false);
    expect(state(waiting)).toEqual(["done", "Not run"]);
    expect(waiting.element.querySelector(".tool-approval")).toBeNull();
    const done = new ToolCard("c", "t", {});
    done.setResult("ok", false);
    done.settle(true);
    expect(state(done)).toEqual(["done", "Done"]);
    const failed = new ToolCard("d", "t", {});
    failed.setResult("bad", true);
    failed.settle(false);
    expect(state(failed)).toEqual(["error", "Error"]);
  });
});

describe("an approval card", () => {
  it("asks once, with Allow once focused", () => {
    const card = new ToolCard("c2", "x", {});
    document.body.append(card.element);
    card.askApproval(async () => {});
    card.askApproval(async () => {});
    expect(card.element.outerHTML).toBe(HEAD("c2", "x", "waiting", "Waiting for approval") + NO_ARGS + APPROVAL + "</div>");
    expect(document.activeElement!.textContent).toBe("Allow once");
  });

  it("each choice answers with its approval and scope; the card then runs, or says Denied", async () => {
    const answers: Array<[boolean, string]> = [];
    const states: string[] = [];
    for (let i = 0; i < 4; i++) {
      const card = new ToolCard(`c${i}`, "x", {});
      card.askApproval(async (approved, scope) => void answers.push([approved, scope]));
      card.element.querySelectorAll("button")[i].click();
      await vi.waitFor(() => expect(card.element.querySelector(".tool-approval")).toBeNull());
      states.push(`${card.element.dataset.state} ${card.element.querySelector(".tool-state")!.textContent}`);
    }
    expect(answers).toEqual([[true, "once"], [true, "chat"], [true, "always"], [false, "once"]]);
    expect(states).toEqual(["running Running…", "running Running…", "running Running…", "error Denied"]);
  });

  it("disables the buttons while the answer is on its way, and keeps a result that came meanwhile", async () => {
    const card = new ToolCard("c", "x", {});
    let answer!: () => void;
    card.askApproval(() => new Promise<void>((resolve) => (answer = resolve)));
    const buttons = [...card.element.querySelectorAll("button")];
    buttons[0].click();
    expect(buttons.map((b) => b.disabled)).toEqual([true, true, true, true]);
    card.setResult("done early", false);
    answer();
    await vi.waitFor(() => expect(card.element.querySelector(".tool-approval")).toBeNull());
    await Promise.resolve();
    expect(card.element.dataset.state).toBe("done");
  });

  it("keeps the note with the reason when the answer fails, and drops the buttons", async () => {
    const card = new ToolCard("c", "x", {});
    card.askApproval(async () => {
      throw new Error("sidecar connection closed: exit 1");
    });
    card.element.querySelector("button")!.click();
    await vi.waitFor(() => expect(card.element.querySelector("button")).toBeNull());
    expect(card.element.querySelector(".tool-approval")!.outerHTML).toBe(
      `<div class="tool-approval"><span class="tool-approval-note">Could not answer: sidecar connection closed: exit 1</span></div>`,
    );
  });

  it("names the MCP server once, beside the tool's name", () => {
    const card = new ToolCard("c", "read", {});
    showServer(card, undefined);
    expect(card.element.querySelector(".tool-server")).toBeNull();
    showServer(card, "fs");
    showServer(card, "other");
    expect(card.element.querySelector(".tool-head")!.innerHTML).toBe(
      `<span class="tool-icon" aria-hidden="true">⚙</span><span class="tool-name">read</span>` +
        `<span class="tool-server" title="From the MCP server fs">fs</span><span class="tool-state">Running…</span>`,
    );
    expect(card.element.dataset.server).toBe("fs");
  });
});

describe("a live reply", () => {
  const EMPTY_TURN =
    `<div class="turn turn-assistant"><article class="msg msg-assistant is-empty" data-role="assistant" aria-label="Assistant">` +
    `<div class="msg-body" data-content="true"></div></article><div class="msg-meta"></div></div>`;
  const blocks = (reply: AssistantReply) => [...reply.article.querySelector(".msg-body")!.children].map((c) => c.className);

  it("starts empty and is shown from its first content on", () => {
    const reply = new AssistantReply(batcher);
    expect(reply.turn.outerHTML).toBe(EMPTY_TURN);
    expect([reply.isEmpty, reply.thoughtSeconds, reply.toolErrors]).toEqual([true, [], []]);
    reply.token("");
    expect(reply.isEmpty).toBe(true);
    reply.token("Hi");
    expect(reply.isEmpty).toBe(false);
    expect(reply.article.className).toBe("msg msg-assistant");
    reply.flush();
    expect(reply.article.querySelector(".md")!.textContent).toBe("Hi");
  });

  it("counts the wait in seconds, with a hint from 10 s on, until the first content", () => {
    vi.useFakeTimers();
    const reply = new AssistantReply(batcher);
    let ticks = 0;
    reply.showWaiting(() => ticks++);
    const label = () => reply.turn.querySelector("[data-waiting]")?.textContent ?? null;
    expect(reply.turn.firstElementChild!.outerHTML).toBe(
      `<div class="waiting" data-waiting="true" role="status"><span class="spinner" aria-hidden="true"></span><span class="waiting-text">Waiting for the model… 0 s</span></div>`,
    );
    vi.advanceTimersByTime(9000);
    expect(label()).toBe("Waiting for the model… 9 s");
    vi.advanceTimersByTime(1000);
    expect(label()).toBe("Waiting for the model… 10 s · loading a model can take a minute");
    expect(ticks).toBe(11);
    reply.token("a");
    expect(label()).toBeNull();
    vi.advanceTimersByTime(5000);
    expect(ticks).toBe(11);
    reply.clearWaiting();
    new AssistantReply(batcher).showWaiting(); // no onTick
    vi.advanceTimersByTime(1000);
  });

  it("opens a new thinking section after text, and reports each one's seconds (at least 1)", () => {
    vi.useFakeTimers();
    const reply = new AssistantReply(batcher);
    reply.thinkingDelta("");
    expect(reply.isEmpty).toBe(true);
    reply.thinkingDelta("plan");
    expect(reply.article.querySelector("details")!.outerHTML).toBe(
      `<details class="thinking" data-thinking="streaming"><summary>Thinking…</summary><div class="thinking-body">plan</div></details>`,
    );
    vi.advanceTimersByTime(2600);
    reply.token("A");
    reply.thinkingDelta("again");
    vi.advanceTimersByTime(100);
    reply.token("B");
    reply.end(false);
    expect(blocks(reply)).toEqual(["thinking", "md", "thinking", "md"]);
    expect([...reply.article.querySelectorAll("summary")].map((s) => s.textContent)).toEqual(["Thought for 3 s", "Thought for 1 s"]);
    expect([...reply.article.querySelectorAll("details")].map((d) => d.dataset.thinking)).toEqual(["done", "done"]);
    expect(reply.thoughtSeconds).toEqual([3, 1]);
    reply.thinkingDelta("late");
    expect(reply.article.querySelectorAll("details").length).toBe(2);
  });

  it("one card per call id, the round's text only after the last call, and error results counted once", () => {
    const reply = new AssistantReply(batcher);
    reply.token("Let me check.");
    reply.toolCall({ call_id: "c1", name: "read_file", arguments: {} });
    reply.toolCall({ call_id: "c1", name: "read_file", arguments: {} });
    reply.toolResult("c1", "read_file", "no", true);
    reply.toolResult("c1", "read_file", "no", true);
    reply.toolResult("c2", "list_dir", "ok", false);
    reply.token("Done.");
    reply.flush();
    expect(blocks(reply)).toEqual(["md", "tool-card", "tool-card", "md"]);
    expect(reply.getCard("c2")!.element.querySelector(".tool-name")!.textContent).toBe("list_dir");
    expect(reply.roundText).toBe("Done.");
    expect(reply.toolErrors).toEqual(["c1"]);
  });

  it("is aria-busy only while streaming; its text joins a round's pieces and leaves out the Copy buttons", () => {
    vi.useFakeTimers(); // the thinking section's "Thought for 1 s" is part of the text
    const reply = new AssistantReply(batcher);
    reply.setStreaming(true);
    expect([reply.article.dataset.streaming, reply.article.getAttribute("aria-busy")]).toEqual(["true", "true"]);
    reply.token("A");
    reply.token("a");
    reply.flush();
    expect(reply.article.querySelector(".md")!.textContent).toBe("Aa");
    reply.thinkingDelta("hmm");
    reply.token("B\n\n```\ncode\n```\n");
    reply.end(false);
    expect(reply.article.hasAttribute("data-streaming")).toBe(false);
    expect(reply.article.hasAttribute("aria-busy")).toBe(false);
    expect(reply.roundText).toBe("AaB\n\n```\ncode\n```\n");
    expect(reply.article.querySelector(".copy-code")).not.toBeNull();
    expect(reply.plainText).toBe("AaThought for 1 shmmB\ncode"); // no "Copy", no trailing newline
  });

  it("marks each kind once, stats in one place", () => {
    const plain = new AssistantReply(batcher);
    plain.markDoneReason("stop");
    expect(plain.turn.querySelector(".msg-meta")!.innerHTML).toBe("");

    const reply = new AssistantReply(batcher);
    reply.markStopped();
    reply.markStopped();
    reply.addMark("Note", "data-note");
    reply.setStats("1 tok/s");
    reply.setStats("2 tok/s");
    reply.markDoneReason("tool_limit");
    reply.markDoneReason("stop");
    expect(reply.turn.querySelector(".msg-meta")!.innerHTML).toBe(
      `<span class="mark mark-warn" data-done-reason="true">Tool round limit reached</span><span class="mark" data-note="true">Note</span>` +
        `<span class="mark mark-stopped" data-stopped="true">Stopped</span><span class="stats" data-stats="true">2 tok/s</span>`,
    );
  });
});

describe("a reply rebuilt from stored messages", () => {
  it("shows thinking, text, tool cards with their results, and the marks", () => {
    const reply = AssistantReply.fromHistory(
      batcher,
      [
        { role: "user", content: "hi" },
        {
          role: "assistant",
          content: "Let me look.",
          thinking: "hmm",
          tool_calls: [{ id: "c1", function: { name: "read_file", arguments: { path: "a" } } }, { function: { name: "list_dir" } }],
        },
        { role: "tool", tool_call_id: "c1", content: "nope" },
        { role: "tool", tool_call_id: "zz", content: "stray" },
        { role: "assistant", content: "", thinking: "more" },
      ] as never,
      { stopped: true, stats: "1 tok/s", doneReason: "length", thoughtSeconds: [4], toolErrors: ["c1"], error: "boom" },
    );
    expect(reply.turn.outerHTML).toBe(
      `<div class="turn turn-assistant"><article class="msg msg-assistant" data-role="assistant" aria-label="Assistant"><div class="msg-body" data-content="true">` +
        `<details class="thinking" data-thinking="done"><summary>Thought for 4 s</summary><div class="thinking-body">hmm</div></details>` +
        `<div class="md"><p>Let me look.</p></div>` +
        HEAD("c1", "read_file", "error", "Error") +
        `<div class="tool-section"><div class="tool-label">Arguments</div><div class="tool-args"><div class="tool-arg" data-arg="path"><div class="tool-arg-name">path</div><pre class="tool-arg-text">a</pre></div></div></div>` +
        `<div class="tool-section tool-result"><div class="tool-label">Error</div><pre class="tool-output">nope</pre></div></div>` +
        HEAD("call_1", "list_dir", "error", "Cancelled") + NO_ARGS + "</div>" +
        `<details class="thinking" data-thinking="done"><summary>Thoughts</summary><div class="thinking-body">more</div></details>` +
        `</div></article><div class="msg-meta"><span class="mark mark-error" data-failed="true">Failed: boom</span>` +
        `<span class="mark mark-warn" data-done-reason="true">Length limit reached</span><span class="mark mark-stopped" data-stopped="true">Stopped</span>` +
        `<span class="stats" data-stats="true">1 tok/s</span></div></div>`,
    );
    reply.token("late");
    reply.flush();
    expect(reply.article.querySelectorAll(".md").length).toBe(1);
  });

  it("an unanswered call of a reply that was not stopped is Not run; a result without content is (empty)", () => {
    const reply = AssistantReply.fromHistory(
      batcher,
      [
        { role: "assistant", content: "", tool_calls: [{ id: "a", function: { name: "t", arguments: {} } }, { id: "b", function: { name: "t", arguments: {} } }] },
        { role: "tool", tool_call_id: "a" },
      ] as never,
      {},
    );
    expect(reply.isEmpty).toBe(false);
    expect([...reply.article.querySelector(".msg-body")!.children].map((c) => c.className)).toEqual(["tool-card", "tool-card"]);
    expect(reply.turn.querySelector(".msg-meta")!.innerHTML).toBe("");
    const a = reply.getCard("a")!.element;
    expect([a.dataset.state, a.querySelector(".tool-output")!.textContent]).toEqual(["done", "(empty)"]);
    const b = reply.getCard("b")!.element;
    expect([b.dataset.state, b.querySelector(".tool-state")!.textContent]).toEqual(["done", "Not run"]);
    expect(AssistantReply.fromHistory(batcher, [], {}).isEmpty).toBe(true);
    const thought = AssistantReply.fromHistory(batcher, [{ role: "assistant", content: "", thinking: "hm" }] as never, {});
    expect(thought.article.querySelector("summary")!.textContent).toBe("Thoughts");
  });
});

describe("groupRows", () => {
  it("a path that starts with a reply (no user message before it) is one reply row", () => {
    const m = (role: string, content: string) => ({ id: content, role, content }) as unknown as StoredMessage;
    expect(groupRows([m("assistant", "a"), m("tool", "b"), m("user", "c")]).map((r) => [r.kind, r.messages.length])).toEqual([
      ["reply", 2],
      ["user", 1],
    ]);
  });
});
