/** The long-lived `bpftool batch` process that answers every poll of the reader. */
import { closeSync, existsSync, ftruncateSync, openSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XwError } from "../errors";
import { log } from "../log";
import { lastLines, requireTool } from "./run";

/** A full ring takes well under a second to read; an answer this late will not come. */
const BATCH_TIMEOUT_MS = 15_000;
/** How long to let bpftool write before looking again: a 512-record page takes it ~50 µs. */
const ANSWER_WAIT_MS = 1;

/**
 * The end of every batch answer: a command whose output starts with `marker`.
 * bpftool 7 writes its output a line at a time, stdbuf or not (seen with
 * strace), so when the marker's line is there, all that came before is too.
 * Should a build block-buffer instead, an output longer than stdio's buffer
 * (the flush page prints over 4 KB) pushes it out all the same. The rest of its
 * output comes ahead of the next answer, where the parsers pass over it: it
 * holds no key asked for.
 */
export interface FlushCommand {
  command: string;
  marker: string;
}

/** An unlinked file to pass bpftool as stdout, and a descriptor to read it: in memory where there is /dev/shm. */
function answerFile(): [number, number] {
  const dirs = [...(existsSync("/dev/shm") ? ["/dev/shm"] : []), tmpdir()];
  for (const dir of dirs) {
    const path = join(dir, `xdpwatch-bpftool-${process.pid}-${Math.random().toString(36).slice(2)}`);
    let out: number | undefined;
    try {
      out = openSync(path, "ax", 0o600);
      return [out, openSync(path, "r")];
    } catch {
      // Not writable here: the next place.
      if (out !== undefined) closeSync(out);
    } finally {
      rmSync(path, { force: true });
    }
  }
  throw new XwError(`cannot create a file for bpftool's answers in ${dirs.join(" or ")}`, { hint: "xdpwatch needs a writable /dev/shm or TMPDIR" });
}

/** What the reader needs of bpftool: command lines in, their output out. Tests give canned answers. */
export interface BatchTransport {
  /** Sends batch lines; resolves with their output, valid until the next request. */
  request(lines: readonly string[]): Promise<Uint8Array>;
  close(): Promise<void>;
}

/**
 * A long-lived `bpftool batch file -`: one process answers every poll, so a
 * poll costs the lookups themselves, not a process start.
 *
 * Its answers go to an unlinked file in memory (/dev/shm), not a pipe: bpftool
 * writes a line at a time, and read from a pipe that made thousands of small
 * reads a second, each costing as much as decoding a hundred records. From
 * the file, one pread() takes all that is there. bpftool appends (O_APPEND),
 * so the file is emptied before each request, whatever bpftool still writes.
 *
 * bpftool runs in a session of its own (setsid), so a terminal's Ctrl-C or a
 * signal to xdpwatch's process group does not kill it mid-run; it still ends
 * with xdpwatch, kill -9 included, because its stdin then closes.
 */
export class BpftoolBatch implements BatchTransport {
  private proc: Bun.Subprocess<"pipe", number, "pipe">;
  private stderr: Promise<string>;
  private readonly marker: Buffer;
  /** bpftool's stdout (append-only) and ours to read it, one unlinked file. */
  private readonly outFd: number;
  private readonly inFd: number;
  /** The answer being read, reused from one request to the next. */
  private buf = Buffer.allocUnsafe(1 << 20);
  private closed = false;

  constructor(private readonly flush: FlushCommand) {
    this.marker = Buffer.from(flush.marker);
    [this.outFd, this.inFd] = answerFile();
    [this.proc, this.stderr] = this.spawn();
  }

  private spawn(): [Bun.Subprocess<"pipe", number, "pipe">, Promise<string>] {
    const proc = Bun.spawn([requireTool("bpftool"), "batch", "file", "-"], {
      stdin: "pipe",
      stdout: this.outFd,
      stderr: "pipe",
      detached: true,
    });
    return [proc, new Response(proc.stderr).text()];
  }

  get pid(): number {
    return this.proc.pid;
  }

  /**
   * Sends the lines, returns the answer. A bpftool killed by a signal from
   * outside (systemd's default KillMode signals every process of the unit, its
   * own session or not) is started again once, so that the final read still
   * happens; one that exits on its own is a failure.
   */
  async request(lines: readonly string[]): Promise<Uint8Array> {
    try {
      return await this.ask(lines);
    } catch (err) {
      if (this.closed || this.proc.signalCode === null || this.proc.signalCode === "SIGKILL") throw err;
      log.debug(`bpftool was killed by ${this.proc.signalCode}: starting it again`);
      [this.proc, this.stderr] = this.spawn();
      return this.ask(lines);
    }
  }

  private async ask(lines: readonly string[]): Promise<Uint8Array> {
    if (this.closed) throw new XwError("the bpftool reader was closed");
    ftruncateSync(this.outFd, 0);
    this.proc.stdin.write(`${lines.join("\n")}\n${this.flush.command}\n`);
    await this.proc.stdin.flush();
    const deadline = performance.now() + BATCH_TIMEOUT_MS;
    let len = 0;
    for (;;) {
      if (len === this.buf.length) {
        const grown = Buffer.allocUnsafe(this.buf.length * 2);
        this.buf.copy(grown, 0, 0, len);
        this.buf = grown;
      }
      const got = readSync(this.inFd, this.buf, len, this.buf.length - len, len);
      if (got > 0) {
        // Only the new bytes, and the marker's length before them where it may have been split.
        const end = this.buf.subarray(0, len + got).indexOf(this.marker, Math.max(0, len - this.marker.length));
        len += got;
        if (end >= 0) return this.buf.subarray(0, end);
        continue;
      }
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        const said = await Promise.race([this.stderr, Bun.sleep(1000).then(() => "")]);
        throw new XwError(`bpftool stopped answering: ${lastLines(said, 1)}`);
      }
      if (performance.now() > deadline) {
        this.proc.kill("SIGKILL");
        throw new XwError(`bpftool did not answer within ${BATCH_TIMEOUT_MS / 1000} s`);
      }
      await Bun.sleep(ANSWER_WAIT_MS);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.proc.stdin.end();
    } catch {
      // already gone
    }
    const exited = await Promise.race([this.proc.exited, Bun.sleep(1000).then(() => undefined)]);
    if (exited === undefined) this.proc.kill("SIGKILL");
    closeSync(this.outFd);
    closeSync(this.inFd);
    log.debug("bpftool reader closed");
  }
}
