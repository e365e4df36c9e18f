import { expect, test } from "bun:test";
import { BATCH_DST6, BATCH_WORDS, emptyStats, RECORD, VLAN_TAGGED } from "../../src/bpf/layout";
import { formatAddress } from "../../src/net/cidr";
import { PacketEncoder } from "../../src/output/encoder";
import { accounting, accountingLine, icmpTypeName, protoName, protoNumber, tcpFlags } from "../../src/output/format";
import { RecordBatch, type LoggedPacket } from "../../src/xdp/batch";

function statsWith(seen: number, outcomes: Partial<Record<string, number>>) {
  const s = emptyStats();
  s.seen = BigInt(seen);
  for (const [k, v] of Object.entries(outcomes)) s.outcome[k as keyof typeof s.outcome] = BigInt(v!);
  return s;
}

test("accounting is exact when every frame is in one bucket and the reader saw all the kernel wrote", () => {
  const acc = accounting(statsWith(10, { logged: 6, not_ip: 3, malformed: 1 }), { logged: 5, overwritten: 1 });
  expect(acc).toMatchObject({ seen: 10, logged: 5, lost: 1, not_ip: 3, malformed: 1, exact: true });
  expect(accountingLine(acc)).toBe("seen 10 · logged 5 · lost 1 · not IP 3 · malformed 1");
});

test("accounting says so when counts do not add up", () => {
  expect(accounting(statsWith(10, { logged: 6 }), { logged: 6, overwritten: 0 }).exact).toBe(false);
  expect(accounting(statsWith(6, { logged: 6 }), { logged: 5, overwritten: 0 }).exact).toBe(false);
});

test("frames without a ring slot count as lost", () => {
  expect(accounting(statsWith(3, { logged: 2, no_ring: 1 }), { logged: 2, overwritten: 0 })).toMatchObject({ lost: 1, exact: true });
});

test.each([
  [17, "udp"],
  [6, "tcp"],
  [58, "icmpv6"],
  [253, "253"],
])("protoName(%p) = %p", (n, name) => {
  expect(protoName(n)).toBe(name);
});

test.each([
  ["UDP", 17],
  ["icmp", 1],
  ["253", 253],
  ["256", undefined],
  ["", undefined],
  ["bogus", undefined],
])("protoNumber(%p) = %p", (name, n) => {
  expect(protoNumber(name)).toBe(n);
});

type Packet = Omit<LoggedPacket, "ts" | "seq">;

/** Records as the kernel writes them, in a batch as the reader hands them over. */
function batchOf(packets: Packet[], ts: number): RecordBatch {
  const batch = new RecordBatch();
  batch.reset(packets.length, ts);
  for (const p of packets) {
    const bytes = new Uint8Array(RECORD.size);
    const view = new DataView(bytes.buffer);
    bytes.set(p.addr, RECORD.addr);
    if (p.family === 4) bytes.set(p.dst, RECORD.addr + 4);
    view.setUint16(RECORD.len, p.len, true);
    view.setUint16(RECORD.sport, p.sport, false);
    view.setUint16(RECORD.dport, p.dport, false);
    bytes[RECORD.proto] = p.proto;
    bytes[RECORD.family] = p.family;
    bytes[RECORD.flags] = p.flags;
    bytes[RECORD.code] = p.code;
    view.setUint16(RECORD.vlan, p.vlan === undefined ? 0 : VLAN_TAGGED | p.vlan, true);
    const at = batch.count * BATCH_WORDS;
    batch.words.set(new Uint32Array(bytes.buffer), at);
    if (p.family === 6) batch.words.set(new Uint32Array(new Uint8Array(p.dst).buffer), at + BATCH_DST6);
    batch.cpus[batch.count++] = p.cpu;
  }
  return batch;
}

function encoded(batch: RecordBatch, iface: string, json: boolean, encoder = new PacketEncoder(iface, json)): string[] {
  const out = new Uint8Array(batch.count * encoder.maxRecordBytes);
  const end = encoder.encode(batch, 0, batch.count, out, 0);
  return new TextDecoder().decode(out.subarray(0, end)).split("\n").slice(0, -1);
}

/** What the encoder must write, made the plain way: an object and JSON.stringify. */
function reference(p: LoggedPacket, iface: string): string {
  const known = (p.proto === 6 || p.proto === 17) && (p.sport !== 0 || p.dport !== 0);
  const icmp = !known && (p.family === 4 ? p.proto === 1 : p.proto === 58) && p.code !== 0xff;
  return JSON.stringify({
    type: "packet",
    ts: new Date(p.ts).toISOString(),
    iface,
    src: formatAddress(p.addr),
    dst: formatAddress(p.dst),
    family: p.family,
    proto: protoName(p.proto),
    len: p.len,
    ...(known ? { sport: p.sport, dport: p.dport } : {}),
    ...(known && p.proto === 6 ? { flags: tcpFlags(p.flags) } : {}),
    ...(icmp ? { icmp_type: p.flags, icmp_code: p.code } : {}),
    ...(p.vlan !== undefined ? { vlan: p.vlan } : {}),
    cpu: p.cpu,
  });
}

const TS = Date.UTC(2026, 10, 25, 1, 2, 3, 456);
const udp: Packet = { family: 4, addr: new Uint8Array([198, 18, 0, 1]), dst: new Uint8Array([198, 18, 0, 2]), len: 64, proto: 17, sport: 1000, dport: 53, flags: 0, code: 0, cpu: 1 };
const v6addr = (last: number) => Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i === 1 ? 0x01 : i === 15 ? last : 0));

test("NDJSON packet record: RFC 3339 UTC time, destination, ports for TCP/UDP, vlan only when tagged (tag 0 too)", () => {
  const lines = encoded(batchOf([udp, { ...udp, proto: 1, sport: 0, dport: 0, flags: 8, vlan: 7 }, { ...udp, vlan: 0 }], TS), "eth0", true);
  expect(lines.map((l) => JSON.parse(l))).toEqual([
    { type: "packet", ts: "2026-11-25T01:02:03.456Z", iface: "eth0", src: "198.18.0.1", dst: "198.18.0.2", family: 4, proto: "udp", len: 64, sport: 1000, dport: 53, cpu: 1 },
    { type: "packet", ts: "2026-11-25T01:02:03.456Z", iface: "eth0", src: "198.18.0.1", dst: "198.18.0.2", family: 4, proto: "icmp", len: 64, icmp_type: 8, icmp_code: 0, vlan: 7, cpu: 1 },
    { type: "packet", ts: "2026-11-25T01:02:03.456Z", iface: "eth0", src: "198.18.0.1", dst: "198.18.0.2", family: 4, proto: "udp", len: 64, sport: 1000, dport: 53, vlan: 0, cpu: 1 },
  ]);
});

test("TCP flags are written as tcpdump writes them", () => {
  expect([0x02, 0x12, 0x18, 0x11, 0x04, 0x14, 0x10, 0x00, 0xc2, 0x29].map(tcpFlags)).toEqual(["S", "S.", "P.", "F.", "R", "R.", ".", "none", "SEW", "FPU"]);
  const [line] = encoded(batchOf([{ ...udp, proto: 6, flags: 0x12 }], TS), "eth0", true);
  expect(JSON.parse(line!)).toMatchObject({ proto: "tcp", sport: 1000, dport: 53, flags: "S." });
});

test("a non-first fragment (TCP/UDP with both ports 0, ICMP with code 0xff) carries no ports, flags or type", () => {
  const [line] = encoded(batchOf([{ ...udp, sport: 0, dport: 0, code: 0xff }], TS), "eth0", true);
  expect(JSON.parse(line!)).not.toHaveProperty("sport");
  const [icmp] = encoded(batchOf([{ ...udp, proto: 1, sport: 0, dport: 0, code: 0xff }], TS), "eth0", true);
  expect(JSON.parse(icmp!)).not.toHaveProperty("icmp_type");
  const human = encoded(batchOf([{ ...udp, sport: 0, dport: 0, code: 0xff }, { ...udp, proto: 1, sport: 0, dport: 0, code: 0xff }], TS), "eth0", false);
  expect(human.map((l) => l.slice(13))).toEqual(["IP 198.18.0.1 > 198.18.0.2: UDP, length 64", "IP 198.18.0.1 > 198.18.0.2: icmp, length 64"]);
});

test("IPv6 extension headers have names: hop-by-hop (MLD) is hopopt, not 0", () => {
  expect(protoName(0)).toBe("hopopt");
  expect(protoName(44)).toBe("ipv6-frag");
  expect(protoNumber("hopopt")).toBe(0);
});

test("the encoder writes byte for byte what JSON.stringify makes of the record, over many random records", () => {
  let seed = 7;
  const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  // IPv6 groups zero in runs of every length, and IPv4-mapped addresses: where `::` goes is the hard part.
  const address = (family: 4 | 6) => {
    if (family === 4) return Uint8Array.from({ length: 4 }, () => rand(256));
    if (rand(8) === 0) return new Uint8Array([...new Array<number>(10).fill(0), 0xff, 0xff, rand(256), rand(256), rand(256), rand(256)]);
    const zeros = rand(3);
    const groups = Array.from({ length: 8 }, () => (rand(3) < zeros ? 0 : rand(3) === 0 ? rand(16) : rand(65536)));
    return new Uint8Array(groups.flatMap((v) => [v >> 8, v & 0xff]));
  };
  const packets = Array.from({ length: 2000 }, (): Packet => {
    const family = rand(4) === 0 ? (6 as const) : (4 as const);
    const vlan = rand(2) === 0 ? undefined : rand(4096);
    return {
      family,
      addr: address(family),
      dst: address(family),
      len: rand(65536),
      proto: [6, 17, 1, 58, 0, rand(256)][rand(6)]!,
      sport: rand(3) === 0 ? 0 : rand(65536),
      dport: rand(3) === 0 ? 0 : rand(65536),
      flags: rand(256),
      code: rand(4) === 0 ? 0xff : rand(256),
      ...(vlan === undefined ? {} : { vlan }),
      cpu: rand(300),
    };
  });
  for (const iface of ["eth0", 'we"ird\\name', "x.100", "x#1"]) {
    const batch = batchOf(packets, TS + rand(1e9));
    expect(encoded(batch, iface, true)).toEqual(packets.map((_, i) => reference(batch.packet(i), iface)));
  }
});

test("human lines take tcpdump -n's shapes", () => {
  const tcp = { ...udp, proto: 6, sport: 443, dport: 50000, flags: 0x12 };
  const v6 = { ...udp, family: 6 as const, addr: v6addr(1), dst: v6addr(2), sport: 5353, dport: 5353 };
  const lines = encoded(
    batchOf([
      udp,
      tcp,
      { ...tcp, vlan: 0 },
      { ...udp, proto: 1, sport: 0, dport: 0, flags: 8, code: 0 },
      { ...udp, proto: 1, sport: 0, dport: 0, flags: 3, code: 3 },
      v6,
      { ...v6, proto: 58, sport: 0, dport: 0, flags: 135, code: 0 },
      { ...udp, proto: 47, sport: 0, dport: 0, code: 0xff },
    ], TS),
    "eth0",
    false,
  );
  expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.456 IP 198\.18\.0\.1\.1000 > 198\.18\.0\.2\.53: UDP, length 64$/);
  expect(lines.map((l) => l.slice(13))).toEqual([
    "IP 198.18.0.1.1000 > 198.18.0.2.53: UDP, length 64",
    "IP 198.18.0.1.443 > 198.18.0.2.50000: Flags [S.], length 64",
    "vlan 0 IP 198.18.0.1.443 > 198.18.0.2.50000: Flags [S.], length 64",
    "IP 198.18.0.1 > 198.18.0.2: ICMP echo request, length 64",
    "IP 198.18.0.1 > 198.18.0.2: ICMP unreachable, code 3, length 64",
    "IP6 2001::1.5353 > 2001::2.5353: UDP, length 64",
    "IP6 2001::1 > 2001::2: ICMP6, neighbor solicitation, length 64",
    "IP 198.18.0.1 > 198.18.0.2: gre, length 64",
  ]);
  expect(icmpTypeName(4, 200)).toBe("type-#200");
});
