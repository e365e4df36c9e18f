/**
 * Arguments shared by several commands: one definition each, and the readers
 * of single values. Every command loads this module, so it stays light: the
 * flags that configure the program (filters, --block, --drop, --by), which
 * need tcpdump, CIDR and protocol parsing and the program's layout, are read
 * in ./_filters.
 */
import type { ArgsDef } from "citty";
import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { usageError } from "../errors";

export const ifaceArgs = {
  iface: { type: "string", alias: "i", description: "network interface (as in tcpdump -i)", valueHint: "IF" },
} as const satisfies ArgsDef;

export const outputArgs = {
  json: { type: "boolean", description: "print NDJSON records on stdout (diagnostics stay on stderr)" },
  verbose: { type: "boolean", description: "show debug output, and stack traces on errors" },
  quiet: { type: "boolean", alias: "q", description: "only warnings and errors on stderr" },
} as const satisfies ArgsDef;

export const attachArgs = {
  mode: { type: "string", default: "auto", description: "auto (native, else generic; generic on veth) | native | generic", valueHint: "MODE" },
  object: { type: "string", description: "load this compiled XDP object instead of the embedded one", valueHint: "FILE" },
  force: { type: "boolean", description: "replace an XDP program that xdpwatch did not attach (says which; put back when xdpwatch stops)" },
} as const satisfies ArgsDef;

export const statsArgs = {
  stats: { type: "boolean", description: "measure the program's ns/packet on live traffic (turns kernel.bpf_stats_enabled on for the run)" },
} as const satisfies ArgsDef;

export const runArgs = {
  count: { type: "string", alias: "c", description: "stop after N packets", valueHint: "N" },
  duration: { type: "string", alias: "d", description: "stop after SEC seconds", valueHint: "SEC" },
} as const satisfies ArgsDef;

/** The words after the options, as tcpdump takes them (quoted or not; after `--` when one starts with "-"). */
export const expressionArgs = {
  expression: {
    type: "positional",
    required: false,
    description: "tcpdump filter expression (man 7 pcap-filter), evaluated in the kernel: only matching frames count",
    valueHint: "EXPRESSION",
  },
} as const satisfies ArgsDef;

/** In-kernel filters: a frame outside them is counted as filtered, not logged or counted per source. */
export const filterArgs = {
  ...expressionArgs,
  src: { type: "string", description: "only sources in CIDR, IPv4 or IPv6 (repeatable, or comma-separated)", valueHint: "CIDR" },
  proto: { type: "string", description: "only protocol tcp, udp, icmp, icmpv6, … or a number 0-255 (repeatable)", valueHint: "PROTO" },
  port: { type: "string", description: "only TCP/UDP with this source or destination port (repeatable)", valueHint: "PORT" },
} as const satisfies ArgsDef;

/** watch only: top and attach --sources count every matching packet, there is no log to thin out. */
export const sampleArgs = {
  sample: { type: "string", description: "log one in N matching packets; the rest are counted as sampled out", valueHint: "N" },
} as const satisfies ArgsDef;

export const blockArgs = {
  block: { type: "string", description: "drop frames from sources in CIDR, IPv4 or IPv6 (XDP_DROP; repeatable)", valueHint: "CIDR" },
  drop: { type: "string", description: "drop frames a tcpdump expression matches (XDP_DROP, counted as blocked; repeatable)", valueHint: "EXPRESSION" },
  yes: { type: "boolean", description: "allow a --block range holding every source, this interface's address or your SSH client, or a --drop matching every frame" },
} as const satisfies ArgsDef;

export const metricsArgs = {
  "prometheus-file": { type: "string", description: "write Prometheus metrics to FILE, replaced atomically (node_exporter textfile collector)", valueHint: "FILE" },
} as const satisfies ArgsDef;

export const byArgs = {
  by: {
    type: "string",
    description: "count per src (default), dst, sport, dport, proto, flow, or prefix src/24, dst/24 (IPv6 /64; src/24,48 sets it)",
    valueHint: "KEY",
  },
} as const satisfies ArgsDef;

export const DEFAULT_LIMIT = 20;

export const limitArgs = {
  limit: { type: "string", default: String(DEFAULT_LIMIT), description: "the N sources with the most packets", valueHint: "N" },
} as const satisfies ArgsDef;

/** Linux interface names: 1 to 15 bytes, no '/', ':' or white space, not "." or "..". */
export function parseIface(value: unknown): string {
  if (typeof value !== "string" || value === "") throw usageError("--iface is required", "example: xdpwatch watch --iface eth0");
  if (new TextEncoder().encode(value).length > 15) throw usageError(`interface name "${value}" is longer than 15 bytes`);
  if (value === "." || value === ".." || /[/:\s]/.test(value) || /[\x00-\x1f\x7f]/.test(value))
    throw usageError(`"${value}" is not a valid interface name`);
  return value;
}

export function parseMode(value: unknown): "auto" | "native" | "generic" {
  if (value === "auto" || value === "native" || value === "generic") return value;
  throw usageError(`--mode must be auto, native or generic, not "${String(value)}"`);
}

/** A whole number in [min, max], or undefined when the flag was not given. */
export function parseCount(value: unknown, flag: string, min = 1, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const n = Number(text);
  if (text === "" || !Number.isInteger(n) || n < min || n > max)
    throw usageError(`${flag} must be a whole number from ${min} to ${max}, not "${String(value)}"`);
  return n;
}

/** Seconds, fractions allowed, greater than zero. */
export function parseSeconds(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const n = Number(text);
  if (text === "" || !Number.isFinite(n) || n <= 0 || n > 365 * 86400)
    throw usageError(`${flag} must be a number of seconds greater than 0, not "${String(value)}"`);
  return n;
}

/** The file must be creatable by rename: its directory has to exist, checked before anything attaches. */
export function parsePrometheusFile(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw usageError("--prometheus-file needs a file name");
  const path = resolve(value);
  if (!statSync(dirname(path), { throwIfNoEntry: false })?.isDirectory()) throw usageError(`--prometheus-file: directory ${dirname(path)} does not exist`);
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw usageError(`--prometheus-file: ${path} is a directory`);
  return path;
}

