import { expect, test } from "bun:test";
import { emptyStats, RECORD, RECORD_WORDS } from "../../src/bpf/layout";
import { formatAddress } from "../../src/net/cidr";
import { accounting, accountingLine, PacketEncoder, protoName, protoNumber } from "../../src/output/format";
import { RecordBatch, type LoggedPacket } from "../../src/xdp/reader";

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

/** Records as the kernel writes them, in a batch as the reader hands them over. */
function batchOf(packets: Omit<LoggedPacket, "ts" | "seq">[], ts: number): RecordBatch {
  const batch = new RecordBatch();
  batch.reset(packets.length, ts);
  for (const p of packets) {
    const bytes = new Uint8Array(RECORD.size);
    const view = new DataView(bytes.buffer);
    bytes.set(p.addr, RECORD.addr);
    view.setUint16(RECORD.len, p.len, true);
    view.setUint16(RECORD.sport, p.sport, false);
    view.setUint16(RECORD.dport, p.dport, false);
    bytes[RECORD.proto] = p.proto;
    bytes[RECORD.family] = p.family;
    view.setUint16(RECORD.vlan, p.vlan, true);
    batch.words.set(new Uint32Array(bytes.buffer), batch.count * RECORD_WORDS);
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
  return JSON.stringify({
    type: "packet",
    ts: new Date(p.ts).toISOString(),
    iface,
    src: formatAddress(p.addr),
    family: p.family,
    proto: protoName(p.proto),
    len: p.len,
    ...(known ? { sport: p.sport, dport: p.dport } : {}),
    ...(p.vlan ? { vlan: p.vlan } : {}),
    cpu: p.cpu,
  });
}

const TS = Date.UTC(2026, 10, 25, 1, 2, 3, 456);
const udp = { family: 4 as const, addr: new Uint8Array([198, 18, 0, 1]), len: 64, proto: 17, sport: 1000, dport: 53, vlan: 0, cpu: 1 };

test("NDJSON packet record: RFC 3339 UTC time, ports for TCP/UDP, vlan only when tagged", () => {
  const lines = encoded(batchOf([udp, { ...udp, proto: 1, sport: 0, dport: 0, vlan: 7 }], TS), "eth0", true);
  expect(lines.map((l) => JSON.parse(l))).toEqual([
    { type: "packet", ts: "2026-11-25T01:02:03.456Z", iface: "eth0", src: "198.18.0.1", family: 4, proto: "udp", len: 64, sport: 1000, dport: 53, cpu: 1 },
    { type: "packet", ts: "2026-11-25T01:02:03.456Z", iface: "eth0", src: "198.18.0.1", family: 4, proto: "icmp", len: 64, vlan: 7, cpu: 1 },
  ]);
});

test("a non-first fragment (TCP/UDP with both ports 0) carries no ports, like ICMP", () => {
  const [line] = encoded(batchOf([{ ...udp, sport: 0, dport: 0 }], TS), "eth0", true);
  expect(JSON.parse(line!)).not.toHaveProperty("sport");
  const [human] = encoded(batchOf([{ ...udp, sport: 0, dport: 0 }], TS), "eth0", false);
  expect(human).toMatch(/ udp {2}64 B$/);
});

test("IPv6 extension headers have names: hop-by-hop (MLD) is hopopt, not 0", () => {
  expect(protoName(0)).toBe("hopopt");
  expect(protoName(44)).toBe("ipv6-frag");
  expect(protoNumber("hopopt")).toBe(0);
});

test("the encoder writes byte for byte what JSON.stringify makes of the record, over many random records", () => {
  let seed = 7;
  const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const packets = Array.from({ length: 2000 }, () => {
    const family = rand(4) === 0 ? (6 as const) : (4 as const);
    return {
      family,
      addr: Uint8Array.from({ length: family === 4 ? 4 : 16 }, () => rand(256)),
      len: rand(65536),
      proto: [6, 17, 1, 58, 0, rand(256)][rand(6)]!,
      sport: rand(3) === 0 ? 0 : rand(65536),
      dport: rand(3) === 0 ? 0 : rand(65536),
      vlan: rand(2) === 0 ? 0 : rand(4096),
      cpu: rand(300),
    };
  });
  for (const iface of ["eth0", 'we"ird\\name', "x.100", "x#1"]) {
    const batch = batchOf(packets, TS + rand(1e9));
    expect(encoded(batch, iface, true)).toEqual(packets.map((_, i) => reference(batch.packet(i), iface)));
  }
});

test("human lines: ports with an arrow, bytes, vlan when tagged", () => {
  expect(encoded(batchOf([udp], TS), "eth0", false)[0]).toMatch(/^\d\d:\d\d:\d\d\.456  198\.18\.0\.1 {5}  udp 1000 → 53  64 B$/);
  expect(encoded(batchOf([{ ...udp, vlan: 5 }], TS), "eth0", false)[0]).toMatch(/  64 B  vlan 5$/);
});

test("human columns stay aligned once IPv6 addresses appear", () => {
  const v6 = { ...udp, family: 6 as const, addr: Uint8Array.from({ length: 16 }, (_, i) => (i < 2 ? 0x20 : i + 1)) };
  const lines = encoded(batchOf([v6, udp, v6, udp], TS), "eth0", false);
  const protoColumn = lines.map((l) => l.indexOf(" udp "));
  expect(new Set(protoColumn).size).toBe(1);
  expect(lines[0]).toContain(formatAddress(v6.addr));
});
