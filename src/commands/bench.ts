import { defineCommand } from "citty";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { materialize, type Materialized } from "../bpf/embedded";
import { benchConfigs, benchFrames, HEADLINE } from "../bench/cases";
import { BASELINE, benchRecord, benchTable, summarize, toBmf, type Run } from "../bench/report";
import { usageError, XwError } from "../errors";
import { log } from "../log";
import * as bpftool from "../tools/bpftool";
import { loadPinned, possibleCpus, RING_SHIFT_MIN } from "../xdp/program";
import { isAlive } from "../xdp/owner";
import { BENCH_ROOT, ensureBpffs, pinsAt, removeIfEmpty } from "../xdp/pins";
import { Stop } from "../xdp/session";
import { outputArgs, parseCount } from "./_args";

/** The function name in bpf/empty.c, which bpftool pins the program under. */
const BASELINE_PROG = "xdpwatch_empty";
/** bpftool.runProg gives up after 120 s; at some 100 ns per run this stays well inside. */
const MAX_REPEAT = 100_000_000;
const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

interface Program {
  name: string;
  pin: string;
}

/** A bench killed outright (SIGKILL) leaves its pins behind; the next run clears them. */
function removeStaleRuns(): void {
  if (!existsSync(BENCH_ROOT)) return;
  for (const pid of readdirSync(BENCH_ROOT))
    if (!isAlive(Number(pid))) rmSync(join(BENCH_ROOT, pid), { recursive: true, force: true });
}

async function loadPrograms(root: string, object: string, baseline: string, stop: Stop): Promise<Program[]> {
  const baselineDir = join(root, BASELINE);
  mkdirSync(baselineDir, { recursive: true });
  await bpftool.loadAll({ object: baseline, progDir: baselineDir, mapDir: join(baselineDir, "maps") });
  const programs = [{ name: BASELINE, pin: join(baselineDir, BASELINE_PROG) }];
  for (const c of benchConfigs()) {
    if (stop.stopped) break;
    const pins = pinsAt(join(root, c.name));
    // bpftool prog run needs no deep ring: the smallest keeps kernel memory low.
    await loadPinned(pins, { object, config: c.config, block: c.block, srcFilter: c.srcFilter }, { cpus: possibleCpus(), shift: RING_SHIFT_MIN });
    programs.push({ name: c.name, pin: pins.prog });
  }
  return programs;
}

/**
 * Each program run is preceded by a baseline run on the same frame, so that
 * drift over the whole bench (frequency, other load) reaches both alike.
 */
async function measure(programs: Program[], frames: { name: string; file: string }[], repeat: number, rounds: number, stop: Stop): Promise<Run[]> {
  const [baseline, ...measured] = programs;
  const runs: Run[] = [];
  for (let round = 1; round <= rounds; round++) {
    log.debug(`round ${round} of ${rounds}`);
    for (const frame of frames)
      for (const program of measured)
        for (const p of [baseline!, program]) {
          if (stop.stopped) return runs;
          const { duration } = await bpftool.runProg(p.pin, frame.file, repeat);
          runs.push({ program: p.name, frame: frame.name, ns: duration });
        }
  }
  return runs;
}

function interrupted(stop: Stop): XwError {
  const sig = (stop.detail ?? "SIGINT") as NodeJS.Signals;
  return new XwError(`bench interrupted by ${sig}; its programs and files are removed`, { exitCode: 128 + (constants.signals[sig] ?? 2) });
}

export default defineCommand({
  meta: {
    name: "bench",
    description: "Measure the program's cost per packet in the kernel (bpftool prog run), against an empty XDP program",
  },
  args: {
    repeat: { type: "string", default: "2000000", description: "runs of a program on a frame per measurement", valueHint: "N" },
    rounds: { type: "string", default: "3", description: "measurements of each program on each frame; medians are reported", valueHint: "N" },
    format: { type: "string", description: "bmf: print Bencher Metric Format JSON on stdout", valueHint: "FORMAT" },
    ...outputArgs,
  },
  async run({ args }) {
    const repeat = parseCount(args.repeat, "--repeat", 1, MAX_REPEAT)!;
    const rounds = parseCount(args.rounds, "--rounds", 1, 100)!;
    if (args.format !== undefined && args.format !== "bmf") throw usageError(`--format must be bmf, not "${args.format}"`);
    if (args.format && args.json) throw usageError("--json and --format bmf both print on stdout: choose one");

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
      const programs = await loadPrograms(root, files.object, files.baseline!, stop);
      if (!stop.stopped)
        log.info(`measuring ${programs.length} programs on ${frames.length} frames (${rounds} × ${repeat} runs each)`);
      runs = await measure(programs, frames, repeat, rounds, stop);
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
      for (const c of benchConfigs()) log.info(`${c.name}: ${c.description}`);
    }
    const headline = results.find((r) => r.program === HEADLINE.program && r.frame === HEADLINE.frame);
    if (headline)
      log.info(`as attach configures it, on ${HEADLINE.frame}: ${headline.ns} ns per packet, ${headline.ratio.toFixed(2)}x the empty program`);
  },
});
