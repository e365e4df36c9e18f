import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as layout from "../../src/bpf/layout";
import { ROOT } from "../support/kernel";

const compiler = Bun.which("cc") ?? Bun.which("gcc") ?? Bun.which("clang");

/** Asks the C compiler for every offset layout.ts hard-codes. */
async function cLayout(): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), "xw-layout-"));
  try {
    const fields: [string, string][] = [
      ["record.size", "sizeof(struct xw_record)"],
      ["record.addr", "offsetof(struct xw_record, addr)"],
      ["record.len", "offsetof(struct xw_record, len)"],
      ["record.sport", "offsetof(struct xw_record, sport)"],
      ["record.dport", "offsetof(struct xw_record, dport)"],
      ["record.proto", "offsetof(struct xw_record, proto)"],
      ["record.family", "offsetof(struct xw_record, family)"],
      ["record.vlan", "offsetof(struct xw_record, vlan)"],
      ["record.seq", "offsetof(struct xw_record, seq)"],
      ["record.flags", "offsetof(struct xw_record, flags)"],
      ["record.code", "offsetof(struct xw_record, code)"],
      ["stats.ringHead", "offsetof(struct xw_stats, ring_head)"],
      ["pageSlots", "XW_PAGE_SLOTS"],
      ["familyTail", "XW_FAMILY_IPV6_TAIL"],
      ["vlanTagged", "XW_VLAN_TAGGED"],
      ["stats.size", "sizeof(struct xw_stats)"],
      ["stats.outcome", "offsetof(struct xw_stats, outcome)"],
      ["stats.bytes", "offsetof(struct xw_stats, bytes)"],
      ["stats.newSources", "offsetof(struct xw_stats, new_sources)"],
      ["config.size", "sizeof(struct xw_config)"],
      ["config.sample", "offsetof(struct xw_config, sample)"],
      ["config.protos", "offsetof(struct xw_config, protos)"],
      ["config.ports", "offsetof(struct xw_config, ports)"],
      ["page.size", "sizeof(struct xw_page)"],
      ["cidr.size", "sizeof(struct xw_cidr_key)"],
      ["cidr.addr", "offsetof(struct xw_cidr_key, addr)"],
      ["source.key", "sizeof(union xw_source_key)"],
      ["source.key.addr", "XW_KEY_SIZE_ADDR"],
      ["source.key.port", "XW_KEY_SIZE_PORT"],
      ["source.key.proto", "XW_KEY_SIZE_PROTO"],
      ["source.key.flow", "XW_KEY_SIZE_FLOW"],
      ["flow.dst", "offsetof(struct xw_flow_key, dst)"],
      ["flow.sport", "offsetof(struct xw_flow_key, sport)"],
      ["flow.dport", "offsetof(struct xw_flow_key, dport)"],
      ["flow.proto", "offsetof(struct xw_flow_key, proto)"],
      ["config.by", "offsetof(struct xw_config, by)"],
      ["config.byMasked", "offsetof(struct xw_config, by_masked)"],
      ["config.mask4", "offsetof(struct xw_config, mask4)"],
      ["config.mask6", "offsetof(struct xw_config, mask6)"],
      ["by.src", "XW_BY_SRC"],
      ["by.dst", "XW_BY_DST"],
      ["by.sport", "XW_BY_SPORT"],
      ["by.dport", "XW_BY_DPORT"],
      ["by.proto", "XW_BY_PROTO"],
      ["by.flow", "XW_BY_FLOW"],
      ["source.value", "sizeof(struct xw_source_value)"],
      ["outcomes", "XW_OUTCOMES"],
      ["pageRecords", "XW_PAGE_RECORDS"],
      ["pageShift", "XW_PAGE_SHIFT"],
      ["ringShiftDefault", "XW_RING_SHIFT_DEFAULT"],
      ["config.ringShift", "offsetof(struct xw_config, ring_shift)"],
      ["config.ringMask", "offsetof(struct xw_config, ring_mask)"],
      ["sourcesMax", "XW_SOURCES_MAX"],
      ["flag.log", "XW_F_LOG"],
      ["flag.sources", "XW_F_SOURCES"],
      ["flag.block", "XW_F_BLOCK"],
      ["flag.srcFilter", "XW_F_SRC_FILTER"],
      ["flag.protoFilter", "XW_F_PROTO_FILTER"],
      ["flag.portFilter", "XW_F_PORT_FILTER"],
      ["flag.sample", "XW_F_SAMPLE"],
      ["flag.matchExpr", "XW_F_MATCH_EXPR"],
      ["flag.dropExpr", "XW_F_DROP_EXPR"],
      ["exprInsns", "XW_EXPR_INSNS"],
      ["exprScratchWords", "XW_EXPR_SCRATCH_WORDS"],
      ["outcome.logged", "XW_LOGGED"],
      ["outcome.sampled_out", "XW_SAMPLED_OUT"],
      ["outcome.counted", "XW_COUNTED"],
      ["outcome.filtered", "XW_FILTERED"],
      ["outcome.blocked", "XW_BLOCKED"],
      ["outcome.not_ip", "XW_NOT_IP"],
      ["outcome.malformed", "XW_MALFORMED"],
      ["outcome.no_ring", "XW_NO_RING"],
    ];
    const src = `#include <stdio.h>
#include <stddef.h>
#include "xdpwatch.h"
int main(void) {
${fields.map(([k, expr]) => `  printf("%s %lu\\n", "${k}", (unsigned long)(${expr}));`).join("\n")}
  return 0;
}
`;
    writeFileSync(join(dir, "layout.c"), src);
    const build = Bun.spawnSync([compiler!, "-I", join(ROOT, "bpf"), "-o", join(dir, "layout"), join(dir, "layout.c")]);
    if (build.exitCode !== 0) throw new Error(build.stderr.toString());
    const out = Bun.spawnSync([join(dir, "layout")]).stdout.toString();
    return Object.fromEntries(out.trim().split("\n").map((l) => [l.split(" ")[0]!, Number(l.split(" ")[1])]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!compiler)("layout.ts matches bpf/xdpwatch.h as the C compiler lays it out", async () => {
  const c = await cLayout();
  const ts: Record<string, number> = {
    "record.size": layout.RECORD.size,
    "record.addr": layout.RECORD.addr,
    "record.len": layout.RECORD.len,
    "record.sport": layout.RECORD.sport,
    "record.dport": layout.RECORD.dport,
    "record.proto": layout.RECORD.proto,
    "record.family": layout.RECORD.family,
    "record.vlan": layout.RECORD.vlan,
    "record.seq": layout.RECORD.seq,
    "record.flags": layout.RECORD.flags,
    "record.code": layout.RECORD.code,
    "stats.ringHead": layout.STATS.ringHead,
    pageSlots: layout.PAGE_SLOTS,
    familyTail: layout.FAMILY_IPV6_TAIL,
    vlanTagged: layout.VLAN_TAGGED,
    "stats.size": layout.STATS.size,
    "stats.outcome": layout.STATS.outcome,
    "stats.bytes": layout.STATS.bytes,
    "stats.newSources": layout.STATS.newSources,
    "config.size": layout.CONFIG.size,
    "config.sample": layout.CONFIG.sample,
    "config.protos": layout.CONFIG.protos,
    "config.ports": layout.CONFIG.ports,
    "page.size": layout.PAGE_SIZE,
    "cidr.size": layout.CIDR_KEY.size,
    "cidr.addr": layout.CIDR_KEY.addr,
    "source.key": layout.SOURCE_KEY.size.flow,
    "source.key.addr": layout.SOURCE_KEY.size.src,
    "source.key.port": layout.SOURCE_KEY.size.dport,
    "source.key.proto": layout.SOURCE_KEY.size.proto,
    "source.key.flow": layout.SOURCE_KEY.size.flow,
    "flow.dst": layout.SOURCE_KEY.flow.dst,
    "flow.sport": layout.SOURCE_KEY.flow.sport,
    "flow.dport": layout.SOURCE_KEY.flow.dport,
    "flow.proto": layout.SOURCE_KEY.flow.proto,
    "config.by": layout.CONFIG.by,
    "config.byMasked": layout.CONFIG.byMasked,
    "config.mask4": layout.CONFIG.mask4,
    "config.mask6": layout.CONFIG.mask6,
    ...Object.fromEntries(layout.BY_KEYS.map((k, i) => [`by.${k}`, i])),
    "source.value": layout.SOURCE_VALUE.size,
    outcomes: layout.OUTCOMES.length,
    pageRecords: layout.PAGE_RECORDS,
    pageShift: layout.PAGE_SHIFT,
    ringShiftDefault: layout.RING_SHIFT_DEFAULT,
    "config.ringShift": layout.CONFIG.ringShift,
    "config.ringMask": layout.CONFIG.ringMask,
    sourcesMax: layout.SOURCES_MAX,
    exprInsns: layout.EXPR_INSNS,
    exprScratchWords: layout.EXPR_SCRATCH_WORDS,
    ...Object.fromEntries(Object.entries(layout.FLAG).map(([k, v]) => [`flag.${k}`, v])),
    ...Object.fromEntries(layout.OUTCOMES.map((o, i) => [`outcome.${o}`, i])),
  };
  test.each(Object.keys(c))("%s", (key) => {
    expect(ts[key]).toBe(c[key]!);
  });
});

describe("decoding", () => {
  test("an IPv4 record", () => {
    const bytes = new Uint8Array(layout.RECORD.size * 2);
    const off = layout.RECORD.size;
    bytes.set([198, 18, 0, 7, 198, 18, 0, 8], off + layout.RECORD.addr);
    new DataView(bytes.buffer).setUint16(off + layout.RECORD.len, 1500, true);
    new DataView(bytes.buffer).setUint16(off + layout.RECORD.sport, 443, false);
    new DataView(bytes.buffer).setUint16(off + layout.RECORD.dport, 51000, false);
    bytes[off + layout.RECORD.proto] = 6;
    bytes[off + layout.RECORD.family] = 4;
    new DataView(bytes.buffer).setUint16(off + layout.RECORD.vlan, layout.VLAN_TAGGED | 42, true);
    bytes[off + layout.RECORD.flags] = 0x12;
    new DataView(bytes.buffer).setUint32(off + layout.RECORD.seq, 0xfffffffe, true);
    expect(layout.decodeRecord(bytes, off)).toEqual({
      family: 4, addr: new Uint8Array([198, 18, 0, 7]), dst: new Uint8Array([198, 18, 0, 8]), len: 1500, proto: 6, sport: 443, dport: 51000,
      flags: 0x12, code: 0, vlan: 42, seq: 0xfffffffe,
    });
    // Untagged: no vlan at all; tagged with id 0: vlan 0.
    new DataView(bytes.buffer).setUint16(off + layout.RECORD.vlan, 0, true);
    expect(layout.decodeRecord(bytes, off)).not.toHaveProperty("vlan");
    new DataView(bytes.buffer).setUint16(off + layout.RECORD.vlan, layout.VLAN_TAGGED, true);
    expect(layout.decodeRecord(bytes, off)?.vlan).toBe(0);
  });

  test("an IPv6 record: two slots, the destination in the second; whole or nothing", () => {
    const bytes = new Uint8Array(layout.RECORD.size * 2);
    const view = new DataView(bytes.buffer);
    view.setUint32(layout.RECORD.seq, 9, true);
    bytes[layout.RECORD.family] = 6;
    bytes[layout.RECORD.proto] = 58;
    bytes[layout.RECORD.flags] = 128;
    bytes.set([0x20, 0x01, 0x0d, 0xb8], layout.RECORD.addr);
    view.setUint32(layout.RECORD.size + layout.RECORD.seq, 10, true);
    bytes[layout.RECORD.size + layout.RECORD.family] = layout.FAMILY_IPV6_TAIL;
    bytes.set([0x20, 0x01, 0x0d, 0xb9], layout.RECORD.size + layout.RECORD.addr);
    const r = layout.decodeRecord(bytes, 0);
    expect([r?.addr.slice(0, 4), r?.dst.slice(0, 4), r?.flags, r?.seq]).toEqual([new Uint8Array([0x20, 1, 0x0d, 0xb8]), new Uint8Array([0x20, 1, 0x0d, 0xb9]), 128, 9]);
    view.setUint32(layout.RECORD.size + layout.RECORD.seq, 11, true);
    expect(layout.decodeRecord(bytes, 0)).toBeUndefined();
  });

  test("a slot never written is no record", () => {
    expect(layout.decodeRecord(new Uint8Array(layout.RECORD.size), 0)).toBeUndefined();
  });

  test("stats keep u64 counters exact past 2^53", () => {
    const bytes = new Uint8Array(layout.STATS.size);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(layout.STATS.seen, 2n ** 60n + 3n, true);
    view.setBigUint64(layout.STATS.outcome + 8 * layout.OUTCOMES.indexOf("malformed"), 5n, true);
    const s = layout.decodeStats(bytes);
    expect(s.seen).toBe(2n ** 60n + 3n);
    expect(s.outcome.malformed).toBe(5n);
    expect(layout.sumStats([s, s]).seen).toBe(2n ** 61n + 6n);
  });

  test("config encodes flags, sample and the protocol and port bitmaps", () => {
    const bytes = layout.encodeConfig({ log: true, sources: false, block: true, srcFilter: false, sample: 10, protos: [17], ports: [53, 65535] });
    const view = new DataView(bytes.buffer);
    expect(view.getUint32(layout.CONFIG.flags, true)).toBe(layout.FLAG.log | layout.FLAG.block | layout.FLAG.protoFilter | layout.FLAG.portFilter | layout.FLAG.sample);
    expect(view.getUint32(layout.CONFIG.sample, true)).toBe(10);
    expect(view.getUint32(layout.CONFIG.ringShift, true)).toBe(layout.RING_SHIFT_DEFAULT);
    expect(view.getUint32(layout.CONFIG.ringMask, true)).toBe((1 << layout.RING_SHIFT_DEFAULT) - 1);
    expect(new DataView(layout.encodeConfig({ log: true, sources: false, block: false, srcFilter: false, sample: 1 }, 10).buffer).getUint32(layout.CONFIG.ringMask, true)).toBe(1023);
    expect(bytes[layout.CONFIG.protos + 2]).toBe(1 << 1);
    // The kernel tests bit (port & 63) of u64 word port >> 6, little-endian.
    expect((view.getBigUint64(layout.CONFIG.ports + 8 * (53 >> 6), true) >> BigInt(53 & 63)) & 1n).toBe(1n);
    expect((view.getBigUint64(layout.CONFIG.ports + 8 * (65535 >> 6), true) >> 63n) & 1n).toBe(1n);
    expect((view.getBigUint64(layout.CONFIG.ports, true) >> 52n) & 1n).toBe(0n);
  });

  test("--by is written into the configuration and read back from it", () => {
    const base = { log: false, sources: true, block: false, srcFilter: false, sample: 1 };
    const cut = layout.encodeConfig({ ...base, by: { key: "dst", prefix: { v4: 20, v6: 56 } } });
    expect([...cut.subarray(layout.CONFIG.mask4, layout.CONFIG.mask4 + 4)]).toEqual([255, 255, 0xf0, 0]);
    expect([...cut.subarray(layout.CONFIG.mask6, layout.CONFIG.mask6 + 16)]).toEqual([255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(layout.decodeBy(cut)).toEqual({ key: "dst", prefix: { v4: 20, v6: 56 } });
    expect(layout.decodeBy(layout.encodeConfig({ ...base, by: { key: "src", prefix: { v4: 0, v6: 128 } } }))).toEqual({ key: "src", prefix: { v4: 0, v6: 128 } });
    for (const key of layout.BY_KEYS) expect(layout.decodeBy(layout.encodeConfig({ ...base, by: { key } }))).toEqual({ key });
    // No --by: the default, source addresses, as before --by existed.
    expect(layout.decodeBy(layout.encodeConfig(base))).toEqual({ key: "src" });
  });
});
