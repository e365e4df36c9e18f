/**
 * Giving an interface's hook back, on every path: our program off (by
 * ifindex: the name may have changed), what --force replaced put back in one
 * step and in its mode, a device above lifted for the moment when the kernel
 * requires it; then the pins and the owner file. Nothing another party
 * attached is ever let go: what cannot be put back stays pinned, and the
 * error says how to put it back.
 */
import { rmSync } from "node:fs";
import { XwError } from "../errors";
import { log } from "../log";
import * as ip from "../tools/ip";
import { findReplaced, linkByIfindex, type Attached, type Replaced } from "./hook";
import type { IfaceRef } from "./iface";
import { releaseOwner, type Owner } from "./owner";
import { removePins, type Pins } from "./pins";
import { belowUpper, describeProg, withStackLock } from "./stacked";

/** What giving the hook back did. */
export interface Released {
  /** Our program was attached and is now off the hook. */
  detached: boolean;
  /** The program --force replaced, back where it was. */
  restored?: Replaced;
  /** The interface is no longer in this namespace: nothing could be done there. */
  gone?: boolean;
}

/**
 * Takes our program off the interface (by ifindex: the name may have changed),
 * putting back what --force replaced, in its mode, in one step. Leaves the
 * hook alone when our program is no longer the one attached.
 */
export function releaseHook(ref: IfaceRef, progId: number, pins: Pins): Promise<Released> {
  return withStackLock(ref.netns, () => release(ref, progId, pins));
}

async function release(ref: IfaceRef, progId: number, pins: Pins): Promise<Released> {
  const link = await linkByIfindex(ref.ifindex);
  const replaced = await findReplaced(pins);
  if (!link) {
    if (replaced) throw new XwError(`${ref.name} is gone: the program --force replaced there (id ${replaced.id}) cannot be put back`);
    return { detached: false, gone: true };
  }
  const ours = link.xdp.find((p) => p.id === progId);
  if (!ours || !ip.isXdpMode(ours.mode)) {
    // Putting it back now would remove whatever replaced ours: that is for the user to decide.
    if (replaced)
      throw new XwError(
        `the program --force replaced on ${link.ifname} (id ${replaced.id}) was not put back: ours was itself replaced since (${link.xdp.map(describeProg).join("; ") || "nothing attached"})`,
        { hint: `it is kept pinned at ${replaced.pin}: \`ip link set dev ${link.ifname} ${replaced.mode === "native" ? "xdpdrv" : "xdpgeneric"} pinned ${replaced.pin}\` puts it back, \`rm ${replaced.pin}\` lets it go` },
      );
    return { detached: false };
  }
  const mode = ours.mode;
  const swap = replaced
    ? () => ip.attachXdp(link.ifname, replaced.mode, replaced.pin, { replace: true })
    : () => ip.detachXdp(link.ifname, mode);
  await belowUpper(link.ifname, ref.netns, swap);
  if (replaced) {
    rmSync(replaced.pin, { force: true });
    log.success(`put back the XDP program --force replaced on ${link.ifname} (id ${replaced.id}, ${replaced.mode} mode)`);
  }
  return { detached: true, restored: replaced };
}

/**
 * Gives everything back: the hook, the pins, the owner file. When a replaced
 * program could not be put back on an interface that still exists, its pins
 * stay (the kernel keeps it) so that `xdpwatch detach` can try again, and this
 * throws.
 */
export async function releaseAll(att: Pick<Attached, "ref" | "progId" | "pins"> & { owner?: Owner }): Promise<Released> {
  let released: Released | undefined;
  let error: unknown;
  try {
    released = await releaseHook(att.ref, att.progId, att.pins);
  } catch (err) {
    error = err;
  }
  await finishRelease(att, error);
  return released!;
}

/**
 * After the hook was released (or failed to be, `error`): the pins and the
 * owner file go, except the pins of a replaced program that could not be put
 * back on an interface that still exists; then the failure is thrown.
 */
export async function finishRelease(att: Pick<Attached, "ref" | "pins"> & { owner?: Owner }, error?: unknown): Promise<void> {
  try {
    if (error === undefined) {
      removePins(att.pins);
      return;
    }
    const gone = (await linkByIfindex(att.ref.ifindex)) === undefined;
    const replaced = await findReplaced(att.pins);
    if (gone || !replaced) removePins(att.pins);
    if (error instanceof XwError && error.hint) throw error;
    const what = replaced ? `put back the XDP program --force replaced (id ${replaced.id})` : "detach xdpwatch";
    throw new XwError(`could not ${what} on ${att.ref.name}: ${(error as Error).message}`, {
      hint: gone ? "the interface is gone" : `\`xdpwatch detach --iface ${att.ref.name}\` tries again${replaced ? ` (it is kept pinned under ${att.pins.dir})` : ""}`,
    });
  } finally {
    if (att.owner) releaseOwner(att.owner);
  }
}
