// The streaming renderer. Deltas are shown at once for the first one, then buffered and written
// at most once per animation frame (a throttle: a steady stream updates every frame, it is never
// postponed while tokens keep coming). done / error / stop flush synchronously. Only the last
// markdown block of a streaming text is re-rendered: the text is split at the last blank line
// outside a code fence, the finished blocks before it are rendered once and appended, and their
// DOM nodes are never touched again.

import { renderMarkdown, toFragment, openingFence, closesFence } from "./markdown";

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
 * start with whitespace (an indented line may continue a list item or an indented code block).
 * Lines are scanned once: the scan resumes where it stopped.
 */
export class BlockSplitter {
  private scanned = 0; // start of the first line not yet scanned (always a line start)
  private fence: { char: string; length: number } | null = null;
  private prevBlank = false;
  private cut = 0;

  /** Returns the latest cut position in `text` (which only ever grows). */
  advance(text: string): number {
    for (;;) {
      const nl = text.indexOf("\n", this.scanned);
      if (nl < 0) break;
      this.scanLine(text.slice(this.scanned, nl), this.scanned);
      this.scanned = nl + 1;
    }
    // The incomplete last line: its first character is enough to know a new block starts.
    if (!this.fence && this.prevBlank && this.scanned < text.length) {
      if (!/[ \t\r]/.test(text[this.scanned])) this.cut = Math.max(this.cut, this.scanned);
    }
    return this.cut;
  }

  /** Whether the scanned text ends inside an open code fence. */
  get inFence(): boolean {
    return this.fence !== null;
  }

  private scanLine(rawLine: string, start: number): void {
    const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    if (this.fence) {
      if (closesFence(line, this.fence)) this.fence = null;
      this.prevBlank = false;
      return;
    }
    if (line.trim() === "") {
      this.prevBlank = true;
      return;
    }
    if (this.prevBlank && !/^[ \t]/.test(line)) this.cut = Math.max(this.cut, start);
    this.prevBlank = false;
    const fence = openingFence(line);
    if (fence) this.fence = fence;
  }
}

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
  private started = false;
  private finished = false;
  private renderedFinal = false;

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
   * (highlighting a code block the reply ended in). Later appends are ignored.
   */
  finish(): void {
    if (this.finished) return;
    this.batcher.flushNow(this);
    this.finished = true;
    if (!this.renderedFinal && this.text.length > this.committed) {
      this.tail.innerHTML = renderMarkdown(this.text.slice(this.committed), { final: true });
      this.renderedFinal = true;
    }
  }

  flushPending(): boolean {
    if (this.finished || !this.pending) return false;
    this.text += this.pending;
    this.pending = "";
    const cut = this.splitter.advance(this.text);
    if (cut > this.committed) {
      const done = this.text.slice(this.committed, cut);
      this.committed = cut;
      this.element.insertBefore(toFragment(renderMarkdown(done, { final: true })), this.tail);
    }
    this.tail.innerHTML = renderMarkdown(this.text.slice(this.committed), { final: false });
    return true;
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
