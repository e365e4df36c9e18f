/**
 * Real-kernel fixtures: a network namespace with a veth pair, xdpwatch
 * attached on the host end, frames sent from the far end. Everything made
 * here is removed again, also when a test fails.
 */
import { afterEach, beforeEach, expect } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeStats, sumStats } from "../../src/bpf/layout";
import { parseMapEntries } from "../../src/tools/bpftool-output";
import { refOf } from "../../src/xdp/iface";
import { findPins, type Pins } from "../../src/xdp/pins";
import { BIN, createVeth, leftovers, sh, type Veth } from "../../scripts/lib/netns";

export { BIN, createVeth, leftovers, ROOT, sh, type Veth } from "../../scripts/lib/netns";

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "not root";
  for (const tool of ["ip", "bpftool", "python3"]) if (!Bun.which(tool)) return `${tool} missing`;
  if (!existsSync(BIN)) return `${BIN} not built (npm run build)`;
  return undefined;
}

export const kernelReady = kernelSkipReason() === undefined;
if (!kernelReady) console.warn(`skipping kernel tests: ${kernelSkipReason()}`);

export interface Running {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Resolves once stderr shows the program attached. */
  attached: Promise<void>;
  /** Everything, once the process has exited. */
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Processes start() made that may still run: a test that times out must not leave them. */
const running = new Set<Bun.Subprocess>();

/** Starts the compiled binary, as a user would. */
export function start(args: string[], opts: { env?: Record<string, string>; cwd?: string; bin?: string; argv?: string[] } = {}): Running {
  const proc = Bun.spawn(opts.argv ?? [opts.bin ?? BIN, ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  running.add(proc);
  void proc.exited.then(() => running.delete(proc));
  let stderr = "";
  let markAttached: () => void = () => undefined;
  const attached = new Promise<void>((res) => (markAttached = res));
  const stderrDone = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) {
      stderr += decoder.decode(chunk, { stream: true });
      // The lines watch, top and attach print once attached (not an error that says "attached").
      if (/(watching|counting sources on|attached to) \S+ \(/.test(stderr)) markAttached();
    }
  })();
  const done = (async () => {
    const stdout = await new Response(proc.stdout).text();
    const code = await proc.exited;
    await stderrDone;
    markAttached();
    return { code, stdout, stderr };
  })();
  return { proc, attached, done };
}

/** Runs the binary to completion. */
export async function xdpwatch(args: string[], opts: { env?: Record<string, string> } = {}) {
  return start(args, opts).done;
}

/** The pins xdpwatch made for an interface of this namespace, if any. */
export function pinsOf(iface: string): Pins | undefined {
  const ref = refOf(iface);
  return ref && findPins(ref);
}

/**
 * Waits until xdpwatch's program on `iface` has run on `n` frames (its pinned
 * `seen` counter), so that a test can stop a run knowing every frame was
 * counted, without guessing a delay.
 */
export async function waitForSeen(iface: string, n: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pins = pinsOf(iface);
    const r = pins ? await sh(["bpftool", "map", "lookup", "pinned", pins.stats, "key", "0", "0", "0", "0"]) : { stdout: "" };
    const entry = parseMapEntries(r.stdout)[0];
    const seen = entry ? sumStats(entry.values.map(decodeStats)).seen : 0n;
    if (seen >= BigInt(n)) return;
    if (Date.now() > deadline) throw new Error(`${iface}: the program saw ${seen} of ${n} frames`);
    await Bun.sleep(20);
  }
}

/**
 * Runs xdpwatch on `veth`'s host end while `traffic` sends frames (it returns
 * how many), then stops it with SIGINT once the program has seen them all: its
 * final records then hold exact counts. A run that fails to start is returned as is.
 */
export async function runDuring(args: string[], veth: Veth, traffic: () => Promise<number>) {
  const run = start(args);
  await run.attached;
  if (run.proc.exitCode !== null) return run.done;
  try {
    await waitForSeen(veth.host, await traffic());
  } finally {
    // Also when sending failed: the run must have detached before the test's clean-up checks.
    run.proc.kill("SIGINT");
    await run.done;
  }
  return run.done;
}

export function ndjson(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}


/**
 * A fresh namespace and veth pair for each test of the calling describe block.
 * After each test, whatever xdpwatch left is detached and the pair removed; what
 * was left behind fails the test: checked before that detach ("now", the
 * default), after it (for tests that attach on purpose), or not at all.
 */
export function useVeth(opts: { leftovers?: "now" | "after detach" | "unchecked" } = {}): { readonly veth: Veth } {
  const when = opts.leftovers ?? "now";
  let current: Veth | undefined;
  beforeEach(async () => {
    current = await createVeth();
  });
  afterEach(async () => {
    const veth = current!;
    current = undefined;
    for (const proc of running) proc.kill("SIGKILL");
    await Promise.all([...running].map((p) => p.exited));
    const left = when === "now" ? await leftovers(veth.host) : [];
    // Even when the binary is missing or broken, the pair goes.
    await xdpwatch(["detach", "-i", veth.host]).catch(() => undefined);
    if (when === "after detach") left.push(...(await leftovers(veth.host)));
    await veth.remove();
    expect(left).toEqual([]);
  });
  return {
    get veth() {
      if (!current) throw new Error("useVeth: no veth pair outside a test");
      return current;
    },
  };
}

/** Starts tcpdump and resolves once it says it listens; the rest of its stderr is drained. */
async function tcpdump<Out extends "pipe" | "ignore">(args: string[], stdout: Out) {
  const proc = Bun.spawn(["tcpdump", ...args], { stdin: "ignore", stdout, stderr: "pipe" });
  running.add(proc);
  void proc.exited.then(() => running.delete(proc));
  const stderr = proc.stderr.getReader();
  let said = "";
  while (!said.includes("listening on")) {
    const { value, done } = await stderr.read();
    if (done) throw new Error(`tcpdump did not start: ${said}`);
    said += new TextDecoder().decode(value);
  }
  void (async () => {
    while (!(await stderr.read()).done);
  })();
  return proc;
}

/**
 * tcpdump on the host end, inbound only, until it has captured `count`
 * packets. Resolves once it listens; `packets` holds each capture's source.
 */
export async function capture(iface: string, count: number) {
  const proc = await tcpdump(["-n", "-l", "-t", "-Q", "in", "-i", iface, "-c", String(count)], "pipe");
  const packets = (async () => {
    // A guard, not a measurement: a capture that never completes fails the test below instead of hanging it.
    const guard = setTimeout(() => proc.kill(), 10_000);
    const text = await new Response(proc.stdout).text();
    clearTimeout(guard);
    return text
      .split("\n")
      .filter(Boolean)
      .map((line) => /^IP6? (\S+)\.\d+ > /.exec(line)?.[1] ?? line);
  })();
  return { packets };
}

/**
 * tcpdump on the host end, inbound only, writing every frame it sees to a
 * pcap file. Resolves once it listens; stop() ends it and returns the frames.
 * Immediate mode: otherwise frames wait in a capture block until it fills or
 * times out (~1 s), and stopping before then loses them.
 */
export async function record(iface: string): Promise<{ stop(): Promise<Uint8Array[]> }> {
  const dir = mkdtempSync(join(tmpdir(), "xw-pcap-"));
  const file = join(dir, "in.pcap");
  const proc = await tcpdump(["-n", "--immediate-mode", "-U", "-Q", "in", "-i", iface, "-w", file], "ignore").catch((err) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  return {
    async stop() {
      await Bun.sleep(200);
      proc.kill("SIGINT");
      await proc.exited;
      try {
        return pcapFrames(new Uint8Array(readFileSync(file)));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** The frames of a little-endian pcap file (what tcpdump -w writes here). */
export function pcapFrames(pcap: Uint8Array): Uint8Array[] {
  const dv = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
  const frames: Uint8Array[] = [];
  for (let at = 24; at + 16 <= pcap.length; ) {
    const len = dv.getUint32(at + 8, true);
    frames.push(pcap.slice(at + 16, at + 16 + len));
    at += 16 + len;
  }
  return frames;
}
