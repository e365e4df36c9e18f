#!/usr/bin/env bun
import { stripAnsi } from "consola/utils";
import { defineCommand, renderUsage, runCommand, type ArgsDef, type CommandDef } from "citty";
import pkg from "../package.json" with { type: "json" };
import { EXIT, XwError } from "./errors";
import { log, setVerbosity } from "./log";
import { rejectUnknownArgs } from "./commands/_args";
import { examples, subCommands } from "./commands";


export const main = defineCommand({
  meta: {
    name: "xdpwatch",
    version: pkg.version,
    description: "See, at XDP speed, which sources send packets to an interface",
  },
  subCommands,
});

type Loaded = CommandDef<ArgsDef>;

async function findCommand(rawArgs: string[]): Promise<{ cmd: Loaded; name?: string; rest: string[] }> {
  const name = rawArgs[0];
  if (name && name in subCommands) {
    const cmd = (await subCommands[name as keyof typeof subCommands]()) as Loaded;
    return { cmd, name, rest: rawArgs.slice(1) };
  }
  return { cmd: main as Loaded, rest: rawArgs };
}

async function usage(cmd: Loaded, name?: string): Promise<string> {
  const rendered = await renderUsage(cmd, cmd === main ? undefined : (main as Loaded));
  // citty colours by environment alone; colours belong on a terminal only.
  const text = (process.stdout.isTTY && !process.env.NO_COLOR ? rendered : stripAnsi(rendered)).trimEnd();
  const lines = name ? examples[name as keyof typeof examples] : ["sudo xdpwatch doctor", "sudo xdpwatch watch -i eth0", "sudo xdpwatch top -i eth0"];
  return `${text}\n\nEXAMPLES\n\n${lines.map((l) => `  $ ${l}`).join("\n")}`;
}

export async function runCli(rawArgs: string[]): Promise<number> {
  const verbose = rawArgs.includes("--verbose");
  setVerbosity({ verbose, quiet: rawArgs.includes("--quiet") || rawArgs.includes("-q") });
  try {
    if (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-v")) {
      console.log(await versionText());
      return EXIT.ok;
    }
    const { cmd, name, rest } = await findCommand(rawArgs);
    if (rest.includes("--help") || rest.includes("-h") || !name) {
      if (!name && rest.length > 0 && !rest[0]!.startsWith("-")) throw new XwError(`unknown command "${rest[0]}"`, { exitCode: EXIT.usage, hint: "xdpwatch --help lists the commands" });
      console.log(`${await usage(cmd, name)}\n`);
      return name || rest.length > 0 ? EXIT.ok : EXIT.usage;
    }
    rejectUnknownArgs(rest, ((await cmd.args) ?? {}) as ArgsDef);
    await runCommand(cmd, { rawArgs: rest });
    return EXIT.ok;
  } catch (err) {
    return reportError(err, verbose);
  }
}

/** The version, and the embedded program's tag as `bpftool prog show` will print it. */
async function versionText(): Promise<string> {
  const { embeddedObjectBytes } = await import("./bpf/embedded");
  const { programTags } = await import("./bpf/tag");
  const tags = programTags(await embeddedObjectBytes());
  return `xdpwatch ${pkg.version}\nprogram xdpwatch tag ${tags.sha256} (kernels before 6.18: ${tags.sha1})`;
}

/** One line a user can act on (and a hint), on stderr; a stack trace only with --verbose. */
function reportError(err: unknown, verbose: boolean): number {
  const line = (text: string) => process.stderr.write(`xdpwatch: ${text}\n`);
  if (err instanceof XwError) {
    line(`error: ${err.message}`);
    if (err.hint) line(`hint: ${err.hint}`);
    if (verbose && err.cause) log.debug(err.cause);
    return err.exitCode;
  }
  if ((err as { code?: string }).code === "EARG") {
    line(`error: ${(err as Error).message}`);
    return EXIT.usage;
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
