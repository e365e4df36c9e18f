import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { programTags } from "../../src/bpf/tag";
import { loadPinned } from "../../src/xdp/program";
import { BPFFS, pinsAt, removePins } from "../../src/xdp/pins";
import { showPinnedProg } from "../../src/tools/bpftool";
import { kernelReady, ROOT, xdpwatch } from "../support/kernel";

const OBJECT = join(ROOT, "dist/bpf/xdpwatch.o");

test("refuses what is not an ELF64 object", () => {
  expect(() => programTags(new Uint8Array(64))).toThrow(/not a little-endian ELF64/);
});

describe.skipIf(!kernelReady)("the computed tag is the one the kernel gives the loaded program", () => {
  test("tag", async () => {
    const pins = pinsAt(join(BPFFS, "xdpwatch-test", `xwtag-${process.pid}`));
    try {
      await loadPinned(pins, { object: OBJECT, config: { log: true, sources: false, block: false, srcFilter: false, sample: 1 } });
      const loaded = await showPinnedProg(pins.prog);
      const tags = programTags(new Uint8Array(readFileSync(OBJECT)));
      expect([tags.sha256, tags.sha1]).toContain(loaded!.tag!);
      // What the binary prints, hashed at build time (scripts/build-bpf.ts), names the same tags.
      const built = JSON.parse(readFileSync(join(ROOT, "dist/bpf/xdpwatch.tags.json"), "utf8")) as unknown;
      expect(built).toEqual(tags);
      const version = await xdpwatch(["--version"]);
      expect(version.stdout).toContain(`tag ${tags.sha256} (kernels before 6.18: ${tags.sha1})`);
    } finally {
      removePins(pins);
    }
  });
});
