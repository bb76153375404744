// What every transport shares: line and close listeners, with nothing lost to a late listener.
// Lines that arrive before the client registers its listener are kept until it does (so
// `sidecar:ready` is never missed), and a close listener added after the close is called at once.

export class LineChannel {
  private lineListeners: Array<(line: string) => void> = [];
  private closeListeners: Array<(reason: string) => void> = [];
  private backlog: string[] | null = [];
  private closedReason: string | null = null;

  get closed(): boolean {
    return this.closedReason !== null;
  }

  emitLine(line: string): void {
    if (this.backlog) this.backlog.push(line);
    else for (const listener of this.lineListeners) listener(line);
  }

  /** Only the first close counts. */
  emitClose(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    for (const listener of this.closeListeners) listener(reason);
  }

  onLine(listener: (line: string) => void): void {
    this.lineListeners.push(listener);
    if (this.backlog) {
      const lines = this.backlog;
      this.backlog = null;
      for (const line of lines) listener(line);
    }
  }

  onClose(listener: (reason: string) => void): void {
    this.closeListeners.push(listener);
    if (this.closedReason !== null) listener(this.closedReason);
  }
}
