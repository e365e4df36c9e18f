/**
 * Human output, on stderr: stdout carries data (--json) and must stay parseable.
 *
 * consola's core with a reporter of our own. consola's default entry point sets
 * up process.stdout and process.stderr (Node streams) as it loads, and with them
 * node:tty and node:readline: ~13 ms at every start, four times what all of Bun
 * takes to start (scripts/bench-startup.ts). Here a line is one write(2) to fd 2.
 */
import { createConsola, LogLevels, type LogObject, type LogType } from "consola/core";
import { fstatSync, writeSync } from "node:fs";
import { colourWanted, isTerminalStat } from "./output/terminal";

// Not Buffer: its first use costs ~0.2 ms, a twentieth of a `status` run.
const utf8 = new TextEncoder();

/** Everything written to stderr goes through here, in order: log lines and the entry point's error lines. */
export function writeStderr(text: string): void {
  const bytes = utf8.encode(text);
  for (let at = 0; at < bytes.length; ) {
    try {
      at += writeSync(2, bytes, at);
    } catch (err) {
      // A non-blocking pipe that is full: wait for the reader rather than lose the line.
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") return;
      Bun.sleepSync(1);
    }
  }
}

/** consola's icons and colours (SGR codes) for the types xdpwatch uses. */
const MARKS: Partial<Record<LogType, [icon: string, sgr: number]>> = {
  debug: ["⚙", 90],
  trace: ["→", 90],
  info: ["ℹ", 36],
  start: ["◐", 35],
  success: ["✔", 32],
  ready: ["✔", 32],
  warn: ["⚠", 33],
  error: ["✖", 31],
  fail: ["✖", 31],
  fatal: ["✖", 31],
};

let colour: boolean | undefined;

function stderrIsTerminal(): boolean {
  try {
    return isTerminalStat(fstatSync(2));
  } catch {
    return false;
  }
}

function report(obj: LogObject): void {
  colour ??= colourWanted(stderrIsTerminal());
  const text = obj.args.map((a) => (typeof a === "string" ? a : Bun.inspect(a, { colors: colour }))).join(" ");
  const mark = MARKS[obj.type];
  const icon = !mark ? "" : colour ? `\x1b[${mark[1]}m${mark[0]}\x1b[39m ` : `${mark[0]} `;
  writeStderr(`${icon}${text}\n`);
}

export const log = createConsola({ reporters: [{ log: report }] });

export function setVerbosity(opts: { verbose?: boolean; quiet?: boolean }): void {
  if (opts.quiet) log.level = LogLevels.warn;
  else if (opts.verbose) log.level = LogLevels.debug;
}

/** Says what is going on when `work` takes long enough to notice; silent when it is quick. */
export async function withProgress<T>(label: string, work: Promise<T>): Promise<T> {
  const timer = setTimeout(() => log.start(`${label}…`), 300);
  try {
    return await work;
  } finally {
    clearTimeout(timer);
  }
}
