#!/usr/bin/env bun
/**
 * How fast xdpwatch starts, against references measured in the same run:
 *
 * - Bun's own start: a one-line hello-world compiled here with `bun build --compile`.
 * - `xdpwatch --help`, `--version`, `help watch` and `status` with nothing attached
 *   (run inside a network namespace of our own, where no interface has a program
 *   and no bpffs is mounted), against that hello-world. hyperfine times them, in
 *   rounds that take turns, so that a slow moment of the machine hits every command.
 * - From `watch -i IF --duration 0.01` starting to its "watching" line, and to its
 *   exit, against the floor: the hello-world plus the tools attaching runs, each
 *   timed as a process of its own (`bpftool prog loadall` of the object as watch
 *   configures it, `ip link set dev IF xdpdrv pinned …`, and for the exit also
 *   `ip link set dev IF xdpdrv off`). Each round runs all of them in turn.
 *
 * Figures are medians, with the quartiles to show the noise. Timings, not
 * tests: not part of `bun test`. Needs root, hyperfine, bpftool, ip and a built
 * dist/xdpwatch.
 *
 *   node_modules/.bin/bun scripts/bench-startup.ts [--rounds 5] [--runs 20] [--attach-runs 20] [--json]
 */
import { cpus } from "node:os";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { withGlobal, withMaxEntries } from "../src/bpf/elf";
import { CONFIG_SYMBOL, encodeConfig } from "../src/bpf/layout";
import { alignColumns } from "../src/output/table";
import { BPFFS, pinsAt } from "../src/xdp/pins";
import { flushPage, possibleCpus, ringFor } from "../src/xdp/program";
import { BIN, ROOT, type Veth } from "../test/support/kernel";
import { onVeth, requireTools, runMain, spawn, watchText } from "./lib/traffic";

const { values: opts } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    runs: { type: "string", default: "20" },
    "attach-runs": { type: "string", default: "20" },
    json: { type: "boolean", default: false },
  },
});
const ROUNDS = Number(opts.rounds);
const RUNS = Number(opts.runs);
const ATTACH_RUNS = Number(opts["attach-runs"]);

interface Spread {
  median: number;
  p25: number;
  p75: number;
  n: number;
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

/** A one-line script compiled as the issue describes it: plain `bun build --compile`. */
async function buildHello(dir: string): Promise<string> {
  const source = join(dir, "hello.ts");
  const out = join(dir, "hello");
  writeFileSync(source, 'console.log("hello");\n');
  const proc = spawn([process.execPath, "build", "--compile", source, "--outfile", out]);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`bun build --compile of the hello-world failed: ${stderr.trim()}`);
  return out;
}

/** hyperfine's every run, in `ns`, for each command; `rounds` invocations so the commands take turns. */
async function quickCommands(ns: string, commands: Record<string, string>, dir: string): Promise<Record<string, number[]>> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
  const names = Object.keys(commands);
  for (let round = 0; round < ROUNDS; round++) {
    // A different command goes first each round.
    const order = names.map((_, i) => names[(i + round) % names.length]!);
    const file = join(dir, `hyperfine-${round}.json`);
    const argv = ["ip", "netns", "exec", ns, "hyperfine", "-N", "--style", "none", "--warmup", "3", "--runs", String(RUNS), "--export-json", file];
    for (const name of order) argv.push("--command-name", name, commands[name]!);
    const proc = spawn(argv);
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited, new Response(proc.stdout).text()]);
    if (code !== 0) throw new Error(`hyperfine failed (${code}): ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
    const report = JSON.parse(readFileSync(file, "utf8")) as { results: { command: string; times: number[]; exit_codes: number[] }[] };
    for (const r of report.results) {
      if (r.exit_codes.some((c) => c !== 0)) throw new Error(`${r.command} exited ${r.exit_codes.find((c) => c !== 0)}`);
      times[r.command]!.push(...r.times.map((s) => s * 1000));
    }
  }
  return times;
}

/** Wall milliseconds from spawn to exit of a command that must succeed. */
async function timed(argv: string[]): Promise<number> {
  const started = performance.now();
  const proc = spawn(argv);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited, new Response(proc.stdout).text()]);
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${stderr.trim()}`);
  return ms;
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
}

/** Rounds of: hello, the floor's tools one by one, then watch; each process timed on its own. */
async function attachRounds(veth: Veth, hello: string, dir: string): Promise<AttachTimes> {
  const object = configuredObject(dir);
  const pins = pinsAt(join(BPFFS, `xdpwatch-startup-${process.pid}`));
  const t: AttachTimes = { hello: [], loadall: [], attach: [], detach: [], watching: [], exit: [] };
  try {
    for (let i = 0; i < ATTACH_RUNS; i++) {
      t.hello.push(await timed([hello]));
      mkdirSync(pins.mapDir, { recursive: true });
      t.loadall.push(await timed(["bpftool", "prog", "loadall", object, pins.dir, "type", "xdp", "pinmaps", pins.mapDir]));
      t.attach.push(await timed(["ip", "link", "set", "dev", veth.host, "xdpdrv", "pinned", pins.prog]));
      t.detach.push(await timed(["ip", "link", "set", "dev", veth.host, "xdpdrv", "off"]));
      rmSync(pins.dir, { recursive: true, force: true });

      const started = performance.now();
      const proc = spawn([BIN, "watch", "-i", veth.host, "--duration", "0.01"]);
      const stderr = watchText(proc.stderr);
      const stdout = new Response(proc.stdout).text();
      await stderr.until(/watching \S+ \(/, 20_000);
      t.watching.push(performance.now() - started);
      const code = await proc.exited;
      t.exit.push(performance.now() - started);
      await Promise.all([stderr.done, stdout]);
      if (code !== 0) throw new Error(`watch exited ${code}: ${stderr.text.trim()}`);
    }
  } finally {
    rmSync(pins.dir, { recursive: true, force: true });
  }
  return t;
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const row = (name: string, s: Spread, ref?: number) => [name, ms(s.median), `${ms(s.p25)}–${ms(s.p75)}`, ref ? `${(s.median / ref).toFixed(2)}×` : "", String(s.n)];

await runMain("bench-startup.ts", async () => {
  requireTools("bench-startup.ts", ["hyperfine", "bpftool", "ip"]);
  const { result, leftBehind } = await onVeth(async (veth, dir) => {
    const hello = await buildHello(dir);
    const quick = await quickCommands(
      veth.ns,
      {
        hello: hello,
        "xdpwatch --help": `${BIN} --help`,
        "xdpwatch --version": `${BIN} --version`,
        "xdpwatch help watch": `${BIN} help watch`,
        "xdpwatch status (nothing attached)": `${BIN} status`,
      },
      dir,
    );
    const attach = await attachRounds(veth, hello, dir);
    return { quick, attach };
  });
  if (leftBehind.length > 0) throw new Error(`left behind: ${leftBehind.join("; ")}`);

  const quick = Object.fromEntries(Object.entries(result.quick).map(([k, v]) => [k, spread(v)]));
  const a = result.attach;
  // The floor of one run is the sum of its own processes; medians are taken over runs.
  const floorAttached = a.hello.map((h, i) => h + a.loadall[i]! + a.attach[i]!);
  const floorExit = floorAttached.map((f, i) => f + a.detach[i]!);
  const attach = {
    hello: spread(a.hello),
    "bpftool prog loadall": spread(a.loadall),
    "ip link set … xdpdrv pinned": spread(a.attach),
    "ip link set … xdpdrv off": spread(a.detach),
    "floor to attached": spread(floorAttached),
    "floor to exit": spread(floorExit),
    "watch: to its watching line": spread(a.watching),
    "watch --duration 0.01: to exit": spread(a.exit),
  };
  const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} CPUs, Bun ${Bun.version}`;
  if (opts.json) {
    console.log(JSON.stringify({ machine, quick, attach }));
    return 0;
  }
  const helloMs = quick.hello!.median;
  console.log(`${machine}\n`);
  console.log(`hyperfine, ${ROUNDS} rounds of ${RUNS} runs each, in a network namespace with nothing attached:`);
  console.log(alignColumns([["command", "median", "p25–p75", "× hello", "runs"], ...Object.entries(quick).map(([k, s]) => row(k, s, helloMs))]));
  console.log(`\nattaching to a veth, ${ATTACH_RUNS} rounds, each process timed from spawn to exit:`);
  const fa = attach["floor to attached"].median;
  const fe = attach["floor to exit"].median;
  console.log(
    alignColumns([
      ["step", "median", "p25–p75", "× floor", "runs"],
      ...(["hello", "bpftool prog loadall", "ip link set … xdpdrv pinned", "ip link set … xdpdrv off", "floor to attached", "floor to exit"] as const).map((k) => row(k, attach[k])),
      row("watch: to its watching line", attach["watch: to its watching line"], fa),
      row("watch --duration 0.01: to exit", attach["watch --duration 0.01: to exit"], fe),
    ]),
  );
  return 0;
});
