// The streaming renderer. Deltas are shown at once for the first one, then buffered and written
// at most once per animation frame (a throttle: a steady stream updates every frame, it is never
// postponed while tokens keep coming). done / error / stop flush synchronously.
//
// A frame's work is bounded by the new text, not by the length of the reply or of its open block:
// - The text is cut into finished blocks (BlockSplitter: at blank lines outside fences, before and
//   after a fenced code block); a finished block is rendered once, appended, and never touched.
// - The open block (the "tail") is appended to instead of re-parsed when it is one of the two shapes
//   long replies take: an open fenced code block (its text grows one text node) or a one-line
//   paragraph (cut at spaces where no inline construct is open: the part before is rendered once,
//   only the short live end is re-rendered). Any other open block is re-rendered, as it is short.
// - Blocks keep marked's "\n" separators, the tail is rendered as final at the end and unwrapped,
//   so the finished DOM is the DOM of a fresh render of the same markdown (tested).
// The scroll pin follows through a ResizeObserver (scroll.ts): no layout is forced per frame.

import { closesFence, decorateCode, inlineSafeCut, openingFence, renderInline, renderMarkdown, toFragment } from "./markdown";

export interface UiStats {
  /** DOM flushes (one per animation frame at most while streaming, plus synchronous ones). */
  flushes: number;
  /** chat:token deltas received. */
  tokens: number;
  /** chat:thinking deltas received. */
  thinking: number;
}

declare global {
  interface Window {
    __uiStats?: UiStats;
  }
}

function globalStats(): UiStats {
  if (typeof window === "undefined") return { flushes: 0, tokens: 0, thinking: 0 };
  if (!window.__uiStats) window.__uiStats = { flushes: 0, tokens: 0, thinking: 0 };
  return window.__uiStats;
}

export interface FrameScheduler {
  request(callback: () => void): number;
  cancel(handle: number): void;
}

export const animationFrames: FrameScheduler = {
  request: (cb) => requestAnimationFrame(() => cb()),
  cancel: (handle) => cancelAnimationFrame(handle),
};

/** Something the batcher can flush: writes its buffered text to the DOM. */
export interface Flushable {
  /** Writes pending text; returns whether the DOM changed. */
  flushPending(): boolean;
}

/**
 * Collects the parts that have buffered text and flushes them all in one animation frame.
 * One batcher per window: the flush count is bounded by frames, not by tokens or parts.
 */
export class FrameBatcher {
  readonly stats: UiStats;
  private readonly scheduler: FrameScheduler;
  private readonly dirty = new Set<Flushable>();
  private frame: number | null = null;
  private readonly listeners: Array<() => void> = [];

  constructor(options: { scheduler?: FrameScheduler; stats?: UiStats } = {}) {
    this.scheduler = options.scheduler ?? animationFrames;
    this.stats = options.stats ?? globalStats();
  }

  /** Called after every flush that changed the DOM (the scroll pin follows here). */
  onFlush(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Schedules `part` for the next frame (one frame request for any number of marks). */
  mark(part: Flushable): void {
    this.dirty.add(part);
    if (this.frame === null) {
      this.frame = this.scheduler.request(() => {
        this.frame = null;
        this.flushAll();
      });
    }
  }

  /** Flushes one part right now (the first delta of a part, or its end). */
  flushNow(part: Flushable): void {
    this.dirty.delete(part);
    if (part.flushPending()) this.afterFlush();
    if (this.dirty.size === 0) this.cancelFrame();
  }

  /** Flushes everything that is pending, synchronously. */
  flushAll(): void {
    this.cancelFrame();
    if (this.dirty.size === 0) return;
    const parts = [...this.dirty];
    this.dirty.clear();
    let changed = false;
    for (const part of parts) changed = part.flushPending() || changed;
    if (changed) this.afterFlush();
  }

  get pending(): boolean {
    return this.dirty.size > 0;
  }

  private cancelFrame(): void {
    if (this.frame !== null) {
      this.scheduler.cancel(this.frame);
      this.frame = null;
    }
  }

  private afterFlush(): void {
    this.stats.flushes += 1;
    for (const listener of this.listeners) listener();
  }
}

/**
 * Finds where a growing markdown text can be cut into finished blocks and a live tail.
 * A cut goes before a line that follows a blank line, outside any code fence, and that does not
 * start with whitespace (an indented line may continue a list item or an indented code block);
 * also before an unindented opening fence (a fence interrupts any block but an HTML block) and
 * right after the closing fence of such a block. Lines are scanned once: the scan resumes where
 * it stopped.
 */
export class BlockSplitter {
  private scanned = 0; // start of the first line not yet scanned (always a line start)
  private fence: { char: string; length: number; top: boolean } | null = null;
  private prevBlank = false;
  private blockIsHtml = false;
  /** The block being read is a list: a list item after a blank line continues it (a loose list). */
  private blockIsList = false;
  private atBlockStart = true;
  private cut = 0;

  /** Returns the latest cut position in `text` (which only ever grows). */
  advance(text: string): number {
    for (;;) {
      const nl = text.indexOf("\n", this.scanned);
      if (nl < 0) break;
      this.scanLine(text.slice(this.scanned, nl), this.scanned, nl + 1);
      this.scanned = nl + 1;
    }
    // The incomplete last line: its first character is enough to know a new block starts.
    if (!this.fence && this.prevBlank && this.scanned < text.length) {
      const c = text[this.scanned];
      const mayContinueList = this.blockIsList && /[-*+\d]/.test(c);
      if (!/[ \t\r]/.test(c) && !mayContinueList) this.cut = Math.max(this.cut, this.scanned);
    }
    return this.cut;
  }

  /** Whether the scanned text ends inside an open code fence. */
  get inFence(): boolean {
    return this.fence !== null;
  }

  private scanLine(rawLine: string, start: number, next: number): void {
    const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    if (this.fence) {
      if (closesFence(line, this.fence)) {
        if (this.fence.top) {
          this.cut = Math.max(this.cut, next); // the block after a closed fence starts fresh
          this.atBlockStart = true;
          this.blockIsHtml = false;
          this.blockIsList = false;
        }
        this.fence = null;
      }
      this.prevBlank = false;
      return;
    }
    if (line.trim() === "") {
      this.prevBlank = true;
      this.blockIsHtml = false;
      return;
    }
    const fence = openingFence(line);
    const top = fence !== null && !/^[ \t]/.test(line);
    const listItem = LIST_ITEM.test(line);
    let starts = this.atBlockStart;
    if (this.prevBlank && !/^[ \t]/.test(line) && !(this.blockIsList && listItem)) {
      this.cut = Math.max(this.cut, start);
      starts = true;
    } else if (top && !this.blockIsHtml) {
      this.cut = Math.max(this.cut, start);
      starts = true;
    }
    if (starts) {
      this.blockIsHtml = line.startsWith("<");
      this.blockIsList = listItem;
    }
    this.atBlockStart = false;
    this.prevBlank = false;
    if (fence && !this.blockIsHtml) this.fence = { ...fence, top }; // an HTML block has no fences
  }
}

const LIST_ITEM = /^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)/;

/** Characters of a streaming paragraph per layout block (a rare, very long paragraph). */
const PARA_BLOCK_CHARS = 16_384;
/** Characters of an open code block per layout block while it streams. */
const CODE_CHUNK_CHARS = 2048;

/** Paragraph text that is cut into rendered segments once its live end is this long. */
const SEGMENT_CHARS = 512;
/** A paragraph may start with these (not a list, heading, quote, fence, table, HTML or reference). */
const PARAGRAPH_START = /^[\p{L}"'(\u2018\u201c]|^\d(?!\d{0,8}[.)])/u;

type Tail =
  | { kind: "full" }
  | { kind: "code"; code: HTMLElement; text: Text; bodyStart: number; shown: number; sealed: number }
  | {
      kind: "para";
      p: HTMLElement;
      /** Where sealed segments and the live end go: the paragraph, or its last layout block. */
      block: HTMLElement;
      blockChars: number;
      stable: number;
      live: Node[];
      checkedAt: number;
    };

/**
 * One streaming markdown text (an assistant reply, or one round of it between tool calls).
 * `append` is what chat:token calls; `finish` is the synchronous end (done, error, stop).
 */
export class StreamingMarkdown implements Flushable {
  readonly element: HTMLElement;
  private readonly tail: HTMLElement;
  private readonly batcher: FrameBatcher;
  private readonly splitter = new BlockSplitter();
  private text = "";
  private pending = "";
  private committed = 0;
  private mode: Tail | null = null;
  private started = false;
  private finished = false;

  constructor(element: HTMLElement, batcher: FrameBatcher) {
    this.element = element;
    this.batcher = batcher;
    this.tail = document.createElement("div");
    this.tail.className = "md-tail";
    this.element.append(this.tail);
  }

  /** All text received so far (shown or still buffered). */
  get fullText(): string {
    return this.text + this.pending;
  }

  /** The text that is on screen. */
  get shownText(): string {
    return this.text;
  }

  get isEmpty(): boolean {
    return this.text.length === 0 && this.pending.length === 0;
  }

  append(delta: string): void {
    if (this.finished || !delta) return;
    this.batcher.stats.tokens += 1;
    this.pending += delta;
    if (!this.started) {
      this.started = true;
      this.batcher.flushNow(this); // the first token appears at once
    } else {
      this.batcher.mark(this);
    }
  }

  /** Synchronous flush of buffered text (stays streaming). */
  flush(): void {
    this.batcher.flushNow(this);
  }

  /**
   * Ends the stream: flushes what is buffered, synchronously, and renders the tail as final
   * (highlighting a code block the reply ended in); the tail's wrapper goes, so the DOM is that
   * of a fresh render. Later appends are ignored.
   */
  finish(): void {
    if (this.finished) return;
    this.batcher.flushNow(this);
    this.finished = true;
    const rest = this.text.slice(this.committed);
    const mode = this.mode;
    const nl = rest.indexOf("\n");
    if (mode?.kind === "para" && (nl < 0 || !/\S/.test(rest.slice(nl)))) {
      this.finishParagraph(mode, nl < 0 ? rest : rest.slice(0, nl));
    } else if (rest.length > 0) {
      this.tail.replaceChildren(toFragment(renderMarkdown(rest, { final: true })));
    } else {
      this.tail.replaceChildren();
    }
    this.tail.replaceWith(...Array.from(this.tail.childNodes));
    this.mode = null;
  }

  flushPending(): boolean {
    if (this.finished || !this.pending) return false;
    this.text += this.pending;
    this.pending = "";
    const cut = this.splitter.advance(this.text);
    if (cut > this.committed) this.commit(cut);
    this.renderTail();
    return true;
  }

  /** Renders the finished blocks up to `cut` once (keeping the paragraph already on screen). */
  private commit(cut: number): void {
    let done = this.text.slice(this.committed, cut);
    const mode = this.mode;
    if (mode?.kind === "para") {
      const end = done.indexOf("\n");
      // Only when the paragraph ended at a blank line (a second line could make it anything).
      if (end > 0 && /^\n[ \t]*(?:\n|$)/.test(done.slice(end))) {
        this.finishParagraph(mode, done.slice(0, end));
        this.element.insertBefore(mode.p, this.tail);
        this.element.insertBefore(document.createTextNode("\n"), this.tail);
        done = /\S/.test(done.slice(end)) ? done.slice(end) : "";
      }
    }
    this.committed = cut;
    this.mode = null;
    this.tail.replaceChildren();
    if (done) this.element.insertBefore(toFragment(renderMarkdown(done, { final: true, keepEnd: true })), this.tail);
  }

  private renderTail(): void {
    const rest = this.text.slice(this.committed);
    if (this.mode === null) this.mode = this.chooseMode(rest);
    const mode = this.mode;
    if (mode.kind === "code") {
      // The open fence's code: what marked would show (one or two trailing newlines wait).
      const code = rest.slice(mode.bodyStart).replace(/\n$/, "").replace(/\n$/, "");
      if (code.length > mode.shown) mode.text.appendData(code.slice(mode.shown));
      mode.shown = code.length;
      // Lines go in blocks of about CODE_CHUNK_CHARS: the browser lays out only the last block
      // again, not the whole code (the final render replaces the blocks with one highlighted text).
      if (mode.shown - mode.sealed > CODE_CHUNK_CHARS) {
        const data = mode.text.data;
        const nl = data.lastIndexOf("\n");
        if (nl > 0) {
          mode.text.data = data.slice(0, nl + 1);
          mode.sealed += nl + 1;
          const chunk = document.createElement("span");
          chunk.className = "code-chunk";
          mode.text = document.createTextNode(data.slice(nl + 1));
          chunk.append(mode.text);
          mode.code.append(chunk);
        }
      }
      return;
    }
    if (mode.kind === "para") {
      const nl = rest.indexOf("\n");
      if (nl < 0) {
        this.updateParagraph(mode, rest);
        return;
      }
      if (!/\S/.test(rest.slice(nl))) return; // the line ended: wait for what comes next
      this.mode = { kind: "full" }; // a second line may change what the block is
    }
    this.tail.replaceChildren(toFragment(renderMarkdown(rest, { final: false })));
  }

  private chooseMode(rest: string): Tail {
    const nl = rest.indexOf("\n");
    if (nl > 0 && this.splitter.inFence) {
      const first = rest.slice(0, nl);
      if (openingFence(first) && !/^[ \t]/.test(first)) {
        this.tail.replaceChildren(toFragment(renderMarkdown(first, { final: false })));
        const codeEl = this.tail.querySelector("code");
        if (codeEl) {
          const chunk = document.createElement("span");
          chunk.className = "code-chunk";
          const text = document.createTextNode("");
          chunk.append(text);
          codeEl.replaceChildren(chunk);
          return { kind: "code", code: codeEl as HTMLElement, text, bodyStart: nl + 1, shown: 0, sealed: 0 };
        }
      }
    }
    if (nl < 0 && PARAGRAPH_START.test(rest)) {
      const p = document.createElement("p");
      this.tail.replaceChildren(p);
      return { kind: "para", p, block: p, blockChars: 0, stable: 0, live: [], checkedAt: 0 };
    }
    return { kind: "full" };
  }

  /** A one-line paragraph: seal a safe prefix of the live end when it grows, re-render the rest. */
  private updateParagraph(mode: Extract<Tail, { kind: "para" }>, line: string): void {
    let live = line.slice(mode.stable);
    if (live.length >= mode.checkedAt + SEGMENT_CHARS) {
      mode.checkedAt = live.length;
      const cut = inlineSafeCut(live);
      if (cut > 0) {
        for (const node of mode.live) node.parentNode?.removeChild(node);
        mode.live = [];
        if (mode.blockChars >= PARA_BLOCK_CHARS || mode.block === mode.p) {
          // A very long paragraph streams in layout blocks, so a frame lays out only the last one
          // (one line may end early at a block's end until the reply ends and they are unwrapped).
          const block = document.createElement("span");
          block.className = "para-chunk";
          mode.p.append(block);
          mode.block = block;
          mode.blockChars = 0;
        }
        mode.block.append(toFragment(renderInline(live.slice(0, cut))));
        mode.blockChars += cut;
        mode.stable += cut;
        mode.checkedAt = 0;
        live = live.slice(cut);
      }
    }
    for (const node of mode.live) node.parentNode?.removeChild(node);
    const fragment = toFragment(renderInline(live));
    mode.live = Array.from(fragment.childNodes);
    mode.block.append(fragment);
  }

  /** The paragraph's last render, as marked renders the whole line; text nodes merged. */
  private finishParagraph(mode: Extract<Tail, { kind: "para" }>, line: string): void {
    for (const node of mode.live) node.parentNode?.removeChild(node);
    mode.live = [];
    mode.block.append(toFragment(renderInline(line.slice(mode.stable))));
    for (const block of Array.from(mode.p.querySelectorAll(":scope > .para-chunk"))) block.replaceWith(...Array.from(block.childNodes));
    mode.p.normalize();
  }
}

/** Plain streaming text (thinking): appended to one text node, throttled like markdown. */
export class StreamingText implements Flushable {
  readonly element: HTMLElement;
  private readonly node: Text;
  private readonly batcher: FrameBatcher;
  private pending = "";
  private started = false;
  private finished = false;

  constructor(element: HTMLElement, batcher: FrameBatcher) {
    this.element = element;
    this.batcher = batcher;
    this.node = document.createTextNode("");
    this.element.append(this.node);
  }

  get text(): string {
    return this.node.data + this.pending;
  }

  append(delta: string): void {
    if (this.finished || !delta) return;
    this.batcher.stats.thinking += 1;
    this.pending += delta;
    if (!this.started) {
      this.started = true;
      this.batcher.flushNow(this);
    } else {
      this.batcher.mark(this);
    }
  }

  finish(): void {
    if (this.finished) return;
    this.batcher.flushNow(this);
    this.finished = true;
  }

  flushPending(): boolean {
    if (this.finished || !this.pending) return false;
    this.node.appendData(this.pending);
    this.pending = "";
    return true;
  }
}

/** Renders a complete markdown text at once (history restored from storage). */
export function renderStatic(element: HTMLElement, text: string): void {
  element.append(toFragment(renderMarkdown(text, { final: true })));
}

export { decorateCode };
