/**
 * `detach`: take back what xdpwatch left on an interface (after `attach`, or a
 * run killed with -9), putting back a program --force replaced. Works after
 * the interface is gone too: its pins still hold a program and maps in the
 * kernel, and removing them is all there is left to do.
 */
import { XwError } from "../errors";
import * as ip from "../tools/ip";
import { inspectHook, keptReplacedError } from "./hook";
import { releaseAll, type Released } from "./release";
import { currentNetns } from "./iface";
import { readOwner, releaseOwner } from "./owner";
import { hasPins, pinnedIfaces, removePins } from "./pins";

export interface DetachResult extends Released {
  /** Pins (ours) were found and removed. */
  removedPins: boolean;
  /** Programs on the interface that are not ours, left alone. */
  leftAlone: ip.AttachedProgram[];
}

export async function detachInterface(iface: string): Promise<DetachResult> {
  const netns = currentNetns();
  if (!(await ip.showLink(iface))) {
    const left = pinnedIfaces(netns).find((p) => p.ref.name === iface);
    if (left) {
      removePins(left.pins);
      const owner = readOwner(left.ref);
      if (owner) releaseOwner(owner, true);
    }
    return { detached: false, gone: true, removedPins: left !== undefined, leftAlone: [] };
  }
  const state = await inspectHook(iface);
  if (state.owner?.alive)
    throw new XwError(`${iface} is being watched by xdpwatch pid ${state.owner.pid}`, {
      hint: `stop it instead (kill -INT ${state.owner.pid}); it detaches on exit`,
    });
  const removedPins = hasPins(state.pins);
  const owner = state.owner;
  let released: Released = { detached: false };
  if (state.ours) {
    released = await releaseAll({ ref: state.ref, progId: state.ours.id, pins: state.pins });
  } else if (state.replaced) {
    throw keptReplacedError(state, state.replaced);
  } else removePins(state.pins);
  if (owner) releaseOwner(owner, true);
  return { ...released, removedPins, leftAlone: state.foreign };
}
