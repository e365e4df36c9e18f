/**
 * The program's counters in Prometheus' text exposition format (0.0.4), for
 * node_exporter's textfile collector or anything that scrapes a file. Every
 * figure is a kernel counter: it only grows while the program stays attached.
 */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { OUTCOMES, type BySpec, type Stats } from "../bpf/layout";
import { XwError } from "../errors";
import type { SourceTable } from "../xdp/sources";
import { keyJson } from "./sources";

export interface MetricsInput {
  iface: string;
  stats: Stats;
  /** Present when the program counts per key (top, attach --sources). */
  sources?: SourceTable;
  /** What `sources` is counted per; undefined: source addresses. */
  by?: BySpec;
}

/**
 * Family names per --by key, xdpwatch_<noun>_packets_total and so on; the
 * label is named after the key (a flow has all five). `src` keeps the names
 * it had before --by existed; a prefix (src/24) is the same family, its label
 * value a prefix.
 */
const NOUNS: Record<BySpec["key"], { one: string; many: string; text: string; texts: string; of: string }> = {
  src: { one: "source", many: "sources", text: "source", texts: "sources", of: "from one source" },
  dst: { one: "destination", many: "destinations", text: "destination", texts: "destinations", of: "to one destination" },
  sport: { one: "source_port", many: "source_ports", text: "source port", texts: "source ports", of: "from one source port" },
  dport: { one: "destination_port", many: "destination_ports", text: "destination port", texts: "destination ports", of: "to one destination port" },
  proto: { one: "protocol", many: "protocols", text: "protocol", texts: "protocols", of: "of one IP protocol" },
  flow: { one: "flow", many: "flows", text: "flow", texts: "flows", of: "of one flow (src, dst, proto, sport, dport)" },
};

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
    const by = m.by ?? { key: "src" };
    const n = NOUNS[by.key];
    const cap = `${n.texts[0]!.toUpperCase()}${n.texts.slice(1)}`;
    const labels = (s: (typeof top)[number]): Labels => ({ ...iface, ...Object.fromEntries(Object.entries(keyJson(s.key)).map(([k, v]) => [k, String(v)])) });
    lines.push(
      ...family(`xdpwatch_${n.many}_tracked`, "gauge", `${cap} in the kernel's per-${n.text} table.`, [[iface, tracked]]),
      ...family(`xdpwatch_${n.many}_evicted_total`, "counter", `${cap} dropped from the full per-${n.text} table, their counts lost.`, [[iface, evicted]]),
      ...family(`xdpwatch_${n.one}_packets_total`, "counter", `Frames ${n.of}, for the ${n.texts} with the most packets.`, top.map((s) => [labels(s), s.packets])),
      ...family(`xdpwatch_${n.one}_bytes_total`, "counter", `Bytes ${n.of}, for the ${n.texts} with the most packets.`, top.map((s) => [labels(s), s.bytes])),
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
