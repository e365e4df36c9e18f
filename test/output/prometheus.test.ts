import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emptyStats, type BySpec } from "../../src/bpf/layout";
import type { KeyFields } from "../../src/xdp/sources";
import { XwError } from "../../src/errors";
import { escapeLabelValue, prometheusText, writeMetricsFile } from "../../src/output/prometheus";

function stats() {
  const s = emptyStats();
  s.seen = 12n;
  s.bytes = 900n;
  s.outcome.logged = 5n;
  s.outcome.filtered = 3n;
  s.outcome.blocked = 4n;
  s.newSources = 3n;
  return s;
}

test.each([
  ["eth0", "eth0"],
  ['a"b', 'a\\"b'],
  ["a\\b", "a\\\\b"],
  ["a\nb", "a\\nb"],
  ["2001:db8::1", "2001:db8::1"],
])("escapeLabelValue(%p) = %p", (input, want) => {
  expect(escapeLabelValue(input)).toBe(want);
});

describe("prometheusText", () => {
  test("counters and outcomes, every outcome present even at zero; no source families without sources", () => {
    expect(prometheusText({ iface: "eth0", stats: stats() })).toBe(
      [
        "# HELP xdpwatch_seen_packets_total Frames the XDP program ran on.",
        "# TYPE xdpwatch_seen_packets_total counter",
        'xdpwatch_seen_packets_total{iface="eth0"} 12',
        "# HELP xdpwatch_bytes_total Bytes of all frames the XDP program ran on.",
        "# TYPE xdpwatch_bytes_total counter",
        'xdpwatch_bytes_total{iface="eth0"} 900',
        "# HELP xdpwatch_packets_total Frames by outcome; every frame seen has exactly one.",
        "# TYPE xdpwatch_packets_total counter",
        'xdpwatch_packets_total{iface="eth0",outcome="logged"} 5',
        'xdpwatch_packets_total{iface="eth0",outcome="sampled_out"} 0',
        'xdpwatch_packets_total{iface="eth0",outcome="counted"} 0',
        'xdpwatch_packets_total{iface="eth0",outcome="filtered"} 3',
        'xdpwatch_packets_total{iface="eth0",outcome="blocked"} 4',
        'xdpwatch_packets_total{iface="eth0",outcome="not_ip"} 0',
        'xdpwatch_packets_total{iface="eth0",outcome="malformed"} 0',
        'xdpwatch_packets_total{iface="eth0",outcome="no_ring"} 0',
        "# HELP xdpwatch_action_packets_total Frames by XDP verdict: drop only for --block ranges.",
        "# TYPE xdpwatch_action_packets_total counter",
        'xdpwatch_action_packets_total{iface="eth0",action="pass"} 8',
        'xdpwatch_action_packets_total{iface="eth0",action="drop"} 4',
        "",
      ].join("\n"),
    );
  });

  test("per-source families, in the order given, with escaped labels and exact 64-bit values", () => {
    const text = prometheusText({
      iface: 'we"ird',
      stats: stats(),
      sources: {
        top: [
          { key: { src: "198.18.0.1" }, packets: 2n ** 60n, bytes: 7n },
          { key: { src: "2001:db8::5" }, packets: 2n, bytes: 120n },
        ],
        tracked: 3,
        evicted: 9,
      },
    });
    const tail = text.slice(text.indexOf("# HELP xdpwatch_sources_tracked"));
    expect(tail).toBe(
      [
        "# HELP xdpwatch_sources_tracked Sources in the kernel's per-source table.",
        "# TYPE xdpwatch_sources_tracked gauge",
        'xdpwatch_sources_tracked{iface="we\\"ird"} 3',
        "# HELP xdpwatch_sources_evicted_total Sources dropped from the full per-source table, their counts lost.",
        "# TYPE xdpwatch_sources_evicted_total counter",
        'xdpwatch_sources_evicted_total{iface="we\\"ird"} 9',
        "# HELP xdpwatch_source_packets_total Frames from one source, for the sources with the most packets.",
        "# TYPE xdpwatch_source_packets_total counter",
        'xdpwatch_source_packets_total{iface="we\\"ird",src="198.18.0.1"} 1152921504606846976',
        'xdpwatch_source_packets_total{iface="we\\"ird",src="2001:db8::5"} 2',
        "# HELP xdpwatch_source_bytes_total Bytes from one source, for the sources with the most packets.",
        "# TYPE xdpwatch_source_bytes_total counter",
        'xdpwatch_source_bytes_total{iface="we\\"ird",src="198.18.0.1"} 7',
        'xdpwatch_source_bytes_total{iface="we\\"ird",src="2001:db8::5"} 120',
        "",
      ].join("\n"),
    );
  });

  test("every line is a comment or a well-formed sample; each family is declared once, before its samples", () => {
    const text = prometheusText({ iface: "eth0", stats: stats(), sources: { top: [{ key: { src: "198.18.0.1" }, packets: 1n, bytes: 60n }], tracked: 1, evicted: 0 } });
    const declared: string[] = [];
    for (const line of text.trimEnd().split("\n")) {
      const type = /^# TYPE (\w+) (counter|gauge)$/.exec(line);
      if (type) declared.push(type[1]!);
      else if (!line.startsWith("# HELP ")) {
        const sample = /^(\w+)\{(\w+="(?:[^"\\]|\\.)*")(,\w+="(?:[^"\\]|\\.)*")*\} \d+$/.exec(line);
        expect(sample, line).not.toBeNull();
        expect(declared.at(-1)).toBe(sample![1]!);
      }
    }
    expect(new Set(declared).size).toBe(declared.length);
  });
});

describe("writeMetricsFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "xw-prom-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("replaces the file and leaves no temp file behind", () => {
    const path = join(dir, "xdpwatch.prom");
    writeMetricsFile(path, "a 1\n");
    writeMetricsFile(path, "a 2\n");
    expect(readFileSync(path, "utf8")).toBe("a 2\n");
    expect(readdirSync(dir)).toEqual(["xdpwatch.prom"]);
  });

  test("a failure is one XwError naming the file", () => {
    const path = join(dir, "missing", "x.prom");
    expect(() => writeMetricsFile(path, "a 1\n")).toThrow(XwError);
    expect(() => writeMetricsFile(path, "a 1\n")).toThrow(`writing ${path} failed`);
  });
});

describe("per-key families follow --by", () => {
  const stats = () => emptyStats();
  test("--by flow: xdpwatch_flow_* with all five labels, the protocol by name", () => {
    const text = prometheusText({
      iface: "eth0",
      stats: stats(),
      by: { key: "flow" },
      sources: { top: [{ key: { src: "198.18.0.1", dst: "198.18.0.254", proto: 6, sport: 40000, dport: 443 }, packets: 5n, bytes: 300n }], tracked: 1, evicted: 2 },
    });
    expect(text).toContain('xdpwatch_flows_tracked{iface="eth0"} 1\n');
    expect(text).toContain('xdpwatch_flows_evicted_total{iface="eth0"} 2\n');
    expect(text).toContain('xdpwatch_flow_packets_total{iface="eth0",src="198.18.0.1",dst="198.18.0.254",proto="tcp",sport="40000",dport="443"} 5\n');
    expect(text).toContain('xdpwatch_flow_bytes_total{iface="eth0",src="198.18.0.1",dst="198.18.0.254",proto="tcp",sport="40000",dport="443"} 300\n');
    expect(text).not.toContain("xdpwatch_source");
  });

  test.each([
    [{ key: "dst", prefix: { v4: 24, v6: 64 } }, { dst: "198.18.3.0/24" }, 'xdpwatch_destination_packets_total{iface="eth0",dst="198.18.3.0/24"} 1'],
    [{ key: "sport" }, { sport: 53 }, 'xdpwatch_source_port_packets_total{iface="eth0",sport="53"} 1'],
    [{ key: "dport" }, { dport: 53 }, 'xdpwatch_destination_port_packets_total{iface="eth0",dport="53"} 1'],
    [{ key: "proto" }, { proto: 17 }, 'xdpwatch_protocol_packets_total{iface="eth0",proto="udp"} 1'],
    [{ key: "src", prefix: { v4: 24, v6: 64 } }, { src: "198.18.3.0/24" }, 'xdpwatch_source_packets_total{iface="eth0",src="198.18.3.0/24"} 1'],
  ] as [BySpec, KeyFields, string][])("%p", (by, key, line) => {
    const text = prometheusText({ iface: "eth0", stats: stats(), by, sources: { top: [{ key, packets: 1n, bytes: 60n }], tracked: 1, evicted: 0 } });
    expect(text.split("\n")).toContain(line);
  });
});
