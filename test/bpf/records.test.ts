/**
 * What lands in the ring: frames run through the real programs in the kernel
 * (bpftool prog run, on CPU 0), then the CPU's first ring page read back and
 * decoded. The program writes each field straight from the frame into the
 * slot while it parses, and frames that are not logged scribble on the next
 * slot without taking it: every logged record must still be whole and right.
 * IPv4 records take one slot, IPv6 ones two (the destination in the second).
 * The reference program (bpf/minimal.c) must log the plain frames the same.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import ipaddr from "ipaddr.js";
import { REFERENCE_RING_SHIFT } from "../../src/bench/cases";
import { withMaxEntries } from "../../src/bpf/elf";
import { BATCH_DST6, BATCH_WORDS, decodeRecord, decodeStats, FAMILY_IPV6_TAIL, OUTCOMES, PAGE_RECORDS, PAGE_SIZE, RECORD, sumStats, type Stats } from "../../src/bpf/layout";
import { updateMap } from "../../src/tools/bpftool";
import { parseMapEntries, parseWordPages } from "../../src/tools/bpftool-output";
import { loadPinned, possibleCpus, RING_SHIFT_MIN } from "../../src/xdp/program";
import { BENCH_ROOT, pinsAt, removeIfEmpty, removePins, type Pins } from "../../src/xdp/pins";
import { arpFrame, ipv4Frame, ipv6Frame } from "../support/frames";
import { ETH, v4 } from "../support/corpus";
import { kernelReady, ROOT, sh } from "../support/kernel";
import { pcapFile } from "../support/expressions";
import { PacketEncoder } from "../../src/output/encoder";
import { RecordBatch } from "../../src/xdp/batch";

interface Want {
  src: string;
  dst: string;
  proto: number;
  sport: number;
  dport: number;
  /** TCP flags or ICMP type; code: ICMP code, 0xff when no L4 header was read. */
  flags?: number;
  code?: number;
  vlan?: number;
}

type Case = [name: string, frame: Uint8Array, want: Want | undefined];

const fragment = (() => {
  const f = ipv4Frame({ src: "198.18.4.9", proto: "udp", sport: 7, dport: 9 });
  f[ETH + 6] = 0x00;
  f[ETH + 7] = 0x10; // offset 16 × 8 bytes: its first bytes are payload, not ports
  return f;
})();
const withOptions = new Uint8Array([...v4.slice(0, ETH), 0x46, ...v4.slice(ETH + 1, ETH + 20), 1, 1, 1, 1, ...v4.slice(ETH + 20)]);
/** A frame with bytes set at offsets (TCP flags, ICMP type and code). */
const patched = (f: Uint8Array, at: number, bytes: number[]) => {
  f.set(bytes, at);
  return f;
};
const D4 = "198.18.0.254";
const D6 = "2001:db8::fe";

/** Plain frames, which the reference handles too. */
const PLAIN: Case[] = [
  ["IPv4 UDP", ipv4Frame({ src: "198.18.4.1", dst: "198.18.5.1", sport: 1234, dport: 53 }), { src: "198.18.4.1", dst: "198.18.5.1", proto: 17, sport: 1234, dport: 53 }],
  ["IPv4 TCP SYN", ipv4Frame({ src: "198.18.4.2", proto: "tcp", sport: 443, dport: 50000 }), { src: "198.18.4.2", dst: D4, proto: 6, sport: 443, dport: 50000, flags: 0x02 }],
  ["IPv6 UDP", ipv6Frame({ src: "2001:db8::7", dst: "2001:db8:9::1", sport: 5353, dport: 5353 }), { src: "2001:db8::7", dst: "2001:db8:9::1", proto: 17, sport: 5353, dport: 5353 }],
  ["ARP", arpFrame(), undefined],
  // Scribbles a 16-byte address into the next slot, then is not logged.
  ["IPv6 UDP header cut short", ipv6Frame({ src: "2001:db8::bad" }).slice(0, ETH + 40 + 4), undefined],
  ["IPv4 ICMP echo request", ipv4Frame({ src: "198.18.4.3", proto: "icmp" }), { src: "198.18.4.3", dst: D4, proto: 1, sport: 0, dport: 0, flags: 8, code: 0 }],
  ["IPv4 ICMP port unreachable", patched(ipv4Frame({ src: "198.18.4.3", proto: "icmp" }), ETH + 20, [3, 3]), { src: "198.18.4.3", dst: D4, proto: 1, sport: 0, dport: 0, flags: 3, code: 3 }],
  ["IPv6 TCP SYN-ACK", patched(ipv6Frame({ src: "2001:db8:1::1", proto: "tcp", sport: 22, dport: 60000 }), ETH + 40 + 13, [0x12]), { src: "2001:db8:1::1", dst: D6, proto: 6, sport: 22, dport: 60000, flags: 0x12 }],
  ["IPv4 TCP FIN-ACK", patched(ipv4Frame({ src: "198.18.4.6", proto: "tcp", sport: 80, dport: 1025 }), ETH + 20 + 13, [0x11]), { src: "198.18.4.6", dst: D4, proto: 6, sport: 80, dport: 1025, flags: 0x11 }],
  ["ICMPv6 echo request", patched(ipv6Frame({ src: "2001:db8::5", proto: 58, payload: 8 }), ETH + 40, [128, 0]), { src: "2001:db8::5", dst: D6, proto: 58, sport: 0, dport: 0, flags: 128, code: 0 }],
  ["IPv6 GRE", ipv6Frame({ src: "2001:db8::6", proto: 47, payload: 4 }), { src: "2001:db8::6", dst: D6, proto: 47, sport: 0, dport: 0, code: 0xff }],
];

/** What only xdpwatch parses. */
const FULL: Case[] = [
  ...PLAIN,
  ["802.1Q IPv4 UDP", ipv4Frame({ src: "198.18.4.4", vlans: [42], sport: 1, dport: 2 }), { src: "198.18.4.4", dst: D4, proto: 17, sport: 1, dport: 2, vlan: 42 }],
  ["802.1Q tag 0 (priority only)", ipv4Frame({ src: "198.18.4.7", vlans: [0], sport: 1, dport: 2 }), { src: "198.18.4.7", dst: D4, proto: 17, sport: 1, dport: 2, vlan: 0 }],
  ["IPv4 TCP header cut short", ipv4Frame({ src: "198.18.4.5", proto: "tcp" }).slice(0, ETH + 20 + 10), undefined],
  ["IPv4 ICMP cut short", ipv4Frame({ src: "198.18.4.5", proto: "icmp" }).slice(0, ETH + 20 + 1), undefined],
  ["QinQ IPv6 TCP", ipv6Frame({ src: "2001:db8::42", vlans: [100, 200], proto: "tcp", sport: 80, dport: 8080 }), { src: "2001:db8::42", dst: D6, proto: 6, sport: 80, dport: 8080, flags: 0x02, vlan: 100 }],
  ["IPv4 non-first fragment", fragment, { src: "198.18.4.9", dst: D4, proto: 17, sport: 0, dport: 0, code: 0xff }],
  ["IPv4 version 6", Uint8Array.from(v4, (b, i) => (i === ETH ? 0x65 : b)), undefined],
  ["IPv4 with options (IHL 6)", withOptions, { src: "198.18.4.5", dst: D4, proto: 17, sport: 40000, dport: 53 }],
];

/**
 * Fills CPU 0's first ring page with 0xff (a field the program forgets to
 * write then shows), runs the frames in order on CPU 0, and reads the
 * counters and that page back.
 */
async function runAll(prog: string, stats: string, ring: string, frames: Uint8Array[]): Promise<{ stats: Stats; page: Uint8Array }> {
  await updateMap(ring, new Uint8Array(4), new Uint8Array(PAGE_SIZE).fill(0xff));
  const dir = mkdtempSync(join(tmpdir(), "xw-records-"));
  try {
    const lines = frames.map((f, i) => {
      writeFileSync(join(dir, `${i}.bin`), f);
      return `prog run pinned ${prog} data_in ${join(dir, `${i}.bin`)} repeat 1`;
    });
    lines.push(`map lookup pinned ${stats} key hex 00 00 00 00`, `map lookup pinned ${ring} key 0 0 0 0`);
    const r = await sh(["taskset", "-c", "0", "bpftool", "batch", "file", "-"], `${lines.join("\n")}\n`);
    if (r.code !== 0) throw new Error(r.stderr);
    const counters = parseMapEntries(r.stdout.slice(r.stdout.indexOf("key:"))).at(0)!;
    const page = ringPages(r.stdout).get(0);
    if (!page) throw new Error(`no ring page in bpftool's answer:\n${r.stdout.slice(-400)}`);
    return { stats: sumStats(counters.values.map(decodeStats)), page };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every ring page in bpftool's answer, by key, as the reader parses them. */
function ringPages(text: string): Map<number, Uint8Array> {
  const pages = new Map<number, Uint8Array>();
  parseWordPages(new TextEncoder().encode(text), (key) => {
    const words = new Uint32Array(PAGE_SIZE / 4);
    pages.set(key, new Uint8Array(words.buffer));
    return words;
  });
  return pages;
}

/** A u32 map key as bpftool reads it: four bytes, little-endian. */
const hexKey = (n: number) => `hex ${[...new Uint8Array(new Uint32Array([n]).buffer)].map((b) => b.toString(16).padStart(2, "0")).join(" ")}`;

const addrText = (bytes: Uint8Array) => ipaddr.fromByteArray([...bytes]).toString();

function expectRecords(cases: Case[], got: { stats: Stats; page: Uint8Array }, frames: Uint8Array[]) {
  const logged = cases.flatMap(([name, , want], i) => (want ? [{ name, want, len: frames[i]!.length }] : []));
  expect(got.stats.outcome.logged).toBe(BigInt(logged.length));
  // Slot by slot: an IPv4 record takes one, an IPv6 record two.
  let slot = 0;
  const actual = logged.map(({ name }) => {
    const at = slot * RECORD.size;
    const r = decodeRecord(got.page, at);
    // IPv4: source and destination, then zeros the layout promises.
    const rest = r?.family === 4 ? [...got.page.slice(at + RECORD.addr + 8, at + RECORD.size)] : [];
    slot += r?.family === 6 ? 2 : 1;
    return r && { name, family: r.family as number, src: addrText(r.addr), dst: addrText(r.dst), rest, len: r.len, proto: r.proto, sport: r.sport, dport: r.dport, flags: r.flags, code: r.code, vlan: r.vlan, seq: r.seq };
  });
  slot = 0;
  const wanted = logged.map(({ name, want, len }) => {
    const addr = ipaddr.parse(want.src);
    const family = addr.kind() === "ipv4" ? 4 : 6;
    const rest = family === 4 ? new Array<number>(8).fill(0) : [];
    const seq = slot;
    slot += family === 6 ? 2 : 1;
    return {
      name, family, src: addr.toString(), dst: ipaddr.parse(want.dst).toString(), rest, len, proto: want.proto, sport: want.sport, dport: want.dport,
      flags: want.flags ?? 0, code: want.code ?? 0, vlan: want.vlan, seq,
    };
  });
  expect(actual).toEqual(wanted);
  expect(got.stats.ringHead).toBe(BigInt(slot));
  // The slot after the last record may hold a frame's scribbles, never its position.
  expect(new DataView(got.page.buffer, got.page.byteOffset).getUint32(slot * RECORD.size + RECORD.seq, true)).not.toBe(slot);
}

describe.skipIf(!kernelReady)("records in the ring match the frames", () => {
  const root = join(BENCH_ROOT, `test-${process.pid}`);
  const cpus = possibleCpus();
  let pins: Pins;
  const reference = { prog: join(root, "minimal", "xdpwatch_minimal"), stats: join(root, "minimal", "maps", "xw_stats"), ring: join(root, "minimal", "maps", "xw_ring") };

  beforeAll(async () => {
    pins = pinsAt(join(root, "default"));
    await loadPinned(pins, { object: join(ROOT, "dist/bpf/xdpwatch.o"), config: { log: true, sources: false, block: false, srcFilter: false, sample: 1 } }, { cpus, shift: RING_SHIFT_MIN });
    const tmp = mkdtempSync(join(tmpdir(), "xw-records-"));
    try {
      const sized = join(tmp, "minimal.o");
      writeFileSync(sized, withMaxEntries(new Uint8Array(readFileSync(join(ROOT, "dist/bpf/minimal.o"))), "xw_ring", cpus << REFERENCE_RING_SHIFT));
      mkdirSync(join(root, "minimal"), { recursive: true });
      const r = await sh(["bpftool", "prog", "loadall", sized, join(root, "minimal"), "pinmaps", join(root, "minimal", "maps")]);
      if (r.code !== 0) throw new Error(r.stderr);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
  afterAll(() => {
    if (pins) removePins(pins);
    rmSync(root, { recursive: true, force: true });
    removeIfEmpty(BENCH_ROOT);
  });

  test("xdpwatch as attach configures it: every field of every logged frame, none of the others", async () => {
    const frames = FULL.map(([, f]) => f);
    expectRecords(FULL, await runAll(pins.prog, pins.stats, pins.ring, frames), frames);
  }, 30_000);

  test.skipIf(!Bun.which("tcpdump"))("human lines read as tcpdump -n prints the same frames, up to what only tcpdump decodes", async () => {
    const tcp = (flags: number, v6 = false) =>
      patched(v6 ? ipv6Frame({ src: "2001:db8::3", proto: "tcp", sport: 80, dport: 1025 }) : ipv4Frame({ src: "198.18.4.2", proto: "tcp", sport: 80, dport: 1025 }), ETH + (v6 ? 40 : 20) + 13, [flags]);
    const frames = [
      ipv4Frame({ src: "198.18.4.1", dst: "198.18.5.1", sport: 1234, dport: 4000 }),
      ...[0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x00, 0xc2].map((f) => tcp(f)),
      tcp(0x12, true),
      ipv4Frame({ src: "198.18.4.3", proto: "icmp" }),
      patched(ipv4Frame({ src: "198.18.4.3", proto: "icmp" }), ETH + 20, [0, 0]),
      patched(ipv6Frame({ src: "2001:db8::5", proto: 58, payload: 8 }), ETH + 40, [128, 0]),
      patched(ipv6Frame({ src: "2001:db8::5", proto: 58, payload: 8 }), ETH + 40, [129, 0]),
      ipv4Frame({ src: "198.18.4.4", vlans: [42], sport: 1, dport: 2 }),
      ipv6Frame({ src: "2001:db8::7", dst: "2001:db8:9::1", sport: 1000, dport: 2000 }),
    ];
    // A program of its own: its ring starts at slot 0.
    const own = pinsAt(join(root, "tcpdump"));
    let got: Awaited<ReturnType<typeof runAll>>;
    try {
      await loadPinned(own, { object: join(ROOT, "dist/bpf/xdpwatch.o"), config: { log: true, sources: false, block: false, srcFilter: false, sample: 1 } }, { cpus, shift: RING_SHIFT_MIN });
      got = await runAll(own.prog, own.stats, own.ring, frames);
    } finally {
      removePins(own);
    }
    expect(got.stats.outcome.logged).toBe(BigInt(frames.length));
    // The batch the reader would make of the page: first slot, then an IPv6 destination.
    const batch = new RecordBatch();
    batch.reset(frames.length, Date.now());
    const words = new Uint32Array(got.page.buffer, got.page.byteOffset, got.page.length / 4);
    for (let slot = 0; batch.count < frames.length; batch.count++) {
      const at = batch.count * BATCH_WORDS;
      batch.words.set(words.subarray(slot * 8, slot * 8 + 8), at);
      if (got.page[slot * RECORD.size + RECORD.family] === 6) {
        batch.words.set(words.subarray((slot + 1) * 8 + RECORD.addr / 4, (slot + 1) * 8 + RECORD.addr / 4 + 4), at + BATCH_DST6);
        slot += 2;
      } else slot++;
    }
    const encoder = new PacketEncoder("eth0", false);
    const out = new Uint8Array(frames.length * encoder.maxRecordBytes);
    const ours = new TextDecoder().decode(out.subarray(0, encoder.encode(batch, 0, batch.count, out, 0))).split("\n").slice(0, -1);
    const dir = mkdtempSync(join(tmpdir(), "xw-records-"));
    try {
      writeFileSync(join(dir, "f.pcap"), pcapFile(frames));
      const r = await sh(["tcpdump", "-n", "-r", join(dir, "f.pcap")]);
      const theirs = r.stdout.trim().split("\n").map((l) => l.replace(/^\S+ /, ""));
      // Ours, without the time and the VLAN tag tcpdump shows only with -e, up to the frame length tcpdump does not print there.
      const mine = ours.map((l) => l.replace(/^\S+ /, "").replace(/^vlan \d+ /, "").replace(/, length \d+$/, ""));
      expect(mine.map((m, i) => (theirs[i]!.startsWith(m) ? m : `${m}  ≠  ${theirs[i]}`))).toEqual(mine);
      expect(mine.filter((m) => m.includes("Flags ["))).toHaveLength(10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test("the reference logs the plain frames alike", async () => {
    const frames = PLAIN.map(([, f]) => f);
    expectRecords(PLAIN, await runAll(reference.prog, reference.stats, reference.ring, frames), frames);
  }, 30_000);

  test.each([0, 1].filter((cpu) => cpu < availableParallelism()))(
    "a lap and a half of CPU %i's ring, IPv6 records across page ends: every slot holds its position, every record is whole",
    async (cpu) => {
      const pages = 1 << RING_SHIFT_MIN;
      const dir = mkdtempSync(join(tmpdir(), "xw-records-"));
      try {
        // One IPv4 record first: the two-slot IPv6 records then start at odd positions, one at each page's last slot.
        writeFileSync(join(dir, "v4"), ipv4Frame({ src: "198.18.4.1" }));
        writeFileSync(join(dir, "v6"), ipv6Frame({ src: "2001:db8::1", dst: "2001:db8::2" }));
        const lookups = Array.from({ length: pages }, (_, p) => `map lookup pinned ${pins.ring} key ${hexKey((cpu << RING_SHIFT_MIN) + p)}`);
        // Earlier tests may have left the head even or odd: one or two IPv4 records make it odd.
        const now = await sh(["bpftool", "map", "lookup", "pinned", pins.stats, "key", "hex", "00", "00", "00", "00"]);
        const even = Number(decodeStats(parseMapEntries(now.stdout).at(0)!.values[cpu]!).ringHead) % 2 === 0;
        const lines = [
          `map lookup pinned ${pins.stats} key hex 00 00 00 00`,
          `prog run pinned ${pins.prog} data_in ${join(dir, "v4")} repeat ${even ? 1 : 2}`,
          `prog run pinned ${pins.prog} data_in ${join(dir, "v6")} repeat ${(pages * PAGE_RECORDS * 1.5) / 2}`,
          `map lookup pinned ${pins.stats} key hex 00 00 00 00`,
          ...lookups,
        ];
        const r = await sh(["taskset", "-c", String(cpu), "bpftool", "batch", "file", "-"], `${lines.join("\n")}\n`);
        if (r.code !== 0) throw new Error(r.stderr);
        // The ring may hold earlier tests' records: what this test added is measured from the counters before.
        const [before, stats] = parseMapEntries(r.stdout.slice(r.stdout.indexOf("key:"))).map((e) => decodeStats(e.values[cpu]!));
        const base = Number(before!.ringHead);
        const head = Number(stats!.ringHead);
        const got = ringPages(r.stdout);
        const pageOf = (pos: number) => got.get((cpu << RING_SHIFT_MIN) + (Math.floor(pos / PAGE_RECORDS) & (pages - 1)))!;
        const wrong: string[] = [];
        let lastSlots = 0;
        // IPv6 records start at odd positions; the oldest slot a lap back was rewritten by the newest record's tail.
        const first = head - pages * PAGE_RECORDS + 1 + ((head - pages * PAGE_RECORDS + 1) % 2 === 0 ? 1 : 0);
        for (let pos = first; pos < head; pos += 2) {
          const page = pageOf(pos);
          const rec = decodeRecord(page, (pos % PAGE_RECORDS) * RECORD.size);
          if (rec?.seq !== pos || addrText(rec.dst) !== "2001:db8::2") wrong.push(`${pos}: ${JSON.stringify(rec?.seq)}`);
          if (pos % PAGE_RECORDS === PAGE_RECORDS - 1) {
            lastSlots++;
            const tail = new DataView(page.buffer, page.byteOffset + PAGE_RECORDS * RECORD.size, RECORD.size);
            if (tail.getUint32(RECORD.seq, true) !== pos + 1 || tail.getUint8(RECORD.family) !== FAMILY_IPV6_TAIL) wrong.push(`spare slot after ${pos}`);
          }
        }
        const v4 = even ? 1 : 2;
        expect(Number(stats!.outcome.logged - before!.outcome.logged)).toBe(v4 + (pages * PAGE_RECORDS * 1.5) / 2);
        expect(head - base).toBe(v4 + pages * PAGE_RECORDS * 1.5);
        expect(lastSlots).toBe(pages);
        expect(wrong.slice(0, 5)).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    30_000,
  );

  test.skipIf(availableParallelism() < 2)("a CPU without a ring: no_ring for what would be logged, every other outcome as usual", async () => {
    // A ring sized for CPU 0 alone: CPU 1 writes past it (into the flush page) for its first
    // page of records, then finds no slot.
    const small = pinsAt(join(root, "small"));
    try {
      await loadPinned(small, { object: join(ROOT, "dist/bpf/xdpwatch.o"), config: { log: true, sources: false, block: false, srcFilter: false, sample: 1 } }, { cpus: 1, shift: RING_SHIFT_MIN });
      const dir = mkdtempSync(join(tmpdir(), "xw-records-"));
      try {
        const frames = { udp: ipv4Frame({ src: "198.18.4.1" }), arp: arpFrame(), cut: v4.slice(0, ETH + 12) };
        for (const [name, f] of Object.entries(frames)) writeFileSync(join(dir, name), f);
        const stats = `map lookup pinned ${small.stats} key hex 00 00 00 00`;
        // More than the one page CPU 1 finds room for, however large pages are.
        const repeat = 2 * PAGE_RECORDS + 10;
        const lines = [`prog run pinned ${small.prog} data_in ${join(dir, "udp")} repeat ${repeat}`, stats];
        for (const name of ["udp", "arp", "cut"]) lines.push(`prog run pinned ${small.prog} data_in ${join(dir, name)} repeat 1`, stats);
        const r = await sh(["taskset", "-c", "1", "bpftool", "batch", "file", "-"], `${lines.join("\n")}\n`);
        if (r.code !== 0) throw new Error(r.stderr);
        const counters = parseMapEntries(r.stdout).map((e) => decodeStats(e.values[1]!));
        const moved = counters.slice(1).map((after, i) => OUTCOMES.filter((o) => after.outcome[o] !== counters[i]!.outcome[o]));
        expect(Number(counters[0]!.outcome.logged) + Number(counters[0]!.outcome.no_ring)).toBe(repeat);
        expect(counters[0]!.outcome.no_ring).toBeGreaterThan(0n);
        expect(moved).toEqual([["no_ring"], ["not_ip"], ["malformed"]]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } finally {
      removePins(small);
    }
  }, 30_000);

  test("bpf/minimal.c sizes its ring as the bench expects", () => {
    const source = readFileSync(join(ROOT, "bpf/minimal.c"), "utf8");
    expect(Number(/#define MINIMAL_RING_SHIFT (\d+)/.exec(source)?.[1])).toBe(REFERENCE_RING_SHIFT);
  });
});
