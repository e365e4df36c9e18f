/**
 * Classic BPF, as `tcpdump -ddd` prints it, translated to eBPF instructions
 * that replace the placeholder of bpf/xdpwatch.c (xw_expr: XW_EXPR_INSNS
 * `goto +0`s inside the program) at load.
 *
 * Why a translation and not an interpreter in the program: a translated
 * expression is JIT-compiled like the rest of the program (`udp port 53`
 * executes ~40 eBPF instructions, about 2 ns), it needs no helper newer than
 * the base program (no bpf_loop), and the verifier sees each packet access
 * with its own bounds check instead of a loop over a table of instructions it
 * would have to unroll. An interpreter would cost a dispatch per classic
 * instruction, and 4096 loop iterations of verifier work.
 *
 * Semantics are libpcap's bpf_filter(): A and X start at 0, a load past the
 * end of the frame or a division by zero ends the program with 0 (no match),
 * a shift by 32 or more gives 0. What XDP cannot evaluate (Linux ancillary
 * data such as `inbound`, the backward jumps of `protochain`) is refused.
 */
import { usageError } from "../errors";
import { EXPR_SCRATCH_WORDS, FLAG, type ClassicInsn, type ProgramConfig } from "./layout";

export type Cbpf = ClassicInsn;

/** Parses `tcpdump -ddd` output: a count, then "code jt jf k" per line. */
export function parseDdd(text: string): Cbpf[] {
  const lines = text.trim().split("\n").map((l) => l.trim());
  const count = Number(lines[0]);
  const insns = lines.slice(1).map((line) => {
    const f = line.split(/\s+/).map(Number);
    if (f.length !== 4 || f.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`tcpdump -ddd printed "${line}", not "code jt jf k"`);
    return { code: f[0]!, jt: f[1]!, jf: f[2]!, k: f[3]! >>> 0 };
  });
  if (!Number.isInteger(count) || count !== insns.length || count === 0)
    throw new Error(`tcpdump -ddd announced ${lines[0]} instructions and printed ${insns.length}`);
  return insns;
}

// Classic BPF fields (linux/filter.h, pcap/bpf.h).
const C = {
  LD: 0x00, LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, RET: 0x06, MISC: 0x07,
  W: 0x00, H: 0x08, B: 0x10,
  IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, LEN: 0x80, MSH: 0xa0,
  K: 0x00, X: 0x08, A: 0x10,
  TAX: 0x00, TXA: 0x80,
} as const;
const SIZE_BYTES: Record<number, number> = { [C.W]: 4, [C.H]: 2, [C.B]: 1 };
/** Loads at or above this offset read Linux socket-filter metadata (SKF_LL_OFF, SKF_NET_OFF, SKF_AD_OFF). */
const SKF_SPECIAL = 0xffe00000;
/** Classic BPF's scratch words M[0..15]; the program's stack has one more word, for the result. */
const MEMWORDS = EXPR_SCRATCH_WORDS - 1;

// eBPF encoding (linux/bpf.h).
const E = {
  LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, JMP32: 0x06, ALU64: 0x07,
  MEM: 0x60, W: 0x00, H: 0x08, B: 0x10,
  K: 0x00, X: 0x08,
  ADD: 0x00, SUB: 0x10, AND: 0x50, OR: 0x40, LSH: 0x60, NEG: 0x80, MOV: 0xb0, END: 0xd0, TO_BE: 0x08,
  JA: 0x00, JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40, JNE: 0x50, JLT: 0xa0, JLE: 0xb0,
} as const;
const ALU_OPS = new Set([0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0]);
const DIV = 0x30;
const MOD = 0x90;
const LSH = 0x60;
const RSH = 0x70;
const INVERSE: Record<number, number> = { [E.JEQ]: E.JNE, [E.JGT]: E.JLE, [E.JGE]: E.JLT };

// Registers, as the placeholder's asm sets them: r1 = data, r2 = data_end, r5 =
// scratch words on the stack (M[0..15], then the result); A in r3, X in r4,
// r0 for packet pointers until it finally takes the result.
const DATA = 1, END = 2, A = 3, X = 4, P = 0, S = 5;
const memOffset = (k: number) => 4 * k;
const RESULT = 4 * MEMWORDS;
/** A frame's linear part never reaches 64 KiB; the verifier also wants packet offsets below it. */
const MAX_PACKET_OFF = 0xffff;

/** A jump's target: a classic instruction of the segment, then its first eBPF instruction; or the segment's end. */
type Label = { cbpf: number } | { local: number } | "end";
interface Item {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  target?: Label;
}

function insn(code: number, dst: number, src: number, off: number, imm: number, target?: Label): Item {
  return { code, dst, src, off, imm, target };
}

/** Why an expression's classic program cannot be run here, or undefined. */
export function unsupported(prog: readonly Cbpf[]): string | undefined {
  for (const [i, p] of prog.entries()) {
    const cls = p.code & 7;
    const mode = p.code & 0xe0;
    if ((cls === C.LD || cls === C.LDX) && (mode === C.ABS || mode === C.IND || mode === C.MSH) && p.k >= SKF_SPECIAL)
      return "it reads Linux socket metadata (such as inbound/outbound or the interface index) that XDP frames do not carry";
    if (cls === C.JMP && (p.code & 0xf0) === 0 && i + 1 + p.k >= 2 ** 32)
      return "it compiles to a loop (a backward jump, as `protochain` does), which xdpwatch does not run in XDP";
    if (cls === C.JMP && (i + 1 + (p.code & 0xf0 ? Math.max(p.jt, p.jf) : p.k) >= prog.length))
      return `instruction ${i} jumps past the end of the program`;
    if (i === prog.length - 1 && cls !== C.RET) return "it does not end with a return";
    if ((cls === C.ST || cls === C.STX || ((cls === C.LD || cls === C.LDX) && mode === C.MEM)) && p.k >= MEMWORDS)
      return `instruction ${i} uses scratch word ${p.k}; classic BPF has ${MEMWORDS}`;
    if (cls === C.MISC && p.code !== (C.MISC | C.TAX) && p.code !== (C.MISC | C.TXA)) return `instruction ${i} (code ${p.code}) is not classic BPF xdpwatch knows`;
  }
  return undefined;
}

/** The instructions some path from the first one reaches (classic jumps only go forward). */
function reachable(prog: readonly Cbpf[]): Set<number> {
  const seen = new Set<number>([0]);
  for (let i = 0; i < prog.length; i++) {
    if (!seen.has(i)) continue;
    const p = prog[i]!;
    const cls = p.code & 7;
    if (cls === C.JMP && (p.code & 0xf0) === 0) seen.add(i + 1 + p.k);
    else if (cls === C.JMP) seen.add(i + 1 + p.jt).add(i + 1 + p.jf);
    else if (cls !== C.RET && !loadsPastAnyFrame(p)) seen.add(i + 1);
  }
  return seen;
}

/** A packet load at an offset no frame reaches: like libpcap, the program returns 0 there, always. */
function loadsPastAnyFrame(p: Cbpf): boolean {
  const cls = p.code & 7;
  const mode = p.code & 0xe0;
  if (cls === C.LD && (mode === C.ABS || mode === C.IND)) return p.k > MAX_PACKET_OFF - SIZE_BYTES[p.code & 0x18]!;
  if (cls === C.LDX && mode === C.MSH) return p.k > MAX_PACKET_OFF - 1;
  return false;
}

/** True when every reachable return accepts: the expression matches every frame. */
export function matchesEverything(prog: readonly Cbpf[]): boolean {
  return [...reachable(prog)].every((i) => (prog[i]!.code & 7) !== C.RET || ((prog[i]!.code & 0x18) === C.K && prog[i]!.k !== 0));
}

/** One classic program, whose acceptance sets `bit` in the result word; `first` finds it 0. */
function translateSegment(prog: readonly Cbpf[], bit: number, first: boolean): Item[] {
  const out: Item[] = [];
  const starts: number[] = [];
  const end: Label = "end";
  const to = (cbpf: number): Label => ({ cbpf });
  /** Leaves the segment without setting its bit: "return 0". */
  const reject = () => out.push(insn(E.JMP | E.JA, 0, 0, 0, 0, end));
  const rejectIf = (code: number, dst: number, src: number, imm: number) => out.push(insn(code, dst, src, 0, imm, end));

  // libpcap starts with A = X = 0; scratch words that are read start at 0 too.
  out.push(insn(E.ALU | E.MOV | E.K, A, 0, 0, 0), insn(E.ALU | E.MOV | E.K, X, 0, 0, 0));
  const read = new Set(prog.filter((p) => (p.code & 7) <= C.LDX && (p.code & 0xe0) === C.MEM).map((p) => p.k));
  for (const k of read) out.push(insn(E.ST | E.MEM | E.W, S, 0, memOffset(k), 0));

  /** P = data + offset + size, checked against data_end; the value is then at P - size. */
  const checkedPointer = (indexed: boolean, k: number, size: number): boolean => {
    if (k > MAX_PACKET_OFF - size) {
      reject();
      return false;
    }
    if (indexed) {
      // X is unknown: bounded first, or the verifier refuses the pointer arithmetic.
      out.push(insn(E.ALU64 | E.MOV | E.X, P, X, 0, 0), insn(E.ALU64 | E.ADD | E.K, P, 0, 0, k));
      rejectIf(E.JMP | E.JGT | E.K, P, 0, MAX_PACKET_OFF - size);
      out.push(insn(E.ALU64 | E.ADD | E.X, P, DATA, 0, 0), insn(E.ALU64 | E.ADD | E.K, P, 0, 0, size));
    } else {
      out.push(insn(E.ALU64 | E.MOV | E.X, P, DATA, 0, 0), insn(E.ALU64 | E.ADD | E.K, P, 0, 0, k + size));
    }
    rejectIf(E.JMP | E.JGT | E.X, P, END, 0);
    return true;
  };
  const load = (dst: number, size: number) => {
    const sz = size === 4 ? E.W : size === 2 ? E.H : E.B;
    out.push(insn(E.LDX | E.MEM | sz, dst, P, -size, 0));
    if (size > 1) out.push(insn(E.ALU | E.END | E.TO_BE, dst, 0, 0, size * 8));
  };
  const accept = () => {
    if (first) out.push(insn(E.ST | E.MEM | E.W, S, 0, RESULT, bit));
    else out.push(insn(E.LDX | E.MEM | E.W, A, S, RESULT, 0), insn(E.ALU | E.OR | E.K, A, 0, 0, bit), insn(E.STX | E.MEM | E.W, S, A, RESULT, 0));
  };
  const leave = (i: number) => {
    if (i !== prog.length - 1) out.push(insn(E.JMP | E.JA, 0, 0, 0, 0, end));
  };

  // The verifier refuses unreachable instructions: what no path reaches is left out.
  const live = reachable(prog);
  for (const [i, p] of prog.entries()) {
    starts[i] = out.length;
    if (!live.has(i)) continue;
    const cls = p.code & 7;
    const mode = p.code & 0xe0;
    const size = SIZE_BYTES[p.code & 0x18];
    const reg = cls === C.LD || cls === C.ALU ? A : X;
    switch (cls) {
      case C.LD:
      case C.LDX:
        if (mode === C.IMM) out.push(insn(E.ALU | E.MOV | E.K, reg, 0, 0, p.k | 0));
        else if (mode === C.MEM) out.push(insn(E.LDX | E.MEM | E.W, reg, S, memOffset(p.k), 0));
        else if (mode === C.LEN) out.push(insn(E.ALU64 | E.MOV | E.X, reg, END, 0, 0), insn(E.ALU64 | E.SUB | E.X, reg, DATA, 0, 0), insn(E.ALU | E.MOV | E.X, reg, reg, 0, 0));
        else if (cls === C.LD && (mode === C.ABS || mode === C.IND) && size) {
          if (checkedPointer(mode === C.IND, p.k, size)) load(A, size);
        } else if (cls === C.LDX && mode === C.MSH && (p.code & 0x18) === C.B) {
          if (checkedPointer(false, p.k, 1)) {
            load(X, 1);
            out.push(insn(E.ALU | E.AND | E.K, X, 0, 0, 0xf), insn(E.ALU | E.LSH | E.K, X, 0, 0, 2));
          }
        } else throw usageError(`xdpwatch cannot evaluate this expression: instruction ${i}: load code ${p.code} is not classic BPF`);
        break;
      case C.ST:
      case C.STX:
        out.push(insn(E.STX | E.MEM | E.W, S, cls === C.ST ? A : X, memOffset(p.k), 0));
        break;
      case C.ALU: {
        const op = p.code & 0xf0;
        const fromX = (p.code & 0x08) === C.X;
        if (!ALU_OPS.has(op)) throw usageError(`xdpwatch cannot evaluate this expression: instruction ${i}: ALU code ${p.code} is not classic BPF`);
        if (op === E.NEG) {
          out.push(insn(E.ALU | E.NEG, A, 0, 0, 0));
        } else if ((op === DIV || op === MOD) && !fromX && p.k === 0) {
          reject();
        } else if ((op === LSH || op === RSH) && !fromX && p.k >= 32) {
          out.push(insn(E.ALU | E.MOV | E.K, A, 0, 0, 0));
        } else if (fromX && (op === DIV || op === MOD)) {
          rejectIf(E.JMP32 | E.JEQ | E.K, X, 0, 0);
          out.push(insn(E.ALU | op | E.X, A, X, 0, 0));
        } else if (fromX && (op === LSH || op === RSH)) {
          // eBPF masks the shift count (as the CPU does); libpcap gives 0 from 32 on.
          out.push(insn(E.JMP32 | E.JLT | E.K, X, 0, 2, 32), insn(E.ALU | E.MOV | E.K, A, 0, 0, 0), insn(E.JMP | E.JA, 0, 0, 1, 0));
          out.push(insn(E.ALU | op | E.X, A, X, 0, 0));
        } else out.push(insn(E.ALU | op | (fromX ? E.X : E.K), A, fromX ? X : 0, 0, fromX ? 0 : p.k | 0));
        break;
      }
      case C.JMP: {
        const op = p.code & 0xf0;
        if (op === E.JA) {
          out.push(insn(E.JMP | E.JA, 0, 0, 0, 0, to(i + 1 + p.k)));
          break;
        }
        if (op !== E.JEQ && op !== E.JGT && op !== E.JGE && op !== E.JSET) throw usageError(`xdpwatch cannot evaluate this expression: instruction ${i}: jump code ${p.code} is not classic BPF`);
        const fromX = (p.code & 0x08) === C.X;
        const cmp = (o: number, target: Label) => insn(E.JMP32 | o | (fromX ? E.X : E.K), A, fromX ? X : 0, 0, fromX ? 0 : p.k | 0, target);
        // Unsigned 32-bit compares (JMP32): the k of a 64-bit jump would be sign-extended.
        if (p.jt === p.jf) {
          if (p.jt) out.push(insn(E.JMP | E.JA, 0, 0, 0, 0, to(i + 1 + p.jt)));
        } else if (p.jf === 0) out.push(cmp(op, to(i + 1 + p.jt)));
        else if (p.jt === 0 && INVERSE[op] !== undefined) out.push(cmp(INVERSE[op]!, to(i + 1 + p.jf)));
        else out.push(cmp(op, to(i + 1 + p.jt)), insn(E.JMP | E.JA, 0, 0, 0, 0, to(i + 1 + p.jf)));
        break;
      }
      case C.RET: {
        const rval = p.code & 0x18;
        if (rval === C.K) {
          if (p.k !== 0) accept();
        } else {
          // "ret a" / "ret x": accepted when non-zero.
          out.push(insn(E.JMP32 | E.JEQ | E.K, rval === C.A ? A : X, 0, first ? 1 : 3, 0));
          accept();
        }
        leave(i);
        break;
      }
      case C.MISC:
        out.push(p.code === (C.MISC | C.TAX) ? insn(E.ALU | E.MOV | E.X, X, A, 0, 0) : insn(E.ALU | E.MOV | E.X, A, X, 0, 0));
        break;
    }
  }
  for (const item of out) if (item.target !== undefined && item.target !== "end" && "cbpf" in item.target) item.target = { local: starts[item.target.cbpf]! };
  return out;
}

/** What the placeholder evaluates: each classic program sets its bit in the result when it accepts. */
export interface ExpressionPart {
  prog: readonly Cbpf[];
  bit: number;
}

/**
 * What replaces the placeholder: `slots` instructions, nops first (the
 * verifier removes `goto +0`, and padding before the code is reachable, as the
 * verifier requires), then each part in turn, each ending where the next one
 * starts, and finally the result loaded into r0.
 */
export function translate(parts: readonly ExpressionPart[], slots: number): Uint8Array {
  for (const part of parts) {
    const why = unsupported(part.prog);
    if (why) throw usageError(`xdpwatch cannot evaluate this expression in XDP: ${why}`);
  }
  const items: Item[] = [insn(E.ST | E.MEM | E.W, S, 0, RESULT, 0)];
  /** Absolute index of each item's jump target. */
  const targets = new Map<Item, number>();
  parts.forEach((part, s) => {
    const base = items.length;
    const code = translateSegment(part.prog, part.bit, s === 0);
    for (const item of code) {
      if (item.target === "end") targets.set(item, base + code.length);
      else if (item.target && "local" in item.target) targets.set(item, base + item.target.local);
      items.push(item);
    }
  });
  items.push(insn(E.LDX | E.MEM | E.W, P, S, RESULT, 0));
  const pad = slots - items.length;
  if (pad < 0)
    throw usageError(`the expression needs ${items.length} eBPF instructions; xdpwatch's program has room for ${slots}`, "simplify the expression, or split it");
  const bytes = new Uint8Array(slots * 8);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < pad; i++) bytes[i * 8] = E.JMP | E.JA;
  items.forEach((item, i) => {
    let off = item.off;
    const at = targets.get(item);
    if (at !== undefined) {
      off = at - i - 1;
      if (off < 0 || off > 0x7fff) throw usageError(`the expression's program jumps too far (${off} instructions)`, "simplify the expression");
    }
    const o = (pad + i) * 8;
    bytes[o] = item.code;
    bytes[o + 1] = (item.src << 4) | item.dst;
    dv.setInt16(o + 2, off, true);
    dv.setInt32(o + 4, item.imm | 0, true);
  });
  return bytes;
}

/** The body of xw_expr for a configuration: the --drop expression first, whose match ends the frame. */
export function expressionBody(expression: NonNullable<ProgramConfig["expression"]>, slots: number): Uint8Array {
  const parts: ExpressionPart[] = [];
  if (expression.drop) parts.push({ prog: expression.drop, bit: FLAG.dropExpr });
  if (expression.match) parts.push({ prog: expression.match, bit: FLAG.matchExpr });
  return translate(parts, slots);
}
