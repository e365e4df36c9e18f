/**
 * A kernel ring and a bpftool in one, for the reader's tests: a per-CPU ring
 * written the way bpf/xdpwatch.c writes it (IPv4 records in one slot, IPv6
 * ones in two), answered in the exact text bpftool 7 prints for `map lookup`
 * in batch mode (pages as BTF-formatted arrays of 128-bit hex words, the
 * counters as hex). `onLine` runs before each command is answered: the
 * kernel keeps writing while bpftool reads.
 */
import { FAMILY_IPV4, FAMILY_IPV6, FAMILY_IPV6_TAIL, OUTCOMES, PAGE_RECORDS, PAGE_SLOTS, RECORD, RECORD_WORDS, STATS } from "../../src/bpf/layout";
import type { BatchTransport } from "../../src/tools/bpftool-batch";
import { pinsAt } from "../../src/xdp/pins";
import type { Ring } from "../../src/xdp/program";

export const PINS = pinsAt("/sys/fs/bpf/xdpwatch/test0");

const hexLines = (bytes: Uint8Array) => {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const b = Array.from(bytes.subarray(i, i + 16), (x) => x.toString(16).padStart(2, "0"));
    lines.push(b.length > 8 ? `${b.slice(0, 8).join(" ")}  ${b.slice(8).join(" ")}` : b.join(" "));
  }
  return lines.join("\n");
};

/** The source address of the record at slot `pos` on `cpu`: 198.18.cpu.(pos % 256), to check what came through. */
export function sourceOf(cpu: number, pos: number): string {
  return `198.18.${cpu}.${pos % 256}`;
}

/** An IPv6 record's addresses carry its CPU and slot the same way: source ...:cpu:pos, destination ...:pos:cpu. */
export function source6Of(cpu: number, pos: number): number[] {
  return [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(8).fill(0), 0, cpu, (pos >> 8) & 0xff, pos & 0xff];
}
export function dest6Of(cpu: number, pos: number): number[] {
  return [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(8).fill(0), (pos >> 8) & 0xff, pos & 0xff, 0, cpu];
}

export class FakeBpftool implements BatchTransport {
  /** Slots taken per CPU: the ring's head. */
  readonly heads: number[];
  /** Records written per CPU: the `logged` counter. */
  readonly records: number[];
  readonly requests: string[][] = [];
  onLine: (line: string, index: number) => void = () => undefined;
  /** Answer page lookups with nothing, as a broken bpftool would. */
  dropPages = false;
  closed = false;
  private readonly pages = new Map<number, Uint32Array>();

  constructor(private readonly ring: Ring) {
    this.heads = new Array<number>(ring.cpus).fill(0);
    this.records = new Array<number>(ring.cpus).fill(0);
  }

  /** The slot of position `pos`: the tail of a record in a page's last slot is that page's spare slot. */
  private slot(cpu: number, pos: number, tail = false): Uint8Array {
    const at = tail ? pos - 1 : pos;
    const key = (cpu << this.ring.shift) | (Math.floor(at / PAGE_RECORDS) % (1 << this.ring.shift));
    let page = this.pages.get(key);
    if (!page) this.pages.set(key, (page = new Uint32Array(PAGE_SLOTS * RECORD_WORDS)));
    const index = (at % PAGE_RECORDS) + (tail ? 1 : 0);
    return new Uint8Array(page.buffer, index * RECORD.size, RECORD.size);
  }

  /** The kernel logs `n` more packets on `cpu`: IPv4 (one slot each) or IPv6 (two). */
  write(cpu: number, n: number, family: 4 | 6 = 4): void {
    for (let i = 0; i < n; i++) {
      const pos = this.heads[cpu]!;
      const bytes = this.slot(cpu, pos);
      const view = new DataView(bytes.buffer, bytes.byteOffset, RECORD.size);
      bytes.fill(0);
      view.setUint32(RECORD.seq, pos >>> 0, true);
      if (family === 4) bytes.set([...sourceOf(cpu, pos).split(".").map(Number), 198, 18, 0, 254], RECORD.addr);
      else bytes.set(source6Of(cpu, pos), RECORD.addr);
      view.setUint16(RECORD.len, 64, true);
      view.setUint16(RECORD.sport, 40000, false);
      view.setUint16(RECORD.dport, 53, false);
      bytes[RECORD.proto] = 17;
      bytes[RECORD.family] = family === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
      if (family === 6) {
        const tail = this.slot(cpu, pos + 1, true);
        tail.fill(0);
        new DataView(tail.buffer, tail.byteOffset, RECORD.size).setUint32(RECORD.seq, (pos + 1) >>> 0, true);
        tail[RECORD.family] = FAMILY_IPV6_TAIL;
        tail.set(dest6Of(cpu, pos), RECORD.addr);
      }
      this.heads[cpu] = pos + (family === 4 ? 1 : 2);
      this.records[cpu]!++;
    }
  }

  /** Spoils the sequence number of the slot at `pos` (`tail`: an IPv6 record's second), as a slot rewritten mid-copy would show. */
  corrupt(cpu: number, pos: number, tail = false): void {
    const bytes = this.slot(cpu, pos, tail);
    const view = new DataView(bytes.buffer, bytes.byteOffset, RECORD.size);
    view.setUint32(RECORD.seq, view.getUint32(RECORD.seq, true) + 1, true);
  }

  private statsText(): string {
    const values = this.heads.map((head, cpu) => {
      const bytes = new Uint8Array(STATS.size);
      const view = new DataView(bytes.buffer);
      view.setBigUint64(STATS.seen, BigInt(this.records[cpu]!), true);
      view.setBigUint64(STATS.outcome + 8 * OUTCOMES.indexOf("logged"), BigInt(this.records[cpu]!), true);
      view.setBigUint64(STATS.ringHead, BigInt(head), true);
      return `value (CPU ${String(cpu).padStart(2, "0")}):\n${hexLines(bytes)}\n`;
    });
    return `key:\n00 00 00 00\n${values.join("")}`;
  }

  /** As bpftool prints `unsigned __int128` elements: hex, least significant word last, no leading zeros. */
  private pageText(key: number): string {
    const words = this.pages.get(key) ?? new Uint32Array(PAGE_SLOTS * RECORD_WORDS);
    const wide: string[] = [];
    for (let i = 0; i < words.length; i += 4) {
      const hex = [3, 2, 1, 0].map((k) => words[i + k]!.toString(16).padStart(8, "0")).join("").replace(/^0+(?=.)/, "");
      wide.push(`0x${hex}`);
    }
    return `{\n    "key": ${key},\n    "value": {\n        "words": [${wide.join(",")}\n        ]\n    }\n}\n`;
  }

  async request(lines: readonly string[]): Promise<Uint8Array> {
    this.requests.push([...lines]);
    let out = "";
    lines.forEach((line, i) => {
      this.onLine(line, i);
      const m = /^map lookup pinned (\S+) key hex ((?:[0-9a-f]{2} ?){4})$/.exec(line);
      if (!m) throw new Error(`fake bpftool: unexpected line ${line}`);
      const key = new DataView(new Uint8Array(m[2]!.trim().split(" ").map((h) => parseInt(h, 16))).buffer).getUint32(0, true);
      if (m[1] === PINS.stats && key === 0) out += this.statsText();
      else if (m[1] === PINS.ring) out += this.dropPages ? "" : this.pageText(key);
      else throw new Error(`fake bpftool: no map pinned at ${m[1]}`);
    });
    return new TextEncoder().encode(out);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
