/**
 * The tag the kernel gives a program (`bpftool prog show` prints it), computed
 * from the object file: a hash of the "xdp" section's instructions as libbpf
 * loads them, map references marked BPF_PSEUDO_MAP_FD with their fd zeroed.
 * Kernels from 6.18 hash with SHA-256, earlier ones with SHA-1; both are given.
 */
import { createHash } from "node:crypto";

const SHT_REL = 9;
const BPF_PSEUDO_MAP_FD = 1;

export interface ProgramTags {
  sha256: string;
  sha1: string;
}

interface Section {
  index: number;
  name: string;
  type: number;
  offset: number;
  size: number;
  info: number;
}

function sections(elf: Uint8Array): Section[] {
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (dv.getUint32(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error("not a little-endian ELF64 object");
  const shoff = Number(dv.getBigUint64(0x28, true));
  const shentsize = dv.getUint16(0x3a, true);
  const shnum = dv.getUint16(0x3c, true);
  const raw = Array.from({ length: shnum }, (_, index) => {
    const o = shoff + index * shentsize;
    return {
      index,
      nameOffset: dv.getUint32(o, true),
      type: dv.getUint32(o + 4, true),
      offset: Number(dv.getBigUint64(o + 0x18, true)),
      size: Number(dv.getBigUint64(o + 0x20, true)),
      info: dv.getUint32(o + 0x2c, true),
    };
  });
  const strtab = raw[dv.getUint16(0x3e, true)]!;
  const nameAt = (n: number) => {
    const start = strtab.offset + n;
    const end = elf.indexOf(0, start);
    return new TextDecoder().decode(elf.subarray(start, end));
  };
  return raw.map((s) => ({ index: s.index, name: nameAt(s.nameOffset), type: s.type, offset: s.offset, size: s.size, info: s.info }));
}

export function programTags(elf: Uint8Array, section = "xdp"): ProgramTags {
  const all = sections(elf);
  const prog = all.find((s) => s.name === section);
  if (!prog) throw new Error(`no section "${section}" in the object`);
  const insns = elf.slice(prog.offset, prog.offset + prog.size);
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  // In this program every relocation is a map reference in a 16-byte ld_imm64.
  for (const rel of all.filter((s) => s.type === SHT_REL && s.info === prog.index)) {
    for (let r = rel.offset; r < rel.offset + rel.size; r += 16) {
      const at = Number(dv.getBigUint64(r, true));
      insns[at + 1] = (insns[at + 1]! & 0x0f) | (BPF_PSEUDO_MAP_FD << 4);
      insns.fill(0, at + 4, at + 8);
    }
  }
  const tag = (alg: string) => createHash(alg).update(insns).digest("hex").slice(0, 16);
  return { sha256: tag("sha256"), sha1: tag("sha1") };
}
