/**
 * tcpdump expressions in the kernel against libpcap itself: for every
 * expression, the frames `tcpdump -r` selects from a pcap file must be exactly
 * those the loaded program (bpftool prog run, frame by frame) drops as a
 * --drop expression, and, among the IP frames it parses, exactly those it logs
 * as the filter expression. Two expressions per load, so that a program with
 * both parts of xw_expr is what runs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDdd } from "../../src/bpf/cbpf";
import { decodeStats, OUTCOMES, sumStats, type Outcome, type ProgramConfig } from "../../src/bpf/layout";
import { parseMapEntries } from "../../src/tools/bpftool-output";
import { compileFilter } from "../../src/tools/tcpdump";
import { loadPinned, possibleCpus, RING_SHIFT_MIN } from "../../src/xdp/program";
import { BPFFS, pinsAt, removePins } from "../../src/xdp/pins";
import { frameCorpus, generatedExpressions, HAND_EXPRESSIONS, pcapJudge } from "../support/expressions";
import { kernelReady, ROOT, sh } from "../support/kernel";

const OBJECT = join(ROOT, "dist/bpf/xdpwatch.o");
const XDP_DROP = 1;
const FRAMES = 450;
const GENERATED = 200;
const ready = kernelReady && Bun.which("tcpdump") !== null;

interface Verdict {
  action: number;
  outcome: Outcome | "none";
}

/** Loads the program with `config`, runs every frame once, and reads the counters after each. */
async function runAll(config: ProgramConfig, frameDir: string, n: number): Promise<Verdict[]> {
  const pins = pinsAt(join(BPFFS, "xdpwatch-test", `xwx-${process.pid}`));
  try {
    await loadPinned(pins, { object: OBJECT, config }, { cpus: possibleCpus(), shift: RING_SHIFT_MIN });
    const lines = [`map lookup pinned ${pins.stats} key hex 00 00 00 00`];
    for (let i = 0; i < n; i++) lines.push(`prog run pinned ${pins.prog} data_in ${join(frameDir, `${i}.bin`)} repeat 1`, `map lookup pinned ${pins.stats} key hex 00 00 00 00`);
    const r = await sh(["bpftool", "batch", "file", "-"], `${lines.join("\n")}\n`);
    if (r.code !== 0) throw new Error(r.stderr);
    const actions = [...r.stdout.matchAll(/^Return value: (\d+)/gm)].map((m) => Number(m[1]));
    const stats = parseMapEntries(r.stdout).map((e) => sumStats(e.values.map(decodeStats)));
    if (actions.length !== n || stats.length !== n + 1) throw new Error(`bpftool ran ${actions.length} of ${n} frames`);
    return actions.map((action, i) => {
      const moved = OUTCOMES.filter((o) => stats[i + 1]!.outcome[o] !== stats[i]!.outcome[o]);
      return { action, outcome: moved.length === 1 ? moved[0]! : "none" };
    });
  } finally {
    removePins(pins);
  }
}

const LOG: ProgramConfig = { log: true, sources: false, block: false, srcFilter: false, sample: 1 };

describe.skipIf(!ready)("expressions evaluated in the kernel select exactly what tcpdump selects", () => {
  const frames = frameCorpus(FRAMES, 11);
  const judge = pcapJudge(frames);
  const frameDir = mkdtempSync(join(tmpdir(), "xw-expr-frames-"));
  let plain: Verdict[] = [];
  let generated: string[] = [];

  beforeAll(async () => {
    frames.forEach((f, i) => writeFileSync(join(frameDir, `${i}.bin`), f));
    plain = await runAll(LOG, frameDir, frames.length);
    generated = await generatedExpressions(GENERATED, 5);
  }, 120_000);
  afterAll(() => {
    judge.remove();
    rmSync(frameDir, { recursive: true, force: true });
  });

  test("the corpus has every shape, and the parser's outcomes on it are varied", () => {
    expect(frames.length).toBeGreaterThanOrEqual(400);
    const count = (o: Outcome) => plain.filter((v) => v.outcome === o).length;
    expect(count("logged")).toBeGreaterThan(250);
    expect(count("malformed")).toBeGreaterThan(10);
    expect(count("not_ip")).toBeGreaterThan(20);
  });

  /** Drop = expressions[i], filter = expressions[i + 1]: each is checked both ways over the list. */
  async function check(list: readonly string[]) {
    const differences: string[] = [];
    for (let i = 0; i < list.length; i++) {
      const drop = list[i]!;
      const match = list[(i + 1) % list.length]!;
      const [dropped, matched] = await Promise.all([judge.select(drop), judge.select(match)]);
      const config = { ...LOG, expression: { drop: parseDdd(await compileFilter(drop)), match: parseDdd(await compileFilter(match)) } };
      const got = await runAll(config, frameDir, frames.length);
      const droppedSet = new Set(dropped);
      const matchedSet = new Set(matched);
      got.forEach((v, f) => {
        // What the program does without expressions decides where a frame that is not dropped ends.
        const parsed = plain[f]!.outcome === "logged";
        const want = droppedSet.has(f) ? "blocked" : parsed ? (matchedSet.has(f) ? "logged" : "filtered") : plain[f]!.outcome;
        if (v.outcome !== want || (v.action === XDP_DROP) !== droppedSet.has(f))
          differences.push(`frame ${f} (${Buffer.from(frames[f]!).toString("hex")}): drop "${drop}", filter "${match}": tcpdump says ${want}, kernel ${v.outcome} (action ${v.action})`);
      });
      if (differences.length > 5) break;
    }
    expect(differences).toEqual([]);
  }

  test(`${HAND_EXPRESSIONS.length} hand-written expressions`, async () => {
    expect(HAND_EXPRESSIONS.length).toBeGreaterThanOrEqual(30);
    await check(HAND_EXPRESSIONS);
  }, 300_000);

  test(`${GENERATED} expressions generated from pcap-filter's grammar`, async () => {
    expect(generated.length).toBe(GENERATED);
    await check(generated);
  }, 600_000);
});
