/**
 * The one place that runs tcpdump: libpcap compiles a filter expression to
 * classic BPF (`-ddd`), so that its meaning is exactly tcpdump's. No interface
 * is opened; `-y EN10MB` says the frames start with an Ethernet header, as
 * XDP sees them.
 */
import { usageError, XwError } from "../errors";
import { findTool, installFix, lastLines, run } from "./run";

/** libpcap's program for an expression, as `tcpdump -ddd` prints it (a count, then "code jt jf k" lines). */
export async function compileFilter(expression: string): Promise<string> {
  if (!findTool("tcpdump"))
    throw new XwError("tcpdump not found on PATH: xdpwatch needs it to compile filter expressions", {
      hint: `fix: ${installFix("tcpdump")} (only expressions need it)`,
    });
  // "--": an expression that starts with "-" (`-1 = ip[2]`) is not an option. libpcap's optimizer
  // takes seconds on expressions of hundreds of terms.
  const r = await run(["tcpdump", "-ddd", "-y", "EN10MB", "--", expression], { allowFailure: true, timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw usageError(`invalid expression "${expression}": ${lastLines(r.stderr || r.stdout, 1)}`, "the syntax is tcpdump's: man 7 pcap-filter");
  return r.stdout;
}

/** tcpdump's version line, for doctor. */
export async function tcpdumpVersion(): Promise<string | undefined> {
  if (!findTool("tcpdump")) return undefined;
  const r = await run(["tcpdump", "--version"], { allowFailure: true });
  return r.exitCode === 0 ? (r.stdout + r.stderr).split("\n").filter(Boolean).slice(0, 2).join(", ") : undefined;
}
