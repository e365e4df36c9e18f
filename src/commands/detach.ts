import { log } from "../log";
import { detachInterface } from "../xdp/detach";
import { ifaceArgs, outputArgs, parseIface } from "./_args";
import { defineCommand } from "./_command";

export default defineCommand({
  meta: {
    name: "detach",
    description: "Remove what xdpwatch attached to an interface, and its pins, putting back a program --force replaced (never removes anyone else's)",
  },
  args: { ...ifaceArgs, ...outputArgs },
  async run({ args }) {
    const iface = parseIface(args.iface);
    const r = await detachInterface(iface);
    for (const p of r.leftAlone) log.info(`left alone: ${iface} has program id ${p.id}${p.name ? ` (${p.name})` : ""}, not attached by xdpwatch`);
    if (args.json)
      console.log(JSON.stringify({ type: "detached", iface, detached: r.detached, removed_pins: r.removedPins, ...(r.restored && { restored_id: r.restored.id, restored_mode: r.restored.mode }) }));
    if (r.detached) log.success(`detached xdpwatch from ${iface} and removed its pins`);
    else if (r.removedPins) log.success(`removed stale xdpwatch pins for ${iface} (nothing of ours was attached)`);
    else log.info(`nothing of xdpwatch's on ${iface}`);
  },
});
