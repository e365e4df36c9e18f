/**
 * Whether output goes to a terminal, decided without node:tty: that module
 * loads Node's streams, ~3 ms at every start (scripts/bench-startup.ts).
 */

/** A character device other than the memory devices (/dev/null and co., major 1), as isatty() would say. */
export async function isTerminal(fd: number): Promise<boolean> {
  try {
    const st = await Bun.file(fd).stat();
    return st.isCharacterDevice() && Number(st.rdev) >> 8 !== 1;
  } catch {
    return false;
  }
}

/** Colours only on a terminal, and never with NO_COLOR (https://no-color.org) or TERM=dumb. */
export async function useColour(fd: number): Promise<boolean> {
  return !process.env.NO_COLOR && process.env.TERM !== "dumb" && (await isTerminal(fd));
}
