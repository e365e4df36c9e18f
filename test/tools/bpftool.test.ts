import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dumpLine, hexArgs, loadAll, lookupLine, updateLine, writesLines } from "../../src/tools/bpftool";
import { lastHexEntry, parseMapEntries, parseWordPages } from "../../src/tools/bpftool-output";
import { BPFFS } from "../../src/xdp/pins";
import { kernelReady } from "../support/kernel";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

interface Case {
  name: string;
  text: string;
  want: { key: string; values: string[] }[];
}

describe("parseMapEntries reads bpftool's plain output", () => {
  test.each<Case>([
    {
      name: "per-CPU lookup, values on lines of 16 bytes",
      text: "key:\n00 00 00 00\nvalue (CPU 00):\n01 02 03 04 05 06 07 08  09 0a 0b 0c 0d 0e 0f 10\n11\nvalue (CPU 01):\nff ee dd cc bb aa 99 88  77 66 55 44 33 22 11 00\n00\n",
      want: [{ key: "00000000", values: ["0102030405060708090a0b0c0d0e0f1011", "ffeeddccbbaa998877665544332211" + "0000"] }],
    },
    {
      name: "short entry on one line",
      text: "key: 01 00 00 00  value: 2a 00\n",
      want: [{ key: "01000000", values: ["2a00"] }],
    },
    {
      name: "dump of two entries, then the element count",
      text: "key: 01 00  value: 0a\nkey: 02 00  value: 0b\nFound 2 elements\n",
      want: [
        { key: "0100", values: ["0a"] },
        { key: "0200", values: ["0b"] },
      ],
    },
    {
      name: "the batch sentinel's trailing lines are not data",
      text: "using libbpf v1.1\nfeatures: libbpf_strict\nkey:\n00 00 00 00\nvalue:\nfe ed\n",
      want: [{ key: "00000000", values: ["feed"] }],
    },
    { name: "nothing", text: "", want: [] },
  ])("$name", ({ text, want }) => {
    const got = parseMapEntries(text).map((e) => ({ key: hex(e.key), values: e.values.map(hex) }));
    expect(got).toEqual(want);
  });
});

test("hexArgs spells bytes as bpftool's hex arguments", () => {
  expect(hexArgs(new Uint8Array([0, 15, 255]))).toEqual(["hex", "00", "0f", "ff"]);
});

describe("parseWordPages reads BTF-formatted pages as bpftool 7 prints them", () => {
  // As captured from `bpftool batch` (map lookup of an xw_ring page), shortened to 4 words.
  const page = (key: number, words: string) => `{\n    "key": ${key},\n    "value": {\n        "words": [${words}\n        ]\n    }\n}\n`;
  const utf8 = (s: string) => new TextEncoder().encode(s);

  test("each key's words into the array asked for, u32 exact up to 2^32 - 1", () => {
    const text = `${page(3, "2531136198,0,4294967295,7")}key:\n00 00 00 00\nvalue (CPU 00):\n01 02\n${page(1, "1,2,3,4")}`;
    const got = new Map<number, Uint32Array>();
    const n = parseWordPages(utf8(text), (key) => {
      const a = new Uint32Array(4);
      got.set(key, a);
      return a;
    });
    expect(n).toBe(2);
    expect([...got].map(([k, a]) => [k, [...a]])).toEqual([
      [3, [2531136198, 0, 4294967295, 7]],
      [1, [1, 2, 3, 4]],
    ]);
  });

  test("unsigned __int128 elements, as bpftool prints them in hex, give the same words as u32 ones", () => {
    // Two 16-byte elements: words [1, 2, 3, 0xffffffff] and [0xdeadbeef, 0, 0, 0] (bpftool drops leading zeros).
    const text = page(5, "0xffffffff000000030000000200000001,0xdeadbeef");
    const dest = new Uint32Array(8);
    expect(parseWordPages(utf8(text), () => dest)).toBe(1);
    expect([...dest]).toEqual([1, 2, 3, 0xffffffff, 0xdeadbeef, 0, 0, 0]);
  });

  test("keys not asked for, and a flush page's tail before the first key, are passed over", () => {
    const text = `4294967295,4294967295\n        ]\n    }\n}\n${page(9, "9,9,9,9")}${page(2, "5,6,7,8")}`;
    const dest = new Uint32Array(4);
    expect(parseWordPages(utf8(text), (key) => (key === 2 ? dest : undefined))).toBe(1);
    expect([...dest]).toEqual([5, 6, 7, 8]);
  });

  test.each([
    ["fewer words than the value holds", page(1, "1,2,3"), /printed 3 of 4 words/],
    ["more words", page(1, "1,2,3,4,5"), /more than 4 words/],
    ["an answer cut inside a value", page(1, "1,2,3,4").slice(0, 60), /ends inside the value of key 1/],
  ])("%s is an error", (_, text, err) => {
    expect(() => parseWordPages(utf8(text), () => new Uint32Array(4))).toThrow(err);
  });
});

test("lastHexEntry takes the counters at the end of an answer that holds pages too", () => {
  const text = `{\n    "key": 1,\n    "value": {\n        "words": [1,2]\n    }\n}\nkey:\n00 00 00 00\nvalue (CPU 00):\n2a 00\nvalue (CPU 01):\n2b 00\n{\n    `;
  const entry = lastHexEntry(new TextEncoder().encode(text))!;
  expect(entry.values.map((v) => hex(v))).toEqual(["2a00", "2b00"]);
});

test("batch lines: u32 keys as little-endian hex bytes", () => {
  expect(lookupLine("/sys/fs/bpf/x/maps/xw_ring", 258)).toBe("map lookup pinned /sys/fs/bpf/x/maps/xw_ring key hex 02 01 00 00");
  expect(updateLine("/p", new Uint8Array([1, 2]), new Uint8Array([255]))).toBe("map update pinned /p key hex 01 02 value hex ff");
  expect(dumpLine("/p")).toBe("map dump pinned /p");
});

// bpftool's main() sets its stdout line-buffered from v5.16 on (and in every libbpf/bpftool mirror release); v5.10 does not.
test.each([
  ["7.1.0", true],
  ["6.7.0", true],
  ["5.16.0", true],
  ["5.15.0", false],
  ["5.10.13", false],
  ["4.19.0", false],
])("bpftool %s writes its output a line at a time: %p", (version, lines) => {
  expect(writesLines(version)).toBe(lines);
});

describe.skipIf(!kernelReady)("loadAll", () => {
  test("an object the loader refuses: its own words, nothing pinned", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xw-loadall-"));
    const pins = join(BPFFS, "xdpwatch-test", `xwbad-${process.pid}`);
    try {
      writeFileSync(join(dir, "bad.o"), "not an object");
      const loading = loadAll({ object: join(dir, "bad.o"), progDir: pins, mapDir: join(pins, "maps"), prog: join(pins, "xdpwatch") });
      await expect(loading).rejects.toThrow(/^loading .*bad\.o failed: .*(ELF|object file)/s);
      expect(existsSync(pins)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
