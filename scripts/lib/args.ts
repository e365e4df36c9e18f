/**
 * Command-line options for the scripts: node:util's parseArgs, with `--help`
 * printing the usage (exit 0) and a bad option printing the reason and the
 * usage (exit 2) instead of a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values<T extends Options> = ReturnType<typeof parseArgs<{ options: T; strict: true }>>["values"];

export function scriptOptions<T extends Options>(usage: string, options: T): Values<T> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ options: { ...options, help: { type: "boolean", short: "h" } }, strict: true }));
  } catch (err) {
    return usageError(usage, (err as Error).message);
  }
  if (values.help === true) {
    console.log(usage);
    process.exit(0);
  }
  return values as Values<T>;
}

/** One line saying what is wrong, then the usage; exit 2. */
export function usageError(usage: string, reason: string): never {
  console.error(`${reason}\n${usage}`);
  process.exit(2);
}
