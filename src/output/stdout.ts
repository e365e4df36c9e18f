/**
 * Data on stdout, written a poll at a time as bytes; a closed reader (`| head`)
 * stops the run instead of crashing it, and is noticed even when nothing more
 * is written.
 */
import { fstatSync, writeSync } from "node:fs";
import { watchStdoutPipe } from "../tools/tail";
import type { RecordBatch } from "../xdp/batch";
import type { PacketEncoder } from "./encoder";

const STDOUT = 1;
/** Records encoded per write(): about a megabyte of NDJSON. */
const RECORDS_PER_WRITE = 4096;

export class DataOut {
  closed = false;
  private readonly listeners: (() => void)[] = [];
  private buf = new Uint8Array(1 << 16);
  private readonly utf8 = new TextEncoder();

  constructor() {
    this.watchPipe();
  }

  onClosed(fn: () => void): void {
    this.listeners.push(fn);
    if (this.closed) fn();
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.listeners) fn();
  }

  write(lines: readonly string[]): void {
    if (this.closed || lines.length === 0) return;
    this.writeBytes(this.utf8.encode(`${lines.join("\n")}\n`));
  }

  /** The first `n` records of `batch`, encoded by `encoder`. */
  writeRecords(encoder: PacketEncoder, batch: RecordBatch, n: number): void {
    for (let from = 0; from < n && !this.closed; from += RECORDS_PER_WRITE) {
      const count = Math.min(RECORDS_PER_WRITE, n - from);
      const need = count * encoder.maxRecordBytes;
      if (this.buf.length < need) this.buf = new Uint8Array(need);
      this.writeBytes(this.buf.subarray(0, encoder.encode(batch, from, from + count, this.buf, 0)));
    }
  }

  /**
   * Blocking writes: to a file that is the fastest way, and a slow pipe holds
   * the reader back (the kernel's ring absorbs the wait, and what it cannot hold
   * is counted lost) instead of data piling up in memory.
   */
  private writeBytes(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length && !this.closed) {
      try {
        at += writeSync(STDOUT, bytes, at, bytes.length - at);
      } catch (err) {
        // A non-blocking stdout, inherited from whoever started us: wait for room.
        if ((err as NodeJS.ErrnoException).code === "EAGAIN") Bun.sleepSync(1);
        else this.markClosed();
      }
    }
  }

  /**
   * A pipe whose reader went away shows at the next write, which, with a
   * filter that matches nothing more, may never come: a watcher tells us
   * sooner (src/tools/tail.ts). Without GNU tail: the next write.
   */
  private watchPipe(): void {
    let pipe = false;
    try {
      pipe = fstatSync(STDOUT).isFIFO();
    } catch {
      // no stdout at all
    }
    const watcher = pipe ? watchStdoutPipe(() => this.markClosed()) : undefined;
    // It holds our stdout open: whoever reads it sees the end only once it is gone too.
    if (watcher) process.once("exit", () => watcher.kill());
  }
}
