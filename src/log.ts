import { createConsola, LogLevels } from "consola";

/** Human output goes to stderr: stdout carries data (--json) and must stay parseable. */
export const log = createConsola({
  stdout: process.stderr,
  stderr: process.stderr,
  formatOptions: { date: false },
});

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
