/** Whether this process may load and attach XDP programs, from its effective capabilities. */
import { readFileSync } from "node:fs";

const CAP_NET_ADMIN = 12n;
const CAP_SYS_ADMIN = 21n;
const CAP_BPF = 39n;

export function effectiveCaps(status = readFileSync("/proc/self/status", "utf8")): bigint {
  const hex = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  return hex ? BigInt(`0x${hex}`) : 0n;
}

/** Loading needs CAP_BPF (or CAP_SYS_ADMIN on older kernels); attaching needs CAP_NET_ADMIN. */
export function hasXdpPrivileges(caps = effectiveCaps()): boolean {
  const has = (bit: bigint) => ((caps >> bit) & 1n) === 1n;
  return has(CAP_NET_ADMIN) && (has(CAP_BPF) || has(CAP_SYS_ADMIN));
}
