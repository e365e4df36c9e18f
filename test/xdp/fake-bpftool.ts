/**
 * A kernel ring and a bpftool in one, for the reader's tests: a per-CPU ring
 * written the way bpf/xdpwatch.c writes it, answered in the exact text bpftool
 * 7 prints for `map lookup` in batch mode (pages as BTF-formatted u32 arrays,
 * the counters as hex). `onLine` runs before each command is answered: the
 * kernel keeps writing while bpftool reads.
 */
import { FAMILY_IPV4, OUTCOMES, PAGE_RECORDS, RECORD, RECORD_WORDS, STATS } from "../../src/bpf/layout";
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

/** The source address of record `pos` on `cpu`: 198.18.cpu.(pos % 256), to check what came through. */
export function sourceOf(cpu: number, pos: number): string {
  return `198.18.${cpu}.${pos % 256}`;
}

export class FakeBpftool implements BatchTransport {
  /** Records written per CPU: the `logged` counter, the ring's head. */
  readonly heads: number[];
  readonly requests: string[][] = [];
  onLine: (line: string, index: number) => void = () => undefined;
  /** Answer page lookups with nothing, as a broken bpftool would. */
  dropPages = false;
  closed = false;
  private readonly pages = new Map<number, Uint32Array>();

  constructor(private readonly ring: Ring) {
    this.heads = new Array<number>(ring.cpus).fill(0);
  }

  /** The kernel logs `n` more packets on `cpu`. */
  write(cpu: number, n: number): void {
    const records = PAGE_RECORDS << this.ring.shift;
    for (let i = 0; i < n; i++) {
      const pos = this.heads[cpu]!;
      const key = (cpu << this.ring.shift) | (Math.floor(pos / PAGE_RECORDS) % (records / PAGE_RECORDS));
      let page = this.pages.get(key);
      if (!page) this.pages.set(key, (page = new Uint32Array(PAGE_RECORDS * RECORD_WORDS)));
      const bytes = new Uint8Array(page.buffer, (pos % PAGE_RECORDS) * RECORD.size, RECORD.size);
      const view = new DataView(bytes.buffer, bytes.byteOffset, RECORD.size);
      bytes.fill(0);
      bytes.set(sourceOf(cpu, pos).split(".").map(Number), RECORD.addr);
      view.setUint16(RECORD.len, 64, true);
      view.setUint16(RECORD.sport, 40000, false);
      view.setUint16(RECORD.dport, 53, false);
      bytes[RECORD.proto] = 17;
      bytes[RECORD.family] = FAMILY_IPV4;
      view.setUint32(RECORD.seq, pos >>> 0, true);
      this.heads[cpu] = pos + 1;
    }
  }

  /** Spoils the sequence number of record `pos`, as a slot rewritten mid-copy would show. */
  corrupt(cpu: number, pos: number): void {
    const records = PAGE_RECORDS << this.ring.shift;
    const key = (cpu << this.ring.shift) | (Math.floor(pos / PAGE_RECORDS) % (records / PAGE_RECORDS));
    const page = this.pages.get(key)!;
    page[(pos % PAGE_RECORDS) * RECORD_WORDS + RECORD.seq / 4]! += 1;
  }

  private statsText(): string {
    const values = this.heads.map((head, cpu) => {
      const bytes = new Uint8Array(STATS.size);
      const view = new DataView(bytes.buffer);
      view.setBigUint64(STATS.seen, BigInt(head), true);
      view.setBigUint64(STATS.outcome + 8 * OUTCOMES.indexOf("logged"), BigInt(head), true);
      return `value (CPU ${String(cpu).padStart(2, "0")}):\n${hexLines(bytes)}\n`;
    });
    return `key:\n00 00 00 00\n${values.join("")}`;
  }

  private pageText(key: number): string {
    const words = this.pages.get(key) ?? new Uint32Array(PAGE_RECORDS * RECORD_WORDS);
    return `{\n    "key": ${key},\n    "value": {\n        "words": [${words.join(",")}\n        ]\n    }\n}\n`;
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
