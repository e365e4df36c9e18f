import { defineCommand } from "citty";
import { rmSync } from "node:fs";
import { XwError } from "../errors";
import { log } from "../log";
import { detachProgram, inspectHook } from "../xdp/program";
import * as ip from "../tools/ip";
import { hasPins, ownerFile, pinsFor, removePins } from "../xdp/pins";
import { ifaceArgs, outputArgs, parseIface } from "./_args";

export default defineCommand({
  meta: {
    name: "detach",
    description: "Remove what xdpwatch attached to an interface, and its pins (never anyone else's program)",
  },
  args: { ...ifaceArgs, ...outputArgs },
  async run({ args }) {
    const iface = parseIface(args.iface);
    // The interface may be gone (deleted after a kill -9): its pins still hold the program and
    // its maps in the kernel, and removing them is all there is left to do.
    const state = (await ip.showLink(iface)) ? await inspectHook(iface) : { owner: undefined, ours: undefined, foreign: [], pins: pinsFor(iface) };
    if (state.owner)
      throw new XwError(`${iface} is being watched by xdpwatch pid ${state.owner}`, {
        hint: `stop it instead (kill -INT ${state.owner}); it detaches on exit`,
      });
    let detached = false;
    if (state.ours) detached = await detachProgram({ iface, progId: state.ours.id });
    const hadPins = hasPins(state.pins);
    removePins(state.pins);
    rmSync(ownerFile(iface), { force: true });
    for (const p of state.foreign) log.info(`left alone: ${iface} has program id ${p.id}${p.name ? ` (${p.name})` : ""}, not attached by xdpwatch`);
    if (args.json) console.log(JSON.stringify({ type: "detached", iface, detached, removed_pins: hadPins }));
    if (detached) log.success(`detached xdpwatch from ${iface} and removed its pins`);
    else if (hadPins) log.success(`removed stale xdpwatch pins for ${iface} (nothing of ours was attached)`);
    else log.info(`nothing of xdpwatch's on ${iface}`);
  },
});
