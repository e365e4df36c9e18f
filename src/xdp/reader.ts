/**
 * Reads the program's counters and per-CPU log rings through one bpftool
 * co-process. Each poll: the heads (the counters of the poll before, when they
 * showed records still unread), then the pages that hold new records and the
 * heads again, in one request. A record takes one slot (IPv4) or two (IPv6).
 * A record whose slots the kernel may have rewritten during the copy (no
 * longer within one ring of the new head) or whose sequence numbers are not
 * the expected ones is lost, never printed: what is printed is exact, and
 * lost is what the kernel counted as logged minus what was printed, per CPU,
 * once the reader has caught up with that CPU's head (records, not slots).
 */
import { decodeStats, PAGE_RECORDS, PAGE_SLOTS, RECORD_WORDS, sumStats, type Stats } from "../bpf/layout";
import { XwError } from "../errors";
import { dumpLine, lookupLine } from "../tools/bpftool";
import { asBuffer, lastHexEntry, parseMapEntries, parseWordPages, type MapEntry } from "../tools/bpftool-output";
import { BpftoolBatch, type BatchTransport } from "../tools/bpftool-batch";
import type { Pins } from "./pins";
import { copySpan, RecordBatch, type Span } from "./batch";
import { flushPage, type Ring } from "./program";

export interface Poll {
  records: RecordBatch;
  /** Counters summed over CPUs, read after the pages. */
  stats: Stats;
}

/**
 * Pages fetched in one request at most: a bounded answer (about 1.8 MB of
 * bpftool text) whose records are printed before the next is asked for, and a
 * fresh head for each.
 */
export const REQUEST_PAGES = 64;
/** A rate measured over a longer time, or heads older, are read again before records are passed over for them. */
const FRESH_MS = 5;
/** Polls in a row that find nothing before the reader polls at its idle interval. */
const IDLE_POLLS = 4;
/** Records a ms a CPU may start to log while the reader is idle, for its ring to hold until the next poll: 650 kpps. */
const IDLE_BURST = 650;
/** Requests of fewer pages do not measure bpftool's reading speed. */
const PAGE_MS_FROM = 32;

/**
 * Records past the oldest slot of a lapped ring that the kernel will have
 * rewritten before bpftool has read them, at `rate` records a ms: while the
 * heads age and the request travels, and, when bpftool reads `pages` pages
 * slower than the kernel fills them, while it reads: that at most a request's
 * worth, since traffic that stops meanwhile leaves the records passed over
 * intact (bpftool is slowest when starved of CPU, and the rate least sure
 * then). Never the whole ring.
 */
export function lapMargin(at: { rate: number; ageMs: number; pages: number; pageMs: number; ringRecords: number }): number {
  if (at.rate <= 0) return 0;
  const whileReading = Math.min(at.pages * PAGE_RECORDS, Math.max(0, at.rate * at.pages * at.pageMs - at.pages * PAGE_RECORDS));
  const ahead = at.rate * (at.ageMs + 1) + whileReading;
  return Math.min(PAGE_RECORDS + Math.ceil(ahead), at.ringRecords - PAGE_RECORDS);
}

export class Reader {
  private readonly batch: BatchTransport;
  private readonly consumed: number[];
  private readonly statsLine: string;
  /** Records read from the rings and returned. */
  logged = 0;
  private readonly loggedBy: number[];
  /** Per CPU, records the kernel wrote that were overwritten before they could be read, as of the last time the reader caught up. */
  private readonly lostBy: number[];
  /** Slots each CPU's ring holds (an IPv4 record takes one, an IPv6 record two). */
  readonly ringRecords: number;
  private readonly pagesPerCpu: number;
  /** Heads of the last counters read, while they showed records not yet read; when they were read. */
  private heads?: number[];
  private headsAt = 0;
  /** Records per ms each CPU wrote, between the last two head reads; how far apart those were. */
  private readonly rates: number[];
  private rateSpanMs = 0;
  /** Wall ms bpftool took per page in the last request that fetched pages. */
  private pageMs = 0;
  private pages = new Uint32Array(0);
  /** The lookup line of each ring page, made once. */
  private readonly pageLines: string[] = [];
  private readonly records = new RecordBatch();
  /** Polls in a row that found no new record. */
  private idlePolls = 0;

  constructor(
    private readonly pins: Pins,
    private readonly ring: Ring,
    transport?: BatchTransport,
  ) {
    this.consumed = new Array<number>(ring.cpus).fill(0);
    this.loggedBy = new Array<number>(ring.cpus).fill(0);
    this.lostBy = new Array<number>(ring.cpus).fill(0);
    this.rates = new Array<number>(ring.cpus).fill(0);
    this.pagesPerCpu = 1 << ring.shift;
    this.ringRecords = PAGE_RECORDS << ring.shift;
    const flush = flushPage(ring);
    this.batch = transport ?? new BpftoolBatch({ command: lookupLine(pins.ring, flush), marker: `"key": ${flush},\n` });
    this.statsLine = lookupLine(pins.stats, 0);
  }

  /** Records the kernel wrote that were overwritten before they could be read (exact once the reader has caught up). */
  get overwritten(): number {
    return this.lostBy.reduce((a, b) => a + b, 0);
  }

  /** Slots the last counters showed written and not yet read or passed over. */
  get backlog(): number {
    if (!this.heads) return 0;
    return this.heads.reduce((sum, head, cpu) => sum + Math.max(0, head - (this.consumed[cpu] ?? head)), 0);
  }

  /**
   * How long the next poll may wait: not at all while a full request's worth
   * is waiting, else until the fullest ring would be half full at the rate it
   * fills, at most `busyMs`; once IDLE_POLLS polls in a row found nothing, as
   * long as the ring holds a burst of IDLE_BURST a CPU, up to `idleMs` (each
   * poll costs CPU whether or not there is anything to read).
   */
  pollDelay(busyMs: number, idleMs = busyMs): number {
    if (this.backlog >= REQUEST_PAGES * PAGE_RECORDS) return 0;
    if (this.idlePolls >= IDLE_POLLS) return Math.max(busyMs, Math.min(idleMs, this.ringRecords / IDLE_BURST));
    let ms = busyMs;
    this.heads?.forEach((head, cpu) => {
      const rate = this.rates[cpu]!;
      if (rate > 0) ms = Math.min(ms, (this.ringRecords / 2 - (head - this.consumed[cpu]!)) / rate);
    });
    return Math.max(0, ms);
  }

  async readStats(): Promise<{ perCpu: Stats[]; total: Stats }> {
    const perCpu = this.decodeStatsEntry(lastHexEntry(await this.batch.request([this.statsLine])));
    return { perCpu, total: sumStats(perCpu) };
  }

  private decodeStatsEntry(entry: MapEntry | undefined): Stats[] {
    if (!entry || entry.values.length === 0) throw new XwError("bpftool returned no counters");
    return entry.values.map(decodeStats);
  }

  private noteHeads(perCpu: Stats[], at: number): number[] {
    const heads = perCpu.slice(0, this.ring.cpus).map((s) => Number(s.ringHead));
    if (this.heads && at > this.headsAt) {
      heads.forEach((h, cpu) => (this.rates[cpu] = (h - this.heads![cpu]!) / (at - this.headsAt)));
      this.rateSpanMs = at - this.headsAt;
    }
    this.heads = heads;
    this.headsAt = at;
    return heads;
  }

  /** Whether planning now would pass over records of some CPU, its ring lapped or about to be at its rate. */
  private passesOver(now: number): boolean {
    return this.heads?.some((head, cpu) => head - this.ringRecords + 2 + this.lapMargin(cpu, REQUEST_PAGES, now) > this.consumed[cpu]!) ?? false;
  }

  /**
   * Where the reader has passed a CPU's head, every record the kernel counted
   * there was printed or lost: lost is the difference (records, however many
   * slots each took). Counters and head come from one copy of the CPU's value.
   */
  private settle(perCpu: Stats[]): void {
    this.heads?.forEach((head, cpu) => {
      if (this.consumed[cpu]! >= head) this.lostBy[cpu] = Number(perCpu[cpu]!.outcome.logged) - this.loggedBy[cpu]!;
    });
  }

  /**
   * The spans to read now, oldest first, at most REQUEST_PAGES pages in all.
   * Where the ring was lapped, or will be before bpftool gets there, reading
   * starts past what the kernel will have rewritten by then (lost without
   * fetching it). The kernel writing at the head may touch the slot after it
   * too (an IPv6 record's tail): the oldest safe slot is head - ring + 2.
   */
  private plan(heads: number[], now: number): Span[] {
    const pending = heads.map((head, cpu) => ({ cpu, head, from: this.consumed[cpu]! })).filter((p) => p.head > p.from);
    const spans: Span[] = [];
    let budget = REQUEST_PAGES;
    pending.forEach((p, i) => {
      const share = Math.max(1, Math.floor(budget / (pending.length - i)));
      const from = Math.max(p.from, p.head - this.ringRecords + 2 + this.lapMargin(p.cpu, share, now));
      this.consumed[p.cpu] = from;
      const first = Math.floor(from / PAGE_RECORDS);
      const last = Math.min(Math.ceil(p.head / PAGE_RECORDS), first + share);
      const to = Math.min(p.head, last * PAGE_RECORDS);
      if (last <= first || budget <= 0) return;
      spans.push({ cpu: p.cpu, from, to });
      budget -= last - first;
    });
    return spans;
  }

  /** lapMargin() for a CPU, from the reader's latest heads, rate and bpftool speed. */
  private lapMargin(cpu: number, pages: number, now: number): number {
    return lapMargin({ rate: this.rates[cpu]!, ageMs: now - this.headsAt, pages, pageMs: this.pageMs, ringRecords: this.ringRecords });
  }

  async poll(): Promise<Poll> {
    // Heads the last answer brought are fresh enough while records are waiting: one round trip a poll.
    let before: Stats[] | undefined;
    const readHeads = async () => {
      before = (await this.readStats()).perCpu;
      this.noteHeads(before, performance.now());
      this.settle(before);
    };
    if (!this.heads || this.backlog === 0) await readHeads();
    // How much of a lapped ring to pass over rests on the rate the kernel writes at, and on how far it
    // has written since the heads were read. A rate taken across a gap, or heads that aged while the
    // reader was held up (starved of CPU, a slow stdout), may speak of traffic that has stopped since:
    // they are read again, over one round trip, rather than pass over records that will not be rewritten.
    const now = performance.now();
    if ((this.rateSpanMs > FRESH_MS || now - this.headsAt > FRESH_MS) && this.passesOver(now)) await readHeads();
    const spans = this.plan(this.heads!, performance.now());
    const ts = Date.now();
    // Nothing new: the counters just read are the answer (an idle poll is one round trip).
    this.idlePolls = spans.length === 0 ? this.idlePolls + 1 : 0;
    if (spans.length === 0) {
      this.records.reset(0, ts);
      return { records: this.records, stats: sumStats(before ?? (await this.readStats()).perCpu) };
    }

    // One lookup per ring entry: a span that wrapped around holds its oldest and newest records in one page.
    const slotOf = new Map<number, number>();
    for (const s of spans)
      for (let page = Math.floor(s.from / PAGE_RECORDS); page * PAGE_RECORDS < s.to; page++) {
        const key = this.pageKey(s.cpu, page);
        if (!slotOf.has(key)) slotOf.set(key, slotOf.size);
      }
    const keys = [...slotOf.keys()];
    const pageWords = PAGE_SLOTS * RECORD_WORDS;
    if (this.pages.length < keys.length * pageWords) this.pages = new Uint32Array(keys.length * pageWords);

    const lines = [...keys.map((k) => (this.pageLines[k] ??= lookupLine(this.pins.ring, k))), this.statsLine];
    const sent = performance.now();
    const answer = await this.batch.request(lines);
    const at = performance.now();
    // Short requests are mostly round trip: only long ones say how fast bpftool reads pages.
    if (keys.length >= PAGE_MS_FROM) this.pageMs = (at - sent) / keys.length;
    const got = parseWordPages(answer, (key) => {
      const slot = slotOf.get(key);
      return slot === undefined ? undefined : this.pages.subarray(slot * pageWords, (slot + 1) * pageWords);
    });
    if (got !== keys.length) throw new XwError(`bpftool answered ${got} of ${keys.length} page lookups`);
    const afterStats = this.decodeStatsEntry(lastHexEntry(answer));
    const after = this.noteHeads(afterStats, at);

    const batch = this.records;
    batch.reset(spans.reduce((n, s) => n + s.to - s.from, 0), ts);
    for (const span of spans) {
      const before = batch.count;
      // Slots from here on were not rewritten while bpftool copied them (see plan).
      const end = copySpan(batch, span, this.pages, after[span.cpu]! - this.ringRecords + 2, (page) => slotOf.get(this.pageKey(span.cpu, page))! * pageWords);
      this.loggedBy[span.cpu] = this.loggedBy[span.cpu]! + batch.count - before;
      // Past `to` when the last record read was an IPv6 one that began just before it.
      this.consumed[span.cpu] = Math.max(span.to, end);
    }
    this.logged += batch.count;
    this.settle(afterStats);
    return { records: batch, stats: sumStats(afterStats) };
  }

  /** The xw_ring entry that holds page number `page` (counted from 0, ever growing) of a CPU. */
  private pageKey(cpu: number, page: number): number {
    return (cpu << this.ring.shift) | (page & (this.pagesPerCpu - 1));
  }

  /** Dumps a pinned map through the same bpftool process (per-CPU values stay per CPU). */
  async dump(pin: string): Promise<MapEntry[]> {
    const answer = await this.batch.request([dumpLine(pin)]);
    return parseMapEntries(asBuffer(answer).toString("latin1"));
  }

  close(): Promise<void> {
    return this.batch.close();
  }
}
