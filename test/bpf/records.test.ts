/**
 * What lands in the ring: frames run through the real programs in the kernel
 * (bpftool prog run, on CPU 0), then the CPU's first ring page read back and
 * decoded. The program writes each field straight from the frame into the
 * slot while it parses, and frames that are not logged scribble on the next
 * slot without taking it: every logged record must still be whole and right.
 * The reference program (bpf/minimal.c) must log the plain frames the same.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import ipaddr from "ipaddr.js";
import { REFERENCE_RING_SHIFT } from "../../src/bench/cases";
import { withMaxEntries } from "../../src/bpf/elf";
import { decodeRecord, decodeStats, OUTCOMES, PAGE_SIZE, RECORD, sumStats, type Stats } from "../../src/bpf/layout";
import { parseMapEntries, parseWordPages, updateMap } from "../../src/tools/bpftool";
import { loadPinned, possibleCpus, RING_SHIFT_MIN } from "../../src/xdp/program";
import { BENCH_ROOT, pinsAt, removeIfEmpty, removePins, type Pins } from "../../src/xdp/pins";
import { arpFrame, ipv4Frame, ipv6Frame } from "../support/frames";
import { ETH, v4 } from "../support/corpus";
import { kernelReady, ROOT, sh } from "../support/kernel";

interface Want {
  src: string;
  proto: number;
  sport: number;
  dport: number;
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

/** Plain frames, which the reference handles too. */
const PLAIN: Case[] = [
  ["IPv4 UDP", ipv4Frame({ src: "198.18.4.1", sport: 1234, dport: 53 }), { src: "198.18.4.1", proto: 17, sport: 1234, dport: 53 }],
  ["IPv4 TCP", ipv4Frame({ src: "198.18.4.2", proto: "tcp", sport: 443, dport: 50000 }), { src: "198.18.4.2", proto: 6, sport: 443, dport: 50000 }],
  ["IPv6 UDP", ipv6Frame({ src: "2001:db8::7", sport: 5353, dport: 5353 }), { src: "2001:db8::7", proto: 17, sport: 5353, dport: 5353 }],
  ["ARP", arpFrame(), undefined],
  // Scribbles a 16-byte address into the next slot, then is not logged.
  ["IPv6 UDP header cut short", ipv6Frame({ src: "2001:db8::bad" }).slice(0, ETH + 40 + 4), undefined],
  ["IPv4 ICMP", ipv4Frame({ src: "198.18.4.3", proto: "icmp" }), { src: "198.18.4.3", proto: 1, sport: 0, dport: 0 }],
  ["IPv6 TCP", ipv6Frame({ src: "2001:db8:1::1", proto: "tcp", sport: 22, dport: 60000 }), { src: "2001:db8:1::1", proto: 6, sport: 22, dport: 60000 }],
];

/** What only xdpwatch parses. */
const FULL: Case[] = [
  ...PLAIN,
  ["802.1Q IPv4 UDP", ipv4Frame({ src: "198.18.4.4", vlans: [42], sport: 1, dport: 2 }), { src: "198.18.4.4", proto: 17, sport: 1, dport: 2, vlan: 42 }],
  ["IPv4 TCP header cut short", ipv4Frame({ src: "198.18.4.5", proto: "tcp" }).slice(0, ETH + 20 + 10), undefined],
  ["QinQ IPv6 TCP", ipv6Frame({ src: "2001:db8::42", vlans: [100, 200], proto: "tcp", sport: 80, dport: 8080 }), { src: "2001:db8::42", proto: 6, sport: 80, dport: 8080, vlan: 100 }],
  ["IPv4 non-first fragment", fragment, { src: "198.18.4.9", proto: 17, sport: 0, dport: 0 }],
  ["IPv4 version 6", Uint8Array.from(v4, (b, i) => (i === ETH ? 0x65 : b)), undefined],
  ["IPv4 with options (IHL 6)", withOptions, { src: "198.18.4.5", proto: 17, sport: 40000, dport: 53 }],
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
  const actual = logged.map(({ name }, seq) => {
    const r = decodeRecord(got.page, seq * RECORD.size);
    // An IPv4 address fills addr[0]; the layout promises zeros after it.
    const rest = r?.family === 4 ? [...got.page.slice(seq * RECORD.size + 4, seq * RECORD.size + 16)] : [];
    return r && { name, family: r.family as number, src: addrText(r.addr), rest, len: r.len, proto: r.proto, sport: r.sport, dport: r.dport, vlan: r.vlan, seq: r.seq };
  });
  const wanted = logged.map(({ name, want, len }, seq) => {
    const addr = ipaddr.parse(want.src);
    const rest = addr.kind() === "ipv4" ? new Array<number>(12).fill(0) : [];
    return { name, family: addr.kind() === "ipv4" ? 4 : 6, src: addr.toString(), rest, len, proto: want.proto, sport: want.sport, dport: want.dport, vlan: want.vlan ?? 0, seq };
  });
  expect(actual).toEqual(wanted);
  // The slot after the last record may hold a frame's scribbles, never its position.
  expect(decodeRecord(got.page, logged.length * RECORD.size)?.seq).not.toBe(logged.length);
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

  test("the reference logs the plain frames alike", async () => {
    const frames = PLAIN.map(([, f]) => f);
    expectRecords(PLAIN, await runAll(reference.prog, reference.stats, reference.ring, frames), frames);
  }, 30_000);

  test.each([0, 1].filter((cpu) => cpu < availableParallelism()))(
    "a lap and a half of CPU %i's ring: every slot holds the record of its position",
    async (cpu) => {
      const pages = 1 << RING_SHIFT_MIN;
      const frame = join(mkdtempSync(join(tmpdir(), "xw-records-")), "udp.bin");
      try {
        writeFileSync(frame, ipv4Frame({ src: "198.18.4.1" }));
        const lookups = Array.from({ length: pages }, (_, p) => `map lookup pinned ${pins.ring} key ${hexKey((cpu << RING_SHIFT_MIN) + p)}`);
        const lines = [`prog run pinned ${pins.prog} data_in ${frame} repeat ${pages * 128 * 1.5}`, `map lookup pinned ${pins.stats} key hex 00 00 00 00`, ...lookups];
        const r = await sh(["taskset", "-c", String(cpu), "bpftool", "batch", "file", "-"], `${lines.join("\n")}\n`);
        if (r.code !== 0) throw new Error(r.stderr);
        const head = Number(decodeStats(parseMapEntries(r.stdout.slice(r.stdout.indexOf("key:"))).at(0)!.values[cpu]!).outcome.logged);
        const got = ringPages(r.stdout);
        const wrong: string[] = [];
        for (let pos = head - pages * 128; pos < head; pos++) {
          const page = got.get((cpu << RING_SHIFT_MIN) + ((pos >> 7) & (pages - 1)));
          const seq = page && decodeRecord(page, (pos & 127) * RECORD.size)?.seq;
          if (seq !== pos) wrong.push(`${pos}: ${seq}`);
        }
        expect(head).toBeGreaterThanOrEqual(pages * 128 * 1.5);
        expect(wrong.slice(0, 5)).toEqual([]);
      } finally {
        rmSync(dirname(frame), { recursive: true, force: true });
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
        const lines = [`prog run pinned ${small.prog} data_in ${join(dir, "udp")} repeat 200`, stats];
        for (const name of ["udp", "arp", "cut"]) lines.push(`prog run pinned ${small.prog} data_in ${join(dir, name)} repeat 1`, stats);
        const r = await sh(["taskset", "-c", "1", "bpftool", "batch", "file", "-"], `${lines.join("\n")}\n`);
        if (r.code !== 0) throw new Error(r.stderr);
        const counters = parseMapEntries(r.stdout).map((e) => decodeStats(e.values[1]!));
        const moved = counters.slice(1).map((after, i) => OUTCOMES.filter((o) => after.outcome[o] !== counters[i]!.outcome[o]));
        expect(Number(counters[0]!.outcome.logged) + Number(counters[0]!.outcome.no_ring)).toBe(200);
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
