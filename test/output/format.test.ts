import { expect, test } from "bun:test";
import { emptyStats } from "../../src/bpf/layout";
import { accounting, accountingLine, packetJson, packetLine, protoName, protoNumber } from "../../src/output/format";
import type { LoggedPacket } from "../../src/xdp/reader";

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

const packet: LoggedPacket = { family: 4, addr: new Uint8Array([198, 18, 0, 1]), len: 64, proto: 17, sport: 1000, dport: 53, vlan: 0, seq: 0, cpu: 1, ts: Date.UTC(2026, 10, 25, 1, 2, 3, 456) };

test("NDJSON packet record: RFC 3339 UTC time, ports for TCP/UDP, vlan only when tagged", () => {
  expect(packetJson(packet, "eth0")).toEqual({ type: "packet", ts: "2026-11-25T01:02:03.456Z", iface: "eth0", src: "198.18.0.1", family: 4, proto: "udp", len: 64, sport: 1000, dport: 53, cpu: 1 });
  expect(packetJson({ ...packet, proto: 1, vlan: 7 }, "eth0")).toEqual({ type: "packet", ts: "2026-11-25T01:02:03.456Z", iface: "eth0", src: "198.18.0.1", family: 4, proto: "icmp", len: 64, vlan: 7, cpu: 1 });
});

test("human line", () => {
  expect(packetLine(packet)).toMatch(/^\d\d:\d\d:\d\d\.456  198\.18\.0\.1 {5}  udp 1000 → 53  64 B$/);
});
