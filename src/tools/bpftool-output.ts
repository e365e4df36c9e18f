/**
 * What bpftool prints for `map lookup` and `map dump`, read back: entries of
 * maps without BTF (hex bytes per CPU), and the ring's pages (BTF-formatted
 * arrays of 128-bit hex words), parsed from the answer's bytes.
 */
import { noFTL } from "bun:jsc";
import { XwError } from "../errors";

/** One `map lookup` or `map dump` entry: key bytes and one value (or one per CPU). */
export interface MapEntry {
  key: Uint8Array;
  values: Uint8Array[];
}

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[97 + i] = 10 + i;

function isHexLine(line: string): boolean {
  return line.length >= 2 && HEX[line.charCodeAt(0)]! >= 0 && HEX[line.charCodeAt(1)]! >= 0 && (line.length === 2 || line[2] === " ");
}

/**
 * Parses bpftool's plain output of `map lookup` / `map dump` for maps without
 * BTF: "key:" then hex lines, then "value:" or "value (CPU NN):" blocks. Short
 * entries come on one line ("key: 00 00  value: 01"). Any other line (the
 * batch sentinel, "Found N elements") ends the current block.
 */
export function parseMapEntries(text: string): MapEntry[] {
  const out = new Uint8Array(Math.ceil(text.length / 2));
  let n = 0;
  const entries: { key: [number, number]; values: [number, number][] }[] = [];
  let block: [number, number] | undefined;

  const hexInto = (s: string, from: number) => {
    for (let i = from; i + 1 < s.length; ) {
      const hi = HEX[s.charCodeAt(i)]!;
      if (hi < 0) {
        i++;
        continue;
      }
      out[n++] = (hi << 4) | HEX[s.charCodeAt(i + 1)]!;
      i += 3;
    }
    if (block) block[1] = n;
  };

  for (const line of text.split("\n")) {
    if (line.startsWith("key:")) {
      const entry = { key: [n, n] as [number, number], values: [] as [number, number][] };
      entries.push(entry);
      block = entry.key;
      const inlineValue = line.indexOf("value:");
      hexInto(inlineValue < 0 ? line : line.slice(0, inlineValue), 4);
      if (inlineValue >= 0) {
        block = [n, n];
        entry.values.push(block);
        hexInto(line, inlineValue + 6);
      }
    } else if (line.startsWith("value")) {
      const entry = entries[entries.length - 1];
      if (!entry) continue;
      block = [n, n];
      entry.values.push(block);
      const colon = line.indexOf(":");
      if (colon >= 0 && colon + 1 < line.length) hexInto(line, colon + 1);
    } else if (block && isHexLine(line)) {
      hexInto(line, 0);
    } else {
      block = undefined;
    }
  }
  return entries.map((e) => ({
    key: out.subarray(e.key[0], e.key[1]),
    values: e.values.map(([a, b]) => out.subarray(a, b)),
  }));
}


const KEY_JSON = Buffer.from('"key": ');
const KEY_PLAIN = Buffer.from("key:");

/** The answer as a Buffer (for indexOf), without a copy; the batch's answers already are one. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
const OPEN = 91; // [
const CLOSE = 93; // ]
const COMMA = 44;
const X = 120;

/**
 * Parses `map lookup` answers for maps whose BTF value is a struct holding one
 * array, which bpftool formats as `"key": N, "value": {"<name>": [n,n,…]}`:
 * u32 elements in decimal, or `unsigned __int128` ones in hex (`0x…`, four
 * words each, least significant first), which bpftool prints with a quarter of
 * the calls. For each key, `into(key)` names where its words go (an array
 * exactly as long as the value), or undefined to pass it over. Works on the
 * bytes as they came: no string is built per page. Returns how many values it
 * wrote. Hex-printed entries (maps without BTF) and text before the first key
 * are passed over.
 */
export function parseWordPages(bytes: Uint8Array, into: (key: number) => Uint32Array | undefined): number {
  const buf = asBuffer(bytes);
  const len = bytes.length;
  let pages = 0;
  for (let at = buf.indexOf(KEY_JSON); at >= 0; at = buf.indexOf(KEY_JSON, at)) {
    let i = at + KEY_JSON.length;
    let key = 0;
    for (let c = bytes[i]!; c >= 48 && c <= 57; c = bytes[++i]!) key = key * 10 + c - 48;
    const open = buf.indexOf(OPEN, i);
    if (open < 0) break;
    at = open;
    const dest = into(key);
    if (!dest) continue;
    let w = 0;
    let n = 0;
    let digits = false;
    for (i = open + 1; i < len; i++) {
      const c = bytes[i]!;
      if (c >= 48 && c <= 57) {
        // Modulo 2^32 in int32 arithmetic, which stays in the JIT's integer path; stored as u32 it is exact.
        n = (Math.imul(n, 10) + c - 48) | 0;
        digits = true;
      } else if (c === X) {
        // The 0 before it was no number: the element is the hex digits that follow.
        const start = i + 1;
        let end = start;
        while (end < len && (HEX[bytes[end]!] ?? -1) >= 0) end++;
        if (w + 4 > dest.length) throw new XwError(`bpftool printed more than ${dest.length} words for key ${key}`);
        for (let k = 0; k < 4; k++) {
          let word = 0;
          for (let j = Math.max(start, end - 8 * (k + 1)); j < end - 8 * k; j++) word = (word << 4) | HEX[bytes[j]!]!;
          dest[w++] = word;
        }
        n = 0;
        digits = false;
        i = end - 1;
      } else if (c === COMMA || c === CLOSE) {
        if (digits) {
          if (w === dest.length) throw new XwError(`bpftool printed more than ${dest.length} words for key ${key}`);
          dest[w++] = n;
        }
        n = 0;
        digits = false;
        if (c === CLOSE) break;
      }
    }
    if (i === len) throw new XwError(`bpftool's answer ends inside the value of key ${key}`);
    if (w !== dest.length) throw new XwError(`bpftool printed ${w} of ${dest.length} words for key ${key}`);
    at = i;
    pages++;
  }
  return pages;
}

// JavaScriptCore's top tier spends more CPU compiling this hot loop than it saves
// in runs of under ~1M records (README, Performance): the tier below runs it.
noFTL(parseWordPages);

/** The last entry in hex form (a map without BTF, such as the counters) in `bytes`, if any. */
export function lastHexEntry(bytes: Uint8Array): MapEntry | undefined {
  const buf = asBuffer(bytes);
  const at = buf.lastIndexOf(KEY_PLAIN);
  return at < 0 ? undefined : parseMapEntries(buf.toString("latin1", at)).at(-1);
}
