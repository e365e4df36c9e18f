import { describe, expect, test } from "bun:test";
import { BASELINE, benchRecord, benchTable, median, quantile, REFERENCE, robustMean, summarize, toBmf, type Run } from "../../src/bench/report";

describe("median and quantiles", () => {
  test.each([
    [[7], 7],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[20, 20, 21, 90], 20.5],
  ])("median(%p) = %p", (values, want) => {
    expect(median(values)).toBe(want);
  });

  test("quartiles interpolate between ranks", () => {
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
    expect(quantile([1, 2, 3, 4], 0.75)).toBe(3.25);
  });

  test("no values is a bug, not a zero", () => {
    expect(() => median([])).toThrow();
    expect(() => robustMean([])).toThrow();
  });
});

describe("robust mean", () => {
  test.each([
    [[5], 5],
    [[5, 6], 5.5],
    // The outer quarter on each side goes: one disturbed round does not move it.
    [[5, 5, 6, 6, 5, 6, 5, 90], 5.5],
    [[-40, 5, 6, 6, 5, 6, 5, 6], 5.5],
    // Whole-ns samples average to fractions.
    [[6, 7, 7, 7, 6, 7, 7, 6], 6.75],
  ])("robustMean(%p) = %p", (values, want) => {
    expect(robustMean(values)).toBe(want);
  });
});

const run = (program: string, frame: string, round: number, ns: number): Run => ({ program, frame, round, ns });

describe("summarize", () => {
  // The baseline drifts from round to round; the programs drift with it.
  const runs = [
    run(BASELINE, "a", 0, 20), run(REFERENCE, "a", 0, 24), run("p", "a", 0, 25),
    run(BASELINE, "a", 1, 30), run(REFERENCE, "a", 1, 34), run("p", "a", 1, 35),
    run(BASELINE, "a", 2, 21), run(REFERENCE, "a", 2, 25), run("p", "a", 2, 26),
    run(BASELINE, "a", 3, 22), run(REFERENCE, "a", 3, 26), run("p", "a", 3, 27),
    run(BASELINE, "b", 0, 10), run(REFERENCE, "b", 0, 12), run("p", "b", 0, 16),
  ];
  const results = summarize(runs);
  const by = (program: string, frame: string) => results.find((r) => r.program === program && r.frame === frame)!;

  test("added is paired per round: drift of the whole machine cancels out", () => {
    expect(by("p", "a").added).toBe(5);
    expect(by(REFERENCE, "a").added).toBe(4);
    // Unpaired medians would say 26.5 - 21.5 = 5 here too, but with a spread of 10 ns.
    expect([by("p", "a").addedQ1, by("p", "a").addedQ3]).toEqual([5, 5]);
  });

  test("ratio is added over the reference's added on the same frame", () => {
    expect(by("p", "a").ratio).toBe(1.25);
    expect(by("p", "b").ratio).toBe(3);
    expect(by(REFERENCE, "a").ratio).toBe(1);
  });

  test("the baseline has its ns, no added cost and no ratio", () => {
    expect(by(BASELINE, "a")).toEqual({ program: BASELINE, frame: "a", ns: 21.5, rounds: 4 });
  });

  test("order of first appearance", () => {
    expect(results.map((r) => `${r.program}/${r.frame}`)).toEqual([
      `${BASELINE}/a`, `${REFERENCE}/a`, "p/a", `${BASELINE}/b`, `${REFERENCE}/b`, "p/b",
    ]);
  });

  test("a run without a baseline run in its round has nothing to pair with", () => {
    expect(() => summarize([run(BASELINE, "a", 0, 20), run("p", "a", 1, 30)])).toThrow(/no empty run on a in round 1/);
  });

  test("no ratio where the reference adds nothing", () => {
    const r = summarize([run(BASELINE, "a", 0, 20), run(REFERENCE, "a", 0, 20), run("p", "a", 0, 22)]);
    expect(r[2]!.added).toBe(2);
    expect(r[2]!.ratio).toBeUndefined();
  });
});

describe("output", () => {
  const results = summarize([
    run(BASELINE, "ipv4-udp-64", 0, 25), run(REFERENCE, "ipv4-udp-64", 0, 31), run("default", "ipv4-udp-64", 0, 32),
    run(BASELINE, "arp-42", 0, 20), run(REFERENCE, "arp-42", 0, 24), run("default", "arp-42", 0, 22),
  ]);

  test("NDJSON record", () => {
    expect(benchRecord(results[2]!, 1000)).toEqual({
      type: "bench",
      program: "default",
      frame: "ipv4-udp-64",
      ns_per_packet: 32,
      added_ns: 7,
      added_ns_q1: 7,
      added_ns_q3: 7,
      ratio_to_reference: 1.167,
      reference: REFERENCE,
      rounds: 1,
      repeat: 1000,
    });
    expect(benchRecord(results[0]!, 1000)).toEqual({ type: "bench", program: BASELINE, frame: "ipv4-udp-64", ns_per_packet: 25, reference: REFERENCE, rounds: 1, repeat: 1000 });
  });

  test("Bencher Metric Format: whole latency, added latency and the ratio", () => {
    expect(toBmf(results)).toEqual({
      "empty/ipv4-udp-64": { latency: { value: 25 } },
      "minimal/ipv4-udp-64": { latency: { value: 31 }, "added-latency": { value: 6, lower_value: 6, upper_value: 6 }, ratio: { value: 1 } },
      "default/ipv4-udp-64": { latency: { value: 32 }, "added-latency": { value: 7, lower_value: 7, upper_value: 7 }, ratio: { value: 1.167 } },
      "empty/arp-42": { latency: { value: 20 } },
      "minimal/arp-42": { latency: { value: 24 }, "added-latency": { value: 4, lower_value: 4, upper_value: 4 }, ratio: { value: 1 } },
      "default/arp-42": { latency: { value: 22 }, "added-latency": { value: 2, lower_value: 2, upper_value: 2 }, ratio: { value: 0.5 } },
    });
  });

  test("table: the baseline's ns, then added ns and ratio; columns aligned", () => {
    expect(benchTable(results)).toBe(
      [
        "program    ipv4-udp-64         arp-42",
        "empty            25 ns          20 ns",
        "minimal        +6.0 ns        +4.0 ns",
        "default  +7.0 ns 1.17x  +2.0 ns 0.50x",
      ].join("\n"),
    );
  });
});
