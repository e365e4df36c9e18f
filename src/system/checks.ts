/**
 * What xdpwatch needs from a machine, checked one by one with the exact fix
 * for each gap. `doctor` prints them all; commands that attach check first
 * what needs nothing run (see preflight) and stop with the same words.
 */
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { release } from "node:os";
import { basename } from "node:path";
import { XwError } from "../errors";
import * as ip from "../tools/ip";
import { findTool, installFix, run } from "../tools/run";
import { tcpdumpVersion } from "../tools/tcpdump";
import { isBpffs } from "../xdp/pins";
import { hasXdpPrivileges } from "../xdp/privileges";

export interface CheckResult {
  name: string;
  ok: boolean;
  /** A failed required check stops watch/top/attach; the others only inform. */
  required: boolean;
  detail: string;
  fix?: string;
}

/** Drivers with native XDP in mainline Linux; others run in generic mode. */
const NATIVE_XDP_DRIVERS = new Set([
  "veth", "virtio_net", "tun", "bond", "netkit", "ixgbe", "ixgbevf", "i40e", "ice", "igb", "igc", "mlx4_en", "mlx4_core",
  "mlx5_core", "bnxt_en", "nfp", "qede", "ena", "gve", "hv_netvsc", "sfc", "nicvf", "mvneta", "mvpp2", "stmmac",
  "lan743x", "fec", "enetc", "dpaa2-eth", "dpaa_eth", "cpsw", "tsnep", "atlantic", "netsec", "mana", "octeontx2-nicpf", "xen-netfront",
]);

export function kernelCheck(kernel = release()): CheckResult {
  const [major = 0, minor = 0] = kernel.split(/[.-]/).map(Number);
  // 5.2 brought global data (.rodata maps), which holds the program's configuration.
  const ok = major > 5 || (major === 5 && minor >= 2);
  return {
    name: "kernel",
    ok,
    required: true,
    detail: `Linux ${kernel}${ok ? " (XDP, bpftool prog run, per-CPU maps)" : ": xdpwatch needs 5.2 or later (global data in BPF programs)"}`,
    fix: ok ? undefined : "upgrade the kernel to 5.2 or later",
  };
}

export function privilegesCheck(): CheckResult {
  const ok = hasXdpPrivileges();
  return {
    name: "privileges",
    ok,
    required: true,
    detail: ok ? "CAP_BPF and CAP_NET_ADMIN (root)" : "missing CAP_BPF / CAP_NET_ADMIN: xdpwatch needs root to load and attach XDP programs",
    fix: ok ? undefined : "run it with sudo",
  };
}

export function bpffsCheck(): CheckResult {
  const ok = isBpffs("/sys/fs/bpf");
  return {
    name: "bpffs",
    ok,
    required: false,
    detail: ok ? "mounted at /sys/fs/bpf" : "not mounted at /sys/fs/bpf (xdpwatch mounts it when it runs as root)",
    fix: ok ? undefined : "mount -t bpf bpf /sys/fs/bpf (and add it to /etc/fstab to keep it)",
  };
}

/** A required tool missing from PATH, or undefined: all that commands check of ip and bpftool before they start. */
function missingTool(tool: "ip" | "bpftool"): CheckResult | undefined {
  if (findTool(tool)) return undefined;
  return { name: tool, ok: false, required: true, detail: `${tool === "ip" ? "ip (iproute2)" : tool} not found on PATH`, fix: installFix(tool) };
}

export async function ipCheck(): Promise<CheckResult> {
  const missing = missingTool("ip");
  if (missing) return missing;
  const { text, libbpf } = await ip.version();
  return {
    name: "ip",
    ok: libbpf,
    required: true,
    detail: libbpf ? text : `${text}: built without libbpf, it cannot attach pinned XDP programs`,
    fix: libbpf ? undefined : ip.LIBBPF_FIX,
  };
}

export async function bpftoolCheck(): Promise<CheckResult> {
  const missing = missingTool("bpftool");
  if (missing) return missing;
  const v = await run(["bpftool", "version"], { allowFailure: true });
  return { name: "bpftool", ok: v.exitCode === 0, required: true, detail: (v.stdout.split("\n")[0] ?? "").replace(/^\S*\//, "").trim() || v.stderr.trim(), fix: v.exitCode === 0 ? undefined : installFix("bpftool") };
}

export async function clangCheck(): Promise<CheckResult> {
  if (!findTool("clang"))
    return { name: "clang", ok: false, required: false, detail: "not found: only `xdpwatch build` needs it (the program is embedded)", fix: installFix("clang") };
  const v = await run(["clang", "--version"], { allowFailure: true });
  const bpfHeaders = existsSync("/usr/include/bpf/bpf_helpers.h");
  return {
    name: "clang",
    ok: bpfHeaders,
    required: false,
    detail: `${v.stdout.split("\n")[0]?.trim()}${bpfHeaders ? "" : "; bpf/bpf_helpers.h missing"} (only for xdpwatch build)`,
    fix: bpfHeaders ? undefined : installFix("clang"),
  };
}

/** Only filter expressions need tcpdump (libpcap compiles them); everything else works without it. */
export async function tcpdumpCheck(): Promise<CheckResult> {
  const version = await tcpdumpVersion();
  return version
    ? { name: "tcpdump", ok: true, required: false, detail: `${version} (compiles filter expressions)` }
    : { name: "tcpdump", ok: false, required: false, detail: "not found: only filter expressions need it (watch/top/attach EXPRESSION, --drop)", fix: installFix("tcpdump") };
}

export function jitCheck(): CheckResult {
  let value = "";
  try {
    value = readFileSync("/proc/sys/net/core/bpf_jit_enable", "utf8").trim();
  } catch {
    value = "";
  }
  const ok = value === "1" || value === "2";
  return {
    name: "bpf jit",
    ok,
    required: false,
    detail: ok ? "enabled" : value === "" ? "unknown (no /proc/sys/net/core/bpf_jit_enable)" : "disabled: programs run interpreted, several times slower",
    fix: ok ? undefined : "sysctl -w net.core.bpf_jit_enable=1",
  };
}

function driverOf(iface: string): string | undefined {
  try {
    return basename(readlinkSync(`/sys/class/net/${iface}/device/driver`));
  } catch {
    return undefined;
  }
}

export async function interfaceCheck(iface: string): Promise<CheckResult> {
  const link = findTool("ip") ? await ip.showLink(iface).catch(() => undefined) : undefined;
  if (!link)
    return { name: `interface ${iface}`, ok: false, required: true, detail: `no interface named "${iface}" in this network namespace`, fix: "`ip link` lists interfaces" };
  const driver = driverOf(iface) ?? link.kind ?? "unknown driver";
  const native = NATIVE_XDP_DRIVERS.has(driver);
  const attached = link.xdp.map((p) => `id ${p.id} ${p.name} (${p.mode})`).join(", ");
  return {
    name: `interface ${iface}`,
    ok: true,
    required: true,
    detail: `${driver}: ${native ? "native XDP supported" : "no native XDP known for this driver: --mode auto falls back to generic"}${attached ? `; XDP program attached: ${attached}` : ""}`,
  };
}

export async function runChecks(iface?: string): Promise<CheckResult[]> {
  const results = [kernelCheck(), privilegesCheck(), bpffsCheck(), await ipCheck(), await bpftoolCheck(), jitCheck(), await clangCheck(), await tcpdumpCheck()];
  if (iface) results.push(await interfaceCheck(iface));
  return results;
}

/**
 * The required checks, before anything is attached: the first failure stops
 * with doctor's words. Nothing is run: a script waits for every start, and
 * what a tool's build lacks shows when it fails (an ip without libbpf: the
 * attach error says so).
 */
export function preflight(): void {
  const failed = [kernelCheck(), privilegesCheck(), missingTool("ip"), missingTool("bpftool")].find((r) => r && !r.ok);
  if (failed) throw new XwError(failed.detail, { hint: failed.fix ? `fix: ${failed.fix}` : undefined });
}
