/** Arguments shared by several commands: one definition each. */
import type { ArgsDef } from "citty";
import { usageError } from "../errors";

export const ifaceArgs = {
  iface: { type: "string", alias: "i", description: "network interface to watch (as in tcpdump -i)", valueHint: "IF" },
} as const satisfies ArgsDef;

export const outputArgs = {
  json: { type: "boolean", description: "print NDJSON records on stdout (diagnostics stay on stderr)" },
  verbose: { type: "boolean", description: "show debug output, and stack traces on errors" },
  quiet: { type: "boolean", alias: "q", description: "only warnings and errors on stderr" },
} as const satisfies ArgsDef;

export const attachArgs = {
  mode: { type: "string", default: "auto", description: "auto (native, else generic) | native | generic", valueHint: "MODE" },
  object: { type: "string", description: "load this compiled XDP object instead of the embedded one", valueHint: "FILE" },
  force: { type: "boolean", description: "replace an XDP program that xdpwatch did not attach (says which)" },
} as const satisfies ArgsDef;

export const runArgs = {
  count: { type: "string", alias: "c", description: "stop after N packets", valueHint: "N" },
  duration: { type: "string", alias: "d", description: "stop after SEC seconds", valueHint: "SEC" },
} as const satisfies ArgsDef;

/** Linux interface names: 1 to 15 bytes, no '/', ':' or white space, not "." or "..". */
export function parseIface(value: unknown): string {
  if (typeof value !== "string" || value === "") throw usageError("--iface is required", "example: xdpwatch watch --iface eth0");
  if (Buffer.byteLength(value) > 15) throw usageError(`interface name "${value}" is longer than 15 bytes`);
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

/**
 * Every value given for a repeatable flag (citty keeps only the last).
 * Accepts "--flag v", "--flag=v" and the alias forms.
 */
export function repeated(rawArgs: readonly string[], name: string, alias?: string): string[] {
  const names = [`--${name}`, ...(alias ? [`-${alias}`] : [])];
  const values: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") break;
    const eq = names.find((n) => arg.startsWith(`${n}=`));
    if (eq) values.push(arg.slice(eq.length + 1));
    else if (names.includes(arg)) {
      const next = rawArgs[i + 1];
      if (next === undefined) throw usageError(`${arg} needs a value`);
      values.push(next);
      i++;
    }
  }
  return values;
}

/** citty accepts unknown flags silently; a typo must not run a command with defaults. */
export function rejectUnknownArgs(rawArgs: readonly string[], argsDef: ArgsDef): void {
  const known = new Map<string, boolean>();
  for (const [name, def] of Object.entries(argsDef)) {
    const takesValue = def.type === "string" || def.type === "enum";
    known.set(`--${name}`, takesValue);
    if (def.type === "boolean") known.set(`--no-${name}`, false);
    for (const a of ["alias" in def ? (def.alias ?? []) : []].flat()) known.set(a.length === 1 ? `-${a}` : `--${a}`, takesValue);
  }
  known.set("--help", false).set("-h", false);
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") return;
    if (!arg.startsWith("-") || arg === "-") {
      if (!Object.values(argsDef).some((d) => d.type === "positional")) throw usageError(`unexpected argument "${arg}"`);
      continue;
    }
    const name = arg.includes("=") ? arg.slice(0, arg.indexOf("=")) : arg;
    const takesValue = known.get(name);
    if (takesValue === undefined) throw usageError(`unknown option ${name}`, "see --help for the options");
    if (takesValue && !arg.includes("=")) {
      if (rawArgs[i + 1] === undefined) throw usageError(`${name} needs a value`);
      i++;
    }
  }
}
