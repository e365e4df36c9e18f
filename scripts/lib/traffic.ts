/**
 * What the end-to-end scripts (bench-e2e.ts, soak.ts) share: a veth pair of
 * their own that is removed on every path, the processes they start (stopped
 * on Ctrl-C, SIGTERM, SIGHUP), trafgen configs and runs, and reading what
 * xdpwatch says on stderr and stdout.
 */
import { closeSync, createReadStream, existsSync, openSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HEADER_BYTES as H, ipv4Frame } from "../../src/net/frames";
import { refOf } from "../../src/xdp/iface";
import { readOwner, releaseOwner } from "../../src/xdp/owner";
import { findPins, removePins } from "../../src/xdp/pins";
import { BIN, createVeth, leftovers, type Veth } from "./netns";

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
/** After the last frame: several of watch's 50 ms polls, so it has drained the rings. */
export const SETTLE_MS = 1000;

/** Exits 1 naming what is missing: root, `tools` on PATH, the built binary. */
export function requireTools(script: string, tools: string[]): void {
  const missing = [
    ...(process.getuid?.() === 0 ? [] : ["root"]),
    ...tools.filter((tool) => !Bun.which(tool)),
    ...(existsSync(BIN) ? [] : [`${BIN} (node_modules/.bin/bun run build)`]),
  ];
  if (missing.length > 0) {
    console.error(`${script} needs ${missing.join(", ")}; scripts/setup.sh installs the tools`);
    process.exit(1);
  }
}

/** Every process we started and that may still run: the cleanup's list. */
const live = new Set<Bun.Subprocess>();
let interrupted: NodeJS.Signals | undefined;

/** Ctrl-C also stops the process of the moment, which then looks finished: each step asks here. */
export function checkInterrupted(): void {
  if (interrupted) throw new Error(`interrupted by ${interrupted}`);
}

export function spawn(argv: string[]): Bun.Subprocess<"ignore", "pipe", "pipe"> {
  checkInterrupted();
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return proc;
}

/** Like spawn(), with stdout going to a file (as `> FILE` would). */
export function spawnToFile(argv: string[], path: string): Bun.Subprocess<"ignore", number, "pipe"> {
  checkInterrupted();
  const fd = openSync(path, "w");
  try {
    const proc = Bun.spawn(argv, { stdin: "ignore", stdout: fd, stderr: "pipe" });
    live.add(proc);
    void proc.exited.then(() => live.delete(proc));
    return proc;
  } finally {
    closeSync(fd);
  }
}

async function stopAll(): Promise<void> {
  await Promise.all(
    [...live].map(async (p) => {
      // SIGINT first: xdpwatch then detaches and removes its pins itself.
      p.kill("SIGINT");
      if ((await Promise.race([p.exited, Bun.sleep(5000).then(() => "timeout" as const)])) === "timeout") p.kill("SIGKILL");
    }),
  );
}

/** User + system CPU seconds of a finished process and every child it waited for (wait4()). */
export function cpuSeconds(proc: Bun.Subprocess): number {
  return Number(proc.resourceUsage()!.cpuTime.total) / 1e6;
}

type StderrText = ReturnType<typeof watchText>;

/** A process's stderr as it arrives, to wait for what it says. */
export function watchText(stream: ReadableStream<Uint8Array>) {
  let text = "";
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const decoder = new TextDecoder();
  const done = (async () => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      for (const w of waiters.filter((w) => w.re.test(text))) w.resolve();
    }
  })();
  return {
    get text() {
      return text;
    },
    done,
    async until(re: RegExp, timeoutMs: number): Promise<void> {
      if (re.test(text)) return;
      const seen = new Promise<void>((resolve) => waiters.push({ re, resolve }));
      const outcome = await Promise.race([seen.then(() => "seen"), done.then(() => "ended"), Bun.sleep(timeoutMs).then(() => "timeout")]);
      if (outcome !== "seen") throw new Error(`waited for ${re} on stderr (${outcome}): ${text.trim().split("\n").slice(-3).join(" | ")}`);
    },
  };
}

/** SIGINT, as Ctrl-C would: xdpwatch detaches, prints its last records and summary, and must exit 0. */
export async function interrupt(proc: Bun.Subprocess, what: string, stderr: StderrText): Promise<void> {
  proc.kill("SIGINT");
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${what} exited ${code}: ${stderr.text.trim()}`);
}

/** The last this many bytes are kept to find the last line: it may span several chunks. */
const TAIL_BYTES = 1 << 16;

/** Counts lines of `chunks` without decoding them; keeps the last line. */
async function linesOf(chunks: AsyncIterable<Uint8Array>): Promise<{ lines: number; last: string }> {
  let lines = 0;
  let tail = Buffer.alloc(0);
  for await (const chunk of chunks) {
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
    tail = Buffer.concat([tail, chunk]);
    if (tail.length > 2 * TAIL_BYTES) tail = tail.subarray(tail.length - TAIL_BYTES);
  }
  const text = tail.toString("utf8").trimEnd();
  return { lines, last: text.slice(text.lastIndexOf("\n") + 1) };
}

/** Lines on stdout, counted without decoding them all; the last one kept. */
export function countLines(stream: ReadableStream<Uint8Array>): Promise<{ lines: number; last: string }> {
  return linesOf(stream);
}

/** The same for a file. */
export function countFileLines(path: string): Promise<{ lines: number; last: string }> {
  return linesOf(createReadStream(path, { highWaterMark: 1 << 20 }));
}

/**
 * CPU seconds a running process has used so far (not its children): the sum of
 * its threads' run time in /proc/PID/task/TID/schedstat, in nanoseconds, where
 * /proc/PID/stat counts 10 ms ticks (a short run of a few thousand records
 * would be a tick or two). Threads that exited are not counted: Bun's and
 * JavaScriptCore's live as long as the process.
 */
export function processCpu(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread exited while we looked
    }
  }
  return ns / 1e9;
}

/** The running children of a process, by command name. */
export function childrenOf(pid: number): { pid: number; comm: string }[] {
  const found: { pid: number; comm: string }[] = [];
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) found.push({ pid: Number(p), comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) });
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** Peak resident memory so far (VmHWM) of a running process, in MiB. */
export function peakRssMiB(pid: number): number {
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  if (kb === undefined) throw new Error(`no VmHWM for process ${pid}`);
  return Number(kb) / 1024;
}

/** The record watch and top print last (README, "Record formats"). */
export interface Summary {
  type: "summary";
  seen: number;
  logged: number;
  lost: number;
  exact: boolean;
}

export function readSummary(line: string, what: string): Summary {
  const summary = JSON.parse(line) as Summary;
  if (summary.type !== "summary") throw new Error(`${what}'s last line is not its summary: ${line.slice(0, 200)}`);
  return summary;
}

/**
 * The shared frame builder's 64-byte IPv4 UDP frame from `src`. Ports no
 * dissector claims, so tcpdump prints one plain line per frame.
 */
export function udp64(src: string): Uint8Array {
  return ipv4Frame({ src, dst: "198.19.255.254", sport: 40000, dport: 40001, payload: 64 - H.eth - H.ipv4 - H.udp });
}

/**
 * One packet of a trafgen config: `frame`'s bytes, with `random` bytes drawn
 * anew for each frame (drnd()) and so the IPv4 checksum computed by trafgen
 * (the frame builder leaves it zero).
 */
export function trafgenPacket(frame: Uint8Array, random?: { at: number; bytes: number }): string {
  const ipChecksum = H.eth + 10;
  const covered = (i: number) => i === ipChecksum + 1 || (random !== undefined && i > random.at && i < random.at + random.bytes);
  const parts: string[] = [];
  for (let i = 0; i < frame.length; i++) {
    if (i === ipChecksum) parts.push(`csumip(${H.eth}, ${H.eth + H.ipv4 - 1})`);
    else if (i === random?.at) parts.push(`drnd(${random.bytes})`);
    else if (!covered(i)) parts.push(`0x${frame[i]!.toString(16).padStart(2, "0")}`);
  }
  return `{ ${parts.join(", ")} }\n`;
}

/** One packet whose last two source bytes are random: sources all over 198.18.0.0/16. */
export function randomSourcesConfig(): string {
  return trafgenPacket(udp64("198.18.0.0"), { at: H.eth + 14, bytes: 2 });
}

/**
 * One trafgen run; returns the frames it reports sent. It needs a rate (-b) when
 * the receiving end runs XDP, and sends from one process (-P 1). -b is a
 * per-second budget: `rate` frames as fast as it can, then it sleeps out the second.
 */
export async function trafgen(veth: Veth, conf: string, rate: number, frames: number): Promise<number> {
  const proc = spawn(["ip", "netns", "exec", veth.ns, "trafgen", "--no-sock-mem", "--dev", veth.peer, "--conf", conf, "-n", String(frames), "-b", `${rate}pps`, "-P", "1"]);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const sent = /(\d+) packets outgoing/.exec(stdout + stderr)?.[1];
  if (code !== 0 || sent === undefined) throw new Error(`trafgen failed (${code}): ${stderr.trim().split("\n").slice(-2).join(" | ")}`);
  return Number(sent);
}

/**
 * Removes the pair and whatever xdpwatch may have left on it; returns what xdpwatch
 * left (an XDP program, pins, an owner file: a run that exits cleanly leaves none)
 * and what could not be removed.
 */
async function teardown(veth: Veth): Promise<string[]> {
  const left = await leftovers(veth.host);
  // Only an xdpwatch killed outright leaves these; deleting the veth detaches its program.
  const ref = refOf(veth.host);
  const pins = ref && findPins(ref);
  if (pins) removePins(pins);
  const owner = ref && readOwner(ref);
  if (owner) releaseOwner(owner, true);
  await veth.remove();
  if (existsSync(`/sys/class/net/${veth.host}`)) left.push(`interface ${veth.host} not removed`);
  if (existsSync(`/run/netns/${veth.ns}`)) left.push(`netns ${veth.ns} not removed`);
  return left;
}

/**
 * Runs `measure` on a fresh namespace and veth pair, with a temporary directory
 * for configs; then stops what it started and removes it all, also when it fails
 * or is interrupted. `leftBehind` lists what was found left over.
 */
export async function onVeth<T>(measure: (veth: Veth, dir: string) => Promise<T>): Promise<{ result: T; leftBehind: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), "xdpwatch-e2e-"));
  let veth: Veth | undefined;
  try {
    veth = await createVeth();
    const result = await measure(veth, dir);
    await stopAll();
    const done = veth;
    // Torn down here, where what is left counts; the finally block is for failures.
    veth = undefined;
    return { result, leftBehind: await teardown(done) };
  } finally {
    await stopAll();
    if (veth) await teardown(veth);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A script's whole run: a signal stops every process we started (and marks the
 * run interrupted); a failure is one line on stderr and exit 1, an interruption 130.
 */
export async function runMain(script: string, body: () => Promise<number>): Promise<never> {
  for (const sig of SIGNALS)
    process.on(sig, () => {
      interrupted = sig;
      for (const p of live) p.kill("SIGINT");
    });
  let code: number;
  try {
    code = await body();
  } catch (err) {
    console.error(`${script}: ${interrupted ? `interrupted by ${interrupted}` : (err as Error).message}`);
    code = interrupted ? 130 : 1;
  }
  process.exit(code);
}
