/**
 * Traffic is never harmed unless asked: every frame, however malformed, runs
 * through the real program in the kernel (bpftool prog run) and must come out
 * XDP_PASS — or XDP_DROP exactly when it was counted as blocked — with exactly
 * one outcome counted for it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeStats, OUTCOMES, sumStats, type Outcome, type ProgramConfig } from "../../src/bpf/layout";
import { parseCidr } from "../../src/net/cidr";
import { parseMapEntries } from "../../src/tools/bpftool-output";
import { loadPinned, possibleCpus, RING_SHIFT_MIN } from "../../src/xdp/program";
import { BPFFS, pinsAt, removePins, type Pins } from "../../src/xdp/pins";
import { arpFrame, ipv4Frame, ipv6Frame } from "../support/frames";
import { ETH, HAND, v4 } from "../support/corpus";
import { kernelReady, ROOT, sh } from "../support/kernel";

const OBJECT = join(ROOT, "dist/bpf/xdpwatch.o");
const XDP_DROP = 1;
const XDP_PASS = 2;

/** Runs each frame once and reads the counters after each: the frame's action and outcome. */
async function classify(pins: Pins, frames: Uint8Array[]): Promise<{ action: number; outcome: Outcome | "none" | "several" }[]> {
  const dir = mkdtempSync(join(tmpdir(), "xw-corpus-"));
  try {
    const lines: string[] = [`map lookup pinned ${pins.stats} key hex 00 00 00 00`];
    frames.forEach((f, i) => {
      writeFileSync(join(dir, `${i}.bin`), f);
      lines.push(`prog run pinned ${pins.prog} data_in ${join(dir, `${i}.bin`)} repeat 1`);
      lines.push(`map lookup pinned ${pins.stats} key hex 00 00 00 00`);
    });
    const r = await sh(["bpftool", "batch", "file", "-"], `${lines.join("\n")}\n`);
    if (r.code !== 0) throw new Error(r.stderr);
    const actions = [...r.stdout.matchAll(/^Return value: (\d+)/gm)].map((m) => Number(m[1]));
    const stats = parseMapEntries(r.stdout).map((e) => sumStats(e.values.map(decodeStats)));
    expect(actions).toHaveLength(frames.length);
    expect(stats).toHaveLength(frames.length + 1);
    return actions.map((action, i) => {
      const before = stats[i]!;
      const after = stats[i + 1]!;
      expect(after.seen - before.seen).toBe(1n);
      const moved = OUTCOMES.filter((o) => after.outcome[o] !== before.outcome[o]);
      const outcome = moved.length === 1 && after.outcome[moved[0]!] - before.outcome[moved[0]!] === 1n ? moved[0]! : moved.length ? "several" : "none";
      return { action, outcome };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Random frames, and valid frames with random bytes changed or cut off. */
function randomCorpus(n: number, seed: number): Uint8Array[] {
  let s = seed;
  const rnd = (k: number) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % k;
  };
  const seeds = [v4, ipv6Frame({ src: "2001:db8::1", proto: "tcp" }), ipv4Frame({ src: "198.18.4.5", vlans: [7, 8], proto: "tcp" }), arpFrame()];
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) {
      const f = new Uint8Array(ETH + rnd(120));
      for (let j = 0; j < f.length; j++) f[j] = rnd(256);
      // Steer a share of the random frames into the IP and VLAN parsers.
      const types = [[0x08, 0x00], [0x86, 0xdd], [0x81, 0x00], [0x88, 0xa8]];
      if (rnd(2)) f.set(types[rnd(types.length)]!, 12);
      out.push(f);
    } else {
      const base = seeds[rnd(seeds.length)]!;
      const f = base.slice(0, Math.max(ETH, base.length - rnd(base.length)));
      for (let k = rnd(4); k >= 0; k--) f[ETH + rnd(f.length - ETH)] = rnd(256);
      out.push(f);
    }
  }
  return out;
}

const ALL_ON: ProgramConfig = { log: true, sources: true, block: true, srcFilter: true, protos: [6, 17, 1], ports: [53, 443], sample: 3 };

describe.skipIf(!kernelReady)("every frame passes unless blocked, and is counted once", () => {
  const pins = pinsAt(join(BPFFS, "xdpwatch-test", `xwc-${process.pid}`));
  const block = [parseCidr("198.18.3.0/24"), parseCidr("2001:db8:bad::/48")];
  let pinsAll: Pins;

  beforeAll(async () => {
    const ring = { cpus: possibleCpus(), shift: RING_SHIFT_MIN };
    await loadPinned(pins, { object: OBJECT, config: { log: true, sources: false, block: true, srcFilter: false, sample: 1 }, block }, ring);
    pinsAll = pinsAt(join(BPFFS, "xdpwatch-test", `xwc-${process.pid}-all`));
    await loadPinned(pinsAll, { object: OBJECT, config: ALL_ON, block, srcFilter: [parseCidr("198.18.0.0/15"), parseCidr("2001:db8::/32")] }, ring);
  });
  afterAll(() => {
    removePins(pins);
    if (pinsAll) removePins(pinsAll);
  });

  test("hand-made frames get the outcome they deserve", async () => {
    const got = await classify(pins, HAND.map(([, f]) => f));
    const table = HAND.map(([name, , want], i) => ({ name, want, outcome: got[i]!.outcome, action: got[i]!.action }));
    for (const row of table) {
      expect({ name: row.name, outcome: row.outcome }).toEqual({ name: row.name, outcome: row.want });
      expect({ name: row.name, action: row.action }).toEqual({ name: row.name, action: row.want === "blocked" ? XDP_DROP : XDP_PASS });
    }
  }, 60_000);

  test.each([
    ["logging only", () => pins],
    ["every feature on", () => pinsAll],
  ])("3,000 random and mutated frames with %s: passed unless counted as blocked", async (_name, which) => {
    const results = await classify(which(), randomCorpus(3000, 7));
    const wrong = results.filter((r) => r.outcome === "none" || r.outcome === "several" || (r.action === XDP_DROP) !== (r.outcome === "blocked") || (r.action !== XDP_PASS && r.action !== XDP_DROP));
    expect(wrong).toEqual([]);
    expect(results.filter((r) => r.outcome === "malformed").length).toBeGreaterThan(100);
  }, 120_000);
});
