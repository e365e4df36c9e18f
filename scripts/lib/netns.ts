/**
 * What the tests and the scripts share: the built binary, a network namespace
 * with a veth pair of its own (removed again by its owner, also on failure),
 * frames sent from its far end, and what xdpwatch may have left behind.
 */
import { join, resolve } from "node:path";
import { refOf } from "../../src/xdp/iface";
import { readOwner } from "../../src/xdp/owner";
import { findPins } from "../../src/xdp/pins";

export const ROOT = resolve(import.meta.dir, "../..");
export const BIN = join(ROOT, "dist/xdpwatch");
/** Sends hex-encoded frames, one a line on stdin, out of an interface (a raw socket). */
export const SENDER = join(ROOT, "scripts/lib/send_frames.py");

/** Frames as send_frames.py reads them: hex, one a line. */
export function framesHex(frames: readonly Uint8Array[]): string {
  return `${frames.map((f) => Buffer.from(f).toString("hex")).join("\n")}\n`;
}

export async function sh(argv: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(argv, { stdin: input === undefined ? "ignore" : new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

async function must(argv: string[]): Promise<void> {
  const r = await sh(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.trim()}`);
}

export interface Veth {
  ns: string;
  /** Host end, where xdpwatch attaches. */
  host: string;
  /** Far end, inside `ns`. */
  peer: string;
  /**
   * Sends frames from the far end. `cpu` pins the sender, and with it the CPU
   * that runs XDP on the host end (veth hands a frame over on the sending CPU):
   * per-CPU behaviour such as --sample is then exact.
   */
  send(frames: readonly Uint8Array[], opts?: { cpu?: number }): Promise<void>;
  /** Runs a command inside the namespace. */
  inNs(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  remove(): Promise<void>;
}

/** A fresh namespace and veth pair with IPv6 off, so only our frames arrive; the host end named as asked. */
export async function createVeth(opts: { host?: string } = {}): Promise<Veth> {
  const id = Math.random().toString(16).slice(2, 8);
  const ns = `xwt-${id}`;
  const host = opts.host ?? `xwt${id}h`;
  const peer = `xwt${id}p`;
  const veth: Veth = {
    ns,
    host,
    peer,
    async send(frames, opts = {}) {
      const pin = opts.cpu === undefined ? [] : ["taskset", "-c", String(opts.cpu)];
      const r = await sh(["ip", "netns", "exec", ns, ...pin, "python3", SENDER, peer], framesHex(frames));
      if (r.code !== 0) throw new Error(`sending frames failed: ${r.stderr}`);
    },
    inNs: (argv) => sh(["ip", "netns", "exec", ns, ...argv]),
    async remove() {
      await sh(["ip", "link", "del", host]);
      await sh(["ip", "netns", "del", ns]);
    },
  };
  try {
    await must(["ip", "netns", "add", ns]);
    await must(["ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns]);
    // Slashes, not dots: an interface name may hold a dot (eth0.100).
    await must(["sysctl", "-qw", `net/ipv6/conf/${host}/disable_ipv6=1`]);
    await must(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    await must(["ip", "link", "set", host, "up"]);
    await must(["ip", "-n", ns, "link", "set", peer, "up"]);
  } catch (err) {
    await veth.remove();
    throw err;
  }
  return veth;
}

/** What a test may leave behind: nothing attached on `iface`, no pins, no owner file. */
export async function leftovers(iface: string): Promise<string[]> {
  const found: string[] = [];
  const link = await sh(["ip", "-j", "link", "show", "dev", iface]);
  if (link.code === 0 && /"xdp"/.test(link.stdout)) found.push(`XDP program still attached to ${iface}`);
  const ref = refOf(iface);
  const pins = ref && findPins(ref);
  if (pins) found.push(`pins left at ${pins.dir}`);
  if (ref && readOwner(ref)) found.push(`owner file left for ${iface}`);
  return found;
}
