import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCidr } from "../../src/net/cidr";
import { lookupBytes, showPinnedProg, writesLines } from "../../src/tools/bpftool";
import { BPFFS, pinsAt, removePins } from "../../src/xdp/pins";
import { flushPage, loadPinned, possibleCpus, ringFor } from "../../src/xdp/program";
import { kernelReady, ROOT, sh } from "../support/kernel";

const OBJECT = join(ROOT, "dist/bpf/xdpwatch.o");

test.each([
  ["0-1\n", 2],
  ["0\n", 1],
  ["0-3,5,8-11\n", 12],
])("possibleCpus(%p) = %p", (text, n) => {
  expect(possibleCpus(text)).toBe(n);
});

describe.skipIf(!kernelReady)("loadPinned: one bpftool batch loads, pins and names the program", () => {
  const config = { log: true, sources: false, block: true, srcFilter: false, sample: 1 } as const;
  const pins = pinsAt(join(BPFFS, "xdpwatch-test", `xwload-${process.pid}`));
  afterEach(() => removePins(pins));

  test("the id is the pinned program's, the --block ranges are in their trie", async () => {
    const ring = ringFor(possibleCpus());
    const id = await loadPinned(pins, { object: OBJECT, config, block: [parseCidr("198.18.3.0/24"), parseCidr("2001:db8::/32")] }, ring);
    expect(id).toBe((await showPinnedProg(pins.prog))!.id);
    const trie = await sh(["bpftool", "-j", "map", "dump", "pinned", pins.block]);
    expect(JSON.parse(trie.stdout)).toHaveLength(2);
    // This bpftool writes lines (7.x): the flush page is left as the kernel made it, zeros.
    expect(writesLines((await sh(["bpftool", "-j", "version"])).stdout.match(/"version":"([^"]+)"/)![1]!)).toBe(true);
    expect((await lookupBytes(pins.ring, flushPage(ring))).every((b) => b === 0)).toBe(true);
  });

  // The configured copy is written under TMPDIR and named in a batch line, where `#` starts a comment:
  // bpftool runs in its directory and is given the file's own name.
  test.each([
    ["a space", "xw load "],
    ["a #", "xw#load-"],
  ])("a TMPDIR with %s in its name", async (_, prefix) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = dir;
    try {
      expect(await loadPinned(pins, { object: OBJECT, config })).toBe((await showPinnedProg(pins.prog))!.id);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      process.env.TMPDIR = before;
      if (before === undefined) delete process.env.TMPDIR;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
