/**
 * A command's hold on an interface, from attach to a clean exit on every path:
 * Ctrl-C, SIGTERM, SIGHUP, --duration, the interface vanishing, stdout closing,
 * a tool failing. Whatever happens, the program is detached (if it is still
 * ours), the pins and the owner file are removed.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { XwError } from "../errors";
import { log, withProgress } from "../log";
import type { ProgramConfig } from "../bpf/layout";
import type { Cidr } from "../net/cidr";
import { attachProgram, detachProgram, type Attached, type ModeChoice } from "./program";
import { isAlive, ownerFile, readOwner, removeIfEmpty, removePins, RUN_DIR } from "./pins";
import { preflight } from "../system/checks";
import { enableStats, programCost, type ProgramCost } from "./cost";
import { Reader } from "./reader";

/** Why a run ended; anything but the first four is a failure. */
export type StopReason = "signal" | "count" | "duration" | "stdout closed" | "interface gone";

export class Stop {
  reason?: StopReason;
  detail?: string;
  private wake: () => void = () => undefined;

  get stopped(): boolean {
    return this.reason !== undefined;
  }

  stop(reason: StopReason, detail?: string): void {
    if (this.reason) return;
    this.reason = reason;
    this.detail = detail;
    this.wake();
  }

  /** Sleeps, but wakes at once when stopped. */
  sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

export interface SessionOptions {
  iface: string;
  mode: ModeChoice;
  object?: string;
  force?: boolean;
  config: ProgramConfig;
  block?: readonly Cidr[];
  srcFilter?: readonly Cidr[];
  durationSec?: number;
  /** Turn on kernel.bpf_stats_enabled for the run (restored at exit). */
  stats?: boolean;
}

export interface Session {
  attached: Attached;
  reader: Reader;
  stop: Stop;
  /** Detaches now (idempotent), so that a final poll sees counters that no longer move. */
  detach(): Promise<void>;
  /** Fails the run if the interface was deleted or moved away. */
  checkInterface(): void;
  /** Milliseconds since attach. */
  elapsedMs(): number;
  /** The program's measured ns/packet so far, when the kernel counts it. */
  cost(): Promise<ProgramCost | undefined>;
}

function claimOwner(iface: string): void {
  mkdirSync(RUN_DIR, { recursive: true });
  const file = ownerFile(iface);
  // "wx" first: of two processes racing for one interface exactly one creates the file.
  // Only a file left by a dead process is replaced, and only once.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
      return;
    } catch {
      const owner = readOwner(iface);
      if (owner !== undefined && isAlive(owner))
        throw new XwError(`${iface} is already watched by xdpwatch (pid ${owner})`, { hint: "one xdpwatch per interface" });
      rmSync(file, { force: true });
    }
  }
  throw new XwError(`${iface} is being claimed by another xdpwatch right now`);
}

function releaseOwner(iface: string): void {
  if (readOwner(iface) === process.pid) rmSync(ownerFile(iface), { force: true });
  removeIfEmpty(RUN_DIR);
}

function readIfindex(iface: string): number | undefined {
  try {
    return Number(readFileSync(`/sys/class/net/${iface}/ifindex`, "utf8"));
  } catch {
    return undefined;
  }
}

export async function withSession<T>(opts: SessionOptions, body: (s: Session) => Promise<T>): Promise<T> {
  await preflight();
  claimOwner(opts.iface);
  const stop = new Stop();
  // Caught from here on, also while attaching: the run then ends as soon as it can, cleanly.
  const onSignal = (sig: NodeJS.Signals) => {
    log.debug(`received ${sig}`);
    stop.stop("signal", sig);
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const sig of signals) process.on(sig, onSignal);

  let restoreStats = () => undefined as void;
  let attached: Attached | undefined;
  let reader: Reader | undefined;
  let detached = false;
  let timer: Timer | undefined;
  const started = performance.now();
  try {
    if (opts.stats) restoreStats = enableStats();
    attached = await withProgress(`loading and attaching to ${opts.iface}`, attachProgram(opts));
    const att = attached;
    log.debug(`attached program id ${att.progId} in ${(performance.now() - started).toFixed(0)} ms`);
    if (opts.durationSec !== undefined) timer = setTimeout(() => stop.stop("duration"), opts.durationSec * 1000);
    reader = new Reader(att.pins, att.ring);
    const session: Session = {
      attached: att,
      reader,
      stop,
      detach: async () => {
        if (detached) return;
        detached = true;
        await detachProgram(att);
      },
      checkInterface: () => {
        if (readIfindex(att.iface) !== att.ifindex) stop.stop("interface gone", `${att.iface} was deleted or moved to another network namespace`);
      },
      elapsedMs: () => performance.now() - started,
      cost: () => programCost(att.progId),
    };
    const result = await body(session);
    if (stop.reason === "interface gone") throw new XwError(stop.detail ?? `${opts.iface} went away`);
    return result;
  } finally {
    clearTimeout(timer);
    // A second Ctrl-C during cleanup must not cut it short: the handler stays until the end.
    if (attached && !detached) await detachProgram(attached).catch((err) => log.error(`detaching failed: ${(err as Error).message}`));
    await reader?.close();
    if (attached) removePins(attached.pins);
    restoreStats();
    releaseOwner(opts.iface);
    for (const sig of signals) process.off(sig, onSignal);
  }
}
