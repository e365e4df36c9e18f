/**
 * The tag the kernel gives a program (`bpftool prog show` prints it), computed
 * from the object file: a hash of the "xdp" section's instructions as libbpf
 * loads them: a map reference becomes an ld_imm64 marked BPF_PSEUDO_MAP_FD (a
 * global's, BPF_PSEUDO_MAP_VALUE), whose fd and offset the kernel leaves out.
 * Kernels from 6.18 hash with SHA-256, earlier ones with SHA-1; both are given.
 * Bun's own hasher, not node:crypto: loading that module costs more than the
 * rest of `xdpwatch --version`.
 */
import { SHT_REL, sections, symbolSection } from "./elf";

const BPF_PSEUDO_MAP_FD = 1;
const BPF_PSEUDO_MAP_VALUE = 2;

export interface ProgramTags {
  sha256: string;
  sha1: string;
}

export function programTags(elf: Uint8Array, section = "xdp"): ProgramTags {
  const all = sections(elf);
  const prog = all.find((s) => s.name === section);
  if (!prog) throw new Error(`no section "${section}" in the object`);
  const insns = elf.slice(prog.offset, prog.offset + prog.size);
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  // In this program every relocation is a 16-byte ld_imm64 of a map or of a global.
  for (const rel of all.filter((s) => s.type === SHT_REL && s.info === prog.index)) {
    for (let r = rel.offset; r < rel.offset + rel.size; r += 16) {
      const at = Number(dv.getBigUint64(r, true));
      const symbol = Number(dv.getBigUint64(r + 8, true) >> 32n);
      const kind = symbolSection(elf, symbol)?.name === ".maps" ? BPF_PSEUDO_MAP_FD : BPF_PSEUDO_MAP_VALUE;
      insns[at + 1] = (insns[at + 1]! & 0x0f) | (kind << 4);
      insns.fill(0, at + 4, at + 8);
      insns.fill(0, at + 12, at + 16);
    }
  }
  const tag = (alg: "sha256" | "sha1") => new Bun.CryptoHasher(alg).update(insns).digest("hex").slice(0, 16);
  return { sha256: tag("sha256"), sha1: tag("sha1") };
}
