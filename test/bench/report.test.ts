import { describe, expect, test } from "bun:test";
import { BASELINE, benchRecord, benchTable, median, summarize, toBmf, type Run } from "../../src/bench/report";

describe("median", () => {
  test.each([
    [[7], 7],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[20, 20, 21, 90], 20.5],
  ])("median(%p) = %p", (values, want) => {
    expect(median(values)).toBe(want);
  });

  test("no values is a bug, not a zero", () => {
    expect(() => median([])).toThrow();
  });
});

const run = (program: string, frame: string, ns: number): Run => ({ program, frame, ns });

describe("summarize", () => {
  const runs = [
    run(BASELINE, "a", 20), run("p", "a", 30),
    run(BASELINE, "b", 10), run("p", "b", 40),
    run(BASELINE, "a", 21), run("p", "a", 33),
    run(BASELINE, "b", 10), run("p", "b", 40),
    run(BASELINE, "a", 19), run("p", "a", 29),
    run(BASELINE, "b", 50), run("p", "b", 41),
  ];

  test("medians per program and frame, ratio to the baseline's median on the same frame", () => {
    const results = summarize(runs);
    expect(results.map((r) => [r.program, r.frame, r.ns, r.min, r.max])).toEqual([
      [BASELINE, "a", 20, 19, 21],
      ["p", "a", 30, 29, 33],
      [BASELINE, "b", 10, 10, 50],
      ["p", "b", 40, 40, 41],
    ]);
    expect(results.map((r) => r.ratio)).toEqual([1, 1.5, 1, 4]);
    expect(results[1]!.samples).toEqual([30, 33, 29]);
  });

  test("a frame without baseline runs has no ratio to give", () => {
    expect(() => summarize([run("p", "a", 30)])).toThrow(/no empty runs on a/);
  });
});

describe("output", () => {
  const results = summarize([run(BASELINE, "ipv4-udp-64", 21), run("default", "ipv4-udp-64", 24), run(BASELINE, "arp-42", 20), run("default", "arp-42", 22)]);

  test("NDJSON record", () => {
    expect(benchRecord(results[1]!, 1000)).toEqual({
      type: "bench",
      program: "default",
      frame: "ipv4-udp-64",
      ns_per_packet: 24,
      ratio: 1.143,
      min_ns: 24,
      max_ns: 24,
      samples_ns: [24],
      repeat: 1000,
    });
  });

  test("Bencher Metric Format: one benchmark per program and frame, latency in ns and the ratio", () => {
    expect(toBmf(results)).toEqual({
      "empty/ipv4-udp-64": { latency: { value: 21, lower_value: 21, upper_value: 21 }, ratio: { value: 1 } },
      "default/ipv4-udp-64": { latency: { value: 24, lower_value: 24, upper_value: 24 }, ratio: { value: 1.143 } },
      "empty/arp-42": { latency: { value: 20, lower_value: 20, upper_value: 20 }, ratio: { value: 1 } },
      "default/arp-42": { latency: { value: 22, lower_value: 22, upper_value: 22 }, ratio: { value: 1.1 } },
    });
  });

  test("table: programs down, frames across, columns aligned", () => {
    expect(benchTable(results)).toBe(
      [
        "program  ipv4-udp-64       arp-42",
        "empty          21 ns        20 ns",
        "default  24 ns 1.14x  22 ns 1.10x",
      ].join("\n"),
    );
  });
});
