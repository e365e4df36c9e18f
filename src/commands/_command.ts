/**
 * What runs of citty at every start: a command's definition, and its
 * arguments read against it. citty's own module loads node:util for its
 * parser, about 1 ms at every start (scripts/bench-startup.ts), so xdpwatch
 * takes citty's types, and its usage pages at build time (./index), and reads
 * the arguments here: as citty does (test/commands/args.test.ts compares the
 * two), but refusing what citty lets through silently, an unknown option or a
 * stray word: a typo must not run a command with its defaults.
 */
import type { ArgDef, ArgsDef, CommandDef, ParsedArgs } from "citty";
import { usageError } from "../errors";

/** citty's defineCommand: the definition as given, typed. */
export function defineCommand<const T extends ArgsDef = ArgsDef>(def: CommandDef<T>): CommandDef<T> {
  return def;
}

/** Where parsed arguments keep every value of each option, in order; optionValues() reads it. */
const VALUES = Symbol("every value of each option");

/** Every value an option was given, in order: --block, --drop and the list options may be given more than once. */
export function optionValues(args: object, name: string): string[] {
  return (args as { [VALUES]?: Map<string, string[]> })[VALUES]?.get(name) ?? [];
}

/**
 * Options by name (`--name`, `--name=value`, an alias, `--no-name` for a
 * boolean), defaults filled in, the last value of an option given more than
 * once (all of them: optionValues); positional arguments by name in their
 * order; every word that is no option (and all after `--`) in `_`.
 */
export function parseCommandArgs<T extends ArgsDef>(rawArgs: readonly string[], argsDef: T): ParsedArgs<T> {
  const args: Record<string, unknown> = {};
  const values = new Map<string, string[]>();
  const byFlag = new Map<string, [name: string, def: ArgDef]>();
  const positionals: string[] = [];
  for (const [name, def] of Object.entries(argsDef)) {
    if (def.type === "positional") {
      positionals.push(name);
      continue;
    }
    if (def.default !== undefined) args[name] = def.default;
    byFlag.set(`--${name}`, [name, def]);
    for (const alias of ["alias" in def ? (def.alias ?? []) : []].flat()) byFlag.set(alias.length === 1 ? `-${alias}` : `--${alias}`, [name, def]);
  }
  const words: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") {
      words.push(...rawArgs.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (positionals.length === 0) throw usageError(`unexpected argument "${arg}"`);
      words.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const negated = flag.startsWith("--no-") && eq < 0 ? byFlag.get(`--${flag.slice(5)}`) : undefined;
    if (negated?.[1].type === "boolean") {
      args[negated[0]] = false;
      continue;
    }
    const option = byFlag.get(flag);
    if (!option) throw usageError(`unknown option ${flag}`, "see --help for the options");
    const [name, def] = option;
    if (def.type === "boolean") {
      args[name] = eq < 0 || arg.slice(eq + 1) !== "false";
      continue;
    }
    const value = eq < 0 ? rawArgs[++i] : arg.slice(eq + 1);
    // Another of the options is no value: `--drop --block 198.18.0.0/15` forgot the expression.
    if (value === undefined || (eq < 0 && byFlag.has(value.split("=")[0]!))) throw usageError(`${flag} needs a value`);
    if (def.type === "enum" && "options" in def && def.options?.length && !def.options.includes(value))
      throw usageError(`${flag} must be one of ${def.options.join(", ")}, not "${value}"`);
    args[name] = value;
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  for (const [n, name] of positionals.entries()) {
    const def = argsDef[name]!;
    args[name] = words[n] ?? def.default;
    if (args[name] === undefined && def.required !== false) throw usageError(`missing ${name.toUpperCase()}`, "see --help for the arguments");
  }
  for (const [name, def] of Object.entries(argsDef))
    if (def.type !== "positional" && def.required && args[name] === undefined) throw usageError(`--${name} is required`);
  return Object.assign({ ...args, _: words }, { [VALUES]: values }) as ParsedArgs<T>;
}

/** Runs a command with its arguments read from the words after its name. */
export async function runCommand(cmd: CommandDef<ArgsDef>, rawArgs: string[]): Promise<void> {
  const argsDef = ((await cmd.args) ?? {}) as ArgsDef;
  await cmd.run?.({ rawArgs, args: parseCommandArgs(rawArgs, argsDef), cmd });
}
