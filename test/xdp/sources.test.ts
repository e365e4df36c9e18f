import { describe, expect, test } from "bun:test";
import { emptyStats } from "../../src/bpf/layout";
import type { MapEntry } from "../../src/tools/bpftool-output";
import type { ByKey } from "../../src/bpf/layout";
import { decodeKey, evictedSources, SourceTracker, sumSources, type KeyFields, type SourceCount } from "../../src/xdp/sources";

const v4 = (a: number, b: number, c: number, d: number) => new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d]);
const v6 = (last: number) => new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last]);

/** One CPU's value as the kernel lays it out: two little-endian u64. */
function value(packets: bigint, bytes: bigint): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, packets, true);
  view.setBigUint64(8, bytes, true);
  return out;
}

const entry = (key: Uint8Array, ...perCpu: [number, number][]): MapEntry => ({
  key,
  values: perCpu.map(([p, b]) => value(BigInt(p), BigInt(b))),
});

describe("sumSources", () => {
  test("sums every CPU's share, shows IPv4-mapped keys as IPv4, busiest first", () => {
    expect(
      sumSources([
        entry(v4(198, 18, 1, 1), [3, 180], [0, 0]),
        entry(v6(7), [1, 90], [4, 360]),
        entry(v4(198, 18, 1, 2), [0, 0], [10, 600]),
      ]),
    ).toEqual([
      { key: { src: "198.18.1.2" }, packets: 10n, bytes: 600n },
      { key: { src: "2001:db8::7" }, packets: 5n, bytes: 450n },
      { key: { src: "198.18.1.1" }, packets: 3n, bytes: 180n },
    ]);
  });

  test("ties are ordered by bytes, then by address", () => {
    const got = sumSources([entry(v4(198, 18, 0, 9), [2, 100]), entry(v4(198, 18, 0, 3), [2, 100]), entry(v4(198, 18, 0, 5), [2, 200])]);
    expect(got.map((s) => s.key.src)).toEqual(["198.18.0.5", "198.18.0.3", "198.18.0.9"]);
  });

  test("a key a churning dump returned twice counts once, with its fuller copy", () => {
    expect(sumSources([entry(v4(198, 18, 0, 1), [5, 300]), entry(v4(198, 18, 0, 1), [7, 420])])).toEqual([
      { key: { src: "198.18.0.1" }, packets: 7n, bytes: 420n },
    ]);
  });

  test("counts beyond 2^53 stay exact", () => {
    const big = 2n ** 60n + 1n;
    const e: MapEntry = { key: v6(1), values: [value(big, big), value(1n, 1n)] };
    expect(sumSources([e])[0]).toEqual({ key: { src: "2001:db8::1" }, packets: big + 1n, bytes: big + 1n });
  });

  test("an empty map", () => {
    expect(sumSources([])).toEqual([]);
  });
});

describe("decodeKey: every --by key as the kernel lays it out", () => {
  const flow = new Uint8Array(40);
  flow.set(v4(198, 18, 1, 1), 0);
  flow.set(v6(9), 16);
  flow.set([0x9c, 0x40, 0x00, 0x35, 6, 0, 0, 0], 32);
  test.each([
    ["src", v4(198, 18, 1, 1), { src: "198.18.1.1" }],
    ["dst", v6(7), { dst: "2001:db8::7" }],
    ["sport", new Uint8Array([0x9c, 0x40]), { sport: 40000 }],
    ["dport", new Uint8Array([0x00, 0x35]), { dport: 53 }],
    ["proto", new Uint8Array([17]), { proto: 17 }],
    ["flow", flow, { src: "198.18.1.1", dst: "2001:db8::9", proto: 6, sport: 40000, dport: 53 }],
  ] as [ByKey, Uint8Array, KeyFields][])("%s", (key, bytes, want) => {
    expect(decodeKey(bytes, { key })).toEqual(want);
  });

  test("a prefix key says its length: IPv4's for mapped addresses, IPv6's for the rest", () => {
    const by = { key: "src", prefix: { v4: 24, v6: 48 } } as const;
    expect(decodeKey(v4(198, 18, 3, 0), by)).toEqual({ src: "198.18.3.0/24" });
    expect(decodeKey(new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 7, ...new Array(10).fill(0)]), by)).toEqual({ src: "2001:db8:7::/48" });
  });

  test("a key of the wrong size is refused, not misread", () => {
    expect(() => decodeKey(new Uint8Array(16), { key: "dport" })).toThrow("2 bytes, not 16");
  });

  test("sumSources keys rows by the decoded key", () => {
    expect(sumSources([entry(new Uint8Array([0, 53]), [3, 180], [2, 120]), entry(new Uint8Array([0, 80]), [9, 900])], { key: "dport" })).toEqual([
      { key: { dport: 80 }, packets: 9n, bytes: 900n },
      { key: { dport: 53 }, packets: 5n, bytes: 300n },
    ]);
  });
});

describe("evictedSources: inserts the map no longer holds", () => {
  test.each([
    [10, 10, 0],
    [20_000, 16_384, 3_616],
    // A read while sources arrive can see more live entries than counted inserts.
    [5, 7, 0],
  ])("new_sources %p, live %p → %p", (inserted, live, want) => {
    const stats = emptyStats();
    stats.newSources = BigInt(inserted);
    expect(evictedSources(stats, live)).toBe(want);
  });
});

describe("SourceTracker", () => {
  const src = (s: string, packets: number): SourceCount => ({ key: { src: s }, packets: BigInt(packets), bytes: BigInt(packets * 60) });

  test("first seen is the first read that showed a source; last seen the last read in which it grew; pps over the interval", () => {
    const t = new SourceTracker(0);
    expect(t.update([src("198.18.0.1", 10)], 1000)).toEqual([{ ...src("198.18.0.1", 10), pps: 10, bps: 4800, firstSeen: 1000, lastSeen: 1000 }]);
    const second = t.update([src("198.18.0.1", 15), src("198.18.0.2", 1)], 3000);
    expect(second).toEqual([
      { ...src("198.18.0.1", 15), pps: 2.5, bps: 1200, firstSeen: 1000, lastSeen: 3000 },
      { ...src("198.18.0.2", 1), pps: 0.5, bps: 240, firstSeen: 3000, lastSeen: 3000 },
    ]);
    const idle = t.update([src("198.18.0.1", 15), src("198.18.0.2", 1)], 4000);
    expect(idle.map((r) => [r.pps, r.firstSeen, r.lastSeen])).toEqual([
      [0, 1000, 3000],
      [0, 3000, 3000],
    ]);
  });

  test("a count that went down was evicted and inserted again: all of it is new", () => {
    const t = new SourceTracker(0);
    t.update([src("198.18.0.1", 100)], 1000);
    expect(t.update([src("198.18.0.1", 4)], 2000)[0]).toMatchObject({ pps: 4, bps: 4 * 60 * 8, firstSeen: 1000, lastSeen: 2000 });
  });

  test("a source that left the map is new when it comes back", () => {
    const t = new SourceTracker(0);
    t.update([src("198.18.0.1", 1)], 1000);
    t.update([], 2000);
    expect(t.update([src("198.18.0.1", 1)], 3000)[0]).toMatchObject({ firstSeen: 3000, lastSeen: 3000, pps: 1 });
  });

  test("pps is rounded to one decimal", () => {
    expect(new SourceTracker(0).update([src("198.18.0.1", 1)], 3000)[0]!.pps).toBe(0.3);
  });
});
