/** Prometheus metrics, read back: from watch and top's files, and from `metrics` on a program `attach` left. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ipv4Frame, ipv6Frame } from "../support/frames";
import { kernelReady, ndjson, runDuring, waitForSeen, xdpwatch, useVeth } from "../support/kernel";

/** Samples by `name{labels}` as written, values as numbers; every sample line must parse. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\w+\{[^}]*\}) (\d+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    samples.set(m[1]!, Number(m[2]));
  }
  return samples;
}

const dir = mkdtempSync(join(tmpdir(), "xw-metrics-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!kernelReady)("Prometheus metrics on a real veth pair", () => {
  const lab = useVeth({ leftovers: "after detach" });

  test("watch --prometheus-file: the file left at exit matches the summary", async () => {
    const file = join(dir, "watch.prom");
    const { code, stdout, stderr } = await runDuring(["watch", "-i", lab.veth.host, "--json", "--block", "198.18.3.0/24", "--proto", "udp", "--prometheus-file", file], lab.veth, async () => {
      await lab.veth.send([
        ...Array.from({ length: 4 }, () => ipv4Frame({ src: "198.18.3.1" })),
        ...Array.from({ length: 5 }, () => ipv4Frame({ src: "198.18.4.1" })),
        ...Array.from({ length: 2 }, () => ipv6Frame({ src: "2001:db8::1", proto: "tcp" })),
      ]);
      return 11;
    });
    expect(code, stderr).toBe(0);
    const summary = ndjson(stdout).at(-1)!;
    expect(summary).toMatchObject({ seen: 11, logged: 5, blocked: 4, filtered: 2, exact: true });
    const m = parseMetrics(readFileSync(file, "utf8"));
    const l = `iface="${lab.veth.host}"`;
    expect(m.get(`xdpwatch_seen_packets_total{${l}}`)).toBe(summary.seen as number);
    expect(m.get(`xdpwatch_bytes_total{${l}}`)).toBe(summary.bytes as number);
    for (const outcome of ["logged", "sampled_out", "counted", "filtered", "blocked", "not_ip", "malformed"])
      expect(m.get(`xdpwatch_packets_total{${l},outcome="${outcome}"}`)).toBe(summary[outcome] as number);
    expect(m.get(`xdpwatch_action_packets_total{${l},action="drop"}`)).toBe(4);
    expect(m.get(`xdpwatch_action_packets_total{${l},action="pass"}`)).toBe(7);
    // watch does not count per source.
    expect([...m.keys()].some((k) => k.startsWith("xdpwatch_source"))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  }, 30_000);

  test("top --prometheus-file: per-source counters match the final snapshot", async () => {
    const file = join(dir, "top.prom");
    const { code, stdout } = await runDuring(["top", "-i", lab.veth.host, "--json", "--limit", "2", "--prometheus-file", file], lab.veth, async () => {
      await lab.veth.send([
        ...Array.from({ length: 3 }, () => ipv4Frame({ src: "198.18.5.1" })),
        ...Array.from({ length: 2 }, () => ipv6Frame({ src: "2001:db8:5::1", payload: 10 })),
        ipv4Frame({ src: "198.18.5.3" }),
      ]);
      return 6;
    });
    expect(code).toBe(0);
    const records = ndjson(stdout);
    const last = records.at(-2)!;
    const m = parseMetrics(readFileSync(file, "utf8"));
    const l = `iface="${lab.veth.host}"`;
    expect(m.get(`xdpwatch_sources_tracked{${l}}`)).toBe(3);
    expect(m.get(`xdpwatch_sources_evicted_total{${l}}`)).toBe(0);
    expect(m.get(`xdpwatch_packets_total{${l},outcome="counted"}`)).toBe(records.at(-1)!.counted as number);
    const fromFile = [...m].filter(([k]) => k.startsWith("xdpwatch_source_packets_total")).map(([k, v]) => [/src="([^"]+)"/.exec(k)![1], v]);
    const fromSnapshot = (last.sources as { src: string; packets: number }[]).map((s) => [s.src, s.packets]);
    expect(fromFile).toEqual(fromSnapshot);
    expect(fromFile).toEqual([
      ["198.18.5.1", 3],
      ["2001:db8:5::1", 2],
    ]);
    expect(m.get(`xdpwatch_source_bytes_total{${l},src="2001:db8:5::1"}`)).toBe(2 * (14 + 40 + 8 + 10));
  }, 30_000);

  test("attach --sources --block, then metrics (stdout and file), then detach", async () => {
    const atAttach = join(dir, "attach.prom");
    const attach = await xdpwatch(["attach", "-i", lab.veth.host, "--sources", "--block", "2001:db8:6::/48", "--prometheus-file", atAttach]);
    expect(attach.code, attach.stderr).toBe(0);
    const l = `iface="${lab.veth.host}"`;
    expect(parseMetrics(readFileSync(atAttach, "utf8")).get(`xdpwatch_seen_packets_total{${l}}`)).toBe(0);

    await lab.veth.send([
      ...Array.from({ length: 7 }, () => ipv4Frame({ src: "198.18.6.1" })),
      ...Array.from({ length: 3 }, () => ipv4Frame({ src: "198.18.6.2" })),
      ...Array.from({ length: 5 }, () => ipv6Frame({ src: "2001:db8:6::1" })),
    ]);
    await waitForSeen(lab.veth.host, 15);

    const printed = await xdpwatch(["metrics", "-i", lab.veth.host]);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stderr).toBe("");
    const m = parseMetrics(printed.stdout);
    expect(m.get(`xdpwatch_seen_packets_total{${l}}`)).toBe(15);
    expect(m.get(`xdpwatch_packets_total{${l},outcome="logged"}`)).toBe(10);
    expect(m.get(`xdpwatch_packets_total{${l},outcome="blocked"}`)).toBe(5);
    expect(m.get(`xdpwatch_source_packets_total{${l},src="198.18.6.1"}`)).toBe(7);
    expect(m.get(`xdpwatch_source_bytes_total{${l},src="198.18.6.2"}`)).toBe(3 * 42);
    expect(m.get(`xdpwatch_sources_tracked{${l}}`)).toBe(2);

    const file = join(dir, "cron.prom");
    const written = await xdpwatch(["metrics", "-i", lab.veth.host, "--limit", "1", "--prometheus-file", file]);
    expect(written.code, written.stderr).toBe(0);
    expect(written.stdout + written.stderr).toBe("");
    const fromFile = parseMetrics(readFileSync(file, "utf8"));
    expect([...fromFile.keys()].filter((k) => k.startsWith("xdpwatch_source_packets_total"))).toEqual([`xdpwatch_source_packets_total{${l},src="198.18.6.1"}`]);

    expect((await xdpwatch(["detach", "-i", lab.veth.host])).code).toBe(0);
    const after = await xdpwatch(["metrics", "-i", lab.veth.host]);
    expect(after.code).toBe(1);
    expect(after.stderr.split("\n")[0]).toBe(`xdpwatch: error: xdpwatch is not attached to ${lab.veth.host}`);
  }, 30_000);

  test("attach without --sources stays log-only: no per-source metrics", async () => {
    expect((await xdpwatch(["attach", "-i", lab.veth.host])).code).toBe(0);
    await lab.veth.send([ipv4Frame({ src: "198.18.6.9" }), ipv4Frame({ src: "198.18.6.9" })]);
    await waitForSeen(lab.veth.host, 2);
    const r = await xdpwatch(["metrics", "-i", lab.veth.host]);
    expect(r.code).toBe(0);
    const m = parseMetrics(r.stdout);
    expect(m.get(`xdpwatch_packets_total{iface="${lab.veth.host}",outcome="logged"}`)).toBe(2);
    expect([...m.keys()].some((k) => k.startsWith("xdpwatch_source"))).toBe(false);
  }, 30_000);
});
