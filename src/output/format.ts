/** Turning decoded records into what people and scripts read. */
import {
  BATCH_WORDS, FAMILY_IPV4, FAMILY_IPV6, recordAddrByte, recordCode, recordDport, recordDstByte, recordFamily, recordFlags, recordLen, recordProto, recordSport,
  recordVlan, VLAN_TAGGED, type Stats,
} from "../bpf/layout";
import { noFTL } from "bun:jsc";
import { log } from "../log";
import type { ProgramCost } from "../xdp/cost";
import type { RecordBatch } from "../xdp/batch";

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

/** TCP's flags as tcpdump prints them (print-tcp.c): in this order, ACK as `.`, none as `none`. */
const TCP_FLAG_LETTERS: [number, string][] = [[0x01, "F"], [0x02, "S"], [0x04, "R"], [0x08, "P"], [0x20, "U"], [0x40, "E"], [0x80, "W"], [0x10, "."]];
export function tcpFlags(flags: number): string {
  const s = TCP_FLAG_LETTERS.filter(([bit]) => flags & bit).map(([, c]) => c).join("");
  return s || "none";
}

/** ICMP and ICMPv6 type names as tcpdump prints them (print-icmp.c, print-icmp6.c); others as tcpdump's `type-#N`. */
const ICMP_TYPES: Record<number, string> = {
  0: "echo reply", 3: "unreachable", 4: "source quench", 5: "redirect", 8: "echo request", 9: "router advertisement",
  10: "router solicitation", 11: "time exceeded", 12: "parameter problem", 13: "time stamp request", 14: "time stamp reply",
  15: "information request", 16: "information reply", 17: "address mask request", 18: "address mask reply",
};
const ICMP6_TYPES: Record<number, string> = {
  1: "destination unreachable", 2: "packet too big", 3: "time exceeded in-transit", 4: "parameter problem", 128: "echo request",
  129: "echo reply", 130: "multicast listener query", 131: "multicast listener report", 132: "multicast listener done",
  133: "router solicitation", 134: "router advertisement", 135: "neighbor solicitation", 136: "neighbor advertisement",
  137: "redirect", 143: "multicast listener report v2",
};
export const icmpTypeName = (family: number, type: number): string =>
  (family === FAMILY_IPV4 ? ICMP_TYPES : ICMP6_TYPES)[type] ?? `type-#${type}`;

/** What the kernel program writes as the code of a packet whose L4 header it did not read (a non-first fragment). */
const NO_L4_CODE = 0xff;

/** ICMP in IPv4, ICMPv6 in IPv6, with its header read: type and code are known. */
export function hasIcmp(family: number, proto: number, code: number): boolean {
  return (family === FAMILY_IPV4 ? proto === 1 : proto === 58) && code !== NO_L4_CODE;
}

const utf8 = new TextEncoder();
const bytesOf = (s: string) => utf8.encode(s);
/** From the family to the length's digits, one copy: `","family":4,"proto":"udp","len":`, by family and protocol. */
let FAMILY_PROTO_JSON: Uint8Array[][];
let FLAGS_JSON: Uint8Array[];
let FLAGS_TEXT: Uint8Array[];
/** The human line's protocol part after `: `, for protocols with nothing more to say, by protocol. */
let PROTO_TEXT: Uint8Array[];
let ICMP_TEXT: Uint8Array[][];

/** Made with the first encoder, not as the module loads: about 2 ms that every start of watch would wait for. */
function makePieces(): void {
  if (FLAGS_JSON) return;
  FAMILY_PROTO_JSON = [FAMILY_IPV4, FAMILY_IPV6].map((f) =>
    Array.from({ length: 256 }, (_, p) => bytesOf(`","family":${f},"proto":${JSON.stringify(protoName(p))},"len":`)),
  );
  FLAGS_JSON = Array.from({ length: 256 }, (_, f) => bytesOf(`,"flags":"${tcpFlags(f)}"`));
  FLAGS_TEXT = Array.from({ length: 256 }, (_, f) => bytesOf(`Flags [${tcpFlags(f)}], length `));
  PROTO_TEXT = Array.from({ length: 256 }, (_, p) => bytesOf(`${p === 17 ? "UDP" : protoName(p)}, length `));
  ICMP_TEXT = [FAMILY_IPV4, FAMILY_IPV6].map((f) =>
    Array.from({ length: 256 }, (_, t) => bytesOf(f === FAMILY_IPV4 ? `ICMP ${icmpTypeName(f, t)}` : `ICMP6, ${icmpTypeName(f, t)}`)),
  );
}
const J = {
  dst: bytesOf('","dst":"'), sport: bytesOf(',"sport":'), dport: bytesOf(',"dport":'), vlan: bytesOf(',"vlan":'),
  icmpType: bytesOf(',"icmp_type":'), icmpCode: bytesOf(',"icmp_code":'),
};
const T = { ip: bytesOf("IP "), ip6: bytesOf("IP6 "), to: bytesOf(" > "), colon: bytesOf(": "), vlan: bytesOf("vlan "), code: bytesOf(", code "), length: bytesOf(", length ") };

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

const HEX_DIGITS = bytesOf("0123456789abcdef");

/**
 * An IPv6 address from its eight groups, as RFC 5952 (and ipaddr.js, and
 * tcpdump) write it: lowercase, no leading zeros, the longest run of two or
 * more zero groups (the first of equals) as `::`; an IPv4-mapped one as
 * formatAddress shows it, dotted.
 */
function putIpv6(out: Uint8Array, pos: number, g: Uint16Array): number {
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    pos = putOctet(out, pos, g[6]! >> 8);
    out[pos++] = 46;
    pos = putOctet(out, pos, g[6]! & 0xff);
    out[pos++] = 46;
    pos = putOctet(out, pos, g[7]! >> 8);
    out[pos++] = 46;
    return putOctet(out, pos, g[7]! & 0xff);
  }
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      out[pos++] = 58;
      out[pos++] = 58;
      i += bestLen - 1;
      continue;
    }
    if (i > 0 && i !== best + bestLen) out[pos++] = 58;
    const v = g[i]!;
    if (v >= 0x1000) out[pos++] = HEX_DIGITS[v >> 12]!;
    if (v >= 0x100) out[pos++] = HEX_DIGITS[(v >> 8) & 15]!;
    if (v >= 0x10) out[pos++] = HEX_DIGITS[(v >> 4) & 15]!;
    out[pos++] = HEX_DIGITS[v & 15]!;
  }
  return pos;
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
 * NDJSON is what JSON.stringify makes of {type, ts, iface, src, dst, family,
 * proto, len, sport?, dport?, flags?, icmp_type?, icmp_code?, vlan?, cpu}
 * (test/output/format.test.ts checks it against that). The human line takes
 * tcpdump -n's shapes: `IP src.sport > dst.dport: UDP, length N`, `Flags [S.]`
 * for TCP, `ICMP echo request` (length is the frame's, as tcpdump -e shows it).
 */
export class PacketEncoder {
  private cpuTail: Uint8Array[] = [];
  private iface = "";

  constructor(
    iface: string,
    private readonly json: boolean,
  ) {
    makePieces();
    this.rename(iface);
  }

  /** The interface's name in the records from now on (a watched interface can be renamed). */
  rename(iface: string): void {
    this.iface = JSON.stringify(iface);
  }

  /** The most bytes encode() writes per record (an escaped name takes up to 3 bytes a character). */
  get maxRecordBytes(): number {
    return 320 + this.iface.length * 3;
  }

  /** Writes records [from, to) of `batch` into `out` at `pos`, which has room for maxRecordBytes each; returns the end. */
  encode(batch: RecordBatch, from: number, to: number, out: Uint8Array, pos: number): number {
    const head = this.json
      ? bytesOf(`{"type":"packet","ts":"${new Date(batch.ts).toISOString()}","iface":${this.iface},"src":"`)
      : bytesOf(`${localTime(batch.ts)} `);
    const w = batch.words;
    for (let i = from; i < to; i++) {
      const at = i * BATCH_WORDS;
      const family = recordFamily(w, at);
      const proto = recordProto(w, at);
      const sport = recordSport(w, at);
      const dport = recordDport(w, at);
      const vlan = recordVlan(w, at);
      const ports = hasPorts(proto, sport, dport);
      out.set(head, pos);
      pos += head.length;
      if (this.json) {
        pos = this.putAddress(out, pos, w, at, family, false);
        pos = this.putAddress(out, put(out, pos, J.dst), w, at, family, true);
        const tail = FAMILY_PROTO_JSON[family === FAMILY_IPV4 ? 0 : 1]![proto]!;
        out.set(tail, pos);
        pos = putUint(out, pos + tail.length, recordLen(w, at));
        if (ports) {
          pos = putUint(out, put(out, pos, J.sport), sport);
          pos = putUint(out, put(out, pos, J.dport), dport);
          if (proto === 6) pos = put(out, pos, FLAGS_JSON[recordFlags(w, at)]!);
        } else if (hasIcmp(family, proto, recordCode(w, at))) {
          pos = putUint(out, put(out, pos, J.icmpType), recordFlags(w, at));
          pos = putUint(out, put(out, pos, J.icmpCode), recordCode(w, at));
        }
        if (vlan & VLAN_TAGGED) pos = putUint(out, put(out, pos, J.vlan), vlan & 0x0fff);
        pos = put(out, pos, this.cpuJson(batch.cpus[i]!));
      } else {
        if (vlan & VLAN_TAGGED) {
          pos = putUint(out, put(out, pos, T.vlan), vlan & 0x0fff);
          out[pos++] = 32;
        }
        pos = put(out, pos, family === FAMILY_IPV4 ? T.ip : T.ip6);
        pos = this.putAddress(out, pos, w, at, family, false);
        if (ports) {
          out[pos++] = 46;
          pos = putUint(out, pos, sport);
        }
        pos = this.putAddress(out, put(out, pos, T.to), w, at, family, true);
        if (ports) {
          out[pos++] = 46;
          pos = putUint(out, pos, dport);
        }
        pos = put(out, pos, T.colon);
        if (ports && proto === 6) pos = put(out, pos, FLAGS_TEXT[recordFlags(w, at)]!);
        else if (!ports && hasIcmp(family, proto, recordCode(w, at))) {
          const code = recordCode(w, at);
          pos = put(out, pos, ICMP_TEXT[family === FAMILY_IPV4 ? 0 : 1]![recordFlags(w, at)]!);
          if (code) pos = putUint(out, put(out, pos, T.code), code);
          pos = put(out, pos, T.length);
        } else pos = put(out, pos, PROTO_TEXT[proto]!);
        pos = putUint(out, pos, recordLen(w, at));
        out[pos++] = 10;
      }
    }
    return pos;
  }

  private putAddress(out: Uint8Array, pos: number, w: Uint32Array, at: number, family: number, dst: boolean): number {
    if (family === FAMILY_IPV4) {
      const base = dst ? 4 : 0;
      pos = putOctet(out, pos, recordAddrByte(w, at, base));
      for (let b = 1; b < 4; b++) {
        out[pos++] = 46;
        pos = putOctet(out, pos, recordAddrByte(w, at, base + b));
      }
      return pos;
    }
    const g = this.groups;
    for (let i = 0; i < 8; i++)
      g[i] = dst
        ? (recordDstByte(w, at, family, 2 * i) << 8) | recordDstByte(w, at, family, 2 * i + 1)
        : (recordAddrByte(w, at, 2 * i) << 8) | recordAddrByte(w, at, 2 * i + 1);
    return putIpv6(out, pos, g);
  }

  private readonly groups = new Uint16Array(8);

  private cpuJson(cpu: number): Uint8Array {
    return (this.cpuTail[cpu] ??= bytesOf(`,"cpu":${cpu}}\n`));
  }
}

// JavaScriptCore's top tier spends more CPU compiling this hot loop than it saves
// in runs of under ~1M records (README, Performance): the tier below runs it.
noFTL(PacketEncoder.prototype.encode);

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
