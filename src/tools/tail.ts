/** The one place that runs tail(1): GNU tail as a watcher of our stdout pipe. */

/**
 * Starts `tail -f` on /dev/null with our stdout: it polls its stdout and dies
 * of SIGPIPE once the pipe's reader has gone; `--pid` ends it with us (kill -9
 * included), its own session keeps a terminal's Ctrl-C from ending it early.
 * Calls `onClosed` when the reader has gone. Undefined without tail.
 */
export function watchStdoutPipe(onClosed: () => void): { kill(): void } | undefined {
  const tail = Bun.which("tail");
  if (!tail) return undefined;
  const watcher = Bun.spawn([tail, "-f", "-s", "0.1", `--pid=${process.pid}`, "/dev/null"], {
    stdin: "ignore",
    stdout: "inherit",
    stderr: "ignore",
    detached: true,
  });
  watcher.unref();
  void watcher.exited.then(() => {
    if (watcher.signalCode === "SIGPIPE") onClosed();
  });
  return { kill: () => watcher.kill("SIGKILL") };
}
