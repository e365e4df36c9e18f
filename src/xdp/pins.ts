/**
 * Where xdpwatch keeps a program in bpffs: one directory per interface under
 * PIN_ROOT/<netns>/<ifindex>_<name>, so that the same name in two namespaces,
 * or a renamed interface, never leads one run to another's pins.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statfsSync } from "node:fs";
import { dirname, join } from "node:path";
import { XwError } from "../errors";
import { log } from "../log";
import { mountBpffs } from "../tools/mount";
import { currentNetns, ifaceKey, parseIfaceKey, type IfaceRef } from "./iface";

export const BPFFS = "/sys/fs/bpf";
export const PIN_ROOT = join(BPFFS, "xdpwatch");
/** `bench` and tests load programs here, never attached, one directory per run. */
export const BENCH_ROOT = join(BPFFS, "xdpwatch-bench");
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
  /** The program --force replaced, kept alive until it is put back. */
  replaced: string;
}

export function pinsFor(ref: IfaceRef): Pins {
  return pinsAt(join(PIN_ROOT, ref.netns, ifaceKey(ref)));
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
    replaced: join(dir, "replaced"),
  };
}

/** Every interface of this namespace that has pins, as they were when pinned. */
export function pinnedIfaces(netns = currentNetns()): { ref: IfaceRef; pins: Pins }[] {
  const dir = join(PIN_ROOT, netns);
  let keys: string[];
  try {
    keys = readdirSync(dir);
  } catch {
    return [];
  }
  return keys.flatMap((key) => {
    const ref = parseIfaceKey(key, netns);
    return ref ? [{ ref, pins: pinsAt(join(dir, key)) }] : [];
  });
}

/** The pins of an interface: by ifindex when it exists, else by the name it had. */
export function findPins(ref: Pick<IfaceRef, "netns" | "name"> & { ifindex?: number }): Pins | undefined {
  const all = pinnedIfaces(ref.netns);
  const hit = ref.ifindex !== undefined ? all.find((p) => p.ref.ifindex === ref.ifindex) : all.find((p) => p.ref.name === ref.name);
  return hit?.pins;
}

export function isBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Pins need bpffs; many servers do not mount it at boot. Returns whether the
 * pins will outlive this process: not when bpffs had to be mounted in a mount
 * namespace of its own (`ip netns exec` makes one), which goes with it.
 */
export async function ensureBpffs(): Promise<{ lasting: boolean }> {
  if (isBpffs(BPFFS)) return { lasting: true };
  const failed = (why: string) =>
    new XwError(`bpffs is not mounted at ${BPFFS} and mounting it failed: ${why}`, {
      hint: `mount it yourself: mount -t bpf bpf ${BPFFS}`,
    });
  try {
    mkdirSync(BPFFS, { recursive: true });
  } catch (err) {
    throw failed((err as Error).message);
  }
  const why = await mountBpffs(BPFFS);
  if (why !== undefined || !isBpffs(BPFFS)) throw failed(why || "it is still not bpffs");
  log.info(`mounted bpffs at ${BPFFS} (it was not mounted)`);
  return { lasting: !privateMountNamespace() };
}

/**
 * Whether this process runs in a mount namespace that one of its ancestors
 * does not share (made for it by `ip netns exec` or `unshare -m`): what is
 * mounted there goes when its last process does. A container's processes all
 * share theirs, up to the container's first process.
 */
function privateMountNamespace(): boolean {
  const mountNs = (pid: number | "self") => readlinkSync(`/proc/${pid}/ns/mnt`);
  try {
    const own = mountNs("self");
    let pid = process.ppid;
    for (let depth = 0; depth < 32 && pid > 1; depth++) {
      if (mountNs(pid) !== own) return true;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    }
  } catch {
    // an ancestor we may not look at: as far as we can tell, shared
  }
  return false;
}

/** Removes a directory only if empty: another interface may still use it. */
export function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty, or already gone
  }
}

/** Removes one program's pins, and the directories above them once empty. */
export function removePins(pins: Pins): void {
  rmSync(pins.dir, { recursive: true, force: true });
  removeIfEmpty(dirname(pins.dir));
  removeIfEmpty(PIN_ROOT);
}

export function hasPins(pins: Pins): boolean {
  return existsSync(pins.dir);
}
