/** Turning decoded records into what people and scripts read. */
import type { Stats } from "../bpf/layout";
import { log } from "../log";
import { formatAddress } from "../net/cidr";
import type { ProgramCost } from "../xdp/cost";
import type { LoggedPacket } from "../xdp/reader";

const PROTO_NAMES: Record<number, string> = {
  1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp",
  51: "ah", 58: "icmpv6", 89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp", 136: "udplite",
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

export function hasPorts(p: LoggedPacket): boolean {
  return p.proto === 6 || p.proto === 17;
}

export interface PacketJson {
  type: "packet";
  ts: string;
  iface: string;
  src: string;
  family: 4 | 6;
  proto: string;
  len: number;
  sport?: number;
  dport?: number;
  vlan?: number;
  cpu: number;
}

export function packetJson(p: LoggedPacket, iface: string): PacketJson {
  const rec: PacketJson = {
    type: "packet",
    ts: new Date(p.ts).toISOString(),
    iface,
    src: formatAddress(p.addr),
    family: p.family as 4 | 6,
    proto: protoName(p.proto),
    len: p.len,
    cpu: p.cpu,
  };
  if (hasPorts(p)) {
    rec.sport = p.sport;
    rec.dport = p.dport;
  }
  if (p.vlan) rec.vlan = p.vlan;
  return rec;
}

/** Wall-clock time of day; milliseconds only where the time is that precise. */
export function localTime(ms: number, withMs = true): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${time}.${pad(d.getMilliseconds(), 3)}` : time;
}

export function packetLine(p: LoggedPacket): string {
  const ports = hasPorts(p) ? ` ${p.sport} → ${p.dport}` : "";
  const vlan = p.vlan ? `  vlan ${p.vlan}` : "";
  return `${localTime(p.ts)}  ${formatAddress(p.addr).padEnd(15)}  ${protoName(p.proto)}${ports}  ${p.len} B${vlan}`;
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
