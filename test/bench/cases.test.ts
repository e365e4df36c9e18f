import { describe, expect, test } from "bun:test";
import { benchConfigs, benchFrames, HEADLINE } from "../../src/bench/cases";
import { encodeConfig } from "../../src/bpf/layout";

const ethertype = (f: Uint8Array) => (f[12]! << 8) | f[13]!;

describe("bench frames", () => {
  const frames = benchFrames();
  const byName = Object.fromEntries(frames.map((f) => [f.name, f.bytes]));

  test("each kind once, named after its length", () => {
    expect(frames.map((f) => f.name)).toEqual(["ipv4-udp-64", "ipv4-tcp-64", "ipv6-udp-64", "vlan-ipv4-udp-64", "arp-42", "truncated-20"]);
    for (const f of frames) expect(f.name.endsWith(`-${f.bytes.length}`)).toBe(true);
  });

  test("headers say what the names say", () => {
    expect(ethertype(byName["ipv4-udp-64"]!)).toBe(0x0800);
    expect(byName["ipv4-udp-64"]![23]).toBe(17);
    expect(byName["ipv4-tcp-64"]![23]).toBe(6);
    expect(ethertype(byName["ipv6-udp-64"]!)).toBe(0x86dd);
    expect(byName["ipv6-udp-64"]![20]).toBe(17);
    expect(ethertype(byName["vlan-ipv4-udp-64"]!)).toBe(0x8100);
    expect(ethertype(byName["arp-42"]!)).toBe(0x0806);
    expect(byName["truncated-20"]).toEqual(byName["ipv4-udp-64"]!.slice(0, 20));
  });

  test("IPv4 sources are in 198.18.0.0/15", () => {
    for (const name of ["ipv4-udp-64", "ipv4-tcp-64"]) expect([...byName[name]!.slice(26, 28)]).toEqual([198, 18]);
    expect([...byName["vlan-ipv4-udp-64"]!.slice(30, 32)]).toEqual([198, 18]);
  });
});

describe("bench configurations", () => {
  const configs = benchConfigs();
  const byName = Object.fromEntries(configs.map((c) => [c.name, c]));

  test("the default as attach configures it, then one feature each", () => {
    expect(configs.map((c) => c.name)).toEqual([
      "default", "src", "proto", "port", "sample-10", "block", "top", "top-dst", "top-sport", "top-dport", "top-proto", "top-flow", "top-src-24",
    ]);
    expect(byName.default!.config).toEqual({ log: true, sources: false, block: false, srcFilter: false, sample: 1 });
    const base = encodeConfig(byName.default!.config);
    for (const c of configs.slice(1)) expect(encodeConfig(c.config)).not.toEqual(base);
  });

  test("a filter comes with the ranges it consults", () => {
    expect(byName.src!.srcFilter?.map((c) => c.text)).toEqual(["198.18.0.0/15", "2001:db8::/32"]);
    expect(byName.block!.block?.map((c) => c.text)).toEqual(["198.19.0.0/16"]);
  });

  test("the headline figures are ones the bench measures", () => {
    expect(byName[HEADLINE.program]).toBeDefined();
    for (const frame of HEADLINE.frames) expect(benchFrames().some((f) => f.name === frame)).toBe(true);
  });
});
