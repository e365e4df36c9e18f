/**
 * Reads the program's counters and per-CPU log rings through one bpftool
 * co-process. Each poll: read the heads, fetch the pages that hold new records,
 * read the heads again. A record whose slot the kernel may have rewritten
 * during the copy (its position is no longer within one ring of the new head)
 * or whose sequence number is not the expected one is counted as lost, never
 * printed: what is printed is exact, and logged + lost = what the kernel wrote.
 */
import { decodeRecord, decodeStats, PAGE_RECORDS, RECORD, sumStats, type PacketRecord, type Stats } from "../bpf/layout";
import { XwError } from "../errors";
import { BpftoolBatch, parseMapEntries, parseWordValues, type MapEntry } from "../tools/bpftool";
import type { Pins } from "./pins";
import { flushPage, type Ring } from "./program";

export interface LoggedPacket extends PacketRecord {
  cpu: number;
  /** Wall-clock ms of the poll that found it: the packet arrived within one poll interval before. */
  ts: number;
}

export interface Poll {
  packets: LoggedPacket[];
  /** Counters summed over CPUs, read after the pages. */
  stats: Stats;
}

function keyHex(n: number): string {
  return `hex ${[n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].map((b) => b.toString(16).padStart(2, "0")).join(" ")}`;
}

export class Reader {
  private readonly batch: BpftoolBatch;
  private readonly consumed: number[];
  private readonly statsCommand: string;
  /** Records read from the rings and returned. */
  logged = 0;
  /** Records the kernel wrote that were overwritten before they could be read. */
  overwritten = 0;
  /** Records each CPU's ring holds. */
  readonly ringRecords: number;
  private readonly pagesPerCpu: number;

  constructor(
    private readonly pins: Pins,
    private readonly ring: Ring,
  ) {
    this.consumed = new Array<number>(ring.cpus).fill(0);
    this.pagesPerCpu = 1 << ring.shift;
    this.ringRecords = PAGE_RECORDS << ring.shift;
    const flush = flushPage(ring);
    this.batch = new BpftoolBatch({
      command: `map lookup pinned ${pins.ring} key ${keyHex(flush)}`,
      marker: `"key": ${flush},\n`,
    });
    this.statsCommand = `map lookup pinned ${pins.stats} key ${keyHex(0)}`;
  }

  async readStats(): Promise<{ perCpu: Stats[]; total: Stats }> {
    const perCpu = this.decodeStatsEntry(parseMapEntries(await this.batch.request([this.statsCommand])).at(-1));
    return { perCpu, total: sumStats(perCpu) };
  }

  private decodeStatsEntry(entry: ReturnType<typeof parseMapEntries>[number] | undefined): Stats[] {
    if (!entry || entry.values.length === 0) throw new XwError("bpftool returned no counters");
    return entry.values.map(decodeStats);
  }

  async poll(): Promise<Poll> {
    const ts = Date.now();
    const before = (await this.readStats()).perCpu;

    const ranges: { cpu: number; from: number; to: number }[] = [];
    const pageKeys = new Set<number>();
    before.forEach((s, cpu) => {
      if (cpu >= this.ring.cpus) return;
      const head = Number(s.outcome.logged);
      const consumed = this.consumed[cpu]!;
      if (head <= consumed) return;
      const from = Math.max(consumed, head - this.ringRecords);
      this.overwritten += from - consumed;
      ranges.push({ cpu, from, to: head });
      for (let page = Math.floor(from / PAGE_RECORDS); page * PAGE_RECORDS < head; page++) pageKeys.add(this.pageKey(cpu, page));
    });

    const keys = [...pageKeys];
    // Nothing new: the counters just read are the answer (an idle poll is one round trip).
    if (keys.length === 0) return { packets: [], stats: sumStats(before) };
    const answer = await this.batch.request([...keys.map((k) => `map lookup pinned ${this.pins.ring} key ${keyHex(k)}`), this.statsCommand]);
    // Pages come formatted from their BTF, the counters (last) as raw bytes: each parser takes its own part.
    const pages = parseWordValues(answer);
    const after = this.decodeStatsEntry(parseMapEntries(answer.slice(answer.lastIndexOf("key:"))).at(-1));
    if (pages.size !== keys.length) throw new XwError(`bpftool answered ${pages.size} of ${keys.length} page lookups`);

    const packets: LoggedPacket[] = [];
    for (const { cpu, from, to } of ranges) {
      const safeFrom = Number(after[cpu]!.outcome.logged) - this.ringRecords + 1;
      for (let pos = from; pos < to; pos++) {
        const page = pages.get(this.pageKey(cpu, Math.floor(pos / PAGE_RECORDS)))!;
        const rec = pos >= safeFrom ? decodeRecord(page, (pos % PAGE_RECORDS) * RECORD.size) : undefined;
        if (rec && rec.seq === pos >>> 0) packets.push({ ...rec, cpu, ts });
        else this.overwritten++;
      }
      this.consumed[cpu] = to;
    }
    this.logged += packets.length;
    return { packets, stats: sumStats(after) };
  }

  /** The xw_ring entry that holds page number `page` (counted from 0, ever growing) of a CPU. */
  private pageKey(cpu: number, page: number): number {
    return (cpu << this.ring.shift) | (page & (this.pagesPerCpu - 1));
  }

  /** Dumps a pinned map through the same bpftool process (per-CPU values stay per CPU). */
  async dump(pin: string): Promise<MapEntry[]> {
    return parseMapEntries(await this.batch.request([`map dump pinned ${pin}`]));
  }

  close(): Promise<void> {
    return this.batch.close();
  }
}
