import { describe, expect, test } from "bun:test";
import { hexArgs, parseMapEntries } from "../../src/tools/bpftool";

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
