/** Turning decoded records into what people and scripts read. */
import {
  FAMILY_IPV4, FAMILY_IPV6, RECORD_WORDS, recordAddrByte, recordDport, recordFamily, recordLen, recordProto, recordSport, recordVlan, type Stats,
} from "../bpf/layout";
import { log } from "../log";
import { formatAddress } from "../net/cidr";
import type { ProgramCost } from "../xdp/cost";
import type { RecordBatch } from "../xdp/reader";

/**
 * IANA keywords. IPv6 records hold the first header after the fixed one, so an
 * extension header (hop-by-hop options: MLD, router alerts) shows as such.
 */
const PROTO_NAMES: Record<number, string> = {
  0: "hopopt", 1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 17: "udp", 41: "ipv6", 43: "ipv6-route", 44: "ipv6-frag", 47: "gre",
  50: "esp", 51: "ah", 58: "icmpv6", 59: "ipv6-nonxt", 60: "ipv6-opts", 89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp", 136: "udplite",
};
const PROTO_NUMBERS = Object.fromEntries(Object.entries(PROTO_NAMES).map(([n, name]) => [name, Number(n)]));

/** A protocol's keyword, or its number as a string: always a string, so scripts see one type. */
export function protoName(proto: number): string {
  return PROTO_NAMES[proto] ?? String(proto);
}

export function protoNumber(name: string): number | undefined {
  const lower = name.toLowerCase();
  if (lower in PROTO_NUMBERS) return PROTO_NUMBERS[lower];
  const n = Number(lower);
  return Number.isInteger(n) && n >= 0 && n <= 255 && lower !== "" ? n : undefined;
}

export const KNOWN_PROTOCOLS = Object.values(PROTO_NAMES);

/**
 * TCP and UDP carry ports, except in a non-first fragment, where the kernel
 * program leaves both 0 (a port 0 on both sides is not a real flow either):
 * ports are shown when known, as for every other protocol, else left out.
 */
export function hasPorts(proto: number, sport: number, dport: number): boolean {
  return (proto === 6 || proto === 17) && (sport !== 0 || dport !== 0);
}

/** Wall-clock time of day; milliseconds only where the time is that precise. */
export function localTime(ms: number, withMs = true): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${time}.${pad(d.getMilliseconds(), 3)}` : time;
}

const utf8 = new TextEncoder();
const bytesOf = (s: string) => utf8.encode(s);
/** From the family to the length's digits, one copy: `","family":4,"proto":"udp","len":`, by family and protocol. */
const FAMILY_PROTO_JSON = [FAMILY_IPV4, FAMILY_IPV6].map((f) =>
  Array.from({ length: 256 }, (_, p) => bytesOf(`","family":${f},"proto":${JSON.stringify(protoName(p))},"len":`)),
);
const PROTO_TEXT = Array.from({ length: 256 }, (_, p) => bytesOf(protoName(p)));
const J = { sport: bytesOf(',"sport":'), dport: bytesOf(',"dport":'), vlan: bytesOf(',"vlan":') };
const T = { gap: bytesOf("  "), arrow: bytesOf(" → "), bytes: bytesOf(" B"), vlan: bytesOf("  vlan ") };
/** IPv4's widest address, then IPv6's: the human address column. */
const V4_WIDTH = 15;
const V6_WIDTH = 39;

/** Copies short runs: a loop beats a native call below a few dozen bytes. */
function put(out: Uint8Array, pos: number, b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) out[pos + i] = b[i]!;
  return pos + b.length;
}

/** A u16 or u32 (lengths, ports, CPUs, VLAN ids) in decimal; integer division keeps it in the JIT's int path. */
function putUint(out: Uint8Array, pos: number, n: number): number {
  const digits = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : String(n).length;
  for (let i = pos + digits - 1; i > pos; i--) {
    const q = (n / 10) | 0;
    out[i] = 48 + n - q * 10;
    n = q;
  }
  out[pos] = 48 + n;
  return pos + digits;
}

function putOctet(out: Uint8Array, pos: number, n: number): number {
  if (n >= 100) {
    out[pos++] = 48 + ((n / 100) | 0);
    n %= 100;
    out[pos++] = 48 + ((n / 10) | 0);
  } else if (n >= 10) out[pos++] = 48 + ((n / 10) | 0);
  out[pos++] = 48 + (n % 10);
  return pos;
}

/**
 * Writes records as bytes, straight from the words the reader got: one NDJSON
 * record or one human line each, with no object or string per record. The
 * NDJSON is what JSON.stringify makes of {type, ts, iface, src, family,
 * proto, len, sport?, dport?, vlan?, cpu} (test/output/format.test.ts checks
 * it against that).
 */
export class PacketEncoder {
  /** The human address column: wide enough for IPv6 from its first address on, so columns stay put. */
  private width = V4_WIDTH;
  private cpuTail: Uint8Array[] = [];
  private iface = "";

  constructor(
    iface: string,
    private readonly json: boolean,
  ) {
    this.rename(iface);
  }

  /** The interface's name in the records from now on (a watched interface can be renamed). */
  rename(iface: string): void {
    this.iface = JSON.stringify(iface);
  }

  /** The most bytes encode() writes per record (an escaped name takes up to 3 bytes a character). */
  get maxRecordBytes(): number {
    return 256 + this.iface.length * 3;
  }

  /** Writes records [from, to) of `batch` into `out` at `pos`, which has room for maxRecordBytes each; returns the end. */
  encode(batch: RecordBatch, from: number, to: number, out: Uint8Array, pos: number): number {
    const head = this.json
      ? bytesOf(`{"type":"packet","ts":"${new Date(batch.ts).toISOString()}","iface":${this.iface},"src":"`)
      : bytesOf(`${localTime(batch.ts)}  `);
    const w = batch.words;
    for (let i = from; i < to; i++) {
      const at = i * RECORD_WORDS;
      const family = recordFamily(w, at);
      const proto = recordProto(w, at);
      const sport = recordSport(w, at);
      const dport = recordDport(w, at);
      const vlan = recordVlan(w, at);
      out.set(head, pos);
      pos += head.length;
      const addrAt = pos;
      pos = this.putAddress(out, pos, w, at, family);
      if (this.json) {
        const tail = FAMILY_PROTO_JSON[family === FAMILY_IPV4 ? 0 : 1]![proto]!;
        out.set(tail, pos);
        pos = putUint(out, pos + tail.length, recordLen(w, at));
        if (hasPorts(proto, sport, dport)) {
          pos = putUint(out, put(out, pos, J.sport), sport);
          pos = putUint(out, put(out, pos, J.dport), dport);
        }
        if (vlan) pos = putUint(out, put(out, pos, J.vlan), vlan);
        pos = put(out, pos, this.cpuJson(batch.cpus[i]!));
      } else {
        if (family !== FAMILY_IPV4) this.width = V6_WIDTH;
        for (const end = addrAt + this.width; pos < end; ) out[pos++] = 32;
        pos = put(out, pos, T.gap);
        pos = put(out, pos, PROTO_TEXT[proto]!);
        if (hasPorts(proto, sport, dport)) {
          out[pos++] = 32;
          pos = putUint(out, put(out, putUint(out, pos, sport), T.arrow), dport);
        }
        pos = put(out, putUint(out, put(out, pos, T.gap), recordLen(w, at)), T.bytes);
        if (vlan) pos = putUint(out, put(out, pos, T.vlan), vlan);
        out[pos++] = 10;
      }
    }
    return pos;
  }

  private putAddress(out: Uint8Array, pos: number, w: Uint32Array, at: number, family: number): number {
    if (family === FAMILY_IPV4) {
      pos = putOctet(out, pos, recordAddrByte(w, at, 0));
      for (let b = 1; b < 4; b++) {
        out[pos++] = 46;
        pos = putOctet(out, pos, recordAddrByte(w, at, b));
      }
      return pos;
    }
    const text = formatAddress(Uint8Array.from({ length: 16 }, (_, b) => recordAddrByte(w, at, b)));
    for (let c = 0; c < text.length; c++) out[pos++] = text.charCodeAt(c);
    return pos;
  }

  private cpuJson(cpu: number): Uint8Array {
    return (this.cpuTail[cpu] ??= bytesOf(`,"cpu":${cpu}}\n`));
  }
}

export interface Accounting {
  seen: number;
  logged: number;
  lost: number;
  sampled_out: number;
  counted: number;
  filtered: number;
  blocked: number;
  not_ip: number;
  malformed: number;
  bytes: number;
  /** Every frame the program ran on is in exactly one of the buckets above. */
  exact: boolean;
}

/**
 * The final accounting: kernel counters for what was not logged, the reader's
 * figures for what was (`logged`) and what was overwritten before it could be
 * read (`lost`, with frames that found no ring slot).
 */
export function accounting(stats: Stats, reader: { logged: number; overwritten: number }): Accounting {
  const o = stats.outcome;
  const acc = {
    seen: Number(stats.seen),
    logged: reader.logged,
    lost: reader.overwritten + Number(o.no_ring),
    sampled_out: Number(o.sampled_out),
    counted: Number(o.counted),
    filtered: Number(o.filtered),
    blocked: Number(o.blocked),
    not_ip: Number(o.not_ip),
    malformed: Number(o.malformed),
    bytes: Number(stats.bytes),
  };
  const sum = acc.logged + acc.lost + acc.sampled_out + acc.counted + acc.filtered + acc.blocked + acc.not_ip + acc.malformed;
  return { ...acc, exact: sum === acc.seen && BigInt(reader.logged + reader.overwritten) === o.logged };
}

export function accountingLine(a: Accounting): string {
  const parts = [`seen ${a.seen}`, `logged ${a.logged}`, `lost ${a.lost}`];
  const optional: [keyof Accounting, string][] = [
    ["sampled_out", "sampled out"], ["counted", "counted"], ["filtered", "filtered"], ["blocked", "blocked (dropped)"],
    ["not_ip", "not IP"], ["malformed", "malformed"],
  ];
  for (const [key, label] of optional) if (a[key]) parts.push(`${label} ${a[key]}`);
  return parts.join(" · ");
}

export interface RunInfo {
  iface: string;
  mode: string;
  elapsedMs: number;
  stoppedBy?: string;
}

/** The last NDJSON record of a run; `extra` holds watch's `printed` and the program's measured cost. */
export function summaryRecord(run: RunInfo, acc: Accounting, extra: { printed?: number } & Partial<ProgramCost> = {}) {
  return {
    type: "summary" as const,
    iface: run.iface,
    mode: run.mode,
    duration_s: Math.round(run.elapsedMs) / 1000,
    ...extra,
    ...acc,
    stopped_by: run.stoppedBy,
  };
}

function summaryLine(rec: ReturnType<typeof summaryRecord>): string {
  const cost = rec.ns_per_packet === undefined ? "" : ` · program ${rec.ns_per_packet} ns/packet`;
  return `${rec.iface}: ${accountingLine(rec)} in ${rec.duration_s} s${cost}${rec.exact ? "" : " (counts do not add up!)"}`;
}

/** The closing line on stderr: a warning when the run did not end as asked or the counts are off. */
export function logSummary(rec: ReturnType<typeof summaryRecord>): void {
  if (rec.exact && rec.stopped_by !== "interface gone") log.success(summaryLine(rec));
  else log.warn(summaryLine(rec));
}
