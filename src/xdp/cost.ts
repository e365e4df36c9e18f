/**
 * The program's measured cost on the traffic it really saw: with the sysctl
 * kernel.bpf_stats_enabled on, the kernel adds up run_time_ns and run_cnt for
 * every program. It costs a little per packet, so xdpwatch turns it on only
 * when asked (--stats) and puts the old value back at exit.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { XwError } from "../errors";
import { log } from "../log";
import { showProg } from "../tools/bpftool";

const SYSCTL = "/proc/sys/kernel/bpf_stats_enabled";

export interface ProgramCost {
  run_cnt: number;
  run_time_ns: number;
  ns_per_packet: number;
}

export function statsEnabled(): boolean {
  try {
    return readFileSync(SYSCTL, "utf8").trim() === "1";
  } catch {
    return false;
  }
}

/** Turns the counting on; returns what puts the previous setting back. */
export function enableStats(): () => void {
  if (statsEnabled()) return () => undefined;
  try {
    writeFileSync(SYSCTL, "1");
  } catch (err) {
    throw new XwError(`cannot enable kernel.bpf_stats_enabled: ${(err as Error).message}`);
  }
  log.info("kernel.bpf_stats_enabled=1 for this run (--stats); it is set back to 0 at exit");
  return () => {
    try {
      writeFileSync(SYSCTL, "0");
    } catch (err) {
      log.warn(`could not set kernel.bpf_stats_enabled back to 0: ${(err as Error).message}`);
    }
  };
}

export function costOf(info: { run_cnt?: number; run_time_ns?: number }): ProgramCost | undefined {
  if (!info.run_cnt || info.run_time_ns === undefined) return undefined;
  return { run_cnt: info.run_cnt, run_time_ns: info.run_time_ns, ns_per_packet: Math.round((info.run_time_ns / info.run_cnt) * 10) / 10 };
}

/** Undefined unless the kernel is counting (and the program has run); bpftool is not asked otherwise. */
export async function programCost(progId: number): Promise<ProgramCost | undefined> {
  if (!statsEnabled()) return undefined;
  const info = await showProg(progId);
  return info ? costOf(info) : undefined;
}
