/**
 * What a tcpdump expression adds to the program's cost per packet, measured
 * with `bpftool prog run` in one run against the default program (no
 * expression), interleaved round by round: `bun scripts/bench-expressions.ts
 * [--rounds N] [--repeat N] [--object OTHER.o]`. `--object` adds the default
 * configuration of another build (e.g. the object before expressions existed)
 * as a row, to check that the default program did not get slower.
 *
 * Each figure is the median over rounds of (program − default) on the same
 * frame in the same round; the spread is the interquartile range of those
 * differences. Needs root, bpftool and tcpdump.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { benchFrames } from "../src/bench/cases";
import { parseDdd } from "../src/bpf/cbpf";
import type { ProgramConfig } from "../src/bpf/layout";
import { compileFilter } from "../src/tools/tcpdump";
import { loadPinned, RING_SHIFT_MIN, possibleCpus } from "../src/xdp/program";
import { BENCH_ROOT, ensureBpffs, pinsAt, removePins, type Pins } from "../src/xdp/pins";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "15" }, repeat: { type: "string", default: "1000000" }, object: { type: "string" } } });
const rounds = Number(values.rounds);
const repeat = Number(values.repeat);

/** The expressions of issue 11's cost table; the last compiles to 39 classic instructions. */
export const COST_EXPRESSIONS: Record<string, string> = {
  "udp-port-53": "udp port 53",
  "tcp-syn": "tcp[tcpflags] & tcp-syn != 0",
  "40-insns": "not src net 10.0.0.0/8 and not src net 192.168.0.0/16 and (udp dst port 53 or tcp dst portrange 80-443 or tcp[tcpflags] & tcp-syn != 0) and greater 60",
};

const LOG_ALL: ProgramConfig = { log: true, sources: false, block: false, srcFilter: false, sample: 1 };
const OBJECT = "dist/bpf/xdpwatch.o";

async function main() {
  await ensureBpffs();
  const programs: { name: string; object: string; config: ProgramConfig }[] = [{ name: "default", object: OBJECT, config: LOG_ALL }];
  if (values.object) programs.push({ name: `default (${values.object})`, object: values.object, config: LOG_ALL });
  for (const [name, text] of Object.entries(COST_EXPRESSIONS)) {
    const prog = parseDdd(await compileFilter(text));
    programs.push({ name: `${name} (${prog.length} cBPF)`, object: OBJECT, config: { ...LOG_ALL, expression: { match: prog } } });
  }
  const frames = benchFrames().filter((f) => /^ipv[46]-(udp|tcp)-64$/.test(f.name));
  const dir = mkdtempSync(join(tmpdir(), "xw-bench-expr-"));
  const pins: Pins[] = [];
  try {
    for (const [i, p] of programs.entries()) {
      pins.push(pinsAt(join(BENCH_ROOT, `xwbe-${process.pid}-${i}`)));
      await loadPinned(pins[i]!, { object: p.object, config: p.config }, { cpus: possibleCpus(), shift: RING_SHIFT_MIN });
    }
    for (const f of frames) writeFileSync(join(dir, f.name), f.bytes);
    // One bpftool process for all runs: no process start between two measurements.
    const order: [number, number][] = [];
    const lines: string[] = [];
    for (let r = 0; r < rounds; r++)
      for (let f = 0; f < frames.length; f++)
        for (let k = 0; k < programs.length; k++) {
          const p = (k + r) % programs.length; // a different program goes first each round
          order.push([p, f]);
          lines.push(`prog run pinned ${pins[p]!.prog} data_in ${join(dir, frames[f]!.name)} repeat ${repeat}`);
        }
    const proc = Bun.spawn(["bpftool", "batch", "file", "-"], { stdin: new TextEncoder().encode(`${lines.join("\n")}\n`), stdout: "pipe", stderr: "pipe" });
    const out = await new Response(proc.stdout).text();
    if ((await proc.exited) !== 0) throw new Error(await new Response(proc.stderr).text());
    const durations = [...out.matchAll(/duration \(average\): (\d+)ns/g)].map((m) => Number(m[1]));
    if (durations.length !== order.length) throw new Error(`bpftool printed ${durations.length} of ${order.length} durations`);
    const at = (p: number, f: number, r: number) => durations[order.findIndex(([pp, ff], i) => pp === p && ff === f && Math.floor(i / (frames.length * programs.length)) === r)]!;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const quartiles = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return [s[Math.floor(s.length / 4)]!, s[Math.floor((3 * s.length) / 4)]!];
    };
    console.log(`bpftool prog run, ${rounds} interleaved rounds × ${repeat} runs; ns per packet (median), added over default (median of same-round differences, IQR)`);
    for (const [f, frame] of frames.entries()) {
      console.log(`\n${frame.name}`);
      const base = Array.from({ length: rounds }, (_, r) => at(0, f, r));
      for (const [p, prog] of programs.entries()) {
        const own = Array.from({ length: rounds }, (_, r) => at(p, f, r));
        const diff = own.map((d, r) => d - base[r]!);
        const [q1, q3] = quartiles(diff);
        console.log(`  ${prog.name.padEnd(30)} ${String(median(own)).padStart(4)} ns  ${p === 0 ? "" : `${median(diff) >= 0 ? "+" : ""}${median(diff)} ns (IQR ${q1}…${q3})`}`);
      }
    }
  } finally {
    for (const p of pins) removePins(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await main();
