/**
 * Per-source counts from xw_sources (an LRU per-CPU hash): per-CPU values
 * summed, busiest first, and followed from read to read so that `top` can say
 * when each source was first and last seen and how fast it sends. The kernel
 * keeps no per-packet time (a timestamp costs ~30 ns a packet): the times are
 * those of the reads, so they are as fine as the refresh interval.
 */
import { decodeSourceValue, type Stats } from "../bpf/layout";
import { formatAddress } from "../net/cidr";
import type { MapEntry } from "../tools/bpftool";
import type { Pins } from "./pins";
import type { Reader } from "./reader";

export interface SourceCount {
  /** IPv4 dotted or IPv6: the key's IPv4-mapped form is shown as IPv4. */
  src: string;
  packets: bigint;
  bytes: bigint;
}

/** Most packets first; ties by bytes, then by address, so that equal rows keep one order. */
function busiestFirst(a: SourceCount, b: SourceCount): number {
  if (a.packets !== b.packets) return a.packets > b.packets ? -1 : 1;
  if (a.bytes !== b.bytes) return a.bytes > b.bytes ? -1 : 1;
  return a.src < b.src ? -1 : a.src > b.src ? 1 : 0;
}

/** One row per source from a dump of xw_sources, busiest first. */
export function sumSources(entries: readonly MapEntry[]): SourceCount[] {
  const bySrc = new Map<string, SourceCount>();
  for (const entry of entries) {
    const total: SourceCount = { src: formatAddress(entry.key), packets: 0n, bytes: 0n };
    for (const value of entry.values) {
      const cpu = decodeSourceValue(value);
      total.packets += cpu.packets;
      total.bytes += cpu.bytes;
    }
    // bpftool walks a hash one key at a time, so a dump taken while entries churn can
    // return one twice: keep the later, fuller copy.
    const earlier = bySrc.get(total.src);
    if (!earlier || total.packets >= earlier.packets) bySrc.set(total.src, total);
  }
  return [...bySrc.values()].sort(busiestFirst);
}

/**
 * Sources the kernel inserted but no longer holds: the LRU map evicts its
 * oldest entries when full, and nothing else deletes any. While packets flow
 * the counter and the dump are not read at one instant, so this can lag; after
 * detaching it is exact.
 */
export function evictedSources(stats: Stats, live: number): number {
  return Math.max(0, Number(stats.newSources) - live);
}

export interface SourcesRead {
  stats: Stats;
  /** Every source the map holds, busiest first. */
  sources: SourceCount[];
  evicted: number;
}

/** Reads the counters, then the source map, through the session's bpftool. */
export async function readSources(reader: Reader, pins: Pins): Promise<SourcesRead> {
  // Counters first: a source inserted between the two reads can then only hide an
  // eviction for one interval, never report one that did not happen.
  const { total } = await reader.readStats();
  const sources = sumSources(await reader.dump(pins.sources));
  return { stats: total, sources, evicted: evictedSources(total, sources.length) };
}

/** The busiest sources, and what the map as a whole holds and lost. */
export interface SourceTable<Row extends SourceCount = SourceCount> {
  top: Row[];
  tracked: number;
  evicted: number;
}

export interface SourceRow extends SourceCount {
  /** Packets per second since the previous read. */
  pps: number;
  /** Time (ms) of the first read that showed this source. */
  firstSeen: number;
  /** Time (ms) of the last read in which its count had grown. */
  lastSeen: number;
}

/** Follows sources from read to read; pure: the caller passes the time of each read. */
export class SourceTracker {
  private known = new Map<string, { packets: bigint; firstSeen: number; lastSeen: number }>();
  private last: number;

  /** `start`: when counting began, with an empty map (the program was just attached). */
  constructor(start: number) {
    this.last = start;
  }

  /** Rows in the order given. Sources that left the map are forgotten. */
  update(sources: readonly SourceCount[], now: number): SourceRow[] {
    const seconds = Math.max(now - this.last, 1) / 1000;
    const known = new Map<string, { packets: bigint; firstSeen: number; lastSeen: number }>();
    const rows = sources.map((s): SourceRow => {
      const before = this.known.get(s.src);
      // A count that went down is an entry evicted and inserted again: all of it is new.
      const grown = before && s.packets >= before.packets ? s.packets - before.packets : s.packets;
      const firstSeen = before?.firstSeen ?? now;
      const lastSeen = before && grown === 0n ? before.lastSeen : now;
      known.set(s.src, { packets: s.packets, firstSeen, lastSeen });
      return { ...s, pps: Math.round((Number(grown) / seconds) * 10) / 10, firstSeen, lastSeen };
    });
    this.known = known;
    this.last = now;
    return rows;
  }
}
