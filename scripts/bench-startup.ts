#!/usr/bin/env bun
/**
 * How fast xdpwatch starts, against references measured in the same run:
 *
 * - Bun's own start: a one-line hello-world compiled here with plain
 *   `bun build --compile` (the reference the goals name), and the same built
 *   as xdpwatch is (--minify --bytecode), for comparison.
 * - `xdpwatch --help`, `--version`, `watch --help` and `status` with nothing
 *   attached (run inside a network namespace of our own, where no interface
 *   has a program and no bpffs is mounted), against that hello-world. `status`
 *   must ask `ip` for the links, so it also has a floor of its own: a compiled
 *   script that runs `ip -j link show` and parses its JSON, nothing else.
 *   hyperfine times them, in short rounds that take turns, so that a slow moment
 *   of the machine hits every command alike.
 * - From `watch -i IF --duration 0.01` starting to its "watching" line, and to
 *   its exit, against the floor: the hello-world plus the tools attaching runs,
 *   each timed as a process of its own (`bpftool prog loadall` of the object as
 *   watch configures it, `ip link set dev IF xdpdrv pinned …`, and for the exit
 *   also `ip link set dev IF xdpdrv off`). Each round runs all of them in turn.
 *
 * Each figure is the median over all runs, with the quartiles to show the
 * noise; "× hello" and "× floor" are the median of each round's own ratio, so
 * that a busy machine in one round does not tilt the comparison. Timings, not
 * tests: not part of `bun test`. Needs root, hyperfine, bpftool, ip and a built
 * dist/xdpwatch.
 *
 *   node_modules/.bin/bun scripts/bench-startup.ts [--rounds 12] [--runs 10] [--attach-runs 30] [--json] [--bin FILE]
 */
import { cpus, loadavg, release } from "node:os";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withGlobal, withMaxEntries } from "../src/bpf/elf";
import { CONFIG_SYMBOL, encodeConfig } from "../src/bpf/layout";
import { alignColumns } from "../src/output/table";
import { BPFFS, pinsAt } from "../src/xdp/pins";
import { flushPage, possibleCpus, ringFor } from "../src/xdp/program";
import { scriptOptions, usageError } from "./lib/args";
import { BIN, ROOT, type Veth } from "./lib/netns";
import { cpuSeconds, onVeth, requireTools, runMain, spawn, watchText } from "./lib/traffic";

const USAGE = "usage: bench-startup.ts [--rounds N] [--runs N] [--attach-runs N] [--json] [--bin FILE]";

function options() {
  const values = scriptOptions(USAGE, {
    rounds: { type: "string", default: "12" },
    runs: { type: "string", default: "10" },
    "attach-runs": { type: "string", default: "30" },
    json: { type: "boolean", default: false },
    /** Another build to time the same way (an older commit's, say); the default is dist/xdpwatch. */
    bin: { type: "string", default: BIN },
  });
  const count = (name: "rounds" | "runs" | "attach-runs") => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 1) usageError(USAGE, `--${name} must be a whole number from 1, not "${values[name]}"`);
    return n;
  };
  if (!existsSync(values.bin)) usageError(USAGE, `--bin ${values.bin}: no such file`);
  return { rounds: count("rounds"), runs: count("runs"), attachRuns: count("attach-runs"), json: values.json, bin: values.bin };
}

interface Spread {
  median: number;
  p25: number;
  p75: number;
  n: number;
}

function median(values: readonly number[]): number {
  return spread(values).median;
}

/** The median over rounds of each round's ratio of medians: what a slow round does to both sides cancels. */
function ratio(rounds: readonly (readonly number[])[], refRounds: readonly (readonly number[])[]): number {
  return median(rounds.map((r, i) => median(r) / median(refRounds[i]!)));
}

function spread(ms: readonly number[]): Spread {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => {
    const i = (sorted.length - 1) * q;
    const lo = Math.floor(i);
    return sorted[lo]! + (sorted[Math.min(lo + 1, sorted.length - 1)]! - sorted[lo]!) * (i - lo);
  };
  return { median: at(0.5), p25: at(0.25), p75: at(0.75), n: sorted.length };
}

/** Compiles a one-file script with `bun build --compile` and the given flags. */
async function compile(dir: string, name: string, source: string, flags: string[] = []): Promise<string> {
  const file = join(dir, `${name}.ts`);
  const out = join(dir, name);
  writeFileSync(file, source);
  const proc = spawn([process.execPath, "build", "--compile", ...flags, file, "--outfile", out]);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited, new Response(proc.stdout).text()]);
  if (code !== 0) throw new Error(`bun build --compile of ${name}.ts failed: ${stderr.trim()}`);
  return out;
}

const HELLO = 'console.log("hello");\n';
/** What `status` cannot do without: one `ip -j link show`, its JSON parsed. */
const IP_LINKS = `const p = Bun.spawn(["ip", "-j", "link", "show"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
const links = JSON.parse(await new Response(p.stdout).text());
if ((await p.exited) !== 0) process.exit(1);
console.log(links.length);
`;

/** Every run's milliseconds per command, round by round. */
type Rounds = Record<string, number[][]>;

/** hyperfine in `ns`, `rounds` times, a different command first each round. */
async function quickCommands(ns: string, commands: Record<string, string>, dir: string, { rounds, runs }: { rounds: number; runs: number }): Promise<Rounds> {
  const names = Object.keys(commands);
  const times: Rounds = Object.fromEntries(names.map((k) => [k, []]));
  for (let round = 0; round < rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]!);
    const file = join(dir, `hyperfine-${round}.json`);
    const argv = ["ip", "netns", "exec", ns, "hyperfine", "-N", "--style", "none", "--warmup", "2", "--runs", String(runs), "--export-json", file];
    for (const name of order) argv.push("--command-name", name, commands[name]!);
    const proc = spawn(argv);
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited, new Response(proc.stdout).text()]);
    if (code !== 0) throw new Error(`hyperfine failed (${code}): ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
    const report = JSON.parse(readFileSync(file, "utf8")) as { results: { command: string; times: number[]; exit_codes: number[] }[] };
    for (const r of report.results) {
      if (r.exit_codes.some((c) => c !== 0)) throw new Error(`${r.command} exited ${r.exit_codes.find((c) => c !== 0)}`);
      times[r.command]!.push(r.times.map((sec) => sec * 1000));
    }
  }
  return times;
}

/** Wall milliseconds from spawn to exit of a command that must succeed. */
/** Wall and CPU (user + system) milliseconds, from spawn to exit, of a command that must succeed. */
async function timed(argv: string[]): Promise<{ ms: number; cpuMs: number }> {
  const started = performance.now();
  const proc = spawn(argv);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited, new Response(proc.stdout).text()]);
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${stderr.trim()}`);
  return { ms, cpuMs: cpuSeconds(proc) * 1000 };
}

/** The embedded object as watch configures it (.rodata and ring size), so that the floor loads the same maps. */
function configuredObject(dir: string): string {
  const ring = ringFor(possibleCpus());
  const elf = new Uint8Array(readFileSync(join(ROOT, "dist/bpf/xdpwatch.o")));
  const configured = withMaxEntries(
    withGlobal(elf, CONFIG_SYMBOL, encodeConfig({ log: true, sources: false, block: false, srcFilter: false, sample: 1 }, ring.shift)),
    "xw_ring",
    flushPage(ring) + 1,
  );
  const file = join(dir, "configured.o");
  writeFileSync(file, configured);
  return file;
}

interface AttachTimes {
  hello: number[];
  loadall: number[];
  attach: number[];
  detach: number[];
  watching: number[];
  exit: number[];
  /** CPU milliseconds of the floor's four processes, and of watch with every child it ran. */
  floorCpu: number[];
  watchCpu: number[];
}

/** Rounds of: hello, the floor's tools one by one, then watch; each process timed on its own. */
async function attachRounds(veth: Veth, hello: string, dir: string, xdpwatch: string, runs: number): Promise<AttachTimes> {
  const object = configuredObject(dir);
  const pins = pinsAt(join(BPFFS, `xdpwatch-startup-${process.pid}`));
  const t: AttachTimes = { hello: [], loadall: [], attach: [], detach: [], watching: [], exit: [], floorCpu: [], watchCpu: [] };
  try {
    for (let i = 0; i < runs; i++) {
      const h = await timed([hello]);
      mkdirSync(pins.mapDir, { recursive: true });
      const load = await timed(["bpftool", "prog", "loadall", object, pins.dir, "type", "xdp", "pinmaps", pins.mapDir]);
      const on = await timed(["ip", "link", "set", "dev", veth.host, "xdpdrv", "pinned", pins.prog]);
      const off = await timed(["ip", "link", "set", "dev", veth.host, "xdpdrv", "off"]);
      rmSync(pins.dir, { recursive: true, force: true });
      t.hello.push(h.ms);
      t.loadall.push(load.ms);
      t.attach.push(on.ms);
      t.detach.push(off.ms);
      t.floorCpu.push(h.cpuMs + load.cpuMs + on.cpuMs + off.cpuMs);

      const started = performance.now();
      const proc = spawn([xdpwatch, "watch", "-i", veth.host, "--duration", "0.01"]);
      const stderr = watchText(proc.stderr);
      const stdout = new Response(proc.stdout).text();
      await stderr.until(/watching \S+ \(/, 20_000);
      t.watching.push(performance.now() - started);
      const code = await proc.exited;
      t.exit.push(performance.now() - started);
      await Promise.all([stderr.done, stdout]);
      if (code !== 0) throw new Error(`watch exited ${code}: ${stderr.text.trim()}`);
      t.watchCpu.push(cpuSeconds(proc) * 1000);
    }
  } finally {
    rmSync(pins.dir, { recursive: true, force: true });
  }
  return t;
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const row = (name: string, s: Spread, times?: string) => [name, ms(s.median), `${ms(s.p25)}–${ms(s.p75)}`, times ?? "", String(s.n)];
const x = (v: number) => `${v.toFixed(2)}×`;

await runMain("bench-startup.ts", async () => {
  const opts = options();
  requireTools("bench-startup.ts", ["hyperfine", "bpftool", "ip"]);
  const xdpwatch = opts.bin;
  // Other work on the machine shows in the spreads; the 1-minute load says how much there was.
  const loadBefore = loadavg()[0]!;
  const { result, leftBehind } = await onVeth(async (veth, dir) => {
    const hello = await compile(dir, "hello", HELLO);
    const helloBytecode = await compile(dir, "hello-bytecode", HELLO, ["--minify", "--bytecode", "--format=esm"]);
    const ipLinks = await compile(dir, "ip-links", IP_LINKS, ["--minify", "--bytecode", "--format=esm"]);
    const quick = await quickCommands(
      veth.ns,
      {
        hello,
        "hello (--minify --bytecode, as xdpwatch)": helloBytecode,
        "xdpwatch --help": `${xdpwatch} --help`,
        "xdpwatch --version": `${xdpwatch} --version`,
        "xdpwatch watch --help": `${xdpwatch} watch --help`,
        "compiled script running ip -j link show": ipLinks,
        "xdpwatch status (nothing attached)": `${xdpwatch} status`,
      },
      dir,
      opts,
    );
    const attach = await attachRounds(veth, hello, dir, xdpwatch, opts.attachRuns);
    return { quick, attach };
  });
  if (leftBehind.length > 0) throw new Error(`left behind: ${leftBehind.join("; ")}`);

  const q = result.quick;
  const hello = q.hello!;
  const ipFloor = q["compiled script running ip -j link show"]!;
  const status = q["xdpwatch status (nothing attached)"]!;
  const quick = Object.fromEntries(Object.entries(q).map(([k, v]) => [k, { ...spread(v.flat()), x_hello: ratio(v, hello) }]));
  const statusOverIp = ratio(status, ipFloor);

  const a = result.attach;
  // A run's floor is the sum of its own processes.
  const floorAttached = a.hello.map((h, i) => h + a.loadall[i]! + a.attach[i]!);
  const floorExit = floorAttached.map((f, i) => f + a.detach[i]!);
  const perRun = (v: number[], ref: number[]) => median(v.map((t, i) => t / ref[i]!));
  const attach = {
    hello: spread(a.hello),
    "bpftool prog loadall": spread(a.loadall),
    "ip link set … xdpdrv pinned": spread(a.attach),
    "ip link set … xdpdrv off": spread(a.detach),
    "floor to attached": spread(floorAttached),
    "floor to exit": spread(floorExit),
    "watch: to its watching line": { ...spread(a.watching), x_floor: perRun(a.watching, floorAttached) },
    "watch --duration 0.01: to exit": { ...spread(a.exit), x_floor: perRun(a.exit, floorExit) },
    // The kernel's attach and detach (synchronize_rcu) slow down a lot on a busy machine, and the
    // ratio with them: what xdpwatch adds over the floor, run by run, says more across machines.
    "watch adds to attached": spread(a.watching.map((t, i) => t - floorAttached[i]!)),
    "watch adds to exit": spread(a.exit.map((t, i) => t - floorExit[i]!)),
    // CPU time suffers less than wall time from the rest of a busy machine.
    "CPU, floor to exit": spread(a.floorCpu),
    "CPU, watch to exit (with its children)": { ...spread(a.watchCpu), x_floor: perRun(a.watchCpu, a.floorCpu) },
  };
  const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} CPUs, Linux ${release()}, Bun ${Bun.version}; load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after`;
  if (opts.json) {
    console.log(JSON.stringify({ machine, quick, status_x_ip_floor: statusOverIp, attach }));
    return 0;
  }
  console.log(`${machine}\n`);
  console.log(`hyperfine, ${opts.rounds} rounds of ${opts.runs} runs, in a network namespace with nothing attached:`);
  console.log(alignColumns([["command", "median", "p25–p75", "× hello", "runs"], ...Object.entries(quick).map(([k, s]) => row(k, s, x(s.x_hello)))]));
  console.log(`status against its own floor (the compiled script running ip): ${x(statusOverIp)}`);
  console.log(`\nattaching to a veth, ${opts.attachRuns} rounds, each process timed from spawn to exit:`);
  console.log(
    alignColumns([
      ["step", "median", "p25–p75", "× floor", "runs"],
      ...(["hello", "bpftool prog loadall", "ip link set … xdpdrv pinned", "ip link set … xdpdrv off", "floor to attached", "floor to exit"] as const).map((k) => row(k, attach[k])),
      row("watch: to its watching line", attach["watch: to its watching line"], x(attach["watch: to its watching line"].x_floor)),
      row("watch --duration 0.01: to exit", attach["watch --duration 0.01: to exit"], x(attach["watch --duration 0.01: to exit"].x_floor)),
      row("watch adds to attached", attach["watch adds to attached"]),
      row("watch adds to exit", attach["watch adds to exit"]),
      row("CPU, floor to exit", attach["CPU, floor to exit"]),
      row("CPU, watch to exit (with its children)", attach["CPU, watch to exit (with its children)"], x(attach["CPU, watch to exit (with its children)"].x_floor)),
    ]),
  );
  return 0;
});
