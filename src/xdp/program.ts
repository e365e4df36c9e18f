/**
 * The program's life on an interface: load and pin, configure, attach, and
 * undo all of it. Nothing here touches a program xdpwatch did not attach.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XwError } from "../errors";
import { log } from "../log";
import { embeddedObjectBytes } from "../bpf/embedded";
import { withGlobal, withMaxEntries } from "../bpf/elf";
import { programTags } from "../bpf/tag";
import { CONFIG_SYMBOL, encodeCidrKey, encodeConfig, PAGE_SIZE, type ProgramConfig } from "../bpf/layout";
import type { Cidr } from "../net/cidr";
import * as bpftool from "../tools/bpftool";
import * as ip from "../tools/ip";
import { ensureBpffs, hasPins, isAlive, pinsFor, readOwner, removePins, type Pins } from "./pins";

export type ModeChoice = "auto" | ip.XdpMode;

export interface Attached {
  iface: string;
  ifindex: number;
  mode: ip.XdpMode;
  progId: number;
  pins: Pins;
  ring: Ring;
}

/** Where each CPU's log lies in xw_ring. */
export interface Ring {
  cpus: number;
  /** log2 of the pages per CPU. */
  shift: number;
}

/** What is at an interface's XDP hook, and whether it is ours. */
export interface HookState {
  link: ip.Link;
  pins: Pins;
  /** Attached by xdpwatch: the pinned program, or the embedded one by tag when unpinned. */
  ours?: ip.AttachedProgram;
  /** Attached by someone else. */
  foreign: ip.AttachedProgram[];
  /** Our pins exist but their program is not attached here. */
  strayPins: boolean;
  /** Pid of the live xdpwatch process that owns the interface, if any. */
  owner?: number;
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
export const RING_SHIFT_MIN = 5; /* 32 pages, 4,096 records */
const RING_SHIFT_MAX = 10; /* 1,024 pages, 131,072 records: a second of 100 kpps on one CPU */

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

export async function requireLink(iface: string): Promise<ip.Link> {
  const link = await ip.showLink(iface);
  if (!link)
    throw new XwError(`no interface named "${iface}" in this network namespace`, { hint: "`ip link` lists interfaces" });
  return link;
}

let tagsOnce: Promise<string[]> | undefined;

/** The embedded program's tags, as the kernel computes them (SHA-256 from 6.18, SHA-1 before). */
export function embeddedTags(): Promise<string[]> {
  tagsOnce ??= embeddedObjectBytes().then((elf) => {
    const tags = programTags(elf);
    return [tags.sha256, tags.sha1];
  });
  return tagsOnce;
}

/**
 * Ours: the program pinned under our directory (by id), or, when the pins are
 * gone (removed by hand, a bpffs remounted), the embedded program (by tag).
 */
export async function findOurs(link: ip.Link, pinned: bpftool.ProgInfo | undefined): Promise<ip.AttachedProgram | undefined> {
  if (pinned) return link.xdp.find((p) => p.id === pinned.id);
  const tags = await embeddedTags();
  return link.xdp.find((p) => tags.includes(p.tag));
}

/** The program pinned for an interface, if any. */
export async function pinnedProg(pins: Pins): Promise<bpftool.ProgInfo | undefined> {
  return hasPins(pins) ? bpftool.showPinnedProg(pins.prog) : undefined;
}

export async function inspectHook(iface: string): Promise<HookState> {
  const link = await requireLink(iface);
  const pins = pinsFor(iface);
  const ours = await findOurs(link, await pinnedProg(pins));
  const owner = readOwner(iface);
  return {
    link,
    pins,
    ours,
    foreign: link.xdp.filter((p) => p !== ours),
    strayPins: hasPins(pins) && !ours,
    owner: owner !== undefined && owner !== process.pid && isAlive(owner) ? owner : undefined,
  };
}

function describe(p: ip.AttachedProgram): string {
  return `id ${p.id}${p.name ? `, name ${p.name}` : ""}${p.tag ? `, tag ${p.tag}` : ""}, ${p.mode} mode`;
}

/** Refuses unless the hook is free (or holds only our stale leftovers, which it clears). */
async function claimHook(iface: string, force: boolean): Promise<HookState> {
  await ensureBpffs();
  const state = await inspectHook(iface);
  if (state.owner)
    throw new XwError(`${iface} is already watched by xdpwatch (pid ${state.owner})`, {
      hint: "stop that process first; one xdpwatch per interface",
    });
  if (state.ours)
    throw new XwError(`xdpwatch is already attached to ${iface} (${describe(state.ours)}) with no process watching it`, {
      hint: `left by \`xdpwatch attach\` or a killed watch: run \`xdpwatch detach --iface ${iface}\``,
    });
  if (state.foreign.length > 0) {
    const names = state.foreign.map(describe).join("; ");
    if (!force)
      throw new XwError(`${iface} already has an XDP program that xdpwatch did not attach (${names})`, {
        hint: "xdpwatch never replaces another program unless you pass --force",
      });
    log.warn(`--force: replacing the XDP program on ${iface} (${names})`);
  }
  if (state.strayPins) {
    log.info(`removing stale xdpwatch pins at ${state.pins.dir} (no program of ours is attached)`);
    removePins(state.pins);
  }
  return state;
}

/** The ranges of --block and --src go into their tries before the program is attached. */
async function fillTries(pins: Pins, block: readonly Cidr[], srcFilter: readonly Cidr[]) {
  const one = new Uint8Array([1]);
  const lines = [
    ...block.map((c) => bpftool.updateLine(pins.block, encodeCidrKey(c.mapped, c.prefixlen), one)),
    ...srcFilter.map((c) => bpftool.updateLine(pins.srcFilter, encodeCidrKey(c.mapped, c.prefixlen), one)),
  ];
  if (lines.length > 0) await bpftool.runBatch(lines);
}

async function attachWithFallback(iface: string, mode: ModeChoice, prog: string, replacing?: ip.AttachedProgram): Promise<ip.XdpMode> {
  if (replacing) return replaceInPlace(iface, mode, prog, replacing);
  if (mode !== "auto") {
    try {
      await ip.attachXdp(iface, mode, prog);
    } catch (err) {
      if (err instanceof ip.AttachError)
        throw new XwError(err.message, {
          hint: mode === "native" ? "this driver may not support native XDP: try --mode generic" : undefined,
        });
      throw err;
    }
    return mode;
  }
  try {
    await ip.attachXdp(iface, "native", prog);
    return "native";
  } catch (err) {
    if (!(err instanceof ip.AttachError)) throw err;
    log.info(`native XDP refused on ${iface} (${err.detail.split("\n")[0]}); falling back to generic mode`);
  }
  await ip.attachXdp(iface, "generic", prog);
  return "generic";
}

/**
 * --force swaps the other program for ours in one step, in its mode: detaching
 * it first would free it, and if our attach then failed the interface would be
 * left with neither.
 */
async function replaceInPlace(iface: string, mode: ModeChoice, prog: string, other: ip.AttachedProgram): Promise<ip.XdpMode> {
  if (!ip.isXdpMode(other.mode) || (mode !== "auto" && mode !== other.mode))
    throw new XwError(`--force replaces the program in the mode it is attached in (${other.mode}), not ${mode}`, {
      hint: ip.isXdpMode(other.mode) ? `use --mode ${other.mode} or --mode auto` : undefined,
    });
  await ip.attachXdp(iface, other.mode, prog, { replace: true });
  return other.mode;
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
    } catch (err) {
      throw new XwError(`${opts.object ?? "the embedded object"} is not an xdpwatch program: ${(err as Error).message}`, {
        hint: "build it from xdpwatch's source (xdpwatch build) so that its layout matches",
      });
    }
    const object = join(tmp, "xdpwatch.o");
    writeFileSync(object, configured);
    mkdirSync(pins.mapDir, { recursive: true });
    await bpftool.loadAll({ object, progDir: pins.dir, mapDir: pins.mapDir });
    // Ten digits a word: printed, the flush page outruns bpftool's output buffer (see BpftoolBatch).
    const flushKey = new Uint8Array(new Uint32Array([flushPage(ring)]).buffer);
    await bpftool.updateMap(pins.ring, flushKey, new Uint8Array(PAGE_SIZE).fill(0xff));
    await fillTries(pins, opts.block ?? [], opts.srcFilter ?? []);
    const prog = await bpftool.showPinnedProg(pins.prog);
    if (!prog) throw new XwError(`the program was loaded but is not pinned at ${pins.prog}`);
    return prog.id;
  } catch (err) {
    removePins(pins);
    throw err;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export interface AttachOptions extends LoadOptions {
  iface: string;
  mode: ModeChoice;
  force?: boolean;
}

/** Loads, pins, configures and attaches; on any failure leaves nothing behind. */
export async function attachProgram(opts: AttachOptions): Promise<Attached> {
  const state = await claimHook(opts.iface, opts.force ?? false);
  const pins = state.pins;
  const ring = ringFor(possibleCpus());
  const progId = await loadPinned(pins, opts, ring);
  try {
    const mode = await attachWithFallback(opts.iface, opts.mode, pins.prog, state.foreign[0]);
    return { iface: opts.iface, ifindex: state.link.ifindex, mode, progId, pins, ring };
  } catch (err) {
    removePins(pins);
    throw err;
  }
}

/**
 * Detaches our program if it is still the one attached, in the mode it was
 * attached in. Returns false when it was already gone (interface deleted or
 * program replaced), in which case nothing is touched.
 */
export async function detachProgram(att: Pick<Attached, "iface" | "progId">): Promise<boolean> {
  const link = await ip.showLink(att.iface).catch(() => undefined);
  const ours = link?.xdp.find((p) => p.id === att.progId);
  if (!ours || !ip.isXdpMode(ours.mode)) return false;
  await ip.detachXdp(att.iface, ours.mode);
  return true;
}
