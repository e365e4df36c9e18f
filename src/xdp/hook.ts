/**
 * An interface's XDP hook: what is attached there, taking it (refusing what
 * must not be replaced, keeping what --force replaces), and giving it back on
 * every path, stacked devices included. Nothing here removes a program
 * xdpwatch did not attach: a replaced one is pinned first and put back.
 */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { XwError } from "../errors";
import { log } from "../log";
import * as bpftool from "../tools/bpftool";
import * as ip from "../tools/ip";
import { currentNetns, type IfaceRef } from "./iface";
import { describeProg, refuseBelowProgram } from "./stacked";
import { claimOwner, readOwner, recordProgram, releaseOwner, type Owner, type OwnerCommand } from "./owner";
import { embeddedTags, loadPinned, possibleCpus, ringFor, type LoadOptions, type Ring } from "./program";
import { ensureBpffs, findPins, hasPins, pinsFor, removePins, type Pins } from "./pins";

export type ModeChoice = "auto" | ip.XdpMode;

/** What is at an interface's XDP hook, and whether it is ours. */
export interface HookState {
  link: ip.Link;
  ref: IfaceRef;
  pins: Pins;
  /** Attached by xdpwatch: the pinned program, or the embedded one by tag when unpinned. */
  ours?: ip.AttachedProgram;
  /** Attached by someone else. */
  foreign: ip.AttachedProgram[];
  /** Our pins exist but their program is not attached here. */
  strayPins: boolean;
  /** The owner file, if any: a live run, `attach`, or a run that was killed. */
  owner?: Owner;
  /** The program --force replaced, waiting to be put back. */
  replaced?: Replaced;
}

/** A program --force took off the hook, pinned so that the kernel keeps it. */
export interface Replaced {
  pin: string;
  id: number;
  mode: ip.XdpMode;
}

export async function requireLink(iface: string): Promise<ip.Link> {
  const link = await ip.showLink(iface);
  if (!link) throw new XwError(`no interface named "${iface}" in this network namespace`, { hint: "`ip link` lists interfaces" });
  return link;
}

/**
 * Ours: the program pinned under our directory (by id); when the pins are gone,
 * the one the owner file names (by id), or the embedded program (by tag: a
 * program with a tcpdump expression written in has a tag of its own).
 */
export async function findOurs(link: ip.Link, pins: Pins, owner?: Owner): Promise<ip.AttachedProgram | undefined> {
  if (link.xdp.length === 0) return undefined;
  const pinned = hasPins(pins) ? await bpftool.showPinnedProg(pins.prog) : undefined;
  if (pinned) return link.xdp.find((p) => p.id === pinned.id);
  const tags = embeddedTags();
  return link.xdp.find((p) => p.id === owner?.progId && p.name === "xdpwatch") ?? link.xdp.find((p) => tags.includes(p.tag));
}

/** The replaced program's pin is named after the mode it goes back in. */
function replacedPin(pins: Pins, mode: ip.XdpMode): string {
  return `${pins.replaced}_${mode}`;
}

export async function findReplaced(pins: Pins): Promise<Replaced | undefined> {
  let names: string[];
  try {
    names = readdirSync(pins.dir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    const mode = name.startsWith("replaced_") ? name.slice("replaced_".length) : "";
    if (!ip.isXdpMode(mode)) continue;
    const pin = join(pins.dir, name);
    const prog = await bpftool.showPinnedProg(pin);
    if (prog) return { pin, id: prog.id, mode };
  }
  return undefined;
}

export async function inspectHook(iface: string): Promise<HookState> {
  const link = await requireLink(iface);
  const ref: IfaceRef = { netns: currentNetns(), ifindex: link.ifindex, name: link.ifname };
  const pins = findPins(ref) ?? pinsFor(ref);
  const owner = readOwner(ref);
  const ours = await findOurs(link, pins, owner);
  return {
    link,
    ref,
    pins,
    ours,
    foreign: link.xdp.filter((p) => p !== ours),
    strayPins: hasPins(pins) && !ours,
    owner,
    replaced: await findReplaced(pins),
  };
}

/** The interface with this ifindex in this namespace now, whatever its name. */
export async function linkByIfindex(ifindex: number): Promise<ip.Link | undefined> {
  return (await ip.listLinks()).find((l) => l.ifindex === ifindex);
}

/** Refuses unless the hook is free (or holds only our stale leftovers, which it clears). */
async function inspectForClaim(iface: string, force: boolean, command: OwnerCommand): Promise<HookState> {
  const { lasting } = await ensureBpffs();
  const state = await inspectHook(iface);
  // What must outlive this process (attach's pins, the program --force keeps) cannot live in a bpffs that goes with it.
  if (!lasting && (command === "attach" || (force && state.foreign.length > 0)))
    throw new XwError(`bpffs was mounted in this process's own mount namespace (as \`ip netns exec\` makes), where ${command === "attach" ? "attach's pins" : "the program --force replaces"} would not outlive it`, {
      hint: "run it with `nsenter --net=/run/netns/NAME` instead, which keeps the host's /sys/fs/bpf",
    });
  if (state.owner?.alive)
    throw new XwError(`${iface} is already watched by xdpwatch (pid ${state.owner.pid})`, { hint: "stop that process first; one xdpwatch per interface" });
  if (state.ours)
    throw new XwError(`xdpwatch is already attached to ${iface} (${describeProg(state.ours)}) with no process watching it`, {
      hint: `left by \`xdpwatch attach\` or a killed watch: run \`xdpwatch detach --iface ${iface}\``,
    });
  if (state.foreign.length > 0) {
    const names = state.foreign.map(describeProg).join("; ");
    if (!force)
      throw new XwError(`${iface} already has an XDP program that xdpwatch did not attach (${names})`, {
        hint: "xdpwatch never replaces another program unless you pass --force (it is put back when xdpwatch stops)",
      });
  }
  await refuseBelowProgram(iface);
  if (state.strayPins && state.replaced) throw keptReplacedError(state, state.replaced);
  if (state.strayPins) {
    log.info(`removing stale xdpwatch pins at ${state.pins.dir} (no program of ours is attached)`);
    removePins(state.pins);
  }
  return state;
}

/**
 * Our pins still keep a program --force replaced, but ours is no longer on
 * the hook (someone replaced it): putting the other back would remove theirs,
 * and removing the pins would let it go. The user decides.
 */
export function keptReplacedError(state: Pick<HookState, "link" | "pins">, r: Replaced): XwError {
  const { link, pins } = state;
  return new XwError(`the program --force replaced on ${link.ifname} (id ${r.id}) is still pinned at ${r.pin}, and xdpwatch's program is no longer attached there`, {
    hint: `\`ip link set dev ${link.ifname} ${r.mode === "native" ? "xdpdrv" : "xdpgeneric"} pinned ${r.pin}\` puts it back; \`rm -r ${pins.dir}\` lets it go`,
  });
}

/** Our program on an interface, from attach until it is given back. */
export interface Attached {
  /** Follows the interface: the name is updated when it is renamed. */
  ref: IfaceRef;
  mode: ip.XdpMode;
  progId: number;
  pins: Pins;
  ring: Ring;
  owner: Owner;
  replaced?: Replaced;
}

export interface AttachOptions extends LoadOptions {
  iface: string;
  mode: ModeChoice;
  force?: boolean;
  command: OwnerCommand;
  /** The filters as the start-up line says them, kept for `status`. */
  describe?: string;
}

/** Loads, pins, configures and attaches; on any failure leaves nothing behind and the hook as it was. */
export async function attachProgram(opts: AttachOptions): Promise<Attached> {
  const state = await inspectForClaim(opts.iface, opts.force ?? false, opts.command);
  // tcpdump compiled the expression for Ethernet frames (-y EN10MB): elsewhere its offsets would read the wrong bytes.
  if (opts.config.expression && state.link.linkType !== undefined && state.link.linkType !== "ether")
    throw new XwError(`${opts.iface} carries no Ethernet headers (link type ${state.link.linkType}): tcpdump expressions are compiled for Ethernet`, {
      hint: "use --src, --proto and --port there, which do not depend on the link type",
    });
  const owner = claimOwner(state.ref, opts.command, opts.describe);
  const pins = pinsFor(state.ref);
  const ring = ringFor(possibleCpus());
  try {
    const progId = await loadPinned(pins, opts, ring);
    recordProgram(owner, progId);
    const other = state.foreign[0];
    if (other) {
      const replaced = await replaceKeeping(state, pins, opts.mode, other);
      return { ref: state.ref, mode: replaced.mode, progId, pins, ring, owner, replaced };
    }
    const mode = await attachWithFallback(state.link, opts.mode, pins.prog);
    return { ref: state.ref, mode, progId, pins, ring, owner };
  } catch (err) {
    removePins(pins);
    releaseOwner(owner);
    throw err;
  }
}

/**
 * --force: pin the other program (so that the kernel keeps it), then swap ours
 * in, in one step and in its mode: the hook is never empty, and the pin is how
 * it comes back when we stop, even after a kill -9 (detach finds it).
 */
async function replaceKeeping(state: HookState, pins: Pins, mode: ModeChoice, other: ip.AttachedProgram): Promise<Replaced> {
  if (!ip.isXdpMode(other.mode) || (mode !== "auto" && mode !== other.mode))
    throw new XwError(`--force replaces the program in the mode it is attached in (${other.mode}), not ${mode}`, {
      hint: ip.isXdpMode(other.mode) ? `use --mode ${other.mode} or --mode auto` : undefined,
    });
  const replaced: Replaced = { pin: replacedPin(pins, other.mode), id: other.id, mode: other.mode };
  await bpftool.pinProgram(other.id, replaced.pin);
  try {
    await ip.attachXdp(state.link.ifname, other.mode, pins.prog, { replace: true });
  } catch (err) {
    rmSync(replaced.pin, { force: true });
    throw err;
  }
  log.warn(`--force: replaced the XDP program on ${state.link.ifname} (${describeProg(other)}); it is put back when xdpwatch stops`);
  return replaced;
}

async function attachWithFallback(link: ip.Link, mode: ModeChoice, prog: string): Promise<ip.XdpMode> {
  try {
    return await attachInMode(link, mode, prog);
  } catch (err) {
    if (!(err instanceof ip.AttachError)) throw err;
    throw new XwError(err.message, { hint: await attachHint(err, link.ifname) });
  }
}

async function attachInMode(link: ip.Link, mode: ModeChoice, prog: string): Promise<ip.XdpMode> {
  const iface = link.ifname;
  if (mode !== "auto") {
    await ip.attachXdp(iface, mode, prog);
    return mode;
  }
  if (link.kind === "veth") {
    // Measured (scripts/bench-veth-mode.ts, iperf3): native XDP on veth cuts TCP through it
    // to about a quarter even with an empty program (GRO is lost); generic keeps about all of it.
    log.info(`${iface} is a veth: generic mode, which costs its TCP traffic least (--mode native to override)`);
    await ip.attachXdp(iface, "generic", prog);
    return "generic";
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
 * The kernel's refusal says what to do about it: the MTU is the user's to
 * change, the driver is not. Whether ip was built with libbpf (pinned
 * programs need it) is asked only now, not at every start.
 */
async function attachHint(err: ip.AttachError, iface: string): Promise<string | undefined> {
  if (/mtu/i.test(err.detail)) {
    const where = /peer/i.test(err.detail) ? `the other end of the veth pair ${iface} belongs to` : iface;
    return `it is the MTU, not the driver: lower it on ${where} (ip link set dev IF mtu 1500), or use --mode generic`;
  }
  const { text, libbpf } = await ip.version();
  if (!libbpf) return `${text}: built without libbpf, it cannot attach pinned XDP programs; fix: ${ip.LIBBPF_FIX}`;
  return err.mode === "native" ? "this driver may not support native XDP: try --mode generic" : undefined;
}
