/** What `bench` measures: the kinds of frame, and the program's configurations. */
import { parseDdd } from "../bpf/cbpf";
import type { BySpec, ProgramConfig } from "../bpf/layout";
import { parseCidr, type Cidr } from "../net/cidr";
import { arpFrame, HEADER_BYTES as H, ipv4Frame, ipv6Frame } from "../net/frames";
import { compileFilter } from "../tools/tcpdump";
import { findTool } from "../tools/run";
import { RING_SHIFT_MIN } from "../xdp/program";

export interface FrameKind {
  /** Stable across runs: it names the benchmark. Ends in the frame's length in bytes. */
  name: string;
  bytes: Uint8Array;
}

/** The size most packet-rate figures are quoted at. */
const SMALL = 64;
const SRC4 = "198.18.0.1";
const SRC6 = "2001:db8::1";

function kind(label: string, bytes: Uint8Array): FrameKind {
  return { name: `${label}-${bytes.length}`, bytes };
}

export function benchFrames(): FrameKind[] {
  const udp4 = ipv4Frame({ src: SRC4, payload: SMALL - H.eth - H.ipv4 - H.udp });
  return [
    kind("ipv4-udp", udp4),
    kind("ipv4-tcp", ipv4Frame({ src: SRC4, proto: "tcp", payload: SMALL - H.eth - H.ipv4 - H.tcp })),
    kind("ipv6-udp", ipv6Frame({ src: SRC6, payload: SMALL - H.eth - H.ipv6 - H.udp })),
    kind("vlan-ipv4-udp", ipv4Frame({ src: SRC4, vlans: [42], payload: SMALL - H.eth - H.vlan - H.ipv4 - H.udp })),
    kind("arp", arpFrame()),
    // Ends inside the IPv4 header: the malformed path.
    kind("truncated", udp4.slice(0, 20)),
  ];
}

export interface BenchConfig {
  name: string;
  /** What it stands for, for people. */
  description: string;
  config: ProgramConfig;
  block?: Cidr[];
  srcFilter?: Cidr[];
}

/**
 * The figures the program is held to: as attach configures it, on the most
 * common small frames, at most GOAL times what the reference adds.
 */
export const HEADLINE = { program: "default", frames: ["ipv4-udp-64", "ipv6-udp-64"], goal: 1.15 } as const;

/**
 * bpf/minimal.c's ring: 1 << MINIMAL_RING_SHIFT pages a CPU, the size the
 * bench gives xdpwatch too (test/bpf/records.test.ts checks the C agrees).
 */
export const REFERENCE_RING_SHIFT = RING_SHIFT_MIN;

/** What the two reference programs stand for, for people. */
export const REFERENCES = {
  empty: "returns XDP_PASS: the cost of running any program (bpf/empty.c)",
  minimal: "the least code doing the same job, the unit of the ratios (bpf/minimal.c)",
} as const;

/** As `attach` and `watch` configure the program: log every packet, nothing else. */
const LOG_ALL: ProgramConfig = { log: true, sources: false, block: false, srcFilter: false, sample: 1 };

/** As top configures it: count per key, no log. */
const TOP: ProgramConfig = { ...LOG_ALL, log: false, sources: true };

/** The --by keys besides the default src, with what top makes of each. */
const BY_ROWS: [string, BySpec][] = [
  ["dst", { key: "dst" }],
  ["sport", { key: "sport" }],
  ["dport", { key: "dport" }],
  ["proto", { key: "proto" }],
  ["flow", { key: "flow" }],
  ["src/24", { key: "src", prefix: { v4: 24, v6: 64 } }],
];

/**
 * The default, then each filter or feature alone on top of it. Filters let
 * the bench frames through, so each figure is the check's cost on top of
 * logging; the blocked range misses them for the same reason.
 */
export function benchConfigs(): BenchConfig[] {
  return [
    { name: "default", description: "log every packet (as attach and watch configure it)", config: LOG_ALL },
    {
      name: "src",
      description: "--src 198.18.0.0/15 --src 2001:db8::/32",
      config: { ...LOG_ALL, srcFilter: true },
      srcFilter: [parseCidr("198.18.0.0/15", "--src"), parseCidr("2001:db8::/32", "--src")],
    },
    { name: "proto", description: "--proto udp --proto tcp", config: { ...LOG_ALL, protos: [17, 6] } },
    { name: "port", description: "--port 53", config: { ...LOG_ALL, ports: [53] } },
    { name: "sample-10", description: "--sample 10", config: { ...LOG_ALL, sample: 10 } },
    { name: "block", description: "--block 198.19.0.0/16", config: { ...LOG_ALL, block: true }, block: [parseCidr("198.19.0.0/16")] },
    { name: "top", description: "count per source, no log (as top configures it)", config: TOP },
    // Each --by key on the same frames: after the first run a lookup hit, as for any key already counted.
    ...BY_ROWS.map(([by, spec]) => ({ name: `top-${by.replace("/", "-")}`, description: `top --by ${by}`, config: { ...TOP, by: spec } })),
  ];
}

/** tcpdump expressions whose cost bench reports: two common ones and a long one (about 40 classic instructions). */
export const COST_EXPRESSIONS: Record<string, string> = {
  "expr-udp-53": "udp port 53",
  "expr-tcp-syn": "tcp[tcpflags] & tcp-syn != 0",
  "expr-40-insns":
    "not src net 10.0.0.0/8 and not src net 192.168.0.0/16 and (udp dst port 53 or tcp dst portrange 80-443 or tcp[tcpflags] & tcp-syn != 0) and greater 60",
};

/** The expression rows, compiled by tcpdump as `watch EXPRESSION` does; none where tcpdump is missing. */
export async function expressionConfigs(): Promise<BenchConfig[]> {
  if (!findTool("tcpdump")) return [];
  const rows: BenchConfig[] = [];
  for (const [name, text] of Object.entries(COST_EXPRESSIONS))
    rows.push({ name, description: `the default, with the expression '${text}'`, config: { ...LOG_ALL, expression: { match: parseDdd(await compileFilter(text)) } } });
  return rows;
}
