/**
 * The byte layouts of bpf/xdpwatch.h, for decoding what bpftool prints and
 * encoding what it writes. test/bpf/layout.test.ts compiles the header and
 * fails when an offset here disagrees with the C compiler's.
 */

export const PAGE_SHIFT = 9;
export const PAGE_RECORDS = 1 << PAGE_SHIFT;
export const RING_SHIFT_DEFAULT = 5;
/** The global in the object's .rodata that holds struct xw_config. */
export const CONFIG_SYMBOL = "xw_cfg";
export const SOURCES_MAX = 16384;
export const CIDRS_MAX = 1024;

export const OUTCOMES = [
  "logged",
  "sampled_out",
  "counted",
  "filtered",
  "blocked",
  "not_ip",
  "malformed",
  "no_ring",
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/**
 * One 32-byte slot: a whole IPv4 record, or half an IPv6 one, whose second
 * slot (family FAMILY_IPV6_TAIL) holds the destination at `addr`.
 */
export const RECORD = {
  size: 32,
  seq: 0,
  len: 4,
  proto: 6,
  family: 7,
  sport: 8,
  dport: 10,
  vlan: 12,
  flags: 14,
  code: 15,
  addr: 16,
} as const;

/** Slots per page: the records, and a spare one for the tail of an IPv6 record in the last slot. */
export const PAGE_SLOTS = PAGE_RECORDS + 1;
export const PAGE_SIZE = RECORD.size * PAGE_SLOTS;

export const STATS = {
  size: 8 + 8 * OUTCOMES.length + 8 + 8 + 8,
  seen: 0,
  outcome: 8,
  bytes: 8 + 8 * OUTCOMES.length,
  newSources: 8 + 8 * OUTCOMES.length + 8,
  ringHead: 8 + 8 * OUTCOMES.length + 16,
} as const;

export const CONFIG = {
  /** Padded to its u64s' alignment. */
  size: 16 + 32 + 8 * 1024 + 32,
  flags: 0,
  sample: 4,
  ringShift: 8,
  ringMask: 12,
  protos: 16,
  ports: 48,
  by: 48 + 8 * 1024,
  byMasked: 52 + 8 * 1024,
  mask4: 56 + 8 * 1024,
  mask6: 60 + 8 * 1024,
} as const;

export const FLAG = {
  log: 1 << 0,
  sources: 1 << 1,
  block: 1 << 2,
  srcFilter: 1 << 3,
  protoFilter: 1 << 4,
  portFilter: 1 << 5,
  sample: 1 << 6,
  /** A tcpdump expression selects what is logged or counted; xw_expr returns this bit when it matches. */
  matchExpr: 1 << 7,
  /** A --drop expression; xw_expr returns this bit when it matches. */
  dropExpr: 1 << 8,
} as const;

/** The placeholder in the program's section that tcpdump expressions, translated, replace (src/bpf/cbpf.ts). */
export const EXPR_SECTION = "xdp";
export const EXPR_INSNS = 4096;
/** Stack words the placeholder's code gets: classic BPF's 16 scratch words, then the result. */
export const EXPR_SCRATCH_WORDS = 17;

/** What top counts per (--by), in enum xw_by's order. */
export const BY_KEYS = ["src", "dst", "sport", "dport", "proto", "flow"] as const;
export type ByKey = (typeof BY_KEYS)[number];

/** --by: a key, and for src and dst the prefixes addresses are cut to (src/24 counts per /24). */
export interface BySpec {
  key: ByKey;
  prefix?: { v4: number; v6: number };
}

/** --by as it is written: "dport", "src/24,64". */
export function byText(by: BySpec): string {
  return by.prefix ? `${by.key}/${by.prefix.v4},${by.prefix.v6}` : by.key;
}

/** union xw_source_key, as each kind uses it; the map's key_size is set to the kind's size at load. */
export const SOURCE_KEY = {
  size: { src: 16, dst: 16, sport: 2, dport: 2, proto: 1, flow: 40 } satisfies Record<ByKey, number>,
  flow: { src: 0, dst: 16, sport: 32, dport: 34, proto: 36 },
} as const;
export const SOURCE_VALUE = { size: 16, packets: 0, bytes: 8 } as const;
export const CIDR_KEY = { size: 20, prefixlen: 0, addr: 4 } as const;

export const FAMILY_IPV4 = 4;
export const FAMILY_IPV6 = 6;
export const FAMILY_IPV6_TAIL = 0x16;
/** In a record's vlan: a tag was there; its id is the low 12 bits. */
export const VLAN_TAGGED = 0x1000;

export interface PacketRecord {
  family: 4 | 6;
  /** IPv4: 4 bytes; IPv6: 16 bytes, network order. */
  addr: Uint8Array;
  dst: Uint8Array;
  len: number;
  proto: number;
  sport: number;
  dport: number;
  /** TCP flags (header byte 13), or ICMP's type; 0 otherwise. */
  flags: number;
  /** ICMP's code; 0 otherwise. */
  code: number;
  /** The outermost tag's id, undefined when untagged. */
  vlan?: number;
  seq: number;
}

/**
 * Records as the reader hands them on (RecordBatch): BATCH_WORDS words each,
 * the first slot as the kernel wrote it, then the IPv6 destination (the tail
 * slot's address). An IPv4 record's destination is in its first slot.
 */
export const RECORD_WORDS = RECORD.size / 4;
export const BATCH_WORDS = RECORD_WORDS + 4;
/** Word of a batch record where the IPv6 destination starts. */
export const BATCH_DST6 = RECORD_WORDS;

/**
 * In host order (little-endian where XDP runs), byte `o` of a record is bits
 * 8 * (o % 4) of word o / 4. The readers below take a record where it lies,
 * at word `at` of a page or batch, without copying it.
 */
function u8(words: ArrayLike<number>, at: number, offset: number): number {
  return (words[at + (offset >> 2)]! >>> ((offset & 3) * 8)) & 0xff;
}

/** A little-endian u16 (the kernel's own byte order). */
function u16(words: ArrayLike<number>, at: number, offset: number): number {
  return (words[at + (offset >> 2)]! >>> ((offset & 3) * 8)) & 0xffff;
}

/** A u16 in network order, as ports are stored. */
function be16(words: ArrayLike<number>, at: number, offset: number): number {
  return (u8(words, at, offset) << 8) | u8(words, at, offset + 1);
}

export const recordFamily = (w: ArrayLike<number>, at: number): number => u8(w, at, RECORD.family);
export const recordProto = (w: ArrayLike<number>, at: number): number => u8(w, at, RECORD.proto);
export const recordLen = (w: ArrayLike<number>, at: number): number => u16(w, at, RECORD.len);
export const recordSport = (w: ArrayLike<number>, at: number): number => be16(w, at, RECORD.sport);
export const recordDport = (w: ArrayLike<number>, at: number): number => be16(w, at, RECORD.dport);
/** VLAN_TAGGED | id, or 0 when untagged. */
export const recordVlan = (w: ArrayLike<number>, at: number): number => u16(w, at, RECORD.vlan);
export const recordFlags = (w: ArrayLike<number>, at: number): number => u8(w, at, RECORD.flags);
export const recordCode = (w: ArrayLike<number>, at: number): number => u8(w, at, RECORD.code);
export const recordSeq = (w: ArrayLike<number>, at: number): number => w[at + (RECORD.seq >> 2)]! >>> 0;
/** Byte i of the source address (network order). */
export const recordAddrByte = (w: ArrayLike<number>, at: number, i: number): number => u8(w, at, RECORD.addr + i);
/** Byte i of the destination, in a batch record (network order). */
export const recordDstByte = (w: ArrayLike<number>, at: number, family: number, i: number): number =>
  family === FAMILY_IPV4 ? u8(w, at, RECORD.addr + 4 + i) : u8(w, at + BATCH_DST6, i);

/** Decodes the batch record at word `at` (BATCH_WORDS words); undefined for a slot never written. */
export function decodeRecordWords(words: ArrayLike<number>, at: number): PacketRecord | undefined {
  const family = recordFamily(words, at);
  if (family !== FAMILY_IPV4 && family !== FAMILY_IPV6) return undefined;
  const size = family === FAMILY_IPV4 ? 4 : 16;
  const vlan = recordVlan(words, at);
  return {
    family,
    addr: Uint8Array.from({ length: size }, (_, i) => recordAddrByte(words, at, i)),
    dst: Uint8Array.from({ length: size }, (_, i) => recordDstByte(words, at, family, i)),
    len: recordLen(words, at),
    proto: recordProto(words, at),
    sport: recordSport(words, at),
    dport: recordDport(words, at),
    flags: recordFlags(words, at),
    code: recordCode(words, at),
    ...(vlan & VLAN_TAGGED ? { vlan: vlan & 0x0fff } : {}),
    seq: recordSeq(words, at),
  };
}

/**
 * Decodes the record whose first slot is at byte `offset` (a multiple of 4)
 * of raw ring bytes: an IPv6 record's tail is the slot after it.
 */
export function decodeRecord(bytes: Uint8Array, offset: number): PacketRecord | undefined {
  const slot = new Uint32Array(bytes.buffer, bytes.byteOffset + offset, RECORD_WORDS);
  const words = new Uint32Array(BATCH_WORDS);
  words.set(slot);
  if (recordFamily(slot, 0) === FAMILY_IPV6 && offset + 2 * RECORD.size <= bytes.length) {
    const tail = new Uint32Array(bytes.buffer, bytes.byteOffset + offset + RECORD.size, RECORD_WORDS);
    if (recordFamily(tail, 0) !== FAMILY_IPV6_TAIL || recordSeq(tail, 0) !== (recordSeq(slot, 0) + 1) >>> 0) return undefined;
    words.set(tail.subarray(RECORD.addr / 4, RECORD.addr / 4 + 4), BATCH_DST6);
  }
  return decodeRecordWords(words, 0);
}

export interface Stats {
  seen: bigint;
  outcome: Record<Outcome, bigint>;
  bytes: bigint;
  newSources: bigint;
  /** Slots the CPU's ring has taken: where its next record goes (outcome.logged counts records). */
  ringHead: bigint;
}

export function emptyStats(): Stats {
  return {
    seen: 0n,
    outcome: Object.fromEntries(OUTCOMES.map((o) => [o, 0n])) as Record<Outcome, bigint>,
    bytes: 0n,
    newSources: 0n,
    ringHead: 0n,
  };
}

export function decodeStats(bytes: Uint8Array): Stats {
  const view = new DataView(bytes.buffer, bytes.byteOffset, STATS.size);
  const stats = emptyStats();
  stats.seen = view.getBigUint64(STATS.seen, true);
  OUTCOMES.forEach((name, i) => {
    stats.outcome[name] = view.getBigUint64(STATS.outcome + 8 * i, true);
  });
  stats.bytes = view.getBigUint64(STATS.bytes, true);
  stats.newSources = view.getBigUint64(STATS.newSources, true);
  stats.ringHead = view.getBigUint64(STATS.ringHead, true);
  return stats;
}

/** Per-CPU counters are summed for display; positions stay per CPU. */
export function sumStats(perCpu: Stats[]): Stats {
  const total = emptyStats();
  for (const s of perCpu) {
    total.seen += s.seen;
    for (const o of OUTCOMES) total.outcome[o] += s.outcome[o];
    total.bytes += s.bytes;
    total.newSources += s.newSources;
    total.ringHead += s.ringHead;
  }
  return total;
}

/** One CPU's share of a source's counts in xw_sources. */
export function decodeSourceValue(bytes: Uint8Array): { packets: bigint; bytes: bigint } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, SOURCE_VALUE.size);
  return { packets: view.getBigUint64(SOURCE_VALUE.packets, true), bytes: view.getBigUint64(SOURCE_VALUE.bytes, true) };
}

export interface ProgramConfig {
  log: boolean;
  sources: boolean;
  block: boolean;
  srcFilter: boolean;
  /** Allowed IP protocol numbers; undefined allows all. */
  protos?: readonly number[];
  /** Allowed ports (source or destination); undefined allows all. */
  ports?: readonly number[];
  /** Log one in N matching packets. */
  sample: number;
  /** Classic BPF from `tcpdump -ddd`, evaluated in the program: `match` selects, `drop` drops. */
  expression?: { match?: readonly ClassicInsn[]; drop?: readonly ClassicInsn[] };
  /** What `sources` counts per; undefined: the source address. */
  by?: BySpec;
}

/** One classic BPF instruction (struct sock_filter). */
export interface ClassicInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** `ringShift`: log2 of the ring pages each CPU gets. */
export function encodeConfig(cfg: ProgramConfig, ringShift = RING_SHIFT_DEFAULT): Uint8Array {
  const bytes = new Uint8Array(CONFIG.size);
  const view = new DataView(bytes.buffer);
  let flags = 0;
  if (cfg.log) flags |= FLAG.log;
  if (cfg.sources) flags |= FLAG.sources;
  if (cfg.block) flags |= FLAG.block;
  if (cfg.srcFilter) flags |= FLAG.srcFilter;
  if (cfg.expression?.match) flags |= FLAG.matchExpr;
  if (cfg.expression?.drop) flags |= FLAG.dropExpr;
  if (cfg.protos) {
    flags |= FLAG.protoFilter;
    for (const p of cfg.protos) bytes[CONFIG.protos + (p >> 3)]! |= 1 << (p & 7);
  }
  if (cfg.ports) {
    flags |= FLAG.portFilter;
    for (const p of cfg.ports) bytes[CONFIG.ports + (p >> 3)]! |= 1 << (p & 7);
  }
  if (cfg.sample > 1) flags |= FLAG.sample;
  view.setUint32(CONFIG.flags, flags, true);
  view.setUint32(CONFIG.sample, cfg.sample, true);
  view.setUint32(CONFIG.ringShift, ringShift, true);
  view.setUint32(CONFIG.ringMask, (1 << ringShift) - 1, true);
  const by = cfg.by ?? { key: "src" };
  view.setUint32(CONFIG.by, BY_KEYS.indexOf(by.key), true);
  if (by.prefix) {
    view.setUint32(CONFIG.byMasked, 1, true);
    bytes.set(prefixMask(by.prefix.v4, 32), CONFIG.mask4);
    bytes.set(prefixMask(by.prefix.v6, 128), CONFIG.mask6);
  }
  return bytes;
}

/** The first `len` of `bits` bits set, in network order. */
function prefixMask(len: number, bits: number): Uint8Array {
  return Uint8Array.from({ length: bits / 8 }, (_, i) => (0xff00 >> Math.max(0, Math.min(8, len - 8 * i))) & 0xff);
}

function prefixLength(mask: Uint8Array): number {
  let len = 0;
  for (const b of mask) len += Math.clz32(~(b << 24));
  return len;
}

/** --by as a loaded program's configuration says (its .rodata, read back for `metrics`). */
export function decodeBy(config: Uint8Array): BySpec {
  const view = new DataView(config.buffer, config.byteOffset, CONFIG.size);
  const key = BY_KEYS[view.getUint32(CONFIG.by, true)];
  if (!key) throw new Error(`unknown --by kind ${view.getUint32(CONFIG.by, true)} in the program's configuration`);
  if (!view.getUint32(CONFIG.byMasked, true)) return { key };
  const at = (o: number, n: number) => config.subarray(o, o + n);
  return { key, prefix: { v4: prefixLength(at(CONFIG.mask4, 4)), v6: prefixLength(at(CONFIG.mask6, 16)) } };
}

/** An LPM trie key: prefix length over the IPv4-mapped 128-bit address. */
export function encodeCidrKey(mapped: Uint8Array, prefixlen: number): Uint8Array {
  const bytes = new Uint8Array(CIDR_KEY.size);
  new DataView(bytes.buffer).setUint32(CIDR_KEY.prefixlen, prefixlen, true);
  bytes.set(mapped, CIDR_KEY.addr);
  return bytes;
}
