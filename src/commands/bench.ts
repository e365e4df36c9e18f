import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, constants } from "node:os";
import { join } from "node:path";
import { materialize, type Materialized } from "../bpf/embedded";
import { withMaxEntries } from "../bpf/elf";
import { benchConfigs, benchFrames, expressionConfigs, HEADLINE, REFERENCE_RING_SHIFT, REFERENCES, type BenchConfig } from "../bench/cases";
import { BASELINE, benchRecord, benchTable, REFERENCE, summarize, toBmf, type Result, type Run } from "../bench/report";
import { usageError, XwError } from "../errors";
import { log } from "../log";
import * as bpftool from "../tools/bpftool";
import { loadPinned, possibleCpus, RING_SHIFT_MIN } from "../xdp/program";
import { isAlive } from "../xdp/owner";
import { BENCH_ROOT, ensureBpffs, pinsAt, removeIfEmpty } from "../xdp/pins";
import { Stop } from "../xdp/session";
import { outputArgs, parseCount } from "./_args";
import { defineCommand } from "./_command";

/** The function names in bpf/empty.c and bpf/minimal.c, which bpftool pins the programs under. */
const BASELINE_PROG = "xdpwatch_empty";
const REFERENCE_PROG = "xdpwatch_minimal";
/** A round's bpftool gives up after 600 s: some 50 runs of up to 10,000,000 at 100 ns stay inside. */
const MAX_REPEAT = 10_000_000;
const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** One program, loaded `copies` times: the kernel places each copy's machine code differently. */
interface Program {
  name: string;
  pins: string[];
}

/** A bench killed outright (SIGKILL) leaves its pins behind; the next run clears them. */
function removeStaleRuns(): void {
  if (!existsSync(BENCH_ROOT)) return;
  for (const pid of readdirSync(BENCH_ROOT))
    if (!isAlive(Number(pid))) rmSync(join(BENCH_ROOT, pid), { recursive: true, force: true });
}

/** Loads an object that needs no configuration. */
async function loadPlain(dir: string, object: string, prog: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await bpftool.loadAll({ object, progDir: dir, mapDir: join(dir, "maps"), prog: join(dir, prog) });
  return join(dir, prog);
}

/**
 * Each program `copies` times. The JIT starts each image at a random offset
 * (a hardening measure), and how its branches and loads then fall in the
 * CPU's caches moves one program's figure by up to a fifth: copies, taken in
 * turn from round to round, average that out.
 */
async function loadPrograms(root: string, files: Materialized, configs: BenchConfig[], copies: number, stop: Stop): Promise<Program[]> {
  const cpus = possibleCpus();
  // The reference's ring, like xdpwatch's, has a region for every possible CPU.
  const reference = join(files.dir, "minimal-sized.o");
  writeFileSync(reference, withMaxEntries(new Uint8Array(readFileSync(files.reference!)), "xw_ring", cpus << REFERENCE_RING_SHIFT));
  const loaders: { name: string; load: (dir: string) => Promise<string> }[] = [
    { name: BASELINE, load: (dir) => loadPlain(dir, files.baseline!, BASELINE_PROG) },
    { name: REFERENCE, load: (dir) => loadPlain(dir, reference, REFERENCE_PROG) },
    ...configs.map((c) => ({
      name: c.name,
      load: async (dir: string) => {
        const pins = pinsAt(dir);
        // bpftool prog run needs no deep ring: the smallest keeps kernel memory low (and is the reference's).
        await loadPinned(pins, { object: files.object, config: c.config, block: c.block, srcFilter: c.srcFilter }, { cpus, shift: RING_SHIFT_MIN });
        return pins.prog;
      },
    })),
  ];
  const programs: Program[] = [];
  for (const { name, load } of loaders) {
    const pins: string[] = [];
    for (let copy = 0; copy < copies && !stop.stopped; copy++) pins.push(await load(join(root, `${name}-${copy}`)));
    programs.push({ name, pins });
  }
  return programs;
}

/**
 * Every round runs each program once on each frame, the baseline among them,
 * in one bpftool process, in an order that rotates from round to round, each
 * program's next copy: drift over the bench (frequency, other load) reaches
 * all programs alike, and each program's run is paired with the baseline's
 * of the same round and frame.
 */
async function measure(programs: Program[], frames: { name: string; file: string }[], opts: { repeat: number; rounds: number; cpu: number }, stop: Stop): Promise<Run[]> {
  const runs: Run[] = [];
  for (let round = 0; round < opts.rounds && !stop.stopped; round++) {
    log.debug(`round ${round + 1} of ${opts.rounds}`);
    const order = frames.flatMap((frame) => programs.map((_, i) => ({ frame, program: programs[(i + round) % programs.length]! })));
    const durations = await bpftool.runProgs(
      order.map(({ frame, program }) => ({ pin: program.pins[round % program.pins.length]!, frameFile: frame.file })),
      opts.repeat,
      opts.cpu,
    );
    order.forEach(({ frame, program }, i) => runs.push({ program: program.name, frame: frame.name, round, ns: durations[i]! }));
  }
  return runs;
}

/** The headline: what the default configuration adds, against the reference, on the frames it is held to. */
function headline(results: Result[]): string | undefined {
  const parts = HEADLINE.frames.map((frame) => results.find((r) => r.program === HEADLINE.program && r.frame === frame));
  if (parts.some((r) => r?.ratio === undefined)) return undefined;
  const figures = parts.map((r) => `${r!.frame} +${r!.added!.toFixed(2)} ns, ${r!.ratio!.toFixed(3)}x`).join("; ");
  return `as attach configures it: ${figures} the reference's added cost (goal ≤ ${HEADLINE.goal}x)`;
}

function interrupted(stop: Stop): XwError {
  const sig = (stop.detail ?? "SIGINT") as NodeJS.Signals;
  return new XwError(`bench interrupted by ${sig}; its programs and files are removed`, { exitCode: 128 + (constants.signals[sig] ?? 2) });
}

export default defineCommand({
  meta: {
    name: "bench",
    description: "Measure the ns per packet the program adds in the kernel (bpftool prog run) over an empty XDP program, against a minimal one",
  },
  args: {
    repeat: { type: "string", default: "200000", description: "runs of a program on a frame per measurement", valueHint: "N" },
    rounds: { type: "string", default: "64", description: "measurements of each program on each frame, interleaved; the mean of the middle half is reported", valueHint: "N" },
    copies: { type: "string", default: "8", description: "times each program is loaded (the kernel places each copy's code differently); rounds take them in turn", valueHint: "N" },
    cpu: { type: "string", description: "CPU to measure on (default: the last online one)", valueHint: "N" },
    format: { type: "string", description: "bmf: print Bencher Metric Format JSON on stdout", valueHint: "FORMAT" },
    ...outputArgs,
  },
  async run({ args }) {
    const repeat = parseCount(args.repeat, "--repeat", 1, MAX_REPEAT)!;
    const rounds = parseCount(args.rounds, "--rounds", 1, 1000)!;
    const copies = parseCount(args.copies, "--copies", 1, 64)!;
    const cpu = parseCount(args.cpu, "--cpu", 0, availableParallelism() - 1) ?? availableParallelism() - 1;
    if (args.format !== undefined && args.format !== "bmf") throw usageError(`--format must be bmf, not "${args.format}"`);
    if (args.format && args.json) throw usageError("--json and --format bmf both print on stdout: choose one");

    const configs = [...benchConfigs(), ...(await expressionConfigs())];
    const stop = new Stop();
    const onSignal = (sig: NodeJS.Signals) => stop.stop("signal", sig);
    for (const sig of SIGNALS) process.on(sig, onSignal);
    const root = join(BENCH_ROOT, String(process.pid));
    let files: Materialized | undefined;
    let runs: Run[];
    try {
      await ensureBpffs();
      removeStaleRuns();
      files = await materialize({ baseline: true });
      const dir = files.dir;
      const frames = benchFrames().map((f) => {
        const file = join(dir, `${f.name}.frame`);
        writeFileSync(file, f.bytes);
        return { name: f.name, file };
      });
      const programs = await loadPrograms(root, files, configs, copies, stop);
      if (!stop.stopped)
        log.info(`measuring ${programs.length} programs (${copies} copies each) on ${frames.length} frames on CPU ${cpu} (${rounds} rounds × ${repeat} runs each)`);
      runs = await measure(programs, frames, { repeat, rounds, cpu }, stop);
    } catch (err) {
      // A Ctrl-C from the terminal also kills the bpftool of the moment, which then fails.
      throw stop.stopped ? interrupted(stop) : err;
    } finally {
      for (const sig of SIGNALS) process.off(sig, onSignal);
      rmSync(root, { recursive: true, force: true });
      removeIfEmpty(BENCH_ROOT);
      files?.remove();
    }
    if (stop.stopped) throw interrupted(stop);

    const results = summarize(runs);
    if (args.format === "bmf") console.log(JSON.stringify(toBmf(results), null, 2));
    else if (args.json) for (const r of results) console.log(JSON.stringify(benchRecord(r, repeat)));
    else {
      console.log(benchTable(results));
      // What each row measured, so the table reads on its own.
      for (const [name, description] of Object.entries(REFERENCES)) log.info(`${name}: ${description}`);
      for (const c of configs) log.info(`${c.name}: ${c.description}`);
      log.info(`cells: ns per packet added over ${BASELINE} (mean of the middle half of ${rounds} paired rounds), and that over what ${REFERENCE} adds`);
    }
    const line = headline(results);
    if (line) log.info(line);
  },
});
