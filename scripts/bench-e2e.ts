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
 * watch writes to a file (`--json > FILE`, or its human lines with --human),
 * which is then counted. Its CPU per printed record is taken from /proc
 * between "watching" and SIGINT, after the traffic has been drained: the
 * xdpwatch process and its bpftool co-process apart, attach and start-up not
 * included. CPU seconds of whole runs (xdpwatch, tcpdump) are user + system
 * from wait4() (Bun's resourceUsage()), every child the process waited for
 * included. Max RSS is xdpwatch's VmHWM, read until it exits; not wait4()'s
 * ru_maxrss, which for a child started by fork() and exec() starts at the
 * parent's RSS (this script's, up to ~125 MiB after counting a large output).
 *
 * Sustained load: `--rates max --frames 4000000` sends as fast as one trafgen
 * can (its per-second budget set far above what it reaches). Overload:
 * --starve runs xdpwatch (and so its bpftool) at nice 19 on CPU 0 next to a
 * busy loop while the traffic is sent, so that the ring laps the reader.
 *
 * trafgen's -b is a per-second budget: it sends RATE frames as fast as it
 * can, then sleeps out the second, so "100 kpps" arrives as bursts of 100,000
 * frames at well over 1 Mpps. --senders N splits each rate over N trafgen
 * processes started 1/N s apart: N smaller bursts a second, the same average.
 *
 * Timings, not tests: not part of `bun test`. Needs root, trafgen
 * (netsniff-ng), tcpdump and a built dist/xdpwatch.
 *
 *   node_modules/.bin/bun scripts/bench-e2e.ts [--rates 100000,400000,max] [--frames 200000] [--senders 1]
 *     [--human] [--starve] [--skip tcpdump,startup] [--top] [--json] [--bin FILE]
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { median } from "../src/bench/report";
import { scriptOptions, usageError } from "./lib/args";
import { alignColumns } from "../src/output/table";
import { BIN, type Veth } from "./lib/netns";
import {
  checkInterrupted, childrenOf, countFileLines, countLines, cpuSeconds, interrupt, onVeth, peakRssMiB, processCpu, randomSourcesConfig, readSummary,
  requireTools, runMain, SETTLE_MS, spawn, spawnToFile, trafgen, trafgenPacket, udp64, watchText,
} from "./lib/traffic";

const STARTUP_RUNS = 5;
/** `--rates max`: a per-second budget no single trafgen reaches, so it sends as fast as it can. */
const MAX_RATE = 100_000_000;
/** --top's sources, one trafgen packet each. */
const TOP_SOURCES = Array.from({ length: 10 }, (_, i) => `198.18.10.${i + 1}`);

const USAGE =
  "usage: bun scripts/bench-e2e.ts [--rates 100000,400000,max] [--frames 200000] [--senders 1] [--human] [--starve] [--skip tcpdump,startup] [--top] [--json] [--bin FILE]";
const opts = scriptOptions(USAGE, {
    rates: { type: "string", default: "100000,400000" },
    frames: { type: "string", default: "200000" },
    senders: { type: "string", default: "1" },
    human: { type: "boolean", default: false },
    starve: { type: "boolean", default: false },
    skip: { type: "string", default: "" },
    top: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  /** Another build to measure the same way (an older commit's, say). */
  bin: { type: "string", default: BIN },
});
if (!existsSync(opts.bin)) usageError(USAGE, `--bin ${opts.bin}: no such file`);
const rates = opts.rates.split(",").map((r) => (r === "max" ? MAX_RATE : Number(r)));
const skip = new Set(opts.skip.split(",").filter(Boolean));
const frameCount = Number(opts.frames);
const senders = Number(opts.senders);
const positive = (n: number) => Number.isInteger(n) && n > 0;
if (
  !rates.every(positive) || !positive(frameCount) || !positive(senders) || rates.some((r) => r < senders) || frameCount < senders ||
  [...skip].some((s) => s !== "tcpdump" && s !== "startup")
) {
  usageError(USAGE, "rates, frames and senders are whole numbers above 0 (rates and frames at least senders); --skip takes tcpdump and startup");
}
requireTools("bench-e2e", [...(opts.top || skip.has("tcpdump") ? ["trafgen", "ip"] : ["trafgen", "tcpdump", "ip"]), ...(opts.starve ? ["taskset", "nice"] : [])]);

/** CPU seconds now of xdpwatch itself and of its bpftool co-process. */
function watchCpu(pid: number): { xdpwatch: number; bpftool: number } {
  const bpftool = childrenOf(pid).filter((c) => c.comm === "bpftool");
  return { xdpwatch: processCpu(pid), bpftool: bpftool.reduce((sum, c) => sum + processCpu(c.pid), 0) };
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

async function runWatch(veth: Veth, conf: string, rate: number, dir: string) {
  const file = join(dir, "watch.out");
  const starve = opts.starve ? ["taskset", "-c", "0", "nice", "-n", "19"] : [];
  const proc = spawnToFile([...starve, opts.bin, "watch", "--iface", veth.host, ...(opts.human ? [] : ["--json"])], file);
  try {
    const stderr = watchText(proc.stderr);
    await stderr.until(/watching/, 20_000);
    const start = watchCpu(proc.pid);
    const hog = opts.starve ? spawn(["taskset", "-c", "0", "sh", "-c", "while :; do :; done"]) : undefined;
    const traffic = await send(veth, conf, rate).finally(() => hog?.kill("SIGKILL"));
    await Bun.sleep(SETTLE_MS);
    const end = watchCpu(proc.pid);
    let hwm = peakRssMiB(proc.pid);
    // The final poll and the summary come after SIGINT: the peak is followed to the end.
    const follow = setInterval(() => {
      try {
        hwm = peakRssMiB(proc.pid);
      } catch {
        // exited
      }
    }, 10);
    await interrupt(proc, "xdpwatch watch", stderr).finally(() => clearInterval(follow));
    const { lines, last } = await countFileLines(file);
    const summary = opts.human ? readHumanSummary(stderr.text) : readSummary(last, "xdpwatch");
    return {
      traffic,
      records: opts.human ? lines : lines - 1,
      summary,
      cpu: cpuSeconds(proc),
      read: { xdpwatch: end.xdpwatch - start.xdpwatch, bpftool: end.bpftool - start.bpftool },
      maxRssMiB: hwm,
    };
  } finally {
    rmSync(file, { force: true });
  }
}

/** Human output's summary is the closing line on stderr: "IF: seen N · logged N · lost N … in S s". */
function readHumanSummary(text: string) {
  const line = text.split("\n").findLast((l) => / seen \d+ · logged \d+ · lost \d+/.test(l));
  if (!line) throw new Error(`xdpwatch printed no summary: ${text.trim().split("\n").slice(-2).join(" | ")}`);
  const n = (label: string) => Number(new RegExp(`${label} (\\d+)`).exec(line)![1]);
  return { type: "summary" as const, seen: n("seen"), logged: n("logged"), lost: n("lost"), exact: !line.includes("do not add up") };
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
    const proc = spawn([opts.bin, "watch", "--iface", host, "--duration", "0.2", "--verbose"]);
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

async function measureRate(veth: Veth, conf: string, rate: number, dir: string) {
  const start = skip.has("startup") ? undefined : await startup(veth.host);
  checkInterrupted();
  const watch = await runWatch(veth, conf, rate, dir);
  checkInterrupted();
  const dump = skip.has("tcpdump") ? undefined : await runTcpdump(veth, conf, rate);
  checkInterrupted();
  const s = watch.summary;
  const perRecord = (seconds: number) => (watch.records === 0 ? 0 : round((seconds * 1e6) / watch.records, 3));
  return {
    type: "bench-e2e",
    output: opts.human ? "human" : "json",
    rate_pps: rate === MAX_RATE ? ("max" as const) : rate,
    senders,
    achieved_pps: Math.round(watch.traffic.sent / watch.traffic.seconds),
    sent: watch.traffic.sent,
    records: watch.records,
    logged_pct: round(pct(watch.records, watch.traffic.sent)),
    seen: s.seen,
    lost: s.lost,
    exact: s.exact && s.seen === watch.traffic.sent && s.logged === watch.records,
    /** CPU from attached to stop, per printed record: the criterion. */
    us_per_record: perRecord(watch.read.xdpwatch + watch.read.bpftool),
    us_per_record_xdpwatch: perRecord(watch.read.xdpwatch),
    us_per_record_bpftool: perRecord(watch.read.bpftool),
    max_rss_mib: round(watch.maxRssMiB, 1),
    /** The whole run, start-up, attach and detach included. */
    xdpwatch_cpu_s: round(watch.cpu, 3),
    tcpdump_cpu_s: dump && round(dump.cpu, 3),
    tcpdump_sent: dump?.traffic.sent,
    tcpdump_captured: dump?.captured,
    tcpdump_captured_pct: dump && round(pct(dump.captured, dump.traffic.sent)),
    tcpdump_dropped_by_kernel: dump?.droppedByKernel,
    startup_ms: start && Math.round(start.ms),
    attach_ms: start?.attachMs,
  };
}

function table(rows: Awaited<ReturnType<typeof measureRate>>[]): string {
  const opt = (v: number | undefined, digits = 2) => (v === undefined ? "-" : v.toFixed(digits));
  return alignColumns([
    ["rate", "bursts/s", "achieved", "sent", "output", "logged %", "lost", "exact?", "µs/record", "xdpwatch", "bpftool", "max RSS MiB", "CPU s (xdpwatch)", "CPU s (tcpdump)", "tcpdump captured %", "startup ms"],
    ...rows.map((r) => [
      typeof r.rate_pps === "string" ? "max" : `${r.rate_pps / 1000}k pps`,
      String(r.senders),
      `${Math.round(r.achieved_pps / 1000)}k pps`,
      String(r.sent),
      r.output,
      r.logged_pct.toFixed(2),
      String(r.lost),
      r.exact ? "yes" : "no",
      r.us_per_record.toFixed(3),
      r.us_per_record_xdpwatch.toFixed(3),
      r.us_per_record_bpftool.toFixed(3),
      r.max_rss_mib.toFixed(1),
      r.xdpwatch_cpu_s.toFixed(2),
      opt(r.tcpdump_cpu_s),
      opt(r.tcpdump_captured_pct),
      r.startup_ms === undefined ? "-" : String(r.startup_ms),
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
  const proc = spawn([opts.bin, "top", "--iface", veth.host, "--json", "--interval", "1"]);
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
    console.error(`${rate === MAX_RATE ? "as fast as trafgen can" : `${rate} pps`}, ${frameCount} frames from ${senders} trafgen process${senders > 1 ? "es" : ""}…`);
    const row = await measureRate(veth, conf, rate, dir);
    console.error(`  logged ${row.logged_pct} %, ${row.us_per_record} µs/record (xdpwatch ${row.us_per_record_xdpwatch}, bpftool ${row.us_per_record_bpftool}), max RSS ${row.max_rss_mib} MiB`);
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
