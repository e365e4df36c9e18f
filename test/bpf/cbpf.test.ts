/** Classic BPF from tcpdump -ddd: parsed, judged, translated into the program's placeholder. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expressionBody, matchesEverything, parseDdd, translate, unsupported, type Cbpf } from "../../src/bpf/cbpf";
import { placeholderOffset, withPlaceholder } from "../../src/bpf/elf";
import { EXPR_INSNS, EXPR_SECTION, FLAG } from "../../src/bpf/layout";
import { XwError } from "../../src/errors";
import { ROOT } from "../support/kernel";

/** `tcpdump -ddd -y EN10MB 'udp port 53'`, libpcap 1.10. */
const UDP_53 = `20
40 0 0 12
21 0 6 34525
48 0 0 20
21 0 15 17
40 0 0 54
21 12 0 53
40 0 0 56
21 10 11 53
21 0 10 2048
48 0 0 23
21 0 8 17
40 0 0 20
69 6 0 8191
177 0 0 14
72 0 0 14
21 2 0 53
72 0 0 16
21 0 1 53
6 0 0 262144
6 0 0 0
`;
const ret = (k: number): Cbpf => ({ code: 0x06, jt: 0, jf: 0, k });

describe("parseDdd", () => {
  test("count, then code jt jf k", () => {
    const prog = parseDdd(UDP_53);
    expect(prog).toHaveLength(20);
    expect(prog[0]).toEqual({ code: 40, jt: 0, jf: 0, k: 12 });
    expect(prog[12]).toEqual({ code: 69, jt: 6, jf: 0, k: 8191 });
    expect(parseDdd("1\n6 0 0 4294967295\n")[0]!.k).toBe(0xffffffff);
  });
  test.each([
    ["2\n6 0 0 0\n", /announced 2 instructions and printed 1/],
    ["1\n6 0 0\n", /not "code jt jf k"/],
    ["1\n6 0 x 0\n", /not "code jt jf k"/],
    ["", /announced  instructions/],
  ])("refuses %p", (text, message) => {
    expect(() => parseDdd(text)).toThrow(message);
  });
});

describe("what XDP cannot evaluate is refused, with the reason", () => {
  test.each<[string, Cbpf[], RegExp | undefined]>([
    ["udp port 53", parseDdd(UDP_53), undefined],
    ["inbound (SKF_AD_PKTTYPE)", [{ code: 0x28, jt: 0, jf: 0, k: 0xfffff004 }, ret(1)], /Linux socket metadata/],
    ["a load relative to the network header (SKF_NET_OFF)", [{ code: 0x30, jt: 0, jf: 0, k: 0xfff00000 }, ret(1)], /Linux socket metadata/],
    ["protochain's backward jump", [{ code: 0x28, jt: 0, jf: 0, k: 12 }, { code: 0x05, jt: 0, jf: 0, k: 0xfffffffe }, ret(1)], /backward jump/],
    ["a jump past the end", [{ code: 0x15, jt: 3, jf: 0, k: 1 }, ret(1)], /jumps past the end/],
    ["no return at the end", [ret(1), { code: 0x00, jt: 0, jf: 0, k: 1 }], /does not end with a return/],
    ["an unknown MISC code (COP)", [{ code: 0x27, jt: 0, jf: 0, k: 0 }, ret(1)], /not classic BPF xdpwatch knows/],
  ])("%s", (_name, prog, reason) => {
    const why = unsupported(prog);
    if (reason) expect(why).toMatch(reason);
    else expect(why).toBeUndefined();
    if (reason) expect(() => translate([{ prog, bit: 1 }], 64)).toThrow(XwError);
  });
});

describe("matchesEverything: the guard of --drop", () => {
  test.each<[string, Cbpf[], boolean]>([
    ["accept all (an empty expression, `ip or not ip`)", [ret(262144)], true],
    ["udp port 53", parseDdd(UDP_53), false],
    ["two accepting returns", [{ code: 0x15, jt: 0, jf: 1, k: 1 }, ret(1), ret(2)], true],
    ["a rejecting return that is never reached", [{ code: 0x05, jt: 0, jf: 0, k: 1 }, ret(0), ret(1)], true],
    ["ret a: unknown", [{ code: 0x16, jt: 0, jf: 0, k: 0 }], false],
  ])("%s: %p", (_name, prog, all) => {
    expect(matchesEverything(prog)).toBe(all);
  });
});

/** Where the jumps of the translation, from instruction `from` on, go. */
function jumpTargets(body: Uint8Array, from: number): number[] {
  const dv = new DataView(body.buffer);
  const targets: number[] = [];
  for (let i = from; i < body.length / 8; i++) {
    const cls = body[i * 8]! & 7;
    const op = body[i * 8]! & 0xf0;
    if ((cls === 5 || cls === 6) && op !== 0x80 && op !== 0x90) targets.push(i + 1 + dv.getInt16(i * 8 + 2, true));
  }
  return targets;
}

describe("translate", () => {
  test("nops first, then the code; it ends by loading the result into r0, and no jump leaves the placeholder", () => {
    const body = expressionBody({ match: parseDdd(UDP_53) }, 256);
    expect(body.length).toBe(256 * 8);
    const first = body.findIndex((b, i) => i % 8 === 0 && b !== 0x05) / 8;
    expect(first).toBeGreaterThan(100);
    expect([...body.subarray(0, first * 8)].every((b, i) => (i % 8 === 0 ? b === 0x05 : b === 0))).toBe(true);
    // Last: r0 = *(u32 *)(r5 + 64), the result word after the 16 scratch words.
    expect([...body.subarray(body.length - 8)]).toEqual([0x61, 0x50, 64, 0, 0, 0, 0, 0]);
    const targets = jumpTargets(body, first);
    expect(targets.length).toBeGreaterThan(10);
    expect(targets.every((t) => t > first && t < 256)).toBe(true);
  });

  test("the --drop part comes first and sets its own bit; the filter part its own", () => {
    const body = expressionBody({ drop: [ret(1)], match: [ret(1)] }, 32);
    const stores = [];
    for (let i = 0; i < 32; i++) if (body[i * 8] === 0x62 && body[i * 8 + 2] === 64) stores.push(new DataView(body.buffer).getInt32(i * 8 + 4, true));
    expect(stores).toEqual([0, FLAG.dropExpr]);
    expect([...body].includes(FLAG.matchExpr)).toBe(true);
  });

  test("an expression larger than the room: refused with both sizes", () => {
    const prog: Cbpf[] = [...Array.from({ length: 300 }, () => ({ code: 0x20, jt: 0, jf: 0, k: 26 })), ret(1)];
    expect(() => translate([{ prog, bit: 1 }], EXPR_INSNS)).not.toThrow();
    expect(() => translate([{ prog, bit: 1 }], 1000)).toThrow(/^the expression needs \d+ eBPF instructions; xdpwatch's program has room for 1000$/);
  });

  test("loads past 64 KiB can never be in a frame: no match, without a pointer the verifier would refuse", () => {
    const body = translate([{ prog: [{ code: 0x30, jt: 0, jf: 0, k: 70000 }, ret(1)], bit: 1 }], 16);
    expect([...body].includes(0x71)).toBe(false);
  });
});

describe("the placeholder in the object", () => {
  const elf = new Uint8Array(readFileSync(join(ROOT, "dist/bpf/xdpwatch.o")));

  test(`exactly one run of ${EXPR_INSNS} goto +0 in the program's section, replaced in place`, () => {
    const at = placeholderOffset(elf, EXPR_SECTION, EXPR_INSNS);
    const body = expressionBody({ match: parseDdd(UDP_53) }, EXPR_INSNS);
    const patched = withPlaceholder(elf, EXPR_SECTION, body);
    expect(patched.length).toBe(elf.length);
    expect(patched.subarray(at, at + body.length)).toEqual(body);
    expect(patched.subarray(0, at)).toEqual(elf.subarray(0, at));
    expect(patched.subarray(at + body.length)).toEqual(elf.subarray(at + body.length));
    expect(() => placeholderOffset(elf, EXPR_SECTION, EXPR_INSNS + 1)).toThrow(/has 0 placeholders of 4097 instructions/);
  });
});
