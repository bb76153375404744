// Scroll pinning: the view follows new text only while it is pinned to the bottom. Any upward
// scroll by the user unpins it (and shows "Jump to latest"); scrolling back to the bottom, or the
// button, pins it again. Content growing below an unpinned view never moves it.

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
    this.updateButton();
  }

  get pinned(): boolean {
    return this.pinnedState;
  }

  onChange(listener: (pinned: boolean) => void): void {
    this.listeners.push(listener);
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
