import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchConfigs, benchFrames, expressionConfigs } from "../../src/bench/cases";
import { isAlive } from "../../src/xdp/owner";
import { BENCH_ROOT } from "../../src/xdp/pins";
import { BIN, kernelReady, ndjson, xdpwatch } from "../support/kernel";

/** One directory per running bench, named by its pid. */
const benchDirs = () => (existsSync(BENCH_ROOT) ? readdirSync(BENCH_ROOT) : []);

describe.skipIf(!kernelReady)("bench in the real kernel", () => {
  // A TMPDIR of the test's own shows whether the bench left a file behind.
  let tmp: string;
  let env: Record<string, string>;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), "xw-bench-test-"));
    env = { ...(process.env as Record<string, string>), TMPDIR: tmp };
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  test("every program on every frame reports a duration; nothing is left behind", async () => {
    const { code, stdout, stderr } = await xdpwatch(["bench", "--json", "--repeat", "1000", "--rounds", "2", "--copies", "2"], { env });
    expect(code, stderr).toBe(0);
    const records = ndjson(stdout);
    const programs = ["empty", "minimal", ...[...benchConfigs(), ...(await expressionConfigs())].map((c) => c.name)];
    const frames = benchFrames().map((f) => f.name);
    expect(records.map((r) => `${r.program}/${r.frame}`).sort()).toEqual(programs.flatMap((p) => frames.map((f) => `${p}/${f}`)).sort());
    for (const r of records) {
      expect(r).toMatchObject({ type: "bench", reference: "minimal", rounds: 2, repeat: 1000 });
      expect(r.ns_per_packet as number).toBeGreaterThan(0);
      // Every program but the baseline has an added cost; the bench's frames all cost the reference something.
      if (r.program !== "empty") expect(typeof r.added_ns).toBe("number");
    }
    // Real runs of the reference on the headline frames: it adds something, and is its own unit.
    for (const frame of ["ipv4-udp-64", "ipv6-udp-64"]) {
      const ref = records.find((r) => r.program === "minimal" && r.frame === frame)!;
      if ((ref.added_ns as number) > 0) expect(ref.ratio_to_reference).toBe(1);
    }
    // Another bench may be running on a shared machine: only a dead process's pins would be ours.
    expect(benchDirs().filter((pid) => !isAlive(Number(pid)))).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
  }, 60_000);

  test("Ctrl-C while measuring removes the programs and files, and exits 130", async () => {
    const proc = Bun.spawn([BIN, "bench", "--repeat", "2000000", "--copies", "1"], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env });
    let stderr = "";
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) {
      stderr += decoder.decode(chunk, { stream: true });
      if (stderr.includes("measuring")) break;
    }
    expect(benchDirs()).toContain(String(proc.pid));
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(130);
    expect(benchDirs()).not.toContain(String(proc.pid));
    expect(readdirSync(tmp)).toEqual([]);
  }, 60_000);
});
