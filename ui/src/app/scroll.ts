// Scroll pinning: the view follows new text only while it is pinned to the bottom. Any upward
// scroll by the user unpins it (and shows "Jump to latest"); scrolling back to the bottom, or the
// button, pins it again. Content growing below an unpinned view never moves it.
//
// While pinned, a ResizeObserver on the content keeps the view at the bottom: its callback runs
// after the browser's own layout of the frame, so following the text never forces a synchronous
// layout (reading scrollHeight right after a DOM write would, once per frame). The mouse wheel
// over the floating "Jump to latest" button scrolls the conversation as it would anywhere else.

const BOTTOM_SLACK_PX = 8;

export class ScrollPin {
  readonly scroller: HTMLElement;
  private readonly jumpButton: HTMLElement | null;
  private pinnedState = true;
  private lastTop = 0;
  private lastHeight = 0;
  private readonly listeners: Array<(pinned: boolean) => void> = [];

  constructor(scroller: HTMLElement, jumpButton: HTMLElement | null = null) {
    this.scroller = scroller;
    this.jumpButton = jumpButton;
    this.lastTop = scroller.scrollTop;
    this.lastHeight = scroller.scrollHeight;
    scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    scroller.addEventListener("wheel", (e) => this.onWheel(e), { passive: true });
    scroller.addEventListener("keydown", (e) => this.onKey(e));
    jumpButton?.addEventListener("click", () => this.jumpToLatest());
    jumpButton?.addEventListener("wheel", (e) => this.forwardWheel(e), { passive: false });
    if (typeof ResizeObserver === "function") {
      const observer = new ResizeObserver(() => {
        if (this.pinnedState) this.toBottom();
        else this.updateButton();
      });
      for (const child of Array.from(scroller.children)) observer.observe(child);
      observer.observe(scroller);
      this.observing = true;
    }
    this.updateButton();
  }

  /** Whether a ResizeObserver follows the content (then `follow()` after a flush can wait for it). */
  readonly observing: boolean = false;

  get pinned(): boolean {
    return this.pinnedState;
  }

  onChange(listener: (pinned: boolean) => void): void {
    this.listeners.push(listener);
  }

  /** After a streaming flush: the ResizeObserver follows the text after layout, when there is one. */
  followLater(): void {
    if (!this.observing) this.follow();
  }

  /** Call after the content changed: keeps a pinned view at the bottom, leaves others alone. */
  follow(): void {
    if (this.pinnedState) this.toBottom();
    else this.updateButton();
  }

  /** Pins and scrolls to the bottom (sending a message, "Jump to latest"). */
  jumpToLatest(): void {
    this.setPinned(true);
    this.toBottom();
  }

  distanceFromBottom(): number {
    const el = this.scroller;
    return el.scrollHeight - el.clientHeight - el.scrollTop;
  }

  private toBottom(): void {
    const el = this.scroller;
    const target = el.scrollHeight - el.clientHeight;
    if (target > el.scrollTop) el.scrollTop = target;
    this.lastTop = el.scrollTop;
    this.lastHeight = el.scrollHeight;
    this.updateButton();
  }

  private onScroll(): void {
    const el = this.scroller;
    const top = el.scrollTop;
    const height = el.scrollHeight;
    const shrunk = height < this.lastHeight; // content removed: the browser clamped scrollTop
    if (top < this.lastTop - 1 && !shrunk) {
      this.setPinned(false);
    } else if (this.distanceFromBottom() <= BOTTOM_SLACK_PX && (top > this.lastTop || shrunk)) {
      this.setPinned(true);
    }
    this.lastTop = top;
    this.lastHeight = height;
    this.updateButton();
  }

  /** The wheel over the floating button: scroll the conversation under it. */
  private forwardWheel(event: WheelEvent): void {
    if (event.ctrlKey) return; // pinch-zoom stays the browser's
    const line = 16;
    const page = this.scroller.clientHeight;
    const unit = event.deltaMode === 1 ? line : event.deltaMode === 2 ? page : 1;
    event.preventDefault();
    this.onWheel(event);
    this.scroller.scrollBy({ top: event.deltaY * unit, left: 0 });
  }

  private onWheel(event: WheelEvent): void {
    if (event.deltaY < 0 && this.scroller.scrollTop > 0) this.setPinned(false);
  }

  private onKey(event: KeyboardEvent): void {
    if (["PageUp", "ArrowUp", "Home"].includes(event.key) && this.scroller.scrollTop > 0) {
      this.setPinned(false);
    }
  }

  private setPinned(pinned: boolean): void {
    if (this.pinnedState === pinned) return;
    this.pinnedState = pinned;
    this.scroller.dataset.pinned = String(pinned);
    this.updateButton();
    for (const listener of this.listeners) listener(pinned);
  }

  private updateButton(): void {
    if (!this.jumpButton) return;
    const show = !this.pinnedState && this.distanceFromBottom() > BOTTOM_SLACK_PX;
    this.jumpButton.hidden = !show;
  }
}
