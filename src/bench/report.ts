/** `bench` figures: medians, ratios to the empty program, and the table, NDJSON and BMF views of them. */
import { alignColumns } from "../output/table";

/** The program every other is compared with. */
export const BASELINE = "empty";

/** One `bpftool prog run`: `ns` is the kernel's average per run of the program. */
export interface Run {
  program: string;
  frame: string;
  ns: number;
}

export interface Result {
  program: string;
  frame: string;
  /** Median of its runs: one a round, but the baseline's one before every other program's. */
  ns: number;
  min: number;
  max: number;
  /** `ns` over the baseline's median on the same frame. */
  ratio: number;
  samples: number[];
}

/** The middle value; the mean of the two middle ones for an even count. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * One result per program and frame, in the order the runs first name them.
 * Every frame needs baseline runs: the ratio divides by their median.
 */
export function summarize(runs: readonly Run[]): Result[] {
  const groups = new Map<string, Run[]>();
  for (const r of runs) {
    const key = `${r.program}\0${r.frame}`;
    const group = groups.get(key);
    if (group) group.push(r);
    else groups.set(key, [r]);
  }
  const baselines = new Map<string, number>();
  for (const group of groups.values())
    if (group[0]!.program === BASELINE) baselines.set(group[0]!.frame, median(group.map((r) => r.ns)));
  return [...groups.values()].map((group) => {
    const { program, frame } = group[0]!;
    const samples = group.map((r) => r.ns);
    const ns = median(samples);
    const base = baselines.get(frame);
    if (base === undefined) throw new Error(`no ${BASELINE} runs on ${frame}`);
    return { program, frame, ns, min: Math.min(...samples), max: Math.max(...samples), ratio: ns / base, samples };
  });
}

const round = (n: number, digits: number) => Number(n.toFixed(digits));

export interface BenchRecord {
  type: "bench";
  program: string;
  frame: string;
  ns_per_packet: number;
  ratio: number;
  min_ns: number;
  max_ns: number;
  samples_ns: number[];
  repeat: number;
}

export function benchRecord(r: Result, repeat: number): BenchRecord {
  return {
    type: "bench",
    program: r.program,
    frame: r.frame,
    ns_per_packet: r.ns,
    ratio: round(r.ratio, 3),
    min_ns: r.min,
    max_ns: r.max,
    samples_ns: r.samples,
    repeat,
  };
}

export interface BmfMetric {
  value: number;
  lower_value?: number;
  upper_value?: number;
}

/** Bencher Metric Format: benchmark name -> measure -> metric; latency is in ns, Bencher's unit for it. */
export function toBmf(results: readonly Result[]): Record<string, Record<"latency" | "ratio", BmfMetric>> {
  return Object.fromEntries(
    results.map((r) => [
      `${r.program}/${r.frame}`,
      { latency: { value: r.ns, lower_value: r.min, upper_value: r.max }, ratio: { value: round(r.ratio, 3) } },
    ]),
  );
}

/** Programs down, frames across; each cell the median ns and, but for the baseline, the ratio to it. */
export function benchTable(results: readonly Result[]): string {
  const programs = [...new Set(results.map((r) => r.program))];
  const frames = [...new Set(results.map((r) => r.frame))];
  const cell = (program: string, frame: string) => {
    const r = results.find((x) => x.program === program && x.frame === frame);
    if (!r) return "-";
    return program === BASELINE ? `${round(r.ns, 1)} ns` : `${round(r.ns, 1)} ns ${r.ratio.toFixed(2)}x`;
  };
  return alignColumns([["program", ...frames], ...programs.map((p) => [p, ...frames.map((f) => cell(p, f))])]);
}
