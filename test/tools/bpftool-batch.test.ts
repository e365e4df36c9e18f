import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { hexArgs, lookupLine } from "../../src/tools/bpftool";
import { BpftoolBatch } from "../../src/tools/bpftool-batch";

describe.skipIf(!Bun.which("bpftool") || process.getuid?.() !== 0 || !existsSync("/sys/fs/bpf"))("BpftoolBatch, a real bpftool", () => {
  // A two-entry array of our own: entry 0 is asked for, entry 1 ends each answer.
  const pin = `/sys/fs/bpf/xwtest-batch-${process.pid}`;
  const flush = { command: lookupLine(pin, 1), marker: "key: 01 00 00 00" };
  beforeAll(() => {
    const made = Bun.spawnSync(["bpftool", "map", "create", pin, "type", "array", "key", "4", "value", "8", "entries", "2", "name", "xwtest"]);
    if (made.exitCode !== 0) throw new Error(`bpftool map create: ${made.stderr}`);
    Bun.spawnSync(["bpftool", "map", "update", "pinned", pin, "key", ...hexArgs(new Uint8Array(4)), "value", ...hexArgs(new Uint8Array([42, 0, 0, 0, 0, 0, 0, 0]))]);
  });
  afterAll(() => rmSync(pin, { force: true }));

  test("answers each request up to its marker, request after request", async () => {
    const batch = new BpftoolBatch(flush);
    try {
      for (let i = 0; i < 3; i++) {
        const answer = new TextDecoder().decode(await batch.request([lookupLine(pin, 0), lookupLine(pin, 0)]));
        // Two entries each time, the counters' way: the flush's own line never leaks into the next answer.
        expect(answer.match(/key: 00 00 00 00 {2}value: 2a 00 00 00 00 00 00 00/g)?.length).toBe(2);
        expect(answer).not.toContain("key: 01");
      }
    } finally {
      await batch.close();
    }
  });

  test("runs in a session of its own: a signal to our process group does not reach it", async () => {
    const batch = new BpftoolBatch(flush);
    try {
      await batch.request([lookupLine(pin, 0)]);
      const fields = (stat: string) => stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
      const [, , pgrp, session] = fields(await Bun.file(`/proc/${batch.pid}/stat`).text());
      const [, , ownPgrp] = fields(await Bun.file("/proc/self/stat").text());
      expect(session).toBe(batch.pid);
      expect(pgrp).toBe(batch.pid);
      expect(pgrp).not.toBe(ownPgrp);
    } finally {
      await batch.close();
    }
  });

  test("a bpftool that dies mid-run is an error that says so, not a hang", async () => {
    const batch = new BpftoolBatch(flush);
    try {
      await batch.request([lookupLine(pin, 0)]);
      process.kill(batch.pid, "SIGKILL");
      await Bun.sleep(50);
      await expect(batch.request([lookupLine(pin, 0)])).rejects.toThrow(/bpftool stopped answering/);
    } finally {
      await batch.close();
    }
  });
});
