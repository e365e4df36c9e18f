#!/usr/bin/env bun
/**
 * xdpwatch watch on continuous traffic for minutes: does its memory stay flat
 * and its accounting exact? trafgen sends 64-byte IPv4 UDP frames from random
 * sources in 198.18.0.0/16 at --rate pps through a veth pair of our own, in
 * runs of 10 s, while `dist/xdpwatch watch --json` logs them; this script reads
 * and discards its stdout (as `> /dev/null` would), counting the lines and
 * keeping the last, the summary.
 *
 * RSS is VmRSS of the xdpwatch process (not its bpftool co-process): once
 * attached, after each 10 s run, and at the end before SIGINT. Under traffic
 * the garbage collector makes it a sawtooth (a 1-minute run here: 52 MiB
 * attached, then 88, 145, 85, 66, 193, 112 MiB), so one sample against the
 * idle start says nothing. A leak raises the floor instead: RSS counts as flat
 * when the lowest sample of the second half of the traffic (the end included)
 * is ≤ the lowest of the first half × 1.2 + 5 MiB.
 *
 * Exit 1 when the accounting is not exact (summary's `exact`, seen = sent,
 * logged = records read), RSS grew beyond that, or anything was left behind.
 *
 *   node_modules/.bin/bun scripts/soak.ts [--minutes 1] [--rate 100000] [--json]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alignColumns } from "../src/output/table";
import { scriptOptions, usageError } from "./lib/args";
import { BIN, type Veth } from "./lib/netns";
import { countLines, cpuSeconds, interrupt, onVeth, randomSourcesConfig, readSummary, requireTools, runMain, SETTLE_MS, spawn, trafgen, watchText } from "./lib/traffic";

const RUN_SECONDS = 10;
const RSS_GROWTH = 1.2;
const RSS_SLACK_MIB = 5;

const USAGE = "usage: bun scripts/soak.ts [--minutes 1] [--rate 100000] [--json]";
const opts = scriptOptions(USAGE, {
  minutes: { type: "string", default: "1" },
  rate: { type: "string", default: "100000" },
  json: { type: "boolean", default: false },
});
const minutes = Number(opts.minutes);
const rate = Number(opts.rate);
if (!(minutes > 0) || !Number.isInteger(rate) || rate <= 0) {
  usageError(USAGE, "--minutes is a number above 0, --rate a whole number above 0");
}
requireTools("soak", ["trafgen", "ip"]);

/** VmRSS of a running process, in MiB. */
function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) / 1024;
}

async function soak(veth: Veth, dir: string) {
  const conf = join(dir, "udp64.trafgen");
  writeFileSync(conf, randomSourcesConfig());
  const proc = spawn([BIN, "watch", "--iface", veth.host, "--json"]);
  const stderr = watchText(proc.stderr);
  const stdout = countLines(proc.stdout);
  await stderr.until(/watching/, 20_000);
  const rss = [rssMiB(proc.pid)];
  console.error(`soak: ${minutes} min at ${rate} pps on ${veth.host}; RSS after attach ${rss[0]!.toFixed(1)} MiB`);

  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const total = Math.round(rate * minutes * 60);
  let sent = 0;
  for (let left = total; left > 0; left -= rate * RUN_SECONDS) {
    sent += await trafgen(veth, conf, rate, Math.min(rate * RUN_SECONDS, left));
    if (proc.exitCode !== null) throw new Error(`xdpwatch watch exited ${proc.exitCode} during the soak: ${stderr.text.trim()}`);
    rss.push(rssMiB(proc.pid));
    console.error(`  ${elapsed().toFixed(0)} s: ${sent} frames sent, RSS ${rss.at(-1)!.toFixed(1)} MiB`);
  }
  const seconds = elapsed();
  await Bun.sleep(SETTLE_MS);
  rss.push(rssMiB(proc.pid));
  await interrupt(proc, "xdpwatch watch", stderr);
  const { lines, last } = await stdout;
  const s = readSummary(last, "xdpwatch");
  const records = lines - 1;
  const underTraffic = rss.slice(1);
  const half = Math.max(1, Math.floor(underTraffic.length / 2));
  const [floorBefore, floorAfter] = [Math.min(...underTraffic.slice(0, half)), Math.min(...underTraffic.slice(half))];
  const limit = floorBefore * RSS_GROWTH + RSS_SLACK_MIB;
  const round = (n: number) => Number(n.toFixed(1));
  return {
    type: "soak",
    iface: veth.host,
    netns: veth.ns,
    minutes,
    rate_pps: rate,
    duration_s: round(seconds),
    sent,
    records,
    seen: s.seen,
    logged: s.logged,
    lost: s.lost,
    exact: s.exact && s.seen === sent && s.logged === records,
    rss_start_mib: round(rss[0]!),
    rss_max_mib: round(Math.max(...rss)),
    rss_end_mib: round(rss.at(-1)!),
    rss_floor_first_half_mib: round(floorBefore),
    rss_floor_second_half_mib: round(floorAfter),
    rss_limit_mib: round(limit),
    rss_flat: floorAfter <= limit,
    rss_samples_mib: rss.map(round),
    xdpwatch_cpu_s: Number(cpuSeconds(proc).toFixed(2)),
  };
}

await runMain("soak", async () => {
  const { result: r, leftBehind } = await onVeth(soak);
  const row = { ...r, left_behind: leftBehind };
  if (opts.json) console.log(JSON.stringify(row));
  else {
    console.log(
      alignColumns([
        ["duration", "rate", "sent", "seen", "logged", "lost", "exact?", "RSS MiB start/max/end", "RSS floor 1st/2nd half", "RSS flat?", "CPU s (xdpwatch)", "left behind"],
        [
          `${row.duration_s} s`,
          `${rate / 1000}k pps`,
          String(row.sent),
          String(row.seen),
          String(row.logged),
          String(row.lost),
          row.exact ? "yes" : "no",
          `${row.rss_start_mib} / ${row.rss_max_mib} / ${row.rss_end_mib}`,
          `${row.rss_floor_first_half_mib} / ${row.rss_floor_second_half_mib}`,
          row.rss_flat ? "yes" : "no",
          row.xdpwatch_cpu_s.toFixed(2),
          leftBehind.length === 0 ? "nothing" : leftBehind.join("; "),
        ],
      ]),
    );
    console.log(
      `RSS flat means the 2nd half's lowest sample ≤ the 1st half's lowest × ${RSS_GROWTH} + ${RSS_SLACK_MIB} MiB = ${row.rss_limit_mib} MiB ` +
        `(${row.rss_samples_mib.length} samples: after attach, every ${RUN_SECONDS} s, at the end)`,
    );
    console.log(`left behind: checked for an XDP program on ${row.iface}, its pins under /sys/fs/bpf/xdpwatch/ and its owner file under /run/xdpwatch/ once xdpwatch exited, then the veth pair and netns ${row.netns} once removed`);
  }
  return row.exact && row.rss_flat && leftBehind.length === 0 ? 0 : 1;
});
