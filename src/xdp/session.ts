/**
 * The one start/stop scaffold of watch and top: attach, poll until a reason to
 * stop, then detach, read once more (the counters no longer move), print the
 * summary and give everything back, on every path: Ctrl-C, SIGTERM, SIGHUP,
 * --duration, --count, stdout closing, the interface vanishing, a tool failing.
 */
import { XwError } from "../errors";
import { log, withProgress } from "../log";
import type { Stats } from "../bpf/layout";
import { accounting, logSummary, summaryRecord } from "../output/format";
import type { DataOut } from "../output/stdout";
import { attachProgram, linkByIfindex, type Attached, type AttachOptions } from "./hook";
import { finishRelease, releaseAll, releaseHook } from "./release";
import { namesInNetns, readIfindex, sysfsIsOurs } from "./iface";
import * as ip from "../tools/ip";
import { enableStats, programCost } from "./cost";
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

export interface SessionOptions extends AttachOptions {
  command: "watch" | "top";
  durationSec?: number;
  /** Turn on kernel.bpf_stats_enabled for the run (restored at exit). */
  stats?: boolean;
  out: DataOut;
  json: boolean;
}

export interface Session {
  attached: Attached;
  reader: Reader;
  stop: Stop;
}

/** What the start-up line says each command does. */
const DOING: Record<SessionOptions["command"], string> = { watch: "watching", top: "counting sources on" };

/** What a command does inside the scaffold. */
export interface SessionLoop {
  /** One round of reading and showing; returns the ms to wait before the next. */
  step(): Promise<number>;
  /** The last read, once detached; its counters are the summary's. */
  final(): Promise<Stats>;
  /** Figures of the command's own for the summary (records printed). */
  extra?(): Record<string, number>;
}

export async function runSession(opts: SessionOptions, makeLoop: (s: Session) => SessionLoop): Promise<void> {
  const stop = new Stop();
  // Caught from here on, also while attaching: the run then ends as soon as it can, cleanly.
  // Helpers run in sessions of their own, so a terminal's Ctrl-C reaches this process only.
  const onSignal = (sig: NodeJS.Signals) => {
    log.debug(`received ${sig}`);
    stop.stop("signal", sig);
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const sig of signals) process.on(sig, onSignal);
  opts.out.onClosed(() => stop.stop("stdout closed"));

  let restoreStats = () => undefined as void;
  let attached: Attached | undefined;
  let reader: Reader | undefined;
  let timer: Timer | undefined;
  let released = false;
  let releaseError: unknown;
  const started = performance.now();
  try {
    if (opts.stats) restoreStats = enableStats();
    attached = await withProgress(`loading and attaching to ${opts.iface}`, attachProgram(opts));
    const att = attached;
    log.debug(`attached program id ${att.progId} in ${(performance.now() - started).toFixed(0)} ms`);
    if (opts.durationSec !== undefined) timer = setTimeout(() => stop.stop("duration"), opts.durationSec * 1000);
    // Said as soon as the program counts; the reader's bpftool starts after (the ring keeps what comes meanwhile).
    log.info(`${DOING[opts.command]} ${att.ref.name} (${att.mode} mode, program id ${att.progId}); Ctrl-C to stop`);
    if (opts.describe) log.info(`filters: ${opts.describe}`);
    reader = new Reader(att.pins, att.ring);
    const loop = makeLoop({ attached: att, reader, stop });
    const follow = interfaceFollower(att, stop);
    while (!stop.stopped) {
      const wait = await loop.step();
      await follow();
      if (wait > 0) await stop.sleep(wait);
    }
    // Off the hook before the last read: its counters then no longer move. A program
    // that cannot be put back fails the run, after the summary (finishRelease throws it).
    released = true;
    const done = await releaseHook(att.ref, att.progId, att.pins).catch((err: unknown) => {
      releaseError = err;
      return undefined;
    });
    const stats = await loop.final();
    const cost = await programCost(att.progId);
    const record = summaryRecord(
      { iface: att.ref.name, mode: att.mode, elapsedMs: performance.now() - started, stoppedBy: stop.reason },
      accounting(stats, reader),
      { ...loop.extra?.(), ...cost },
    );
    if (opts.json) opts.out.write([JSON.stringify(record)]);
    logSummary(record);
    if (stop.reason === "interface gone") throw new XwError(stop.detail ?? `${opts.iface} went away`);
    if (done?.gone) log.warn(`${att.ref.name} went away while stopping: nothing left to detach there`);
  } finally {
    clearTimeout(timer);
    await reader?.close();
    // A second Ctrl-C during clean-up must not cut it short: the handlers stay until the end.
    // The hook was released above unless the run failed before (then here); either way once.
    try {
      if (attached) await (released ? finishRelease(attached, releaseError) : releaseAll(attached));
    } finally {
      restoreStats();
      for (const sig of signals) process.off(sig, onSignal);
    }
  }
}

/** How often the interface's ifindex is confirmed through netlink when sysfs is not this namespace's. */
const CONFIRM_MS = 1000;

/**
 * The run holds the interface by ifindex: a rename is followed (container
 * runtimes rename), a deletion or a move to another namespace ends the run.
 * Each poll reads the name's ifindex from sysfs when sysfs shows this
 * namespace (a file read, no process); otherwise it checks that the name is
 * in /proc/self/net/dev and asks netlink once a second. Netlink, which knows
 * ifindexes, is also asked whenever the name no longer leads to the ifindex.
 */
function interfaceFollower(att: Attached, stop: Stop): () => Promise<void> {
  // Names alone can agree with another namespace's sysfs (lo, eth0): its ifindex must agree too.
  let bySysfs = sysfsIsOurs() && readIfindex(att.ref.name) === att.ref.ifindex;
  let confirmedAt = performance.now();
  return async () => {
    if (bySysfs ? readIfindex(att.ref.name) === att.ref.ifindex : namesInNetns().has(att.ref.name) && performance.now() - confirmedAt < CONFIRM_MS) return;
    const byName = await ip.showLink(att.ref.name).catch(() => undefined);
    const now = byName?.ifindex === att.ref.ifindex ? byName : await linkByIfindex(att.ref.ifindex);
    if (!now) {
      stop.stop(
        "interface gone",
        `${att.ref.name} was deleted or moved to another network namespace (moved, it keeps xdpwatch's program id ${att.progId}: \`xdpwatch detach -i ${att.ref.name}\` run in that namespace removes it)`,
      );
      return;
    }
    if (now.ifname !== att.ref.name) {
      log.info(`${att.ref.name} was renamed to ${now.ifname}; still watching it`);
      att.ref.name = now.ifname;
    } else bySysfs = false; // sysfs disagreed with netlink about the same link: it is not this namespace's
    confirmedAt = performance.now();
  };
}
