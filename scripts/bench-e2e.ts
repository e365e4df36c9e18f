#!/usr/bin/env bun
/**
 * xdpwatch on real traffic, next to tcpdump on the same traffic. For each
 * rate: trafgen sends 64-byte IPv4 UDP frames from random sources in
 * 198.18.0.0/15 through a veth pair of our own; `dist/xdpwatch watch --json`
 * counts what it logs and accounts for the rest; then `tcpdump -n -l` sees
 * the same traffic again. Also the median time from `watch` starting to it
 * saying it is attached, on the idle interface.
 *
 * CPU seconds are user + system from wait4() (Bun's resourceUsage()), which
 * include every child the process waited for: for xdpwatch that is its
 * bpftool co-process and the ip/bpftool commands of attach and detach.
 *
 * trafgen's -b is a per-second budget: it sends RATE frames as fast as it
 * can, then sleeps out the second, so "100 kpps" arrives as bursts of 100,000
 * frames at well over 1 Mpps. --senders N splits each rate over N trafgen
 * processes started 1/N s apart: N smaller bursts a second, the same average.
 *
 * Timings, not tests: not part of `bun test`. Needs root, trafgen
 * (netsniff-ng), tcpdump and a built dist/xdpwatch.
 *
 *   node_modules/.bin/bun scripts/bench-e2e.ts [--rates 100000,400000] [--frames 200000] [--senders 1] [--json]
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "../src/bench/report";
import { HEADER_BYTES as H, ipv4Frame } from "../src/net/frames";
import { alignColumns } from "../src/output/table";
import { ownerFile, pinsFor, removePins } from "../src/xdp/pins";
import { BIN, createVeth, type Veth } from "../test/support/kernel";

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
/** After the last frame: several of watch's 50 ms polls, so it has drained the rings. */
const SETTLE_MS = 1000;
const STARTUP_RUNS = 5;
const CLOCK_TICKS = 100;

const { values: opts } = parseArgs({
  options: {
    rates: { type: "string", default: "100000,400000" },
    frames: { type: "string", default: "200000" },
    senders: { type: "string", default: "1" },
    json: { type: "boolean", default: false },
  },
});
const rates = opts.rates.split(",").map(Number);
const frameCount = Number(opts.frames);
const senders = Number(opts.senders);
const positive = (n: number) => Number.isInteger(n) && n > 0;
if (!rates.every(positive) || !positive(frameCount) || !positive(senders) || rates.some((r) => r < senders) || frameCount < senders) {
  console.error("usage: bun scripts/bench-e2e.ts [--rates 100000,400000] [--frames 200000] [--senders 1] [--json]");
  process.exit(2);
}
const missing = [
  ...(process.getuid?.() === 0 ? [] : ["root"]),
  ...["trafgen", "tcpdump", "ip"].filter((tool) => !Bun.which(tool)),
  ...(existsSync(BIN) ? [] : [`${BIN} (node_modules/.bin/bun run build)`]),
];
if (missing.length > 0) {
  console.error(`bench-e2e needs ${missing.join(", ")}; scripts/setup.sh installs the tools`);
  process.exit(1);
}

/** Every process we started and that may still run: the cleanup's list. */
const live = new Set<Bun.Subprocess>();
let interrupted: NodeJS.Signals | undefined;

/** Ctrl-C also stops the process of the moment, which then looks finished: each step asks here. */
function checkInterrupted(): void {
  if (interrupted) throw new Error(`interrupted by ${interrupted}`);
}

function spawn(argv: string[]): Bun.Subprocess<"ignore", "pipe", "pipe"> {
  checkInterrupted();
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return proc;
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

/** A process's stderr as it arrives, to wait for what it says. */
function watchText(stream: ReadableStream<Uint8Array>) {
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

/** Lines on stdout, counted without decoding them all; the last one kept. */
async function countLines(stream: ReadableStream<Uint8Array>): Promise<{ lines: number; last: string }> {
  let lines = 0;
  let previous: Uint8Array = new Uint8Array(0);
  let latest: Uint8Array = new Uint8Array(0);
  for await (const chunk of stream) {
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
    previous = latest;
    latest = chunk;
  }
  const tail = new TextDecoder().decode(Buffer.concat([previous, latest])).trimEnd();
  return { lines, last: tail.slice(tail.lastIndexOf("\n") + 1) };
}

/** utime + stime in seconds of one process and of each child it has now. */
function cpuNow(pid: number): { self: number; children: Record<string, number> } {
  const read = (p: string) => {
    const stat = readFileSync(`/proc/${p}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS };
  };
  const children: Record<string, number> = {};
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const s = read(p);
      if (s.ppid === pid) children[s.comm] = (children[s.comm] ?? 0) + s.cpu;
    } catch {
      // exited while we looked
    }
  }
  return { self: read(String(pid)).cpu, children };
}

/**
 * The shared frame builder's 64-byte IPv4 UDP frame, with the last two source
 * bytes random and the IP checksum redone. Ports no dissector claims, so
 * tcpdump prints one plain line per frame.
 */
function trafgenConfig(): string {
  const frame = ipv4Frame({ src: "198.18.0.0", dst: "198.19.255.254", sport: 40000, dport: 40001, payload: 64 - H.eth - H.ipv4 - H.udp });
  const ipChecksum = H.eth + 10;
  const srcLow = H.eth + 14;
  const parts: string[] = [];
  for (let i = 0; i < frame.length; i++) {
    if (i === ipChecksum) parts.push(`csumip(${H.eth}, ${H.eth + H.ipv4 - 1})`);
    else if (i === srcLow) parts.push("drnd(2)");
    else if (i !== ipChecksum + 1 && i !== srcLow + 1) parts.push(`0x${frame[i]!.toString(16).padStart(2, "0")}`);
  }
  return `{ ${parts.join(", ")} }\n`;
}

interface Traffic {
  sent: number;
  seconds: number;
}

/** One trafgen; it needs a rate (-b) when the receiving end runs XDP, and sends from one process (-P 1). */
async function trafgen(veth: Veth, conf: string, rate: number, frames: number): Promise<number> {
  const proc = spawn(["ip", "netns", "exec", veth.ns, "trafgen", "--no-sock-mem", "--dev", veth.peer, "--conf", conf, "-n", String(frames), "-b", `${rate}pps`, "-P", "1"]);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const sent = /(\d+) packets outgoing/.exec(stdout + stderr)?.[1];
  if (code !== 0 || sent === undefined) throw new Error(`trafgen failed (${code}): ${stderr.trim().split("\n").slice(-2).join(" | ")}`);
  return Number(sent);
}

/** All frames at `rate` on average, split over --senders trafgen processes started 1/N s apart. */
async function send(veth: Veth, conf: string, rate: number): Promise<Traffic> {
  const started = performance.now();
  const share = (total: number, i: number) => Math.floor(total / senders) + (i < total % senders ? 1 : 0);
  const runs: Promise<number>[] = [];
  for (let i = 0; i < senders; i++) {
    if (i > 0) await Bun.sleep(1000 / senders);
    const run = trafgen(veth, conf, share(rate, i), share(frameCount, i));
    // Handled at once: a sender failing while the next ones start is reported by Promise.all below.
    run.catch(() => undefined);
    runs.push(run);
  }
  const sent = (await Promise.all(runs)).reduce((a, b) => a + b, 0);
  return { sent, seconds: (performance.now() - started) / 1000 };
}

interface Summary {
  type: "summary";
  seen: number;
  logged: number;
  lost: number;
  printed: number;
  exact: boolean;
}

async function runWatch(veth: Veth, conf: string, rate: number) {
  const proc = spawn([BIN, "watch", "--iface", veth.host, "--json"]);
  const stderr = watchText(proc.stderr);
  const stdout = countLines(proc.stdout);
  await stderr.until(/watching/, 20_000);
  const traffic = await send(veth, conf, rate);
  await Bun.sleep(SETTLE_MS);
  const split = cpuNow(proc.pid);
  proc.kill("SIGINT");
  const code = await proc.exited;
  const { lines, last } = await stdout;
  if (code !== 0) throw new Error(`xdpwatch watch exited ${code}: ${stderr.text.trim()}`);
  const summary = JSON.parse(last) as Summary;
  if (summary.type !== "summary") throw new Error(`xdpwatch's last line is not its summary: ${last.slice(0, 200)}`);
  return { traffic, records: lines - 1, summary, cpu: Number(proc.resourceUsage()!.cpuTime.total) / 1e6, split };
}

async function runTcpdump(veth: Veth, conf: string, rate: number) {
  const proc = spawn(["tcpdump", "-n", "-l", "-i", veth.host]);
  const stderr = watchText(proc.stderr);
  const stdout = countLines(proc.stdout);
  await stderr.until(/listening on/, 10_000);
  const traffic = await send(veth, conf, rate);
  await Bun.sleep(SETTLE_MS);
  proc.kill("SIGINT");
  await proc.exited;
  const { lines } = await stdout;
  await stderr.done;
  const dropped = /(\d+) packets dropped by kernel/.exec(stderr.text)?.[1];
  return { traffic, captured: lines, droppedByKernel: dropped === undefined ? undefined : Number(dropped), cpu: Number(proc.resourceUsage()!.cpuTime.total) / 1e6 };
}

/** From the command starting to it saying "watching", on an idle interface; and attach alone, from its --verbose line. */
async function startup(host: string) {
  const total: number[] = [];
  const attach: number[] = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    const started = performance.now();
    const proc = spawn([BIN, "watch", "--iface", host, "--duration", "0.2", "--verbose"]);
    const stderr = watchText(proc.stderr);
    void new Response(proc.stdout).text();
    await stderr.until(/watching/, 20_000);
    total.push(performance.now() - started);
    if ((await proc.exited) !== 0) throw new Error(`xdpwatch watch --duration failed: ${stderr.text.trim()}`);
    const ms = /attached program id \d+ in (\d+) ms/.exec(stderr.text)?.[1];
    if (ms) attach.push(Number(ms));
  }
  return { ms: median(total), attachMs: attach.length > 0 ? median(attach) : undefined };
}

const pct = (part: number, whole: number) => (whole === 0 ? 0 : (100 * part) / whole);
const round = (n: number, digits = 2) => Number(n.toFixed(digits));

async function measureRate(veth: Veth, conf: string, rate: number) {
  const start = await startup(veth.host);
  checkInterrupted();
  const watch = await runWatch(veth, conf, rate);
  checkInterrupted();
  const dump = await runTcpdump(veth, conf, rate);
  checkInterrupted();
  const s = watch.summary;
  return {
    type: "bench-e2e",
    rate_pps: rate,
    senders,
    achieved_pps: Math.round(watch.traffic.sent / watch.traffic.seconds),
    sent: watch.traffic.sent,
    records: watch.records,
    logged_pct: round(pct(watch.records, watch.traffic.sent)),
    seen: s.seen,
    lost: s.lost,
    exact: s.exact && s.seen === watch.traffic.sent && s.logged === watch.records,
    xdpwatch_cpu_s: round(watch.cpu, 3),
    /** The xdpwatch process alone and its bpftool co-process, sampled just before SIGINT. */
    xdpwatch_cpu_split_s: { xdpwatch: round(watch.split.self, 3), ...Object.fromEntries(Object.entries(watch.split.children).map(([k, v]) => [k, round(v, 3)])) },
    tcpdump_cpu_s: round(dump.cpu, 3),
    tcpdump_sent: dump.traffic.sent,
    tcpdump_captured: dump.captured,
    tcpdump_captured_pct: round(pct(dump.captured, dump.traffic.sent)),
    tcpdump_dropped_by_kernel: dump.droppedByKernel,
    startup_ms: Math.round(start.ms),
    attach_ms: start.attachMs,
  };
}

function table(rows: Awaited<ReturnType<typeof measureRate>>[]): string {
  return alignColumns([
    ["rate", "bursts/s", "achieved", "sent", "logged %", "lost", "exact?", "CPU s (xdpwatch)", "CPU s (tcpdump)", "tcpdump captured %", "startup ms"],
    ...rows.map((r) => [
      `${r.rate_pps / 1000}k pps`,
      String(r.senders),
      `${Math.round(r.achieved_pps / 1000)}k pps`,
      String(r.sent),
      r.logged_pct.toFixed(2),
      String(r.lost),
      r.exact ? "yes" : "no",
      r.xdpwatch_cpu_s.toFixed(2),
      r.tcpdump_cpu_s.toFixed(2),
      r.tcpdump_captured_pct.toFixed(2),
      String(r.startup_ms),
    ]),
  ]);
}

async function main(): Promise<number> {
  for (const sig of SIGNALS)
    process.on(sig, () => {
      interrupted = sig;
      for (const p of live) p.kill("SIGINT");
    });
  const dir = mkdtempSync(join(tmpdir(), "xdpwatch-e2e-"));
  let veth: Veth | undefined;
  try {
    const conf = join(dir, "udp64.trafgen");
    writeFileSync(conf, trafgenConfig());
    veth = await createVeth();
    const rows = [];
    for (const rate of rates) {
      console.error(`${rate} pps, ${frameCount} frames from ${senders} trafgen process${senders > 1 ? "es" : ""}…`);
      const row = await measureRate(veth, conf, rate);
      console.error(`  xdpwatch CPU split (s): ${JSON.stringify(row.xdpwatch_cpu_split_s)}`);
      rows.push(row);
    }
    if (opts.json) for (const r of rows) console.log(JSON.stringify(r));
    else console.log(table(rows));
    return 0;
  } catch (err) {
    console.error(`bench-e2e: ${interrupted ? `interrupted by ${interrupted}` : (err as Error).message}`);
    return interrupted ? 130 : 1;
  } finally {
    await stopAll();
    if (veth) {
      // Only a watch killed outright leaves these; deleting the veth has detached its program.
      const pins = pinsFor(veth.host);
      if (existsSync(pins.dir)) removePins(pins);
      rmSync(ownerFile(veth.host), { force: true });
      await veth.remove();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exit(await main());
