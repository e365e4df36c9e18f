/** The counters of a pinned program as Prometheus text: what `metrics` and `attach --prometheus-file` write. */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { decodeBy, type BySpec } from "../bpf/layout";
import { prometheusText } from "../output/prometheus";
import * as bpftool from "../tools/bpftool";
import type { Pins } from "./pins";
import { possibleCpus, ringFor } from "./program";
import { Reader } from "./reader";
import { readSources } from "./sources";

/**
 * What a pinned program counts per, from its own configuration: its .rodata,
 * which bpftool pins beside the other maps (named after the object, so found
 * by its suffix). The program's word, not a file beside it that could disagree.
 */
export async function pinnedBy(pins: Pins): Promise<BySpec> {
  const rodata = readdirSync(pins.mapDir).find((name) => name.endsWith("rodata"));
  if (!rodata) throw new Error(`no configuration map under ${pins.mapDir}`);
  // struct xw_config is the object's only read-only global: it starts the section.
  return decodeBy(await bpftool.lookupBytes(join(pins.mapDir, rodata), 0));
}

/** A pinned program's counters as Prometheus text, with per-key figures when it counts them. */
export async function pinnedMetrics(iface: string, pins: Pins, limit: number): Promise<string> {
  const reader = new Reader(pins, ringFor(possibleCpus()));
  try {
    const { total } = await reader.readStats();
    // A program that counts per key has inserted at least one by now, unless it saw no IP yet.
    if (total.newSources === 0n) return prometheusText({ iface, stats: total });
    const by = await pinnedBy(pins);
    const read = await readSources(reader, pins, by);
    return prometheusText({
      iface,
      stats: read.stats,
      by,
      sources: { top: read.sources.slice(0, limit), tracked: read.sources.length, evicted: read.evicted },
    });
  } finally {
    await reader.close();
  }
}
