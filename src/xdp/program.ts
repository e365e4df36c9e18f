/**
 * The program as the kernel gets it: the embedded object with its
 * configuration written in, its ring sized for this machine, loaded and pinned
 * (not attached: src/xdp/hook.ts does that).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XwError } from "../errors";
import { embeddedObjectBytes } from "../bpf/embedded";
import builtTags from "../../dist/bpf/xdpwatch.tags.json" with { type: "json" };
import { expressionBody } from "../bpf/cbpf";
import { withGlobal, withMapUint, withMaxEntries, withPlaceholder } from "../bpf/elf";
import { CONFIG_SYMBOL, EXPR_INSNS, EXPR_SECTION, encodeCidrKey, encodeConfig, PAGE_SIZE, SOURCE_KEY, type ProgramConfig } from "../bpf/layout";
import type { Cidr } from "../net/cidr";
import * as bpftool from "../tools/bpftool";
import { removePins, type Pins } from "./pins";

/** Where each CPU's log lies in xw_ring. */
export interface Ring {
  cpus: number;
  /** log2 of the pages per CPU. */
  shift: number;
}

/** Possible CPU ids, as the kernel numbers them for bpf_get_smp_processor_id(). */
export function possibleCpus(text = readFileSync("/sys/devices/system/cpu/possible", "utf8")): number {
  let max = 0;
  for (const part of text.trim().split(",")) {
    const last = Number(part.split("-").pop());
    if (Number.isInteger(last)) max = Math.max(max, last);
  }
  return max + 1;
}

/** All rings together take at most this much kernel memory. */
const RING_BUDGET = 64 << 20;
export const RING_SHIFT_MIN = 3; /* 8 pages, 4,096 records */
const RING_SHIFT_MAX = 8; /* 256 pages, 131,072 records: a second of 100 kpps on one CPU */

/** As deep a ring per CPU as the budget allows, so that bursts fit between two polls. */
export function ringFor(cpus: number): Ring {
  const pages = RING_BUDGET / PAGE_SIZE / cpus;
  const shift = Math.min(RING_SHIFT_MAX, Math.max(RING_SHIFT_MIN, Math.floor(Math.log2(pages))));
  return { cpus, shift };
}

/** The ring entry after every CPU's pages: never written, read to end each batch answer. */
export function flushPage(ring: Ring): number {
  return ring.cpus << ring.shift;
}

/** The embedded program's tags, as the kernel computes them (SHA-256 from 6.18, SHA-1 before): hashed by scripts/build-bpf.ts. */
export function embeddedTags(): string[] {
  return [builtTags.sha256, builtTags.sha1];
}

/** The ranges of --block and --src, as the updates that put them in their tries before the program is attached. */
function trieUpdates(pins: Pins, block: readonly Cidr[], srcFilter: readonly Cidr[]): string[] {
  const one = new Uint8Array([1]);
  return [
    ...block.map((c) => bpftool.updateLine(pins.block, encodeCidrKey(c.mapped, c.prefixlen), one)),
    ...srcFilter.map((c) => bpftool.updateLine(pins.srcFilter, encodeCidrKey(c.mapped, c.prefixlen), one)),
  ];
}

export interface LoadOptions {
  /** A compiled object to load instead of the embedded one. */
  object?: string;
  config: ProgramConfig;
  block?: readonly Cidr[];
  srcFilter?: readonly Cidr[];
}

/**
 * Loads the object with its configuration written into its .rodata, pins
 * program and maps under `pins`, sizes the ring for `ring`, fills the tries.
 * Does not attach. Returns the program id; on failure removes the pins again.
 */
export async function loadPinned(pins: Pins, opts: LoadOptions, ring = ringFor(possibleCpus())): Promise<number> {
  // bpftool loads files only, and the configuration is part of the file: a private copy.
  const tmp = mkdtempSync(join(tmpdir(), "xdpwatch-"));
  try {
    const elf = opts.object ? new Uint8Array(readFileSync(opts.object)) : await embeddedObjectBytes();
    let configured: Uint8Array;
    try {
      // One ring region per possible CPU, plus the reader's flush page, which the program never writes.
      configured = withMaxEntries(withGlobal(elf, CONFIG_SYMBOL, encodeConfig(opts.config, ring.shift)), "xw_ring", flushPage(ring) + 1);
      // The kind of key --by counts per sets the size the map hashes.
      configured = withMapUint(configured, "xw_sources", "key_size", SOURCE_KEY.size[opts.config.by?.key ?? "src"]);
      if (opts.config.expression)
        configured = withPlaceholder(configured, EXPR_SECTION, expressionBody(opts.config.expression, EXPR_INSNS));
    } catch (err) {
      if (err instanceof XwError) throw err;
      throw new XwError(`${opts.object ?? "the embedded object"} is not an xdpwatch program: ${(err as Error).message}`, {
        hint: "build it from xdpwatch's source (xdpwatch build) so that its layout matches",
      });
    }
    const object = join(tmp, "xdpwatch.o");
    writeFileSync(object, configured);
    mkdirSync(pins.mapDir, { recursive: true });
    const updates = trieUpdates(pins, opts.block ?? [], opts.srcFilter ?? []);
    const loaded = await bpftool.loadAll({ object, progDir: pins.dir, mapDir: pins.mapDir, prog: pins.prog, updates });
    // A bpftool that writes in blocks holds the reader's answers back until more follows (see BpftoolBatch):
    // printed, a flush page of 0xff bytes outruns its buffer. One that writes lines needs no such page.
    if (!bpftool.writesLines(loaded.version)) {
      const flushKey = new Uint8Array(new Uint32Array([flushPage(ring)]).buffer);
      await bpftool.updateMap(pins.ring, flushKey, new Uint8Array(PAGE_SIZE).fill(0xff));
    }
    return loaded.id;
  } catch (err) {
    removePins(pins);
    throw err;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
