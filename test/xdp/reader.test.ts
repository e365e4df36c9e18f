import { describe, expect, test } from "bun:test";
import { PAGE_RECORDS } from "../../src/bpf/layout";
import { lapMargin, Reader, REQUEST_PAGES } from "../../src/xdp/reader";
import type { Ring } from "../../src/xdp/program";
import { dest6Of, FakeBpftool, PINS, source6Of, sourceOf } from "./fake-bpftool";

const RING: Ring = { cpus: 2, shift: 5 };
const RING_RECORDS = PAGE_RECORDS << RING.shift;

function setup(ring = RING) {
  const bpftool = new FakeBpftool(ring);
  return { bpftool, reader: new Reader(PINS, ring, bpftool) };
}

interface Seen {
  cpu: number;
  src: string;
  dst: string;
  family: number;
  seq: number;
}

/** Polls until nothing is left, as watch does at the end; every record printed, by CPU. */
async function drain(reader: Reader) {
  const seen: Seen[] = [];
  do {
    const { records } = await reader.poll();
    for (let i = 0; i < records.count; i++) {
      const p = records.packet(i);
      seen.push({ cpu: p.cpu, src: p.addr.join("."), dst: p.dst.join("."), family: p.family, seq: p.seq });
    }
  } while (reader.backlog > 0);
  return seen;
}

/** Printed records are exactly the kernel's: addresses and sequence agree with the position. */
function expectGenuine(seen: Seen[]) {
  for (const r of seen) {
    if (r.family === 4) expect([r.src, r.dst]).toEqual([sourceOf(r.cpu, r.seq), "198.18.0.254"]);
    else expect([r.src, r.dst]).toEqual([source6Of(r.cpu, r.seq).join("."), dest6Of(r.cpu, r.seq).join(".")]);
  }
}

const pageLookups = (lines: string[]) => lines.filter((l) => l.includes(PINS.ring)).length;

describe("Reader on canned bpftool answers", () => {
  test("reads every record once, in order, from each CPU's ring", async () => {
    const { bpftool, reader } = setup();
    bpftool.write(0, 300);
    bpftool.write(1, 5);
    const seen = await drain(reader);
    expect(seen.filter((r) => r.cpu === 0).map((r) => r.seq)).toEqual([...Array(300).keys()]);
    expect(seen.filter((r) => r.cpu === 1).map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
    expectGenuine(seen);
    expect([reader.logged, reader.overwritten]).toEqual([305, 0]);
    // Heads first, then CPU 0's pages and CPU 1's one page, with the heads again at the end.
    expect(bpftool.requests.map((r) => [pageLookups(r), r.at(-1) === bpftool.requests[0]![0]])).toEqual([
      [0, true],
      [Math.ceil(300 / PAGE_RECORDS) + 1, true],
    ]);
  });

  test("an idle poll is one lookup of the counters", async () => {
    const { bpftool, reader } = setup();
    const { records, stats } = await reader.poll();
    expect(records.count).toBe(0);
    expect(stats.seen).toBe(0n);
    expect(bpftool.requests).toEqual([[`map lookup pinned ${PINS.stats} key hex 00 00 00 00`]]);
  });

  test("goes on where it left off, across the ring's wrap", async () => {
    const { bpftool, reader } = setup();
    bpftool.write(0, RING_RECORDS - 10);
    await drain(reader);
    bpftool.write(0, 50);
    const seen = await drain(reader);
    expect(seen.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => RING_RECORDS - 10 + i));
    expectGenuine(seen);
    expect([reader.logged, reader.overwritten]).toEqual([RING_RECORDS + 40, 0]);
  });

  test("a lapped ring: what was overwritten is counted lost without being fetched", async () => {
    const { bpftool, reader } = setup();
    bpftool.write(0, 3 * RING_RECORDS + 7);
    const seen = await drain(reader);
    const head = 3 * RING_RECORDS + 7;
    // The ring's worth that is still there is read (but for the two slots the kernel may write next), nothing older is asked for.
    expect(seen.map((r) => r.seq)).toEqual(Array.from({ length: RING_RECORDS - 2 }, (_, i) => head - RING_RECORDS + 2 + i));
    expect(pageLookups(bpftool.requests.at(-1)!)).toBe(RING_RECORDS / PAGE_RECORDS);
    expectGenuine(seen);
    expect([reader.logged, reader.overwritten]).toEqual([RING_RECORDS - 2, head - RING_RECORDS + 2]);
  });

  test("a ring that fills fast is read from where the writer will not reach first", async () => {
    const { bpftool, reader } = setup({ cpus: 1, shift: 5 });
    bpftool.write(0, 10);
    await drain(reader);
    // A rate is known now; the next poll finds the ring lapped, and the writer still writing
    // (between the reader's two reads of the counters), so it skips ahead of the writer.
    await Bun.sleep(5);
    bpftool.write(0, 2 * RING_RECORDS);
    let reads = 0;
    bpftool.onLine = (line) => {
      if (line.includes(PINS.stats) && reads++ < 2) bpftool.write(0, RING_RECORDS / 4);
    };
    const seen = await drain(reader);
    const head = 10 + 2.5 * RING_RECORDS;
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.length).toBeLessThan(RING_RECORDS);
    expect(seen.map((r) => r.seq)).toEqual(Array.from({ length: seen.length }, (_, i) => head - seen.length + i));
    expect(pageLookups(bpftool.requests.at(-1)!)).toBeLessThan(RING_RECORDS / PAGE_RECORDS);
    expectGenuine(seen);
    expect(reader.logged + reader.overwritten).toBe(bpftool.records[0]!);
  });

  test("a ring lapped by traffic that has stopped is read whole: nothing is passed over for a rate no longer true", async () => {
    const { bpftool, reader } = setup({ cpus: 1, shift: 5 });
    bpftool.write(0, 10);
    await drain(reader);
    // The last rate says the ring is being lapped fast; measured again, it is nothing.
    await Bun.sleep(10);
    bpftool.write(0, 2 * RING_RECORDS);
    const seen = await drain(reader);
    const head = 10 + 2 * RING_RECORDS;
    expect(seen.map((r) => r.seq)).toEqual(Array.from({ length: RING_RECORDS - 2 }, (_, i) => head - RING_RECORDS + 2 + i));
    expect(reader.logged + reader.overwritten).toBe(bpftool.records[0]!);
  });

  test("a reader held up with records waiting reads the heads again before passing any over", async () => {
    const { bpftool, reader } = setup({ cpus: 1, shift: RING.shift });
    bpftool.write(0, 1000);
    // 3,000 more come while the first poll is answered: its heads show them, at a high rate.
    let once = true;
    bpftool.onLine = (line) => {
      if (line.includes(PINS.stats) && bpftool.requests.length === 2 && once) {
        once = false;
        bpftool.write(0, 3000);
      }
    };
    await reader.poll();
    expect(reader.backlog).toBe(3000);
    // The printer stalls (a slow stdout); the traffic has stopped meanwhile.
    await Bun.sleep(100);
    const seen = await drain(reader);
    expect(reader.logged).toBe(4000);
    expect(reader.overwritten).toBe(0);
    expect(seen.at(-1)?.seq).toBe(3999);
  });

  test("records the kernel overwrites while bpftool reads are lost, never printed", async () => {
    const { bpftool, reader } = setup({ cpus: 1, shift: 5 });
    bpftool.write(0, RING_RECORDS);
    // Before each page is printed, the kernel writes another half page: the oldest pages
    // are rewritten before bpftool gets to them.
    bpftool.onLine = (line) => {
      if (line.includes(PINS.ring)) bpftool.write(0, PAGE_RECORDS / 2);
    };
    const first = await reader.poll();
    bpftool.onLine = () => undefined;
    const seen: Seen[] = [...Array(first.records.count).keys()].map((i) => first.records.packet(i)).map((p) => ({ cpu: p.cpu, src: p.addr.join("."), dst: p.dst.join("."), family: p.family, seq: p.seq }));
    seen.push(...(await drain(reader)));
    expectGenuine(seen);
    expect(new Set(seen.map((r) => r.seq)).size).toBe(seen.length);
    expect(reader.logged).toBe(seen.length);
    expect(reader.overwritten).toBeGreaterThan(0);
    expect(reader.logged + reader.overwritten).toBe(bpftool.records[0]!);
  });

  test("a slot whose sequence number is not the expected one is lost", async () => {
    const { bpftool, reader } = setup({ cpus: 1, shift: 5 });
    bpftool.write(0, 10);
    bpftool.corrupt(0, 4);
    const seen = await drain(reader);
    expect(seen.map((r) => r.seq)).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9]);
    expect([reader.logged, reader.overwritten]).toEqual([9, 1]);
  });

  test("IPv6 records take two slots, one across each page's end into its spare slot; lost and logged count records", async () => {
    const { bpftool, reader } = setup({ cpus: 1, shift: 5 });
    bpftool.write(0, 1);
    bpftool.write(0, 300, 6);
    bpftool.write(0, 5);
    const seen = await drain(reader);
    expect(seen.map((r) => r.seq)).toEqual([0, ...Array.from({ length: 300 }, (_, i) => 1 + 2 * i), ...[601, 602, 603, 604, 605]]);
    expect(seen.filter((r) => r.family === 6).length).toBe(300);
    expectGenuine(seen);
    expect([reader.logged, reader.overwritten]).toEqual([306, 0]);
  });

  test("an IPv6 record whose second slot was rewritten is lost whole, and counts one", async () => {
    const { bpftool, reader } = setup({ cpus: 1, shift: 5 });
    bpftool.write(0, 10, 6);
    bpftool.corrupt(0, 7, true); // the tail of the record at slot 6
    bpftool.corrupt(0, 12); // the head of the record at slot 12
    const seen = await drain(reader);
    expect(seen.map((r) => r.seq)).toEqual([0, 2, 4, 8, 10, 14, 16, 18]);
    expectGenuine(seen);
    expect([reader.logged, reader.overwritten]).toEqual([8, 2]);
  });

  test("a lapped ring of IPv6 and IPv4 records: every record printed is whole and genuine, logged + lost = records written", async () => {
    const { bpftool, reader } = setup({ cpus: 1, shift: RING.shift });
    // Five slots for every three records: a lap and a quarter.
    for (let i = 0; i < RING_RECORDS * 0.75; i++) bpftool.write(0, 1, i % 3 === 0 ? 4 : 6);
    const seen = await drain(reader);
    expectGenuine(seen);
    expect(seen.length).toBeGreaterThan(RING_RECORDS / 2 - 10);
    expect(reader.logged).toBe(seen.length);
    expect(reader.logged + reader.overwritten).toBe(bpftool.records[0]!);
    expect(reader.overwritten).toBeGreaterThan(0);
  });

  test("a backlog larger than one request is read in bounded requests, one round trip each", async () => {
    const { bpftool, reader } = setup({ cpus: 1, shift: 10 });
    bpftool.write(0, (2 * REQUEST_PAGES + 10) * PAGE_RECORDS);
    expect((await reader.poll()).records.count).toBe(REQUEST_PAGES * PAGE_RECORDS);
    expect(reader.backlog).toBe((REQUEST_PAGES + 10) * PAGE_RECORDS);
    expect(reader.pollDelay(50)).toBe(0);
    expect((await reader.poll()).records.count).toBe(REQUEST_PAGES * PAGE_RECORDS);
    expect((await reader.poll()).records.count).toBe(10 * PAGE_RECORDS);
    // Heads, then pages + heads three times: each poll took the heads the one before brought.
    expect(bpftool.requests.map(pageLookups)).toEqual([0, REQUEST_PAGES, REQUEST_PAGES, 10]);
    expect(reader.backlog).toBe(0);
    expect(reader.pollDelay(50)).toBe(50);
  });

  test("an idle reader polls less often, as long as its ring holds a burst, and at once again when records come", async () => {
    const big = setup({ cpus: 1, shift: 8 });
    for (let i = 0; i < 4; i++) await big.reader.poll();
    expect(big.reader.pollDelay(50)).toBe(50);
    expect(big.reader.pollDelay(50, 200)).toBe(200);
    big.bpftool.write(0, 10);
    await big.reader.poll();
    expect(big.reader.pollDelay(50, 200)).toBeLessThanOrEqual(50);
    // A ring of 4,096 records fills in 6 ms at 650 kpps: no longer than the busy interval.
    const small = setup({ cpus: 1, shift: 3 });
    for (let i = 0; i < 4; i++) await small.reader.poll();
    expect(small.reader.pollDelay(50, 200)).toBe(50);
  });

  test("busy CPUs share a request", async () => {
    const { bpftool, reader } = setup({ cpus: 2, shift: 10 });
    bpftool.write(0, REQUEST_PAGES * PAGE_RECORDS);
    bpftool.write(1, REQUEST_PAGES * PAGE_RECORDS);
    const { records } = await reader.poll();
    const perCpu = [0, 0];
    for (let i = 0; i < records.count; i++) perCpu[records.cpus[i]!]!++;
    expect(perCpu).toEqual([(REQUEST_PAGES / 2) * PAGE_RECORDS, (REQUEST_PAGES / 2) * PAGE_RECORDS]);
  });

  test("bpftool answering fewer pages than asked fails the poll", async () => {
    const { bpftool, reader } = setup();
    bpftool.write(0, 10);
    bpftool.dropPages = true;
    await expect(reader.poll()).rejects.toThrow(/answered 0 of 1 page lookups/);
  });
});

describe("lapMargin: how much of a lapped ring is passed over", () => {
  const ring = PAGE_RECORDS << 8;
  const at = { rate: 200, ageMs: 0, pages: REQUEST_PAGES, pageMs: 0.05, ringRecords: ring };
  test.each([
    ["nothing while the kernel writes nothing", { ...at, rate: 0 }, 0],
    ["a page, and what is written while the heads age and the request travels", { ...at, ageMs: 4 }, PAGE_RECORDS + 200 * 5],
    ["and what the kernel writes beyond the request while a slow bpftool reads it", { ...at, pageMs: 4 }, PAGE_RECORDS + 200 + (200 * REQUEST_PAGES * 4 - REQUEST_PAGES * PAGE_RECORDS)],
    ["that at most a request's worth, however slow bpftool is", { ...at, pageMs: 100 }, PAGE_RECORDS + 200 + REQUEST_PAGES * PAGE_RECORDS],
    ["never the whole ring", { ...at, rate: 1e6 }, ring - PAGE_RECORDS],
  ])("%s", (_, args, expected) => {
    expect(lapMargin(args)).toBe(expected);
  });
});
