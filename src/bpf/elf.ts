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

const BTF_MAGIC = 0xeb9f;
const KIND = { INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, DECL_TAG: 17, ENUM64: 19 } as const;

/** Bytes that follow a type's 12-byte header, by kind. */
function btfExtra(kind: number, vlen: number): number {
  switch (kind) {
    case KIND.INT:
    case KIND.VAR:
    case KIND.DECL_TAG:
      return 4;
    case KIND.ARRAY:
      return 12;
    case KIND.STRUCT:
    case KIND.UNION:
    case KIND.DATASEC:
    case KIND.ENUM64:
      return 12 * vlen;
    case KIND.ENUM:
    case KIND.FUNC_PROTO:
      return 8 * vlen;
    default:
      return 0;
  }
}

/** A copy of the object with a BTF-defined map's max_entries changed. */
export function withMaxEntries(elf: Uint8Array, map: string, entries: number): Uint8Array {
  return withMapUint(elf, map, "max_entries", entries);
}

/**
 * A copy of the object with a number of a BTF-defined map's definition
 * (max_entries, key_size, …) changed. libbpf reads it from the BTF of the
 * definition, where `__uint(field, N)` is a pointer to an array of N
 * elements: N is patched in place.
 */
export function withMapUint(elf: Uint8Array, map: string, field: string, value: number): Uint8Array {
  const btf = sections(elf).find((s) => s.name === ".BTF");
  if (!btf) throw new Error("the object has no BTF");
  const dv = view(elf);
  if (dv.getUint16(btf.offset, true) !== BTF_MAGIC) throw new Error("the object's BTF has the wrong magic");
  const hdrLen = dv.getUint32(btf.offset + 4, true);
  const typesStart = btf.offset + hdrLen + dv.getUint32(btf.offset + 8, true);
  const typesEnd = typesStart + dv.getUint32(btf.offset + 12, true);
  const strings = btf.offset + hdrLen + dv.getUint32(btf.offset + 16, true);
  const types: { offset: number; name: string; kind: number; vlen: number; type: number }[] = [{ offset: 0, name: "", kind: 0, vlen: 0, type: 0 }];
  for (let o = typesStart; o < typesEnd; ) {
    const info = dv.getUint32(o + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    types.push({ offset: o, name: cString(elf, strings + dv.getUint32(o, true)), kind, vlen, type: dv.getUint32(o + 8, true) });
    o += 12 + btfExtra(kind, vlen);
  }
  /** Whether another struct member (another map's field) points at the same type. */
  const sharesPointer = (pointerId: number) =>
    types.filter((t) => t.kind === KIND.STRUCT && t !== definition).some((t) => {
      for (let m = 0; m < t.vlen; m++) if (dv.getUint32(t.offset + 12 + 12 * m + 4, true) === pointerId) return true;
      return false;
    });
  const variable = types.find((t) => t.kind === KIND.VAR && t.name === map);
  const definition = variable && types[variable.type];
  if (!definition || definition.kind !== KIND.STRUCT) throw new Error(`no BTF-defined map named ${map}`);
  for (let m = 0; m < definition.vlen; m++) {
    const member = definition.offset + 12 + 12 * m;
    if (cString(elf, strings + dv.getUint32(member, true)) !== field) continue;
    const pointerId = dv.getUint32(member + 4, true);
    const pointer = types[pointerId];
    const array = pointer?.kind === KIND.PTR ? types[pointer.type] : undefined;
    if (array?.kind !== KIND.ARRAY) break;
    // clang shares identical types: patched in place, a count another map also uses would change it too.
    if (types.some((t) => t.kind === KIND.PTR && t.type === pointer!.type && t !== pointer) || sharesPointer(pointerId))
      throw new Error(`the ${field} of ${map} is shared with another map in the BTF; give it a distinct default`);
    const copy = elf.slice();
    new DataView(copy.buffer).setUint32(array.offset + 12 + 8, value, true);
    return copy;
  }
  throw new Error(`map ${map} declares no ${field}`);
}

/** `goto +0`, the instruction the program's placeholder for expressions is made of. */
const NOP = [0x05, 0, 0, 0, 0, 0, 0, 0];

/**
 * Where the run of `count` `goto +0` instructions lies in a section: the room
 * the program reserves for code written at load. Exactly one such run.
 */
export function placeholderOffset(elf: Uint8Array, section: string, count: number): number {
  const s = sections(elf).find((x) => x.name === section);
  if (!s) throw new Error(`the object has no section ${section}`);
  const found: number[] = [];
  let run = 0;
  for (let o = s.offset; o + 8 <= s.offset + s.size; o += 8) {
    run = NOP.every((b, i) => elf[o + i] === b) ? run + 1 : 0;
    if (run === count) found.push(o - 8 * (count - 1));
  }
  if (found.length !== 1) throw new Error(`the ${section} section has ${found.length} placeholders of ${count} instructions, not 1`);
  return found[0]!;
}

/** A copy of the object with the placeholder in `section` replaced by `code` (the same size). */
export function withPlaceholder(elf: Uint8Array, section: string, code: Uint8Array): Uint8Array {
  const at = placeholderOffset(elf, section, code.length / 8);
  const copy = elf.slice();
  copy.set(code, at);
  return copy;
}
