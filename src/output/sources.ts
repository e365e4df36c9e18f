/** What `top` prints each interval: an NDJSON record, or a table for people. */
import { byText, SOURCES_MAX, type BySpec } from "../bpf/layout";
import type { KeyFields, SourceRow, SourceTable } from "../xdp/sources";
import { localTime, protoName } from "./format";
import { alignColumns } from "./table";

export interface SourcesSnapshot {
  /** Time (ms) of the read. */
  ts: number;
  iface: string;
  /** What the rows are counted per; undefined: source addresses. */
  by?: BySpec;
  table: SourceTable<SourceRow>;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A key's fields as scripts and labels get them: the protocol by name, as in records. */
export function keyJson(k: KeyFields): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(k) as [keyof KeyFields, string | number][])
    out[name] = name === "proto" ? protoName(value as number) : value;
  return out;
}

const HEADINGS: Record<keyof KeyFields, string> = { src: "SOURCE", dst: "DESTINATION", proto: "PROTO", sport: "SPORT", dport: "DPORT" };
/** The fields of each --by key, in the order they are shown (a flow: all five). */
const FIELDS: Record<BySpec["key"], (keyof KeyFields)[]> = {
  src: ["src"], dst: ["dst"], sport: ["sport"], dport: ["dport"], proto: ["proto"], flow: ["src", "dst", "proto", "sport", "dport"],
};
/** What the header counts: "3 sources", "2 flows". */
const NOUNS: Record<BySpec["key"], string> = {
  src: "source", dst: "destination", sport: "source port", dport: "destination port", proto: "protocol", flow: "flow",
};

export function sourcesJson(s: SourcesSnapshot) {
  return {
    type: "sources" as const,
    ts: iso(s.ts),
    iface: s.iface,
    by: byText(s.by ?? { key: "src" }),
    // The key under its own name(s) first: {"dport": 53, …}.
    sources: s.table.top.map((r): Record<string, string | number> => ({
      ...keyJson(r.key),
      packets: Number(r.packets),
      bytes: Number(r.bytes),
      pps: r.pps,
      bps: r.bps,
      first_seen: iso(r.firstSeen),
      last_seen: iso(r.lastSeen),
    })),
    tracked: s.table.tracked,
    evicted: s.table.evicted,
  };
}

/** A rate for people: 950, 12.5k, 3.2M, 1.0G. */
export function siRate(n: number): string {
  if (n < 1000) return String(Math.round(n));
  const [value, unit] = n < 1e6 ? [n / 1e3, "k"] : n < 1e9 ? [n / 1e6, "M"] : [n / 1e9, "G"];
  return `${value.toFixed(1)}${unit}`;
}

export function sourcesTable(s: SourcesSnapshot): string[] {
  const by = s.by ?? { key: "src" };
  const { top, tracked, evicted } = s.table;
  const noun = by.prefix ? `${NOUNS[by.key]} prefix` : NOUNS[by.key];
  const plural = noun.endsWith("x") ? `${noun}es` : `${noun}s`;
  const notes = [`${tracked} ${tracked === 1 ? noun : plural}`];
  if (top.length < tracked) notes.push(`top ${top.length} shown`);
  if (evicted > 0) notes.push(`${evicted} more not tracked (the kernel's table holds ${SOURCES_MAX}; the oldest were evicted)`);
  const header = `${localTime(s.ts, false)}  ${s.iface}: ${notes.join(" · ")}`;
  if (top.length === 0) return [header, "nothing counted yet"];
  const fields = FIELDS[by.key];
  const rows = top.map((r) => {
    const key = keyJson(r.key);
    return [
      ...fields.map((f) => String(key[f])),
      String(r.packets), String(r.bytes), r.pps.toFixed(1), siRate(r.bps), localTime(r.firstSeen, false), localTime(r.lastSeen, false),
    ];
  });
  const headings = [...fields.map((f) => HEADINGS[f]), "PACKETS", "BYTES", "PKT/S", "BIT/S", "FIRST SEEN", "LAST SEEN"];
  return [header, ...alignColumns([headings, ...rows]).split("\n")];
}
