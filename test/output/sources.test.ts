import { expect, test } from "bun:test";
import { siRate, sourcesJson, sourcesTable, type SourcesSnapshot } from "../../src/output/sources";

const t0 = Date.UTC(2026, 10, 25, 1, 2, 3, 0);

const snapshot: SourcesSnapshot = {
  ts: t0 + 2000,
  iface: "eth0",
  table: {
    top: [
      { key: { src: "198.18.0.1" }, packets: 100n, bytes: 6000n, pps: 50, bps: 24000, firstSeen: t0, lastSeen: t0 + 2000 },
      { key: { src: "2001:db8::5" }, packets: 2n, bytes: 172n, pps: 0, bps: 0, firstSeen: t0 + 1000, lastSeen: t0 + 1000 },
    ],
    tracked: 3,
    evicted: 7,
  },
};

test("NDJSON sources record: RFC 3339 UTC times, counts as numbers", () => {
  expect(sourcesJson(snapshot)).toEqual({
    type: "sources",
    ts: "2026-11-25T01:02:05.000Z",
    iface: "eth0",
    by: "src",
    sources: [
      { src: "198.18.0.1", packets: 100, bytes: 6000, pps: 50, bps: 24000, first_seen: "2026-11-25T01:02:03.000Z", last_seen: "2026-11-25T01:02:05.000Z" },
      { src: "2001:db8::5", packets: 2, bytes: 172, pps: 0, bps: 0, first_seen: "2026-11-25T01:02:04.000Z", last_seen: "2026-11-25T01:02:04.000Z" },
    ],
    tracked: 3,
    evicted: 7,
  });
});

test("table: a header that says what is not shown and what was evicted, then aligned rows", () => {
  // Times of day are local: masked, so the test does not depend on the time zone.
  const lines = sourcesTable(snapshot).map((l) => l.replace(/\d\d:\d\d:\d\d/g, "hh:mm:ss"));
  expect(lines).toEqual([
    "hh:mm:ss  eth0: 3 sources · top 2 shown · 7 more not tracked (the kernel's table holds 16384; the oldest were evicted)",
    "SOURCE       PACKETS  BYTES  PKT/S  BIT/S  FIRST SEEN  LAST SEEN",
    "198.18.0.1       100   6000   50.0  24.0k    hh:mm:ss   hh:mm:ss",
    "2001:db8::5        2    172    0.0      0    hh:mm:ss   hh:mm:ss",
  ]);
});

test("table before anything was counted", () => {
  const lines = sourcesTable({ ...snapshot, table: { top: [], tracked: 0, evicted: 0 } });
  expect(lines[0]).toMatch(/eth0: 0 sources$/);
  expect(lines[1]).toBe("nothing counted yet");
});

test("--by flow: every field of the key in its own column and under its own name, the protocol by name", () => {
  const row = { key: { src: "198.18.0.1", dst: "198.18.0.254", proto: 6, sport: 40000, dport: 53 }, packets: 3n, bytes: 180n, pps: 3, bps: 1440, firstSeen: t0, lastSeen: t0 };
  const flows: SourcesSnapshot = { ...snapshot, by: { key: "flow" }, table: { top: [row], tracked: 1, evicted: 0 } };
  expect(sourcesJson(flows).sources).toEqual([
    { src: "198.18.0.1", dst: "198.18.0.254", proto: "tcp", sport: 40000, dport: 53, packets: 3, bytes: 180, pps: 3, bps: 1440, first_seen: "2026-11-25T01:02:03.000Z", last_seen: "2026-11-25T01:02:03.000Z" },
  ]);
  expect(sourcesJson(flows).by).toBe("flow");
  const lines = sourcesTable(flows);
  expect(lines[0]).toMatch(/eth0: 1 flow$/);
  expect(lines[1]).toMatch(/^SOURCE +DESTINATION +PROTO +SPORT +DPORT +PACKETS +BYTES +PKT\/S +BIT\/S/);
  expect(lines[2]).toMatch(/^198\.18\.0\.1 +198\.18\.0\.254 +tcp +40000 +53 +3 +180 +3\.0 +1\.4k /);
});

test("--by dst/24: the header counts prefixes, the record says the key with both prefix lengths", () => {
  const row = { key: { dst: "198.18.3.0/24" }, packets: 2n, bytes: 120n, pps: 0, bps: 0, firstSeen: t0, lastSeen: t0 };
  const s: SourcesSnapshot = { ...snapshot, by: { key: "dst", prefix: { v4: 24, v6: 64 } }, table: { top: [row, row], tracked: 2, evicted: 0 } };
  expect(sourcesTable(s)[0]).toMatch(/eth0: 2 destination prefixes$/);
  expect(sourcesJson(s)).toMatchObject({ by: "dst/24,64", sources: [{ dst: "198.18.3.0/24" }, { dst: "198.18.3.0/24" }] });
});

test.each([
  [0, "0"], [999, "999"], [1000, "1.0k"], [1_234_567, "1.2M"], [9.87e9, "9.9G"],
])("siRate(%p) = %p", (n, want) => {
  expect(siRate(n)).toBe(want);
});
