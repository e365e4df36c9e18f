#!/usr/bin/env bun
/**
 * xdpwatch on real traffic, next to tcpdump on the same traffic. For each
 * rate: trafgen sends 64-byte IPv4 UDP frames from random sources in
 * 198.18.0.0/16 through a veth pair of our own; `dist/xdpwatch watch --json`
 * counts what it logs and accounts for the rest; then `tcpdump -n -l` sees
 * the same traffic again. Also the median time from `watch` starting to it
 * saying it is attached, on the idle interface.
 *
 * --top checks `dist/xdpwatch top --json` instead: 10 fixed sources, one
 * packet each in the trafgen config, which trafgen sends in turn, so each
 * source gets exactly every tenth frame; top's final counts must match to the
 * packet (exit 1 when not).
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
 *   node_modules/.bin/bun scripts/bench-e2e.ts [--rates 100000,400000] [--frames 200000] [--senders 1] [--top] [--json]
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "../src/bench/report";
import { alignColumns } from "../src/output/table";
import { BIN, type Veth } from "../test/support/kernel";
import {
  checkInterrupted, countLines, cpuSeconds, interrupt, onVeth, randomSourcesConfig, readSummary, requireTools, runMain, SETTLE_MS, spawn,
  trafgen, trafgenPacket, udp64, watchText,
} from "./lib/traffic";

const STARTUP_RUNS = 5;
const CLOCK_TICKS = 100;
/** --top's sources, one trafgen packet each. */
const TOP_SOURCES = Array.from({ length: 10 }, (_, i) => `198.18.10.${i + 1}`);

const { values: opts } = parseArgs({
  options: {
    rates: { type: "string", default: "100000,400000" },
    frames: { type: "string", default: "200000" },
    senders: { type: "string", default: "1" },
    top: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const rates = opts.rates.split(",").map(Number);
const frameCount = Number(opts.frames);
const senders = Number(opts.senders);
const positive = (n: number) => Number.isInteger(n) && n > 0;
if (!rates.every(positive) || !positive(frameCount) || !positive(senders) || rates.some((r) => r < senders) || frameCount < senders) {
  console.error("usage: bun scripts/bench-e2e.ts [--rates 100000,400000] [--frames 200000] [--senders 1] [--top] [--json]");
  process.exit(2);
}
requireTools("bench-e2e", opts.top ? ["trafgen", "ip"] : ["trafgen", "tcpdump", "ip"]);

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

interface Traffic {
  sent: number;
  /** Frames each trafgen process reported sent, in the order they started. */
  runs: number[];
  seconds: number;
}

/** All frames at `rate` on average, split over --senders trafgen processes started 1/N s apart. */
async function send(veth: Veth, conf: string, rate: number): Promise<Traffic> {
  const started = performance.now();
  const share = (total: number, i: number) => Math.floor(total / senders) + (i < total % senders ? 1 : 0);
  const pending: Promise<number>[] = [];
  for (let i = 0; i < senders; i++) {
    if (i > 0) await Bun.sleep(1000 / senders);
    const run = trafgen(veth, conf, share(rate, i), share(frameCount, i));
    // Handled at once: a sender failing while the next ones start is reported by Promise.all below.
    run.catch(() => undefined);
    pending.push(run);
  }
  const runs = await Promise.all(pending);
  return { sent: runs.reduce((a, b) => a + b, 0), runs, seconds: (performance.now() - started) / 1000 };
}

async function runWatch(veth: Veth, conf: string, rate: number) {
  const proc = spawn([BIN, "watch", "--iface", veth.host, "--json"]);
  const stderr = watchText(proc.stderr);
  const stdout = countLines(proc.stdout);
  await stderr.until(/watching/, 20_000);
  const traffic = await send(veth, conf, rate);
  await Bun.sleep(SETTLE_MS);
  const split = cpuNow(proc.pid);
  await interrupt(proc, "xdpwatch watch", stderr);
  const { lines, last } = await stdout;
  return { traffic, records: lines - 1, summary: readSummary(last, "xdpwatch"), cpu: cpuSeconds(proc), split };
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
  return { traffic, captured: lines, droppedByKernel: dropped === undefined ? undefined : Number(dropped), cpu: cpuSeconds(proc) };
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

interface SourcesRecord {
  type: "sources";
  sources: { src: string; packets: number }[];
  tracked: number;
  evicted: number;
}

/** Source i's share of `frames` sent from a config of `n` packets, which trafgen sends in turn from the first. */
const shareOf = (frames: number, i: number, n: number) => Math.floor(frames / n) + (i < frames % n ? 1 : 0);

/** top while the --top config is sent; its last `sources` record, read once detached, holds the final counts. */
async function measureTop(veth: Veth, conf: string, rate: number) {
  const proc = spawn([BIN, "top", "--iface", veth.host, "--json", "--interval", "1"]);
  const stderr = watchText(proc.stderr);
  const stdout = new Response(proc.stdout).text();
  await stderr.until(/counting/, 20_000);
  const traffic = await send(veth, conf, rate);
  await Bun.sleep(SETTLE_MS);
  await interrupt(proc, "xdpwatch top", stderr);
  const lines = (await stdout).trimEnd().split("\n");
  const summary = readSummary(lines.at(-1)!, "xdpwatch top");
  const final = lines.findLast((l) => l.startsWith('{"type":"sources"'));
  if (final === undefined) throw new Error("xdpwatch top printed no sources record");
  const counts = JSON.parse(final) as SourcesRecord;
  const got = new Map(counts.sources.map((s) => [s.src, s.packets]));
  const sources = TOP_SOURCES.map((src, i) => ({
    src,
    expected: traffic.runs.reduce((sum, frames) => sum + shareOf(frames, i, TOP_SOURCES.length), 0),
    got: got.get(src) ?? 0,
  }));
  return {
    type: "bench-top",
    rate_pps: rate,
    senders,
    achieved_pps: Math.round(traffic.sent / traffic.seconds),
    sent: traffic.sent,
    seen: summary.seen,
    sources,
    tracked: counts.tracked,
    evicted: counts.evicted,
    exact:
      summary.exact && summary.seen === traffic.sent && counts.tracked === TOP_SOURCES.length && counts.evicted === 0 && sources.every((s) => s.got === s.expected),
    top_cpu_s: round(cpuSeconds(proc), 3),
  };
}

/** "10 × 40000" when all sources have the same count, else each count in source order. */
const perSource = (counts: number[]) => (new Set(counts).size === 1 ? `${counts.length} × ${counts[0]}` : counts.join("/"));

function topTable(rows: Awaited<ReturnType<typeof measureTop>>[]): string {
  return alignColumns([
    ["rate", "bursts/s", "achieved", "sent", "seen", "per source expected", "per source got", "exact?", "CPU s (top)"],
    ...rows.map((r) => [
      `${r.rate_pps / 1000}k pps`,
      String(r.senders),
      `${Math.round(r.achieved_pps / 1000)}k pps`,
      String(r.sent),
      String(r.seen),
      perSource(r.sources.map((s) => s.expected)),
      perSource(r.sources.map((s) => s.got)),
      r.exact ? "yes" : "no",
      r.top_cpu_s.toFixed(2),
    ]),
  ]);
}

/** watch and tcpdump at each rate; the output and whether it counts as passed (always: these are timings). */
async function benchWatch(veth: Veth, dir: string) {
  const conf = join(dir, "udp64.trafgen");
  writeFileSync(conf, randomSourcesConfig());
  const rows = [];
  for (const rate of rates) {
    console.error(`${rate} pps, ${frameCount} frames from ${senders} trafgen process${senders > 1 ? "es" : ""}…`);
    const row = await measureRate(veth, conf, rate);
    console.error(`  xdpwatch CPU split (s): ${JSON.stringify(row.xdpwatch_cpu_split_s)}`);
    rows.push(row);
  }
  return { output: opts.json ? rows.map((r) => JSON.stringify(r)).join("\n") : table(rows), passed: true };
}

/** top at each rate; passed when every count was exact. */
async function benchTop(veth: Veth, dir: string) {
  const conf = join(dir, "sources10.trafgen");
  writeFileSync(conf, TOP_SOURCES.map((src) => trafgenPacket(udp64(src))).join(""));
  const rows = [];
  for (const rate of rates) {
    console.error(`top: ${rate} pps, ${frameCount} frames from ${TOP_SOURCES.length} sources, ${senders} trafgen process${senders > 1 ? "es" : ""}…`);
    rows.push(await measureTop(veth, conf, rate));
  }
  return { output: opts.json ? rows.map((r) => JSON.stringify(r)).join("\n") : topTable(rows), passed: rows.every((r) => r.exact) };
}

await runMain("bench-e2e", async () => {
  const { result, leftBehind } = await onVeth(opts.top ? benchTop : benchWatch);
  console.log(result.output);
  for (const left of leftBehind) console.error(`bench-e2e: left behind: ${left}`);
  return result.passed && leftBehind.length === 0 ? 0 : 1;
});
