/**
 * Whether output goes to a terminal, decided without node:tty: that module
 * loads Node's streams, ~3 ms at every start (scripts/bench-startup.ts).
 */

interface FdStat {
  isCharacterDevice(): boolean;
  rdev: number | bigint;
}

/** As isatty() would say: a character device other than the memory devices (/dev/null and co., major 1). */
export function isTerminalStat(st: FdStat): boolean {
  return st.isCharacterDevice() && Number(st.rdev) >> 8 !== 1;
}

/** Colours only on a terminal, and never with NO_COLOR (https://no-color.org) or TERM=dumb. */
export function colourWanted(terminal: boolean): boolean {
  return terminal && !process.env.NO_COLOR && process.env.TERM !== "dumb";
}

/** For the entry point, which has not loaded node:fs: Bun's own stat of the descriptor. */
export async function isTerminal(fd: number): Promise<boolean> {
  try {
    return isTerminalStat(await Bun.file(fd).stat());
  } catch {
    return false;
  }
}
