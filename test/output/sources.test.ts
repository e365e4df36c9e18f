import { expect, test } from "bun:test";
import { sourcesJson, sourcesTable, type SourcesSnapshot } from "../../src/output/sources";

const t0 = Date.UTC(2026, 10, 25, 1, 2, 3, 0);

const snapshot: SourcesSnapshot = {
  ts: t0 + 2000,
  iface: "eth0",
  table: {
    top: [
      { src: "198.18.0.1", packets: 100n, bytes: 6000n, pps: 50, firstSeen: t0, lastSeen: t0 + 2000 },
      { src: "2001:db8::5", packets: 2n, bytes: 172n, pps: 0, firstSeen: t0 + 1000, lastSeen: t0 + 1000 },
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
    sources: [
      { src: "198.18.0.1", packets: 100, bytes: 6000, pps: 50, first_seen: "2026-11-25T01:02:03.000Z", last_seen: "2026-11-25T01:02:05.000Z" },
      { src: "2001:db8::5", packets: 2, bytes: 172, pps: 0, first_seen: "2026-11-25T01:02:04.000Z", last_seen: "2026-11-25T01:02:04.000Z" },
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
    "SOURCE       PACKETS  BYTES  PKT/S  FIRST SEEN  LAST SEEN",
    "198.18.0.1       100   6000   50.0    hh:mm:ss   hh:mm:ss",
    "2001:db8::5        2    172    0.0    hh:mm:ss   hh:mm:ss",
  ]);
});

test("table before anything was counted", () => {
  const lines = sourcesTable({ ...snapshot, table: { top: [], tracked: 0, evicted: 0 } });
  expect(lines[0]).toMatch(/eth0: 0 sources$/);
  expect(lines[1]).toBe("nothing counted yet");
});
