/**
 * top --by KEY on a real veth pair: a known mix of frames, and for every key
 * the rows the last snapshot must hold, worked out here from what was sent.
 */
import { describe, expect, test } from "bun:test";
import ipaddr from "ipaddr.js";
import { pcapJudge } from "../support/expressions";
import { ipv4Frame, ipv6Frame, type FrameOptions } from "../support/frames";
import { parseBy } from "../../src/commands/_filters";
import { XwError } from "../../src/errors";
import { kernelReady, ndjson, pinsOf, runDuring, sh, useVeth, xdpwatch } from "../support/kernel";

interface Sent extends FrameOptions {
  dst: string;
  proto: "udp" | "tcp" | "icmp";
  /** How many copies. */
  n: number;
}

/** Every key differs in count across rows; IPv4 and IPv6, TCP, UDP and ICMP (no ports); two sources share a /24, two a /64. */
const MIX: Sent[] = [
  { src: "198.18.3.1", dst: "198.18.0.254", proto: "udp", sport: 40000, dport: 53, n: 7 },
  { src: "198.18.3.2", dst: "198.18.0.254", proto: "udp", sport: 40001, dport: 53, n: 5 },
  { src: "198.18.3.2", dst: "198.18.0.253", proto: "tcp", sport: 40001, dport: 443, n: 4 },
  { src: "198.18.4.1", dst: "198.18.1.9", proto: "tcp", sport: 50000, dport: 80, n: 9, payload: 20 },
  { src: "198.18.4.1", dst: "198.18.0.254", proto: "icmp", n: 2 },
  { src: "2001:db8:1:2::5", dst: "2001:db8::fe", proto: "udp", sport: 40000, dport: 123, n: 3 },
  { src: "2001:db8:1:2::6", dst: "2001:db8:2::fd", proto: "tcp", sport: 40002, dport: 443, n: 6 },
  { src: "2001:db8:1:3::5", dst: "2001:db8::fe", proto: "udp", sport: 40003, dport: 53, n: 1 },
];

const frameOf = (s: Sent) => (s.src.includes(":") ? ipv6Frame(s) : ipv4Frame(s));
const PROTO_NAMES = { udp: "udp", tcp: "tcp", icmp: "icmp" } as const;

/** The address cut to a prefix, as the kernel cuts it: "198.18.3.0/24", "2001:db8:1:2::/64". */
function prefix(addr: string, v4: number, v6: number): string {
  const bytes = ipaddr.parse(addr).toByteArray();
  const len = bytes.length === 4 ? v4 : v6;
  const cut = bytes.map((b, i) => b & (0xff00 >> Math.max(0, Math.min(8, len - 8 * i))));
  return `${ipaddr.fromByteArray(cut).toString()}/${len}`;
}

/** What top must show for a key: one row per distinct key, packets and bytes summed, busiest first. */
function expected(key: (s: Sent) => Record<string, string | number>): Record<string, unknown>[] {
  const rows = new Map<string, { key: Record<string, string | number>; packets: number; bytes: number }>();
  for (const s of MIX) {
    const k = key(s);
    const id = JSON.stringify(k);
    const row = rows.get(id) ?? { key: k, packets: 0, bytes: 0 };
    row.packets += s.n;
    row.bytes += s.n * frameOf(s).length;
    rows.set(id, row);
  }
  return [...rows.values()]
    .sort((a, b) => b.packets - a.packets || b.bytes - a.bytes)
    .map((r) => ({ ...r.key, packets: r.packets, bytes: r.bytes }));
}

const ports = (s: Sent) => (s.proto === "icmp" ? { sport: 0, dport: 0 } : { sport: s.sport!, dport: s.dport! });

const KEYS: [string, (s: Sent) => Record<string, string | number>][] = [
  ["src", (s) => ({ src: s.src })],
  ["dst", (s) => ({ dst: s.dst })],
  ["sport", (s) => ({ sport: ports(s).sport })],
  ["dport", (s) => ({ dport: ports(s).dport })],
  ["proto", (s) => ({ proto: PROTO_NAMES[s.proto] })],
  ["flow", (s) => ({ src: s.src, dst: s.dst, proto: PROTO_NAMES[s.proto], ...ports(s) })],
  ["src/24", (s) => ({ src: prefix(s.src, 24, 64) })],
  ["dst/16,32", (s) => ({ dst: prefix(s.dst, 16, 32) })],
];

/** The rows of the last snapshot, without the rates and times, which depend on when it was read. */
function lastRows(stdout: string) {
  const last = ndjson(stdout).filter((r) => r.type === "sources").at(-1)!;
  const rows = (last.sources as Record<string, unknown>[]).map(({ pps, bps, first_seen, last_seen, ...rest }) => {
    expect(typeof pps).toBe("number");
    expect(typeof bps).toBe("number");
    return rest;
  });
  return { last, rows };
}

describe.skipIf(!kernelReady)("top --by on a real veth pair", () => {
  const lab = useVeth();
  const total = MIX.reduce((n, s) => n + s.n, 0);

  test.each(KEYS)("--by %s: exactly the rows and counts of what was sent", async (by, key) => {
    const { code, stdout, stderr } = await runDuring(["top", "-i", lab.veth.host, "--json", "--by", by, "--interval", "0.3"], lab.veth, async () => {
      await lab.veth.send(MIX.flatMap((s) => Array.from({ length: s.n }, () => frameOf(s))));
      return total;
    });
    expect(code, stderr).toBe(0);
    const { last, rows } = lastRows(stdout);
    const want = expected(key);
    // Rows of equal packets and bytes may come in either order of their keys' text: compare as sets, then the order of counts.
    expect(rows).toHaveLength(want.length);
    expect(rows).toEqual(expect.arrayContaining(want));
    expect(rows.map((r) => r.packets)).toEqual(want.map((r) => r.packets));
    expect(last).toMatchObject({ by: by === "src/24" ? "src/24,64" : by, tracked: want.length, evicted: 0 });
    expect(ndjson(stdout).at(-1)).toMatchObject({ type: "summary", seen: total, counted: total, exact: true });
  }, 30_000);

  test("--by dport 'tcp[tcpflags] & tcp-syn != 0': per-port counts of exactly the frames libpcap calls SYNs", async () => {
    const tcp = (dport: number, tcpFlags: number, n: number, v6 = false): Sent[] =>
      v6
        ? [{ src: "2001:db8:1:2::5", dst: "2001:db8::fe", proto: "tcp", sport: 41000, dport, tcpFlags, n }]
        : [{ src: "198.18.5.1", dst: "198.18.0.254", proto: "tcp", sport: 41000, dport, tcpFlags, n }];
    const SYN = 0x02, ACK = 0x10;
    const sent: Sent[] = [
      ...tcp(80, SYN, 7), ...tcp(443, SYN, 3), ...tcp(22, SYN, 1), ...tcp(8080, SYN | ACK, 2),
      ...tcp(80, ACK, 4), ...tcp(443, ACK | 0x08, 6), ...tcp(22, 0x04, 2), ...tcp(8080, 0x11, 1),
      // libpcap's tcp[] reads IPv4 only: an IPv6 SYN does not match.
      ...tcp(80, SYN, 3, true),
      { src: "198.18.5.2", dst: "198.18.0.254", proto: "udp", sport: 41000, dport: 80, n: 5 },
    ];
    const frames = sent.flatMap((s) => Array.from({ length: s.n }, () => frameOf(s)));
    const expression = "tcp[tcpflags] & tcp-syn != 0";
    // The reference: the frames tcpdump itself selects from the same bytes, counted per destination port.
    const judge = pcapJudge(frames);
    const picked = await judge.select(expression).finally(judge.remove);
    const perPort = new Map<number, number>();
    for (const i of picked) {
      const f = frames[i]!;
      const dport = (f[14 + 20 + 2]! << 8) | f[14 + 20 + 3]!;
      perPort.set(dport, (perPort.get(dport) ?? 0) + 1);
    }
    expect([...perPort.entries()].sort((a, b) => a[0] - b[0])).toEqual([[22, 1], [80, 7], [443, 3], [8080, 2]]);

    const { code, stdout, stderr } = await runDuring(["top", "-i", lab.veth.host, "--json", "--by", "dport", expression], lab.veth, async () => {
      await lab.veth.send(frames);
      return frames.length;
    });
    expect(code, stderr).toBe(0);
    const { rows } = lastRows(stdout);
    expect(rows.map((r) => [r.dport, r.packets])).toEqual([...perPort.entries()].sort((a, b) => b[1] - a[1]));
    expect(ndjson(stdout).at(-1)).toMatchObject({ type: "summary", seen: frames.length, counted: picked.length, filtered: frames.length - picked.length, exact: true });
  }, 30_000);
});

describe.skipIf(!kernelReady)("--by on an attached program: status and metrics follow it", () => {
  const lab = useVeth({ leftovers: "after detach" });

  test("attach --by dport: status says so; metrics labels the rows dport", async () => {
    const att = await xdpwatch(["attach", "-i", lab.veth.host, "--by", "dport"]);
    expect(att.code, att.stderr).toBe(0);
    await lab.veth.send([
      ...Array.from({ length: 3 }, () => ipv4Frame({ src: "198.18.6.1", dport: 53 })),
      ipv4Frame({ src: "198.18.6.2", proto: "tcp", dport: 443 }),
    ]);
    // The map hashes a 2-byte key, as if declared for ports alone.
    const map = await sh(["bpftool", "-j", "map", "show", "pinned", pinsOf(lab.veth.host)!.sources]);
    expect(JSON.parse(map.stdout)).toMatchObject({ type: "lru_percpu_hash", bytes_key: 2 });
    const status = await xdpwatch(["status", "--json"]);
    expect(status.stdout).toContain("by dport");
    const metrics = await xdpwatch(["metrics", "-i", lab.veth.host]);
    expect(metrics.code, metrics.stderr).toBe(0);
    expect(metrics.stdout).toContain(`xdpwatch_destination_port_packets_total{iface="${lab.veth.host}",dport="53"} 3\n`);
    expect(metrics.stdout).toContain(`xdpwatch_destination_port_packets_total{iface="${lab.veth.host}",dport="443"} 1\n`);
    expect(metrics.stdout).toContain(`xdpwatch_destination_ports_tracked{iface="${lab.veth.host}"} 2\n`);
  }, 30_000);
});

describe("parseBy", () => {
  test.each([
    ["src", { key: "src" }],
    ["flow", { key: "flow" }],
    [" dport ", { key: "dport" }],
    ["src/24", { key: "src", prefix: { v4: 24, v6: 64 } }],
    ["dst/16,48", { key: "dst", prefix: { v4: 16, v6: 48 } }],
    ["src/32,128", { key: "src", prefix: { v4: 32, v6: 128 } }],
    ["dst/0,0", { key: "dst", prefix: { v4: 0, v6: 0 } }],
  ])("%p", (text, want) => {
    expect(parseBy(text)).toEqual(want as ReturnType<typeof parseBy>);
  });

  test("not given: undefined (the command's default applies)", () => {
    expect(parseBy(undefined)).toBeUndefined();
  });

  test.each([
    ["port", /--by: "port" is not a key/],
    ["SRC", /is not a key/],
    ["", /is not a key/],
    ["src/33", /an IPv4 prefix is 0 to 32 bits, not 33/],
    ["dst/24,129", /an IPv6 prefix is 0 to 128 bits, not 129/],
    ["dport/8", /only src and dst take a prefix, not dport/],
    ["src/24,", /is not a key/],
    ["src/-1", /is not a key/],
    ["src/24/64", /is not a key/],
  ])("%p is refused", (text, message) => {
    try {
      parseBy(text);
      throw new Error("accepted");
    } catch (err) {
      expect(err).toBeInstanceOf(XwError);
      expect((err as XwError).exitCode).toBe(2);
      expect((err as XwError).message).toMatch(message);
    }
  });
});
