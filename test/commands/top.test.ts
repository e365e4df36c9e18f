import { describe, expect, test } from "bun:test";
import { availableParallelism } from "node:os";
import { SOURCES_MAX } from "../../src/bpf/layout";
import { ipv4Frame, ipv6Frame, testSources } from "../support/frames";
import { kernelReady, ndjson, runDuring, useVeth } from "../support/kernel";

describe.skipIf(!kernelReady)("top on a real veth pair", () => {
  const lab = useVeth();

  test("10 sources × 10, 20, … 100 frames, split over two CPUs: the last snapshot holds exactly those counts and bytes", async () => {
    const sources = testSources(10, 30);
    // Source i sends 10·(i+1) frames of 43 + i bytes (i bytes of UDP payload), so every count and byte total differs.
    const frames = (cpuShare: 0 | 1) =>
      sources.flatMap((src, i) => Array.from({ length: 5 * (i + 1) }, () => ipv4Frame({ src, payload: i, sport: 1000 + cpuShare })));
    const cpus = availableParallelism() > 1 ? [0, 1] : [0, 0];
    const { code, stdout, stderr } = await runDuring(["top", "-i", lab.veth.host, "--json", "--interval", "0.2"], lab.veth, async () => {
      await lab.veth.send(frames(0), { cpu: cpus[0] });
      await lab.veth.send(frames(1), { cpu: cpus[1] });
      return 2 * 5 * 55;
    });
    expect(code, stderr).toBe(0);
    const records = ndjson(stdout);
    const snapshots = records.filter((r) => r.type === "sources");
    const last = snapshots.at(-1)!;
    const want = sources.map((src, i) => ({ src, packets: 10 * (i + 1), bytes: 10 * (i + 1) * (42 + i) })).reverse();
    expect((last.sources as Record<string, unknown>[]).map(({ src, packets, bytes }) => ({ src, packets, bytes }))).toEqual(want);
    expect(last).toMatchObject({ iface: lab.veth.host, tracked: 10, evicted: 0 });
    for (const s of last.sources as Record<string, string>[]) expect(Date.parse(s.first_seen!)).toBeLessThanOrEqual(Date.parse(s.last_seen!));
    expect(records.at(-1)).toMatchObject({ type: "summary", seen: 550, counted: 550, logged: 0, lost: 0, filtered: 0, exact: true, stopped_by: "signal" });
    expect(records.slice(0, -1).every((r) => r.type === "sources")).toBe(true);
  }, 30_000);

  test("--limit keeps the busiest; IPv6 sources are counted too; filters apply to what is counted", async () => {
    const { code, stdout, stderr } = await runDuring(
      ["top", "-i", lab.veth.host, "--json", "--limit", "2", "--proto", "tcp"],
      lab.veth,
      async () => {
        const frames = [
          ...Array.from({ length: 3 }, () => ipv6Frame({ src: "2001:db8:9::1", proto: "tcp" })),
          ...Array.from({ length: 2 }, () => ipv4Frame({ src: "198.18.9.2", proto: "tcp" })),
          ipv4Frame({ src: "198.18.9.3", proto: "tcp" }),
          ...Array.from({ length: 5 }, () => ipv4Frame({ src: "198.18.9.4", proto: "udp" })),
        ];
        await lab.veth.send(frames);
        return frames.length;
      },
    );
    expect(code, stderr).toBe(0);
    const records = ndjson(stdout);
    const last = records.filter((r) => r.type === "sources").at(-1)!;
    expect((last.sources as Record<string, unknown>[]).map((s) => [s.src, s.packets])).toEqual([
      ["2001:db8:9::1", 3],
      ["198.18.9.2", 2],
    ]);
    expect(last).toMatchObject({ tracked: 3, evicted: 0 });
    expect(records.at(-1)).toMatchObject({ type: "summary", seen: 11, counted: 6, filtered: 5, exact: true });
  }, 30_000);

  test("more sources than the kernel's table holds: every source is either tracked or counted as evicted", async () => {
    const sources = testSources(SOURCES_MAX + 2000, 1);
    const { code, stdout, stderr } = await runDuring(["top", "-i", lab.veth.host, "--json", "--limit", "1"], lab.veth, async () => {
      await lab.veth.send(sources.map((src) => ipv4Frame({ src })));
      return sources.length;
    });
    expect(code, stderr).toBe(0);
    const last = ndjson(stdout).at(-2)!;
    // The LRU map may evict before it is full (per-CPU free lists), so only the sum is exact.
    expect((last.tracked as number) + (last.evicted as number)).toBe(sources.length);
    expect(last.tracked as number).toBeLessThanOrEqual(SOURCES_MAX);
    expect(last.evicted as number).toBeGreaterThanOrEqual(2000);
  }, 60_000);

  test("without --json and not on a terminal: plain snapshots, no escape codes", async () => {
    const { code, stdout } = await runDuring(["top", "-i", lab.veth.host], lab.veth, async () => {
      await lab.veth.send([ipv4Frame({ src: "198.18.9.9" })]);
      return 1;
    });
    expect(code).toBe(0);
    expect(stdout).not.toContain("\x1b[");
    expect(stdout).toMatch(/SOURCE +PACKETS +BYTES +PKT\/S +BIT\/S +FIRST SEEN +LAST SEEN\n198\.18\.9\.9 +1 +42 /);
  }, 30_000);
});
