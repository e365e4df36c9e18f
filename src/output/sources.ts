/** What `top` prints each interval: an NDJSON record, or a table for people. */
import { SOURCES_MAX } from "../bpf/layout";
import type { SourceRow, SourceTable } from "../xdp/sources";
import { localTime } from "./format";
import { alignColumns } from "./table";

export interface SourcesSnapshot {
  /** Time (ms) of the read. */
  ts: number;
  iface: string;
  table: SourceTable<SourceRow>;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function sourcesJson(s: SourcesSnapshot) {
  return {
    type: "sources" as const,
    ts: iso(s.ts),
    iface: s.iface,
    sources: s.table.top.map((r) => ({
      src: r.src,
      packets: Number(r.packets),
      bytes: Number(r.bytes),
      pps: r.pps,
      first_seen: iso(r.firstSeen),
      last_seen: iso(r.lastSeen),
    })),
    tracked: s.table.tracked,
    evicted: s.table.evicted,
  };
}

export function sourcesTable(s: SourcesSnapshot): string[] {
  const { top, tracked, evicted } = s.table;
  const notes = [`${tracked} source${tracked === 1 ? "" : "s"}`];
  if (top.length < tracked) notes.push(`top ${top.length} shown`);
  if (evicted > 0) notes.push(`${evicted} more not tracked (the kernel's table holds ${SOURCES_MAX}; the oldest were evicted)`);
  const header = `${localTime(s.ts, false)}  ${s.iface}: ${notes.join(" · ")}`;
  if (top.length === 0) return [header, "nothing counted yet"];
  const rows = top.map((r) => [r.src, String(r.packets), String(r.bytes), r.pps.toFixed(1), localTime(r.firstSeen, false), localTime(r.lastSeen, false)]);
  return [header, ...alignColumns([["SOURCE", "PACKETS", "BYTES", "PKT/S", "FIRST SEEN", "LAST SEEN"], ...rows]).split("\n")];
}
