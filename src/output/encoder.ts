/**
 * Records to bytes: each record of a batch straight from its words to an
 * NDJSON record or a tcpdump-shaped human line in the output buffer.
 */
import { noFTL } from "bun:jsc";
import {
  BATCH_WORDS, FAMILY_IPV4, FAMILY_IPV6, recordAddrByte, recordCode, recordDport, recordDstByte, recordFamily, recordFlags, recordLen, recordProto, recordSport,
  recordVlan, VLAN_TAGGED,
} from "../bpf/layout";
import type { RecordBatch } from "../xdp/batch";
import { hasIcmp, hasPorts, icmpTypeName, localTime, protoName, tcpFlags } from "./format";

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
