/** Turning decoded records into what people and scripts read. */
import { FAMILY_IPV4, type Stats } from "../bpf/layout";
import { log } from "../log";
import type { ProgramCost } from "../xdp/cost";

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
