/**
 * Just enough ELF64 (little-endian, as clang -target bpf writes it on x86 and
 * arm64) to read a BPF object's sections and symbols and to set the initial
 * value of a global before loading.
 */

export const SHT_SYMTAB = 2;
export const SHT_REL = 9;

export interface Section {
  index: number;
  name: string;
  type: number;
  offset: number;
  size: number;
  link: number;
  info: number;
}

function view(elf: Uint8Array): DataView {
  return new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
}

function cString(elf: Uint8Array, at: number): string {
  return new TextDecoder().decode(elf.subarray(at, elf.indexOf(0, at)));
}

export function sections(elf: Uint8Array): Section[] {
  const dv = view(elf);
  if (elf.length < 64 || dv.getUint32(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1)
    throw new Error("not a little-endian ELF64 object");
  const shoff = Number(dv.getBigUint64(0x28, true));
  const shentsize = dv.getUint16(0x3a, true);
  const shnum = dv.getUint16(0x3c, true);
  const header = (index: number) => {
    const o = shoff + index * shentsize;
    return {
      index,
      nameOffset: dv.getUint32(o, true),
      type: dv.getUint32(o + 4, true),
      offset: Number(dv.getBigUint64(o + 0x18, true)),
      size: Number(dv.getBigUint64(o + 0x20, true)),
      link: dv.getUint32(o + 0x28, true),
      info: dv.getUint32(o + 0x2c, true),
    };
  };
  const names = header(dv.getUint16(0x3e, true));
  return Array.from({ length: shnum }, (_, i) => {
    const { nameOffset, ...s } = header(i);
    return { ...s, name: cString(elf, names.offset + nameOffset) };
  });
}

/** The section a symbol (by its index in the symbol table) is defined in. */
export function symbolSection(elf: Uint8Array, symbol: number): Section | undefined {
  const all = sections(elf);
  const symtab = all.find((s) => s.type === SHT_SYMTAB);
  if (!symtab) return undefined;
  return all[view(elf).getUint16(symtab.offset + symbol * 24 + 6, true)];
}

/** Where a global's initial value lies in the file. */
export function symbolBytes(elf: Uint8Array, name: string): { offset: number; size: number } {
  const all = sections(elf);
  const symtab = all.find((s) => s.type === SHT_SYMTAB);
  if (!symtab) throw new Error("the object has no symbol table");
  const strtab = all[symtab.link]!;
  const dv = view(elf);
  for (let o = symtab.offset; o < symtab.offset + symtab.size; o += 24) {
    if (cString(elf, strtab.offset + dv.getUint32(o, true)) !== name) continue;
    const section = all[dv.getUint16(o + 6, true)];
    if (!section) break;
    return { offset: section.offset + Number(dv.getBigUint64(o + 8, true)), size: Number(dv.getBigUint64(o + 16, true)) };
  }
  throw new Error(`the object has no global named ${name}`);
}

/** A copy of the object with a global's initial value replaced (same size). */
export function withGlobal(elf: Uint8Array, name: string, value: Uint8Array): Uint8Array {
  const at = symbolBytes(elf, name);
  if (at.size !== value.length) throw new Error(`${name} is ${at.size} bytes in the object, not ${value.length}`);
  const copy = elf.slice();
  copy.set(value, at.offset);
  return copy;
}
