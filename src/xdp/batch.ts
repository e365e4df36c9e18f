/**
 * The records one poll took from the rings, as words: the reader copies each
 * intact record out of the fetched pages into a batch, and the printers read
 * the batch (src/output/format.ts).
 */
import { noFTL } from "bun:jsc";
import {
  BATCH_DST6, BATCH_WORDS, decodeRecordWords, FAMILY_IPV4, FAMILY_IPV6, FAMILY_IPV6_TAIL, PAGE_RECORDS, RECORD, RECORD_WORDS, recordFamily, recordSeq,
  type PacketRecord,
} from "../bpf/layout";

export interface LoggedPacket extends PacketRecord {
  cpu: number;
  /** Wall-clock ms of the request that read it (see RecordBatch). */
  ts: number;
}

/**
 * The records one poll found, in ring order per CPU: BATCH_WORDS words each,
 * the first slot as the kernel wrote it, then an IPv6 record's destination.
 * Valid until the reader's next poll, which reuses it.
 */
export class RecordBatch {
  /** Records in `words`. */
  count = 0;
  /**
   * Wall-clock ms of the request that read them. A record arrived before, by at
   * most the time the ring holds (one poll interval when the reader keeps up).
   */
  ts = 0;
  words = new Uint32Array(0);
  /** The CPU whose ring each record came from. */
  cpus = new Uint16Array(0);

  /** Empties the batch, with room for `n` records. */
  reset(n: number, ts: number): void {
    this.count = 0;
    this.ts = ts;
    if (this.cpus.length < n) {
      this.words = new Uint32Array(n * BATCH_WORDS);
      this.cpus = new Uint16Array(n);
    }
  }

  /** One record as an object: for tests and the few callers that want one. */
  packet(i: number): LoggedPacket {
    // Only records with a valid family are put in a batch.
    return { ...decodeRecordWords(this.words, i * BATCH_WORDS)!, cpu: this.cpus[i]!, ts: this.ts };
  }
}

export interface Span {
  cpu: number;
  from: number;
  to: number;
}

/**
 * Copies a span's intact records from the fetched pages into the batch;
 * returns the slot after the last one looked at. A record is intact when it
 * starts at or after `safeFrom` and its slots carry the expected sequence
 * numbers; the reader counts the others lost. `pageBase` gives where a
 * ring page starts in `pages`.
 */
export function copySpan(batch: RecordBatch, { cpu, from, to }: Span, pages: Uint32Array, safeFrom: number, pageBase: (page: number) => number): number {
  const out = batch.words;
  let base = 0;
  let pageEnd = -1;
  let pos = from;
  while (pos < to) {
    // A record from a page's last slot ends past the next page's first: pages are entered anywhere in their first two slots.
    if (pos >= pageEnd) {
      const page = Math.floor(pos / PAGE_RECORDS);
      base = pageBase(page);
      pageEnd = (page + 1) * PAGE_RECORDS;
    }
    // An IPv6 record's tail is the next slot of the same page (its spare slot after the last).
    const w = base + (pos % PAGE_RECORDS) * RECORD_WORDS;
    const family = recordFamily(pages, w);
    const valid = pos >= safeFrom && recordSeq(pages, w) === pos >>> 0;
    if (valid && family === FAMILY_IPV4) {
      const into = batch.count * BATCH_WORDS;
      for (let k = 0; k < RECORD_WORDS; k++) out[into + k] = pages[w + k]!;
      batch.cpus[batch.count++] = cpu;
      pos++;
    } else if (valid && family === FAMILY_IPV6) {
      const t = w + RECORD_WORDS;
      if (recordFamily(pages, t) === FAMILY_IPV6_TAIL && recordSeq(pages, t) === (pos + 1) >>> 0) {
        const into = batch.count * BATCH_WORDS;
        for (let k = 0; k < RECORD_WORDS; k++) out[into + k] = pages[w + k]!;
        for (let k = 0; k < 4; k++) out[into + BATCH_DST6 + k] = pages[t + RECORD.addr / 4 + k]!;
        batch.cpus[batch.count++] = cpu;
      }
      pos += 2;
    } else pos++; // a tail, or a slot rewritten
  }
  return pos;
}
// JavaScriptCore's top tier spends more CPU compiling this hot loop than it saves
// in runs of under ~1M records (README, Performance): the tier below runs it.
noFTL(copySpan);

