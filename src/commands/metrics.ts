import { defineCommand } from "citty";
import { SOURCES_MAX } from "../bpf/layout";
import { XwError } from "../errors";
import { log } from "../log";
import { prometheusText, writeMetricsFile } from "../output/prometheus";
import type { Pins } from "../xdp/pins";
import { inspectHook, possibleCpus, ringFor } from "../xdp/program";
import { Reader } from "../xdp/reader";
import { readSources } from "../xdp/sources";
import { ifaceArgs, limitArgs, metricsArgs, outputArgs, parseCount, parseIface, parsePrometheusFile } from "./_args";

/** A pinned program's counters as Prometheus text, with per-source figures when it counts them. */
export async function pinnedMetrics(iface: string, pins: Pins, limit: number): Promise<string> {
  const reader = new Reader(pins, ringFor(possibleCpus()));
  try {
    const { total } = await reader.readStats();
    // A program that counts per source has inserted at least one by now, unless it saw no IP yet.
    if (total.newSources === 0n) return prometheusText({ iface, stats: total });
    const read = await readSources(reader, pins);
    return prometheusText({
      iface,
      stats: read.stats,
      sources: { top: read.sources.slice(0, limit), tracked: read.sources.length, evicted: read.evicted },
    });
  } finally {
    await reader.close();
  }
}

export default defineCommand({
  meta: {
    name: "metrics",
    description: "Print Prometheus metrics of the program `xdpwatch attach` left on an interface (for cron and node_exporter)",
  },
  // No --json: the output is Prometheus text. Silent on success, so that cron mails only failures.
  args: { ...ifaceArgs, ...metricsArgs, ...limitArgs, verbose: outputArgs.verbose, quiet: outputArgs.quiet },
  async run({ args }) {
    const iface = parseIface(args.iface);
    const limit = parseCount(args.limit, "--limit", 1, SOURCES_MAX)!;
    const file = parsePrometheusFile(args["prometheus-file"]);
    const state = await inspectHook(iface);
    if (!state.ours)
      throw new XwError(`xdpwatch is not attached to ${iface}`, { hint: `xdpwatch attach --iface ${iface} --sources leaves it running for metrics` });
    const text = await pinnedMetrics(iface, state.pins, limit);
    if (file) {
      writeMetricsFile(file, text);
      log.debug(`wrote ${file}`);
    } else process.stdout.write(text);
  },
});
