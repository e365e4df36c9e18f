#!/usr/bin/env bun
/**
 * The entry point: help, the version, or one command; any error becomes one
 * line and an exit code. It imports only what every run needs: a command,
 * its argument parser and the logger load when used, so that --help,
 * --version and `status` start about as fast as Bun itself
 * (scripts/bench-startup.ts).
 */
import type { ArgsDef, CommandDef } from "citty";
// Hashed from the embedded object by scripts/build-bpf.ts (test/bpf/tag.test.ts checks them against the kernel).
import tags from "../dist/bpf/xdpwatch.tags.json" with { type: "json" };
import { rootMeta, subCommands, type CommandName } from "./commands";
import { EXIT, XwError } from "./errors";

type Loaded = CommandDef<ArgsDef>;

const HELP_FLAGS = ["--help", "-h"];

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(subCommands, name);
}

function unknownCommand(name: string): XwError {
  return new XwError(`unknown command "${name}"`, { exitCode: EXIT.usage, hint: "xdpwatch --help lists the commands" });
}

async function loadCommand(name: CommandName): Promise<Loaded> {
  return (await subCommands[name]()) as Loaded;
}

/** The --help pages are loaded by help alone (src/commands/usage.ts). */
async function usage(name?: CommandName): Promise<string> {
  return (await import("./commands/usage")).usage(name);
}

/** `xdpwatch help [CMD]` and `xdpwatch --help [CMD]`: the same usage as `xdpwatch [CMD] --help`. */
async function help(args: string[]): Promise<number> {
  const [name, extra] = args.filter((a) => !HELP_FLAGS.includes(a));
  if (extra !== undefined) throw new XwError(`unexpected argument "${extra}"`, { exitCode: EXIT.usage, hint: "xdpwatch help COMMAND" });
  if (name !== undefined && !isCommand(name)) throw unknownCommand(name);
  console.log(`${await usage(name)}\n`);
  return EXIT.ok;
}

export async function runCli(rawArgs: string[]): Promise<number> {
  const verbose = rawArgs.includes("--verbose");
  try {
    const [first, ...rest] = rawArgs;
    if (first === undefined) {
      console.log(`${await usage()}\n`);
      return EXIT.usage;
    }
    if (rawArgs.length === 1 && (first === "--version" || first === "-v")) {
      console.log(versionText());
      return EXIT.ok;
    }
    if (first === "help" || HELP_FLAGS.includes(first)) return await help(rest);
    if (first.startsWith("-")) throw new XwError(`unknown option ${first}`, { exitCode: EXIT.usage, hint: "xdpwatch --help lists the commands" });
    if (!isCommand(first)) throw unknownCommand(first);
    if (rest.some((a) => HELP_FLAGS.includes(a))) return await help([first]);
    const [cmd, { runCommand }, { setVerbosity }] = await Promise.all([loadCommand(first), import("./commands/_command"), import("./log")]);
    setVerbosity({ verbose, quiet: rest.includes("--quiet") || rest.includes("-q") });
    await runCommand(cmd, rest);
    return EXIT.ok;
  } catch (err) {
    return reportError(err, verbose);
  }
}

/** The version, and the embedded program's tag as `bpftool prog show` will print it. */
function versionText(): string {
  return `xdpwatch ${rootMeta.version}\nprogram xdpwatch tag ${tags.sha256} (kernels before 6.18: ${tags.sha1})`;
}

/** One line a user can act on (and a hint), on stderr; a stack trace only with --verbose. */
async function reportError(err: unknown, verbose: boolean): Promise<number> {
  const { log, writeStderr } = await import("./log");
  const line = (text: string) => writeStderr(`xdpwatch: ${text}\n`);
  if (err instanceof XwError) {
    line(`error: ${err.message}`);
    if (err.hint) line(`hint: ${err.hint}`);
    if (verbose && err.cause) log.debug(err.cause);
    return err.exitCode;
  }
  line(`internal error: ${(err as Error).message ?? String(err)}`);
  if (verbose) log.error(err);
  else line("hint: run again with --verbose for the stack trace");
  return EXIT.failure;
}

if (import.meta.main) {
  process.exitCode = await runCli(process.argv.slice(2));
  // A pending stdin/timer must not keep a finished command alive.
  process.exit();
}
