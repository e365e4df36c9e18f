/** Data on stdout, written a poll at a time; a closed reader (`| head`) stops the run instead of crashing it. */
export class DataOut {
  closed = false;
  private readonly listeners: (() => void)[] = [];

  constructor() {
    process.stdout.on("error", () => this.markClosed());
  }

  onClosed(fn: () => void): void {
    this.listeners.push(fn);
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.listeners) fn();
  }

  write(lines: readonly string[]): void {
    if (this.closed || lines.length === 0) return;
    try {
      process.stdout.write(`${lines.join("\n")}\n`);
    } catch {
      this.markClosed();
    }
  }
}
