/**
 * The program's counters in Prometheus' text exposition format (0.0.4), for
 * node_exporter's textfile collector or anything that scrapes a file. Every
 * figure is a kernel counter: it only grows while the program stays attached.
 */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { OUTCOMES, type Stats } from "../bpf/layout";
import { XwError } from "../errors";
import type { SourceTable } from "../xdp/sources";

export interface MetricsInput {
  iface: string;
  stats: Stats;
  /** Present when the program counts per source (top, attach --sources). */
  sources?: SourceTable;
}

type Labels = Record<string, string>;

/** Label values may hold any text: backslash, double quote and line feed must be escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function family(name: string, type: "counter" | "gauge", help: string, samples: [Labels, bigint | number][]): string[] {
  const sample = ([labels, value]: [Labels, bigint | number]) => {
    const text = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",");
    return `${name}{${text}} ${value}`;
  };
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples.map(sample)];
}

export function prometheusText(m: MetricsInput): string {
  const iface = { iface: m.iface };
  const { stats } = m;
  const lines = [
    ...family("xdpwatch_seen_packets_total", "counter", "Frames the XDP program ran on.", [[iface, stats.seen]]),
    ...family("xdpwatch_bytes_total", "counter", "Bytes of all frames the XDP program ran on.", [[iface, stats.bytes]]),
    ...family(
      "xdpwatch_packets_total",
      "counter",
      "Frames by outcome; every frame seen has exactly one.",
      OUTCOMES.map((outcome) => [{ ...iface, outcome }, stats.outcome[outcome]]),
    ),
    ...family("xdpwatch_action_packets_total", "counter", "Frames by XDP verdict: drop only for --block ranges.", [
      [{ ...iface, action: "pass" }, stats.seen - stats.outcome.blocked],
      [{ ...iface, action: "drop" }, stats.outcome.blocked],
    ]),
  ];
  if (m.sources) {
    const { top, tracked, evicted } = m.sources;
    lines.push(
      ...family("xdpwatch_sources_tracked", "gauge", "Sources in the kernel's per-source table.", [[iface, tracked]]),
      ...family("xdpwatch_sources_evicted_total", "counter", "Sources dropped from the full per-source table, their counts lost.", [[iface, evicted]]),
      ...family(
        "xdpwatch_source_packets_total",
        "counter",
        "Frames from one source, for the sources with the most packets.",
        top.map((s) => [{ ...iface, src: s.src }, s.packets]),
      ),
      ...family(
        "xdpwatch_source_bytes_total",
        "counter",
        "Bytes from one source, for the sources with the most packets.",
        top.map((s) => [{ ...iface, src: s.src }, s.bytes]),
      ),
    );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Replaces `path` in one step (a temp file in the same directory, then a
 * rename), so a collector never reads half a file. The temp name starts with a
 * dot and does not end in .prom: the textfile collector skips it.
 */
export function writeMetricsFile(path: string, text: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(temp, text, { mode: 0o644 });
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw new XwError(`writing ${path} failed: ${(err as Error).message}`);
  }
}
