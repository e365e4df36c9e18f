/**
 * `bench` figures. The empty program's cost (the price of running any XDP
 * program at all) differs several-fold between machines, so each program is
 * reported as the ns it ADDS over the empty one, and as a ratio to what the
 * reference (bpf/minimal.c, the least code doing the same job) adds.
 */
import { alignColumns } from "../output/table";

/** The program every other is paired with: XDP_PASS and nothing else. */
export const BASELINE = "empty";
/** The program whose added cost is the unit of the ratios. */
export const REFERENCE = "minimal";

/** One `bpftool prog run`: `ns` is the kernel's average per run, rounded down to whole ns. */
export interface Run {
  program: string;
  frame: string;
  round: number;
  ns: number;
}

export interface Result {
  program: string;
  frame: string;
  /** Median of the program's own runs. */
  ns: number;
  rounds: number;
  /** Robust mean of (program − baseline) over the rounds; undefined for the baseline. */
  added?: number;
  /** Quartiles of those differences: how much they spread. */
  addedQ1?: number;
  addedQ3?: number;
  /** `added` over the reference's `added` on the same frame; undefined without a positive reference. */
  ratio?: number;
}

function sorted(values: readonly number[]): number[] {
  if (values.length === 0) throw new Error("no values");
  return [...values].sort((a, b) => a - b);
}

/** The middle value; the mean of the two middle ones for an even count. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Linear interpolation between the closest ranks. */
export function quantile(values: readonly number[], q: number): number {
  const s = sorted(values);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return s[lo]! + (s[hi]! - s[lo]!) * (at - lo);
}

/**
 * The interquartile mean: the mean of the middle half. bpftool reports whole
 * ns, so a median of differences moves in steps of 1 ns; the mean of many
 * rounds resolves fractions, and dropping the outer quarters keeps a round
 * disturbed by other load from pulling it.
 */
export function robustMean(values: readonly number[]): number {
  const s = sorted(values);
  const cut = Math.floor(s.length / 4);
  const middle = s.slice(cut, s.length - cut);
  return middle.reduce((a, b) => a + b, 0) / middle.length;
}

/**
 * One result per program and frame, in the order the runs first name them.
 * Every program's run is paired with the baseline's run on the same frame in
 * the same round; a round without a baseline run is a bug in the caller.
 */
export function summarize(runs: readonly Run[]): Result[] {
  const groups = new Map<string, Run[]>();
  const baseline = new Map<string, number>();
  for (const r of runs) {
    const key = `${r.program}\0${r.frame}`;
    const group = groups.get(key);
    if (group) group.push(r);
    else groups.set(key, [r]);
    if (r.program === BASELINE) baseline.set(`${r.frame}\0${r.round}`, r.ns);
  }
  const results = [...groups.values()].map((group): Result => {
    const { program, frame } = group[0]!;
    const result: Result = { program, frame, ns: median(group.map((r) => r.ns)), rounds: group.length };
    if (program === BASELINE) return result;
    const diffs = group.map((r) => {
      const base = baseline.get(`${frame}\0${r.round}`);
      if (base === undefined) throw new Error(`no ${BASELINE} run on ${frame} in round ${r.round}`);
      return r.ns - base;
    });
    return { ...result, added: robustMean(diffs), addedQ1: quantile(diffs, 0.25), addedQ3: quantile(diffs, 0.75) };
  });
  const reference = new Map(results.filter((r) => r.program === REFERENCE).map((r) => [r.frame, r.added!]));
  for (const r of results) {
    const ref = reference.get(r.frame);
    if (r.added !== undefined && ref !== undefined && ref > 0) r.ratio = r.added / ref;
  }
  return results;
}

const round = (n: number, digits: number) => Number(n.toFixed(digits));

export interface BenchRecord {
  type: "bench";
  program: string;
  frame: string;
  /** Median of the program's own runs, the empty program's cost included. */
  ns_per_packet: number;
  /** Over the empty program: robust mean of paired differences, and their quartiles. */
  added_ns?: number;
  added_ns_q1?: number;
  added_ns_q3?: number;
  /** added_ns over the reference program's added_ns on the same frame. */
  ratio_to_reference?: number;
  reference: string;
  rounds: number;
  repeat: number;
}

export function benchRecord(r: Result, repeat: number): BenchRecord {
  return {
    type: "bench",
    program: r.program,
    frame: r.frame,
    ns_per_packet: r.ns,
    ...(r.added !== undefined && { added_ns: round(r.added, 2), added_ns_q1: r.addedQ1, added_ns_q3: r.addedQ3 }),
    ...(r.ratio !== undefined && { ratio_to_reference: round(r.ratio, 3) }),
    reference: REFERENCE,
    rounds: r.rounds,
    repeat,
  };
}

export interface BmfMetric {
  value: number;
  lower_value?: number;
  upper_value?: number;
}

/**
 * Bencher Metric Format: benchmark name -> measure -> metric. `latency` is the
 * program's whole cost in ns (Bencher's unit for it), `added-latency` what it
 * adds over the empty program, `ratio` that over the reference's.
 */
export function toBmf(results: readonly Result[]): Record<string, Record<string, BmfMetric>> {
  return Object.fromEntries(
    results.map((r) => {
      const measures: Record<string, BmfMetric> = { latency: { value: r.ns } };
      if (r.added !== undefined) measures["added-latency"] = { value: round(r.added, 2), lower_value: r.addedQ1, upper_value: r.addedQ3 };
      if (r.ratio !== undefined) measures.ratio = { value: round(r.ratio, 3) };
      return [`${r.program}/${r.frame}`, measures];
    }),
  );
}

/** Programs down, frames across: the baseline's ns, then each program's added ns and ratio to the reference. */
export function benchTable(results: readonly Result[]): string {
  const programs = [...new Set(results.map((r) => r.program))];
  const frames = [...new Set(results.map((r) => r.frame))];
  const cell = (program: string, frame: string) => {
    const r = results.find((x) => x.program === program && x.frame === frame);
    if (!r) return "-";
    if (r.added === undefined) return `${round(r.ns, 1)} ns`;
    const added = `${r.added >= 0 ? "+" : ""}${r.added.toFixed(1)} ns`;
    return program === REFERENCE || r.ratio === undefined ? added : `${added} ${r.ratio.toFixed(2)}x`;
  };
  return alignColumns([["program", ...frames], ...programs.map((p) => [p, ...frames.map((f) => cell(p, f))])]);
}
