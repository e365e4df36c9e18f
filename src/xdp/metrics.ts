/** The counters of a pinned program as Prometheus text: what `metrics` and `attach --prometheus-file` write. */
import { prometheusText } from "../output/prometheus";
import type { Pins } from "./pins";
import { possibleCpus, ringFor } from "./program";
import { Reader } from "./reader";
import { readSources } from "./sources";

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
