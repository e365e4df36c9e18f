/**
 * The flags that configure the program: the filter and block flags (--src,
 * --proto, --port, --sample, --block, --drop and the tcpdump expression),
 * read once for every command that takes some of them and compiled by
 * tcpdump before anything is attached, and --by.
 */
import { matchesEverything, parseDdd, unsupported } from "../bpf/cbpf";
import { BY_KEYS, byText, CIDRS_MAX, type ByKey, type BySpec, type ClassicInsn, type ProgramConfig } from "../bpf/layout";
import { usageError } from "../errors";
import { parseCidr, type Cidr } from "../net/cidr";
import { protoName, protoNumber } from "../output/format";
import { compileFilter } from "../tools/tcpdump";
import { parseCount } from "./_args";
import { optionValues } from "./_command";

/** What the filter and block flags ask of the program. */
export interface Filters {
  config: Pick<ProgramConfig, "block" | "srcFilter" | "protos" | "ports" | "sample" | "expression">;
  block: Cidr[];
  srcFilter: Cidr[];
  /** The tcpdump expression that selects, as given. */
  expression?: string;
  /** The --drop expressions, as given. */
  drop?: string[];
}

/** libpcap's classic BPF for an expression; refused here when xdpwatch cannot run it. */
async function classicProgram(expression: string): Promise<ClassicInsn[]> {
  const prog = parseDdd(await compileFilter(expression));
  const why = unsupported(prog);
  if (why) throw usageError(`xdpwatch cannot evaluate "${expression}" in XDP: ${why}`);
  return prog;
}

/**
 * The expression and the --drop expressions compiled by tcpdump, before
 * anything is attached: an invalid one is refused with tcpdump's own words.
 * `yes` allows a --drop that matches every frame.
 */
export async function compileFilters(f: Filters, yes: boolean): Promise<Filters> {
  const match = f.expression === undefined ? undefined : await classicProgram(f.expression);
  // Several --drop expressions drop what any of them matches: one program, compiled by libpcap,
  // once each has been checked alone (so that an error names the one at fault).
  if (f.drop && f.drop.length > 1) for (const d of f.drop) await classicProgram(d);
  const dropText = f.drop && f.drop.length > 1 ? f.drop.map((d) => `(${d})`).join(" or ") : f.drop?.[0];
  const drop = dropText === undefined ? undefined : await classicProgram(dropText);
  if (drop && matchesEverything(drop) && !yes)
    throw usageError(`--drop "${dropText}" matches every frame: nothing would get through`, "if that is what you want, add --yes");
  return match || drop ? { ...f, config: { ...f.config, expression: { match, drop } } } : f;
}

/** Every value of a repeatable flag, comma lists split: "--proto tcp,udp --proto icmp". */
function listValues(args: object, name: string): string[] {
  return optionValues(args, name).flatMap((value) =>
    value.split(",").map((item) => {
      if (item.trim() === "") throw usageError(`--${name}: empty value in "${value}"`);
      return item.trim();
    }),
  );
}

function parseCidrs(args: object, name: string): Cidr[] {
  const byText = new Map(listValues(args, name).map((v) => parseCidr(v, `--${name}`)).map((c) => [c.text, c]));
  if (byText.size > CIDRS_MAX) throw usageError(`--${name}: at most ${CIDRS_MAX} ranges, not ${byText.size}`);
  return [...byText.values()];
}

function parseProto(value: string): number {
  const n = protoNumber(value);
  if (n === undefined)
    throw usageError(`--proto: "${value}" is not a protocol name (tcp, udp, icmp, icmpv6, …) or a number from 0 to 255`);
  return n;
}

/** A list filter given no values allows everything: undefined, not []. */
function uniqueOrAll(values: number[]): number[] | undefined {
  return values.length > 0 ? [...new Set(values)].sort((a, b) => a - b) : undefined;
}

/**
 * The one reading of --block, --src, --proto, --port, --sample, --drop and the
 * expression words for every command that takes some of them, from what
 * parseCommandArgs read (flags a command does not define were refused there).
 */
export function parseFilters(args: Readonly<Record<string, unknown>>): Filters {
  const block = parseCidrs(args, "block");
  const srcFilter = parseCidrs(args, "src");
  // The words that are neither options nor their values (and all after "--") are in `_`.
  const words = Array.isArray(args._) ? (args._ as unknown[]).map(String) : [];
  const drop = optionValues(args, "drop");
  if (drop.some((d) => d.trim() === "")) throw usageError("--drop needs an expression", "an empty expression matches every frame");
  return {
    config: {
      block: block.length > 0,
      srcFilter: srcFilter.length > 0,
      protos: uniqueOrAll(listValues(args, "proto").map(parseProto)),
      ports: uniqueOrAll(listValues(args, "port").map((p) => parseCount(p, "--port", 1, 65535)!)),
      // The kernel field is a u32.
      sample: parseCount(args.sample, "--sample", 1, 2 ** 32 - 1) ?? 1,
    },
    block,
    srcFilter,
    expression: words.length > 0 ? words.join(" ") : undefined,
    drop: drop.length > 0 ? drop : undefined,
  };
}

/**
 * The filters as the program got them (CIDRs normalised), and --by when it is
 * not the default, for the start-up line and `status`; undefined when none.
 */
export function describeFilters(f: Filters, by?: BySpec): string | undefined {
  const parts: string[] = [];
  if (by && byText(by) !== "src") parts.push(`by ${byText(by)}`);
  if (f.block.length > 0) parts.push(`dropping ${f.block.map((c) => c.text).join(", ")}`);
  if (f.drop) parts.push(`dropping ${f.drop.map((d) => `"${d}"`).join(" or ")}`);
  if (f.expression !== undefined) parts.push(`expression "${f.expression}"`);
  if (f.srcFilter.length > 0) parts.push(`src ${f.srcFilter.map((c) => c.text).join(", ")}`);
  if (f.config.protos) parts.push(`proto ${f.config.protos.map(protoName).join(", ")}`);
  if (f.config.ports) parts.push(`port ${f.config.ports.join(", ")}`);
  if (f.config.sample > 1) parts.push(`logging 1 in ${f.config.sample}`);
  return parts.length > 0 ? parts.join(" · ") : undefined;
}

/** What an IPv6 address is cut to when --by names only an IPv4 prefix: one subnet, what a single host or site LAN gets. */
export const DEFAULT_V6_PREFIX = 64;

/** --by KEY: a key, or src/V4[,V6] / dst/V4[,V6]; undefined when not given. */
export function parseBy(value: unknown): BySpec | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const m = /^([a-z]+)(?:\/(\d{1,3})(?:,(\d{1,3}))?)?$/.exec(text);
  const key = m?.[1] as ByKey | undefined;
  if (!m || !key || !BY_KEYS.includes(key))
    throw usageError(`--by: "${String(value)}" is not a key`, `one of ${BY_KEYS.join(", ")}, or a prefix such as src/24 or dst/24,48`);
  if (m[2] === undefined) return { key };
  if (key !== "src" && key !== "dst") throw usageError(`--by: only src and dst take a prefix, not ${key} ("${text}")`);
  const v4 = Number(m[2]);
  const v6 = m[3] === undefined ? DEFAULT_V6_PREFIX : Number(m[3]);
  if (v4 > 32) throw usageError(`--by ${text}: an IPv4 prefix is 0 to 32 bits, not ${v4}`);
  if (v6 > 128) throw usageError(`--by ${text}: an IPv6 prefix is 0 to 128 bits, not ${v6}`);
  return { key, prefix: { v4, v6 } };
}
