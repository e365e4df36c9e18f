/**
 * Counts per key (--by: source by default) from xw_sources (an LRU per-CPU
 * hash): keys decoded, per-CPU values summed, busiest first, and followed
 * from read to read so that `top` can say when each key was first and last
 * seen and how fast it sends. The kernel keeps no per-packet time (a
 * timestamp costs ~30 ns a packet): the times are those of the reads, so
 * they are as fine as the refresh interval.
 */
import { decodeSourceValue, SOURCE_KEY, type BySpec, type Stats } from "../bpf/layout";
import { formatAddress } from "../net/cidr";
import type { MapEntry } from "../tools/bpftool-output";
import type { Pins } from "./pins";
import type { Reader } from "./reader";

/**
 * A key's fields, named as --by names them, in the order they are shown.
 * Addresses: IPv4 dotted or IPv6 (the kernel's IPv4-mapped form shown as
 * IPv4), with "/len" for a prefix. Ports are 0 for frames without them.
 */
export interface KeyFields {
  src?: string;
  dst?: string;
  proto?: number;
  sport?: number;
  dport?: number;
}

export interface SourceCount {
  key: KeyFields;
  packets: bigint;
  bytes: bigint;
}

/** One text per key: rows are matched and ordered by it. */
export const keyText = (k: KeyFields): string => Object.values(k).join(" ");

/** Most packets first; ties by bytes, then by key, so that equal rows keep one order. */
function busiestFirst(a: SourceCount, b: SourceCount): number {
  if (a.packets !== b.packets) return a.packets > b.packets ? -1 : 1;
  if (a.bytes !== b.bytes) return a.bytes > b.bytes ? -1 : 1;
  const [ka, kb] = [keyText(a.key), keyText(b.key)];
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function address(bytes: Uint8Array, by: BySpec): string {
  const text = formatAddress(bytes);
  if (!by.prefix) return text;
  return `${text}/${text.includes(":") ? by.prefix.v6 : by.prefix.v4}`;
}

const be16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;

/** An xw_sources key (union xw_source_key, as --by lays it out) as fields. */
export function decodeKey(key: Uint8Array, by: BySpec): KeyFields {
  if (key.length !== SOURCE_KEY.size[by.key]) throw new Error(`a --by ${by.key} key has ${SOURCE_KEY.size[by.key]} bytes, not ${key.length}`);
  const f = SOURCE_KEY.flow;
  switch (by.key) {
    case "src":
      return { src: address(key, by) };
    case "dst":
      return { dst: address(key, by) };
    case "sport":
      return { sport: be16(key, 0) };
    case "dport":
      return { dport: be16(key, 0) };
    case "proto":
      return { proto: key[0]! };
    case "flow":
      return {
        src: address(key.subarray(f.src, f.src + 16), by),
        dst: address(key.subarray(f.dst, f.dst + 16), by),
        proto: key[f.proto]!,
        sport: be16(key, f.sport),
        dport: be16(key, f.dport),
      };
  }
}

/** One row per key from a dump of xw_sources, busiest first. */
export function sumSources(entries: readonly MapEntry[], by: BySpec = { key: "src" }): SourceCount[] {
  const byKey = new Map<string, SourceCount>();
  for (const entry of entries) {
    const total: SourceCount = { key: decodeKey(entry.key, by), packets: 0n, bytes: 0n };
    for (const value of entry.values) {
      const cpu = decodeSourceValue(value);
      total.packets += cpu.packets;
      total.bytes += cpu.bytes;
    }
    // bpftool walks a hash one key at a time, so a dump taken while entries churn can
    // return one twice: keep the later, fuller copy.
    const text = keyText(total.key);
    const earlier = byKey.get(text);
    if (!earlier || total.packets >= earlier.packets) byKey.set(text, total);
  }
  return [...byKey.values()].sort(busiestFirst);
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
export async function readSources(reader: Reader, pins: Pins, by: BySpec = { key: "src" }): Promise<SourcesRead> {
  // Counters first: a source inserted between the two reads can then only hide an
  // eviction for one interval, never report one that did not happen.
  const { total } = await reader.readStats();
  const sources = sumSources(await reader.dump(pins.sources), by);
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
  /** Bits per second (frame bytes × 8, as the frame arrived) since the previous read. */
  bps: number;
  /** Time (ms) of the first read that showed this source. */
  firstSeen: number;
  /** Time (ms) of the last read in which its count had grown. */
  lastSeen: number;
}

interface Known {
  packets: bigint;
  bytes: bigint;
  firstSeen: number;
  lastSeen: number;
}

/** Follows keys from read to read; pure: the caller passes the time of each read. */
export class SourceTracker {
  private known = new Map<string, Known>();
  private last: number;

  /** `start`: when counting began, with an empty map (the program was just attached). */
  constructor(start: number) {
    this.last = start;
  }

  /** Rows in the order given. Sources that left the map are forgotten. */
  update(sources: readonly SourceCount[], now: number): SourceRow[] {
    const seconds = Math.max(now - this.last, 1) / 1000;
    const known = new Map<string, Known>();
    const rows = sources.map((s): SourceRow => {
      const text = keyText(s.key);
      const before = this.known.get(text);
      // A count that went down is an entry evicted and inserted again: all of it is new.
      const again = !before || s.packets < before.packets;
      const grown = again ? s.packets : s.packets - before.packets;
      const grownBytes = again ? s.bytes : s.bytes - before.bytes;
      const firstSeen = before?.firstSeen ?? now;
      const lastSeen = before && grown === 0n ? before.lastSeen : now;
      known.set(text, { packets: s.packets, bytes: s.bytes, firstSeen, lastSeen });
      const pps = Math.round((Number(grown) / seconds) * 10) / 10;
      return { ...s, pps, bps: Math.round((Number(grownBytes) * 8) / seconds), firstSeen, lastSeen };
    });
    this.known = known;
    this.last = now;
    return rows;
  }
}
