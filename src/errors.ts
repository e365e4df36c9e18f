/** Exit codes are part of the contract with scripts. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/**
 * An error the user can act on: printed as one line plus a hint, never with a
 * stack trace (unless --verbose), and mapped to an exit code.
 */
export class XwError extends Error {
  readonly hint?: string;
  readonly exitCode: number;

  constructor(message: string, options: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "XwError";
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? EXIT.failure;
  }
}

export function usageError(message: string, hint?: string): XwError {
  return new XwError(message, { hint, exitCode: EXIT.usage });
}
