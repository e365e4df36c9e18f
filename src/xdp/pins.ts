/** Where xdpwatch keeps its state: pins in bpffs, an owner file in /run. */
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { XwError } from "../errors";
import { log } from "../log";
import { run } from "../tools/run";

export const BPFFS = "/sys/fs/bpf";
export const PIN_ROOT = join(BPFFS, "xdpwatch");
/** `bench` loads its programs here, never attached, one directory per run. */
export const BENCH_ROOT = join(BPFFS, "xdpwatch-bench");
export const RUN_DIR = "/run/xdpwatch";
export const PROG_NAME = "xdpwatch";
const BPF_FS_MAGIC = 0xcafe4a11;

export interface Pins {
  dir: string;
  prog: string;
  mapDir: string;
  stats: string;
  ring: string;
  sources: string;
  block: string;
  srcFilter: string;
}

export function pinsFor(iface: string): Pins {
  return pinsAt(join(PIN_ROOT, iface));
}

/** The layout of one loaded program's pins under `dir`. */
export function pinsAt(dir: string): Pins {
  const mapDir = join(dir, "maps");
  return {
    dir,
    prog: join(dir, PROG_NAME),
    mapDir,
    stats: join(mapDir, "xw_stats"),
    ring: join(mapDir, "xw_ring"),
    sources: join(mapDir, "xw_sources"),
    block: join(mapDir, "xw_block"),
    srcFilter: join(mapDir, "xw_src_filter"),
  };
}

export function isBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/** Pins need bpffs; many servers do not mount it at boot. */
export async function ensureBpffs(): Promise<void> {
  if (isBpffs(BPFFS)) return;
  const failed = (why: string) =>
    new XwError(`bpffs is not mounted at ${BPFFS} and mounting it failed: ${why}`, {
      hint: `mount it yourself: mount -t bpf bpf ${BPFFS}`,
    });
  try {
    mkdirSync(BPFFS, { recursive: true });
  } catch (err) {
    throw failed((err as Error).message);
  }
  const res = await run(["mount", "-t", "bpf", "bpf", BPFFS], { allowFailure: true });
  if (res.exitCode !== 0 || !isBpffs(BPFFS)) throw failed(res.stderr.trim() || "it is still not bpffs");
  log.info(`mounted bpffs at ${BPFFS} (it was not mounted)`);
}

/** Removes a directory only if empty: another interface may still use it. */
export function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty, or already gone
  }
}

export function removePins(pins: Pins): void {
  rmSync(pins.dir, { recursive: true, force: true });
  removeIfEmpty(PIN_ROOT);
}

/** The owner file names the process that watches an interface. */
export function ownerFile(iface: string): string {
  return join(RUN_DIR, `${iface}.pid`);
}

export function readOwner(iface: string): number | undefined {
  try {
    const pid = Number(readFileSync(ownerFile(iface), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function hasPins(pins: Pins): boolean {
  return existsSync(pins.dir);
}
