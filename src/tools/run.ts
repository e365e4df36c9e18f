import { XwError } from "../errors";
import { log } from "../log";

/** Where each external program comes from, for the error that names it. */
const PACKAGES: Record<string, { debian: string; rhel: string }> = {
  ip: { debian: "iproute2", rhel: "iproute" },
  bpftool: { debian: "bpftool", rhel: "bpftool" },
  clang: { debian: "clang libbpf-dev", rhel: "clang libbpf-devel" },
  tcpdump: { debian: "tcpdump", rhel: "tcpdump" },
  trafgen: { debian: "netsniff-ng", rhel: "netsniff-ng" },
  mount: { debian: "mount", rhel: "util-linux" },
  taskset: { debian: "util-linux", rhel: "util-linux" },
};

/** The command that installs a tool, on both families; doctor and every error use these words. */
export function installFix(tool: string): string {
  const pkg = PACKAGES[tool];
  if (!pkg) return `install ${tool}`;
  return `apt-get install ${pkg.debian} (Debian/Ubuntu) · dnf install ${pkg.rhel} (RHEL/Fedora)`;
}

/** Base-system helpers are also looked for where every Linux keeps them, for a minimal PATH. */
const BASE_SYSTEM = new Set(["mount", "taskset"]);
const SYSTEM_DIRS = "/usr/bin:/bin:/usr/sbin:/sbin";

/** Resolves a program on PATH (ip, bpftool and clang only there), or undefined. */
export function findTool(tool: string): string | undefined {
  return Bun.which(tool) ?? (BASE_SYSTEM.has(tool) ? Bun.which(tool, { PATH: SYSTEM_DIRS }) : null) ?? undefined;
}

export function requireTool(tool: string): string {
  const path = findTool(tool);
  if (!path) throw new XwError(`${tool} not found on PATH`, { hint: `fix: ${installFix(tool)}` });
  return path;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Text written to the program's standard input. */
  input?: string;
  /** Return a non-zero exit instead of throwing. */
  allowFailure?: boolean;
  /** The directory the tool runs in. */
  cwd?: string;
}

/**
 * Signals a tool can only have caught as a member of our process group. It is
 * one for a moment: between the fork and the setsid that `detached` makes, and
 * `timeout` (or a terminal, or systemd) signalling the group then kills the
 * new process before it runs; seen with `timeout` a millisecond after its
 * first signal to xdpwatch set the clean-up going. Such a tool is run again, once.
 */
const GROUP_SIGNALS = new Set<NodeJS.Signals | number>(["SIGINT", "SIGTERM", "SIGHUP"]);

/** Runs argv (never a shell string) and fails with the tool's own last words. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [tool, ...args] = argv;
  if (!tool) throw new Error("run: empty argv");
  let ran = await spawnTool(requireTool(tool), argv, opts);
  if (ran.signalCode && GROUP_SIGNALS.has(ran.signalCode)) {
    log.debug(`${tool} was killed by ${ran.signalCode} as it started: running it again`);
    ran = await spawnTool(requireTool(tool), argv, opts);
  }
  if (ran.signalCode === "SIGKILL") throw new XwError(`${tool} ${args[0] ?? ""} timed out after ${opts.timeoutMs ?? 30_000} ms`);
  if (ran.exitCode !== 0 && !opts.allowFailure) throw new XwError(`${tool} ${args.slice(0, 3).join(" ")} failed: ${lastLines(ran.stderr || ran.stdout, 1)}`);
  return { stdout: ran.stdout, stderr: ran.stderr, exitCode: ran.exitCode };
}

async function spawnTool(exe: string, argv: readonly string[], opts: RunOptions) {
  log.debug(`$ ${argv.join(" ")}`.slice(0, 300));
  const proc = Bun.spawn([exe, ...argv.slice(1)], {
    stdin: opts.input === undefined ? "ignore" : new TextEncoder().encode(opts.input),
    stdout: "pipe",
    stderr: "pipe",
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: "SIGKILL",
    cwd: opts.cwd,
    // A session of its own: a terminal's Ctrl-C (or `timeout`, or systemctl stop) signals the
    // whole process group, and a tool killed half-way through an attach or detach must not be.
    detached: true,
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, exitCode, signalCode: proc.signalCode };
}

export function lastLines(text: string, n: number): string {
  return text.trim().split("\n").slice(-n).join("\n").trim() || "(no output)";
}
